"""Data-parallel training with torchrun on this CPU (gloo): 2 processes train what 1 does, resume after a
killed rank, and only rank 0 writes."""
import copy
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from inpaint import distributed

from inpaint.checkpoints import load_checkpoint
from inpaint.training import loop as training_loop, step as training_step

WORKER = Path(__file__).with_name("ddp_worker.py")
CFG = {
    "model": "autoencoder", "kwargs": {"width": 8, "n_down": 2, "max_width": 16, "n_mid": 1},
    "discriminator": {"name": "patchgan", "kwargs": {"width": 8, "depth": 2, "kernel": 3}},
    "image_size": 32, "seed": 0, "batch_size": 4, "max_steps": 6, "max_minutes": 10, "workers": 0,
    "lr_g": 1e-3, "lr_d": 1e-3, "warmup_steps": 3, "betas": [0.5, 0.99], "ema_decay": 0.99, "log_every": 1,
    "val_every": 3, "ckpt_every": 2, "best_metric": "hole_l1", "best_higher": False, "device": "cpu",
    "masks": {"kinds": {"thick": 1, "box": 1}, "min_ratio": 0.05, "max_ratio": 0.6},
    "augment": {"min_scale": 0.3, "color": 0.1},
    "loss": {"l1_hole": 1.0, "l1_valid": 0.5, "perceptual": 0.0, "style": 0.0, "perceptual_net": "vgg16",
             "perceptual_layers": ["relu1_2"], "adv": 0.1, "adv_kind": "hinge", "kl": 0.0, "r1": 0.0},
    "distributed": {"nproc_per_node": 2, "nnodes": 1, "backend": "gloo"},
}


def _torchrun(job: dict, tmp: Path, name: str, nproc: int = 2, check: bool = True) -> subprocess.CompletedProcess:
    spec = tmp / f"{name}.json"
    spec.write_text(json.dumps(job))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                           str(WORKER), str(spec)], capture_output=True, text=True, timeout=600, env=env)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _job(setup, tmp: Path, name: str, kill_rank: int | None = None, kill_step: int | None = None, **cfg) -> dict:
    """The worker's job: CFG with `cfg` overrides; the process of rank kill_rank dies after step kill_step."""
    paths, images, masks = setup
    np.savez(tmp / "val.npz", images=images, masks=masks)
    return {"cfg": {**copy.deepcopy(CFG), **cfg}, "paths": paths, "val": str(tmp / "val.npz"), "out": str(tmp / name),
            "record": str(tmp / name / "record"), "kill_rank": kill_rank, "kill_step": kill_step}


def _weights(path: Path) -> dict:
    state = load_checkpoint(path)
    return {f"{part}.{k}": v for part in ("gen", "ema", "disc") for k, v in state[part].items()}


@pytest.fixture(scope="module")
def two_procs(tmp_path_factory):
    """An uninterrupted 2-process run and its inputs (a module fixture: each torchrun start costs seconds)."""
    from testkit import save_photo

    tmp = tmp_path_factory.mktemp("ddp")
    paths = [str(save_photo(tmp / f"p{i}.png", size=(48, 40), seed=i)) for i in range(3)]
    rng = np.random.default_rng(0)
    masks = np.zeros((2, 32, 32), np.float32)
    masks[:, 8:20, 8:20] = 1
    setup = (paths, rng.random((2, 32, 32, 3)).astype(np.float32), masks)
    _torchrun(_job(setup, tmp, "full"), tmp, "full")
    return setup, tmp


@pytest.mark.slow  # torchrun processes
def test_two_processes_follow_the_loss_curve_of_one_with_the_same_global_batch(two_procs):
    setup, tmp = two_procs
    one = {**copy.deepcopy(CFG), "distributed": {"nproc_per_node": 1}}
    training_loop.train(one, setup[0], setup[1], setup[2], tmp / "one", tmp / "one/logs",
                   validate=lambda p, t, m: {"hole_l1": float(((p - t).abs() * m).sum() / m.sum() / 3)})
    a, b = pd.read_csv(tmp / "one/logs/log.csv"), pd.read_csv(tmp / "full/logs/log.csv")
    assert list(a.step) == list(b.step) == list(range(1, 7)) and list(a.images) == list(b.images) == [4, 8, 12, 16, 20, 24]
    for col in ("g_total", "d_loss", "l1_valid"):  # the logs are the global batch's (averaged over the processes)
        np.testing.assert_allclose(b[col], a[col], rtol=1e-4, err_msg=col)
    w1, w2 = _weights(tmp / "one/last.pt"), _weights(tmp / "full/last.pt")
    assert w1.keys() == w2.keys()
    worst = max(float((w1[k] - w2[k]).abs().max()) for k in w1)
    assert worst < 2e-3, worst  # the same model, up to the order of float sums (steps move weights ~1e-2)
    first = {k: v for k, v in training_step.build_nets(one, torch.device("cpu")).gen.state_dict().items()}
    assert max(float((w2[f"gen.{k}"] - v).abs().max()) for k, v in first.items()) > 10 * worst  # they did train


