import copy
import json
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from inpaint import losses
from inpaint.checkpoints import generator_from_checkpoint, load_checkpoint, save_checkpoint
from inpaint.metrics import PER_CROP
from inpaint.training import loop as training_loop
from inpaint.training.loop import beats
from inpaint.training.step import TrainingDiverged
from testkit import TRAIN_CFG as CFG
from testkit import hole_l1 as _validate
from testkit import train_run as _run


def test_training_writes_checkpoints_logs_and_rebuildable_best(setup, tmp_path):
    summary = _run(CFG, setup, tmp_path / "run")
    assert summary["steps"] == 6 and summary["stopped_by"] == "steps"
    for f in ["run/last.pt", "run/best.pt", "run/logs/log.csv", "run/logs/val.csv"]:
        assert (tmp_path / f).exists(), f
    log = (tmp_path / "run/logs/log.csv").read_text().splitlines()
    assert log[0].startswith("step,images,minutes") and len(log) == 7 and log[-1].startswith("6,12,") and "d_loss" in log[0] and "l1_hole" in log[0]
    model, ckpt = generator_from_checkpoint(tmp_path / "run/best.pt")
    assert ckpt["arch"] == "autoencoder" and ckpt["kwargs"] == CFG["kwargs"] and not model.training
    latest, last = generator_from_checkpoint(tmp_path / "run/last.pt")  # last.pt runs too: its EMA
    assert last["step"] == 6 and all(torch.equal(a, b) for a, b in zip(latest.state_dict().values(),
                                                                         last["ema"].values()))
    x = torch.rand(1, 3, 32, 32)
    assert model(x, torch.zeros(1, 1, 32, 32))["pred"].shape == (1, 3, 32, 32)


def test_validation_starts_at_step_0_and_best_is_never_worse_than_the_start(setup, tmp_path):
    scores = iter([0.5, 0.7, 0.6])  # training only made it worse (hole_l1: lower is better)
    summary = _run(CFG, setup, tmp_path / "run", validate=lambda *a: {"hole_l1": next(scores)})
    val = (tmp_path / "run/logs/val.csv").read_text().splitlines()
    assert val == ["step,images,hole_l1,hole_l1_start_fill,chosen", "0,0,0.5,0.5,1", "3,6,0.7,0.5,0", "6,12,0.6,0.5,0"]
    best = load_checkpoint(tmp_path / "run/best.pt")
    assert best["step"] == 0 and best["val"] == {"hole_l1": 0.5} and summary["best"] == {"hole_l1": 0.5}


def _crops(*values):
    return {"hole_l1": float(np.mean(values)), PER_CROP: {"hole_l1": list(values)}}


def test_a_later_step_wins_only_by_more_than_the_standard_error_of_the_paired_difference(setup, tmp_path):
    # step 3: better on average (-0.01) but by less than the noise of its crop-by-crop difference; step 6:
    # better on every crop by 0.05, a difference whose standard error is ~0
    scores = iter([_crops(0.5, 0.4, 0.6, 0.5), _crops(0.45, 0.43, 0.58, 0.5), _crops(0.45, 0.35, 0.55, 0.45)])
    _run(CFG, setup, tmp_path / "run", validate=lambda *a: next(scores))
    val = pd.read_csv(tmp_path / "run/logs/val.csv")
    assert val.chosen.tolist() == [1, 0, 1]
    assert val.hole_l1_vs_best.round(4).tolist()[1:] == [-0.01, -0.05]
    assert val.hole_l1_vs_best_se[1] > 0.01 and val.hole_l1_vs_best_se[2] < 1e-9
    assert "per_crop" not in val and load_checkpoint(tmp_path / "run/best.pt")["step"] == 6


@pytest.mark.parametrize("higher", [False, True])
def test_beats_compares_crop_by_crop_in_the_metric_s_direction(higher):
    sign = 1 if higher else -1
    base = [0.5, 0.4, 0.6, 0.5]
    clearly = [v + sign * 0.05 for v in base]
    assert beats(clearly, base, 0.0, 0.0, higher)[0]
    assert not beats([v - sign * 0.05 for v in base], base, 0.0, 0.0, higher)[0]
    assert not beats(base, base, 0.0, 0.0, higher)[0]  # a tie keeps the earlier checkpoint
    assert beats(None, None, 0.4 + sign * 0.1, 0.4, higher)[0]  # no per-crop scores: the better mean wins
    assert beats([0.1], None, 0.1, None, higher)[0]  # the first candidate is always taken


def _states(path):
    ckpt = load_checkpoint(path)
    return ckpt["gen"], ckpt["ema"], ckpt["disc"], ckpt["step"]


