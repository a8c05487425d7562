"""Data-parallel training throughput on this machine: images/s of the real train stage with 1 and with N
processes (torchrun + gloo on the CPU, NCCL on GPUs); prints JSON.

Runs `python stages/train.py` itself, as `dvc repro` does, on params.yaml with a few overrides (a
short step budget, no mid-run validation or checkpoints) and reads the images/s each run reports in
its summary.json (training time only: the step-0 validation is not counted). Needs the split of a
`make repro` (data/split/). Nothing else heavy should run meanwhile.

Usage: python bench/ddp_speed.py [--model lama] [--steps 30] [--procs 1 2] [-S key=value ...]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inpaint.training.config import set_param  # noqa: E402


def run(params: dict, model: str, procs: int, work: Path) -> dict:
    params = json.loads(json.dumps(params))
    params["train"]["common"]["distributed"]["nproc_per_node"] = procs
    path = work / f"params_{procs}.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    out = work / f"run_{procs}"
    cmd = [sys.executable, str(ROOT / "stages/train.py"), "--params", str(path), "--model", model,
           "--split", str(ROOT / "data/split"), "--out", str(out), "--logs", str(out / "logs")]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "OMP_NUM_THREADS")}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    if summary["processes"] != procs:
        sys.exit(f"asked for {procs} processes, the run had {summary['processes']} (a train.{model}.distributed "
                 "override in params.yaml wins over train.common's)")
    return {"processes": procs, "steps": summary["steps"], "images_per_second": summary["images_per_second"],
            "train_minutes": summary["minutes"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lama")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("-S", dest="overrides", action="append", default=[], help="params.yaml key=value")
    args = ap.parse_args()
    if not (ROOT / "data/split/train.csv").exists():
        sys.exit("data/split/train.csv not found: run `make repro` (or `dvc repro split`) first")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for item in args.overrides:
        set_param(params, item)
    section = params["train"].setdefault(args.model, {}) or {}
    params["train"][args.model] = section
    for key in ("max_steps", "max_minutes", "val_every", "ckpt_every"):
        section.pop(key, None)
    params["train"]["common"].update(max_steps=args.steps, max_minutes=60, val_every=10**6, ckpt_every=10**6)
    with tempfile.TemporaryDirectory(prefix="inpaint-ddp-") as tmp:
        runs = [run(params, args.model, p, Path(tmp)) for p in args.procs]
    base = runs[0]["images_per_second"]
    for r in runs:
        r["speedup"] = round(r["images_per_second"] / base, 3)
    print(json.dumps({"model": args.model, "global_batch": params["train"]["common"]["batch_size"],
                      "image_size": params["base"]["image_size"], "cpu_cores": os.cpu_count(), "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