@pytest.mark.slow  # torchrun processes
def test_only_rank_0_writes_and_both_end_at_the_same_step(two_procs):
    _, tmp = two_procs
    written = (tmp / "full/record/rank0.txt").read_text().split()
    assert (tmp / "full/record/rank1.txt").read_text() == ""
    assert {Path(p).name for p in written} == {"last.pt", "best.pt", "log.csv", "val.csv"}
    s0, s1 = (json.loads((tmp / f"full/summary{r}.json").read_text()) for r in (0, 1))
    assert s0["steps"] == s1["steps"] == 6 and s0["processes"] == 2
    val = pd.read_csv(tmp / "full/logs/val.csv")
    assert list(val.step) == [0, 3, 6]  # validated once per validation step, by rank 0
    assert len(load_checkpoint(tmp / "full/last.pt")["rngs"]) == 2  # each process's random state, for resuming


VAE = {"model": "vae", "kwargs": {"width": 8, "n_down": 2, "max_width": 16, "latent_channels": 2},
       "loss": {**CFG["loss"], "kl": 0.01, "diversity": 1.0, "diversity_margin": 0.05, "diversity_pool": 4}}


@pytest.mark.slow  # torchrun processes
def test_a_killed_rank_resumes_to_the_uninterrupted_result(two_procs):
    """A VAE draws noise every step (posterior and prior samples): each process's random state must come
    back from last.pt, or the resumed run would end elsewhere."""
    setup, tmp = two_procs
    _torchrun(_job(setup, tmp, "vae_full", **VAE), tmp, "vae_full")
    job = _job(setup, tmp, "vae_cut", kill_rank=1, kill_step=5, **VAE)
    proc = _torchrun(job, tmp, "vae_cut", check=False)
    assert proc.returncode != 0  # torchrun tears the other process down too
    assert load_checkpoint(tmp / "vae_cut/last.pt")["step"] == 4
    _torchrun({**job, "kill_rank": None}, tmp, "vae_cut")
    a, b = _weights(tmp / "vae_full/last.pt"), _weights(tmp / "vae_cut/last.pt")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6
    assert len(pd.read_csv(tmp / "vae_cut/logs/log.csv")) == 6
    assert [len(r) for r in load_checkpoint(tmp / "vae_full/last.pt")["rngs"]] == [2, 2]  # cpu and cuda, per process
    # the check above can tell runs apart: the same run with rank 1's random state not restored ends elsewhere
    state = load_checkpoint(tmp / "vae_cut/last.pt")
    assert not torch.equal(state["rngs"][0]["cpu"], state["rngs"][1]["cpu"])