def _assert_same(a, b):
    for sa, sb in zip(a[:3], b[:3]):
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k
    assert a[3] == b[3]


def _run_cut_at_step_4(setup, out):
    """CFG's run killed during its validation at step 6, before that checkpoint: last.pt holds step 4."""
    calls = {"n": 0}

    def dies_on_third_validation(pred, target, mask):
        calls["n"] += 1
        if calls["n"] == 3:  # validations at steps 0, 3, 6
            raise KeyboardInterrupt
        return _validate(pred, target, mask)

    with pytest.raises(KeyboardInterrupt):
        _run(CFG, setup, out, validate=dies_on_third_validation)


def test_interrupted_run_resumes_to_the_same_result(setup, tmp_path):
    _run(CFG, setup, tmp_path / "full")
    _run_cut_at_step_4(setup, tmp_path / "cut")
    assert load_checkpoint(tmp_path / "cut/last.pt")["step"] == 4
    summary = _run(CFG, setup, tmp_path / "cut")
    assert summary["steps"] == 6
    _assert_same(_states(tmp_path / "full/last.pt"), _states(tmp_path / "cut/last.pt"))
    assert (tmp_path / "full/logs/log.csv").read_text() .count("\n") == (tmp_path / "cut/logs/log.csv").read_text().count("\n")


def test_a_run_stopped_by_the_clock_continues_under_a_raised_max_minutes(setup, tmp_path, capsys):
    # the max_minutes warning says "raise max_minutes": the rerun resumes and ends as an uninterrupted run does;
    # another max_steps starts it again (it would validate, so choose best.pt, at other steps)
    _run(CFG, setup, tmp_path / "full")
    _run_cut_at_step_4(setup, tmp_path / "cut")
    capsys.readouterr()
    assert _run({**CFG, "max_minutes": CFG["max_minutes"] + 1}, setup, tmp_path / "cut")["steps"] == CFG["max_steps"]
    assert "resuming autoencoder from step 4" in capsys.readouterr().out
    _assert_same(_states(tmp_path / "full/last.pt"), _states(tmp_path / "cut/last.pt"))
    assert (tmp_path / "full/logs/val.csv").read_text() == (tmp_path / "cut/logs/val.csv").read_text()
    _run({**CFG, "max_steps": CFG["max_steps"] + 2}, setup, tmp_path / "cut")
    assert "training from the start" in capsys.readouterr().out


CHILD = """
import json, os, signal, sys
import numpy as np, torch
from inpaint.training.loop import train
cfg, paths, out, kill_at = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[5])
data = np.load(sys.argv[4])
torch.set_num_threads(1)
validate = lambda p, t, m: {"hole_l1": float(((p - t).abs() * m).sum() / m.sum() / 3)}
die = lambda step: os.kill(os.getpid(), signal.SIGKILL) if step == kill_at else None
train(cfg, paths, data["images"], data["masks"], out, out + "/logs", validate=validate, on_step=die)
"""


@pytest.mark.slow  # a killed training process, rerun
@pytest.mark.hostile("G33")
@pytest.mark.parametrize("kill_at, ckpt_every", [(17, 1), (7, 3)])
def test_sigkill_then_rerun_ends_like_an_uninterrupted_run(setup, tmp_path, kill_at, ckpt_every):
    cfg = copy.deepcopy(CFG)
    cfg.update(max_steps=24, ckpt_every=ckpt_every)
    torch.set_num_threads(1)
    _run(cfg, setup, tmp_path / "full")
    paths, images, masks = setup
    np.savez(tmp_path / "val.npz", images=images, masks=masks)
    args = [sys.executable, "-c", CHILD, json.dumps(cfg), json.dumps(paths), str(tmp_path / "killed"),
            str(tmp_path / "val.npz"), str(kill_at)]
    proc = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert load_checkpoint(tmp_path / "killed/last.pt")["step"] == kill_at // ckpt_every * ckpt_every
    _run(cfg, setup, tmp_path / "killed")
    _assert_same(_states(tmp_path / "full/last.pt"), _states(tmp_path / "killed/last.pt"))
    assert not [p for p in (tmp_path / "killed").iterdir() if p.name.endswith(".tmp.pt")]


def test_changed_params_start_from_scratch(setup, tmp_path, capsys):
    _run(CFG, setup, tmp_path / "run")
    cfg = copy.deepcopy(CFG)
    cfg["lr_g"] = 5e-4
    _run(cfg, setup, tmp_path / "run")
    assert "training from the start" in capsys.readouterr().out
    _run(cfg, setup, tmp_path / "fresh")  # what the changed params give from nothing
    _assert_same(_states(tmp_path / "fresh/last.pt"), _states(tmp_path / "run/last.pt"))
    old = _states(tmp_path / "fresh/last.pt")
    _run(CFG, setup, tmp_path / "old")
    with pytest.raises(AssertionError):  # the check above can tell the two runs apart
        _assert_same(old, _states(tmp_path / "old/last.pt"))


