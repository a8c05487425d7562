"""One process of a data-parallel test run, started by torchrun (see test_distributed.py).

argv: a JSON file {cfg, paths, val (npz path), out, kill_rank, kill_step, record}. Each process writes
the paths it saved to record/rank<r>.txt (only rank 0 may write any), and the process with rank
kill_rank kills itself (SIGKILL) after step kill_step.
"""
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import torch

from inpaint import distributed

from inpaint.training import loop as training_loop, step as training_step

job = json.loads(Path(sys.argv[1]).read_text())
rank = distributed.ranks().rank
record = Path(job["record"]) / f"rank{rank}.txt"
record.parent.mkdir(parents=True, exist_ok=True)
record.touch()


def recording(real):
    def write(path, *args, **kw):
        with open(record, "a") as f:
            f.write(f"{path}\n")
        return real(path, *args, **kw)
    return write


training_loop.save_checkpoint = recording(training_loop.save_checkpoint)
training_loop.write_csv = recording(training_loop.write_csv)


if rank == job.get("nan_rank"):  # this process's L1 loss turns NaN at step nan_step
    real_l1, calls = training_step.losses.l1_loss, {"n": 0}

    def poisoned(*args, **kw):
        value, logs = real_l1(*args, **kw)
        calls["n"] += 1
        return (value * float("nan"), {**logs, "l1_valid": float("nan")}) if calls["n"] == job["nan_step"] + 1 else (value, logs)

    training_step.losses.l1_loss = poisoned


def die(step):
    if rank == job.get("kill_rank") and step == job.get("kill_step"):
        os.kill(os.getpid(), signal.SIGKILL)


data = np.load(job["val"])
torch.set_num_threads(1)
validate = lambda p, t, m: {"hole_l1": float(((p - t).abs() * m).sum() / m.sum() / 3)}
summary = training_loop.train(job["cfg"], job["paths"], data["images"], data["masks"], job["out"], job["out"] + "/logs",
                         validate=validate, on_step=die)
Path(job["out"], f"summary{rank}.json").write_text(json.dumps(summary))