@pytest.mark.slow  # torchrun processes
def test_a_loss_that_diverges_on_one_process_stops_every_process(two_procs):
    setup, tmp = two_procs
    job = _job(setup, tmp, "nan", max_steps=4)
    job["nan_rank"], job["nan_step"] = 1, 2
    proc = _torchrun(job, tmp, "nan", check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "step 2: loss" in text and "not finite" in text  # rank 0 names the cause
    assert load_checkpoint(tmp / "nan/last.pt")["step"] == 2  # the last good checkpoint is kept


def test_settings_name_the_key_and_the_fix():
    with pytest.raises(ValueError, match=r"batch_size.* 6 is the global batch and does not divide among 4 processes"):
        distributed.settings({**CFG, "batch_size": 6, "distributed": {"nproc_per_node": 2, "nnodes": 2}})
    with pytest.raises(ValueError, match=r"train.common.distributed \(or train.autoencoder.distributed\).nproc_per_node is 0"):
        distributed.settings({**CFG, "distributed": {"nproc_per_node": 0}})
    with pytest.raises(ValueError, match=r"distributed.*backend is 'mpi'"):
        distributed.settings({**CFG, "distributed": {"backend": "mpi"}})
    with pytest.raises(ValueError, match=r"unknown keys \['gpus'\]"):
        distributed.settings({**CFG, "distributed": {"gpus": 2}})
    assert distributed.settings({**CFG, "distributed": None})["world_size"] == 1
    assert distributed.settings(CFG) == {"nproc_per_node": 2, "nnodes": 1, "backend": "gloo", "world_size": 2}


def test_launch_refuses_a_torchrun_of_another_size_and_multi_node_without_an_endpoint(monkeypatch):
    monkeypatch.delenv(distributed.RDZV_ENV, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match=r"torchrun started 3 process\(es\) but .* asks for 2 x 1 = 2"):
        distributed.launch(CFG, ["x.py"])
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed.launch(CFG, ["x.py"]) is None  # a worker trains in its own process
    monkeypatch.delenv("WORLD_SIZE")
    assert distributed.launch({**CFG, "distributed": {}}, ["x.py"]) is None  # one process: no torchrun
    with pytest.raises(ValueError, match=f"nnodes is 2: set {distributed.RDZV_ENV}=host:port"):
        distributed.launch({**CFG, "distributed": {"nnodes": 2}}, ["x.py"])


def test_pin_gpus(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    distributed.pin_gpus(None)
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    distributed.pin_gpus("0,1")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
    distributed.pin_gpus(1)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    with pytest.raises(ValueError, match="cuda_visible_devices is 'gpu1'"):
        distributed.pin_gpus("gpu1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # torchrun processes
def test_two_nodes_on_one_machine_as_the_readme_launches_them(two_procs, monkeypatch):
    """Node 0 through the stage's launcher (INPAINT_RDZV_ENDPOINT), node 1 by torchrun itself: the README's
    two-node commands, both nodes on localhost, one process each."""
    setup, tmp = two_procs
    job = _job(setup, tmp, "nodes", distributed={"nproc_per_node": 1, "nnodes": 2, "backend": "gloo"})
    spec = tmp / "nodes.json"
    spec.write_text(json.dumps(job))
    endpoint = f"127.0.0.1:{_free_port()}"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    host, port = endpoint.split(":")
    node1 = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--node_rank=1",
                              "--nproc_per_node=1", f"--master_addr={host}", f"--master_port={port}", "--", str(WORKER),
                              str(spec)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    monkeypatch.setenv(distributed.RDZV_ENV, endpoint)
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    try:
        assert distributed.launch(job["cfg"], [str(WORKER), str(spec)]) == 0
        assert node1.wait(timeout=300) == 0, node1.stdout.read()[-3000:]
    finally:
        node1.kill()
    a, b = _weights(tmp / "full/last.pt"), _weights(tmp / "nodes/last.pt")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5  # 2 nodes x 1 = 1 node x 2
    assert (tmp / "nodes/record/rank0.txt").read_text() and not (tmp / "nodes/record/rank1.txt").read_text()


@pytest.mark.slow  # torchrun processes
def test_a_sampling_model_with_r1_trains_on_two_processes(two_procs):
    """The VAE's prior samples come from the same forward (one DDP forward per backward), its prior head
    has no gradient when loss.kl is 0 (DDP must allow it), and R1 differentiates D twice."""
    setup, tmp = two_procs
    loss = {**CFG["loss"], "r1": 1.0, "kl": 0.0, "diversity": 1.0, "diversity_margin": 0.05, "diversity_pool": 4}
    job = _job(setup, tmp, "vae", model="vae", kwargs={"width": 8, "n_down": 2, "max_width": 16, "latent_channels": 2},
               loss=loss, max_steps=4)
    _torchrun(job, tmp, "vae")
    log = pd.read_csv(tmp / "vae/logs/log.csv")
    assert list(log.step) == [1, 2, 3, 4] and {"sample_spread", "r1", "d_loss"} <= set(log.columns)
    assert np.isfinite(log.select_dtypes("number").to_numpy()).all()
    state = load_checkpoint(tmp / "vae/last.pt")
    first = training_step.build_nets(job["cfg"], torch.device("cpu")).gen.state_dict()
    assert any(not torch.equal(state["gen"][k], v) for k, v in first.items())