def test_nan_loss_stops_with_step_and_loss_name_keeping_last_good_checkpoint(setup, tmp_path, monkeypatch):
    real = losses.l1_loss
    calls = {"n": 0}

    def poisoned(*args, **kw):
        calls["n"] += 1
        value, logs = real(*args, **kw)
        if calls["n"] == 5:
            return value * float("nan"), {**logs, "l1_hole": float("nan")}
        return value, logs

    monkeypatch.setattr(losses, "l1_loss", poisoned)
    with pytest.raises(TrainingDiverged, match=r"step 4: loss l1_hole is nan.*last good checkpoint"):
        _run(CFG, setup, tmp_path / "run")
    assert load_checkpoint(tmp_path / "run/last.pt")["step"] == 4


def test_time_budget_stops_early(setup, tmp_path):
    cfg = copy.deepcopy(CFG)
    cfg.update(max_steps=1000, max_minutes=0.0)
    summary = _run(cfg, setup, tmp_path / "run")
    assert summary["stopped_by"] == "minutes" and summary["steps"] == 0
    assert (tmp_path / "run/best.pt").exists()


def test_curriculum_trains_small_crops_first_and_resumes_across_the_switch(setup, tmp_path, monkeypatch):
    cfg = {**CFG, "curriculum": {"size": 16, "steps": 3}}
    assert training_loop.phases(cfg) == [(16, 3), (32, 6)] and training_loop.phases(CFG) == [(32, 6)]
    sizes = [img.shape[-1] for img, _ in training_loop.batches(cfg, setup[0], 1)]
    assert sizes == [16, 16, 32, 32, 32]  # steps 1..5: the stream continues from a resumed step
    _run(cfg, setup, tmp_path / "full")
    calls = {"n": 0}

    def dies_on_second_validation(pred, target, mask):
        calls["n"] += 1
        if calls["n"] == 2:  # validations at steps 0, 3: dies at 3 (last switch step), step 2 is on disk
            raise KeyboardInterrupt
        return _validate(pred, target, mask)

    with pytest.raises(KeyboardInterrupt):
        _run(cfg, setup, tmp_path / "cut", validate=dies_on_second_validation)
    assert load_checkpoint(tmp_path / "cut/last.pt")["step"] == 2
    _run(cfg, setup, tmp_path / "cut")
    _assert_same(_states(tmp_path / "full/last.pt"), _states(tmp_path / "cut/last.pt"))
    assert load_checkpoint(tmp_path / "cut/last.pt")["images"] == 12


def test_a_last_pt_with_the_older_random_state_format_resumes(setup, tmp_path, capsys):
    def stop(step):
        if step == 4:
            raise KeyboardInterrupt

    for old in ("cpu-only list", "rank 0's only"):
        out = tmp_path / old
        with pytest.raises(KeyboardInterrupt):
            _run(CFG, setup, out, on_step=stop)
        state = load_checkpoint(out / "last.pt")
        state["rngs"] = [r["cpu"] for r in state["rngs"]]  # as written before CUDA states were kept
        if old == "rank 0's only":
            del state["rngs"]
        save_checkpoint(out / "last.pt", state)
        assert _run(CFG, setup, out)["steps"] == 6
        assert "resuming autoencoder from step 4" in capsys.readouterr().out


def test_with_photos_a_step_must_beat_the_photos_noise_and_be_no_worse_on_any_photo():
    best = [0.50, 0.50, 0.40, 0.40, 0.60, 0.60]
    photos = np.array([0, 0, 1, 1, 2, 2])
    everywhere = [0.45, 0.45, 0.36, 0.36, 0.56, 0.56]  # better on every photo by about the same
    won, figures = beats(everywhere, best, 0.0, 0.0, False, photos)
    assert won and figures["vs_best"] == pytest.approx(-0.0433, abs=1e-4) and figures["vs_best_worst_photo"] < 0
    traded = [0.40, 0.40, 0.30, 0.30, 0.61, 0.61]  # a big gain on two photos, worse on the third
    assert beats(traded, best, 0.0, 0.0, False)[0]  # crop by crop it would win
    won, figures = beats(traded, best, 0.0, 0.0, False, photos)
    assert not won and figures["vs_best_worst_photo"] == pytest.approx(0.01)
    even = [0.45, 0.55, 0.35, 0.45, 0.55, 0.65]  # better and worse crop by crop, each photo unchanged on average
    assert not beats(even, best, 0.0, 0.0, False, photos)[0]
