import copy
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from inpaint import losses, training
from inpaint import checkpoints
from inpaint.checkpoints import generator_from_checkpoint, load_checkpoint, save_checkpoint
from inpaint.training import TrainingDiverged, train

CFG = {
    "model": "autoencoder", "kwargs": {"width": 8, "n_down": 2, "max_width": 16, "n_mid": 1},
    "discriminator": {"name": "patchgan", "kwargs": {"width": 8, "depth": 2, "kernel": 3}},
    "image_size": 32, "seed": 0, "batch_size": 2, "max_steps": 6, "max_minutes": 10, "workers": 0,
    "lr_g": 1e-3, "lr_d": 1e-3, "warmup_steps": 3, "betas": [0.5, 0.99], "ema_decay": 0.99, "log_every": 1, "val_every": 3,
    "ckpt_every": 2, "best_metric": "hole_l1", "best_higher": False, "device": "cpu",
    "masks": {"kinds": {"thick": 1, "box": 1}, "min_ratio": 0.05, "max_ratio": 0.6},
    "augment": {"min_scale": 0.3, "color": 0.1},
    "loss": {"l1_hole": 1.0, "l1_valid": 0.5, "perceptual": 0.0, "style": 0.0, "perceptual_net": "vgg16", "perceptual_layers": ["relu1_2"],
             "adv": 0.1, "adv_kind": "hinge", "kl": 0.0, "r1": 0.0},
}


def _validate(pred, target, mask):
    return {"hole_l1": float(((pred - target).abs() * mask).sum() / mask.sum() / 3)}


def _run(cfg, setup, out, **kw):
    paths, images, masks = setup
    return train(cfg, paths, images, masks, out, out / "logs", validate=kw.pop("validate", _validate), **kw)


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
    assert val == ["step,images,hole_l1,hole_l1_start_fill", "0,0,0.5,0.5", "3,6,0.7,0.5", "6,12,0.6,0.5"]
    best = load_checkpoint(tmp_path / "run/best.pt")
    assert best["step"] == 0 and best["val"] == {"hole_l1": 0.5} and summary["best"] == {"hole_l1": 0.5}


def test_checkpoint_round_trip_is_weights_only(tmp_path):
    payload = {"arch": "x", "state": {"w": torch.arange(3.0)}, "step": 4, "log": [{"a": 1.5}]}
    save_checkpoint(tmp_path / "c.pt", payload)
    back = load_checkpoint(tmp_path / "c.pt")
    assert back["step"] == 4 and torch.equal(back["state"]["w"], torch.arange(3.0)) and back["log"] == [{"a": 1.5}]

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="not a readable inpaint checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    (tmp_path / "trunc.pt").write_bytes((tmp_path / "c.pt").read_bytes()[:50])
    with pytest.raises(ValueError, match="not a readable"):
        load_checkpoint(tmp_path / "trunc.pt")
    save_checkpoint(tmp_path / "nogen.pt", {"step": 1})
    with pytest.raises(ValueError, match="lacks 'arch'"):
        generator_from_checkpoint(tmp_path / "nogen.pt")
    save_checkpoint(tmp_path / "old.pt", {"format": 1, "arch": "lama", "kwargs": {}, "state": {}})
    with pytest.raises(ValueError, match=r"format 1.*dvc repro -f train@lama"):
        generator_from_checkpoint(tmp_path / "old.pt")


def _states(path):
    ckpt = load_checkpoint(path)
    return ckpt["gen"], ckpt["ema"], ckpt["disc"], ckpt["step"]


def _assert_same(a, b):
    for sa, sb in zip(a[:3], b[:3]):
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k
    assert a[3] == b[3]


def test_interrupted_run_resumes_to_the_same_result(setup, tmp_path):
    _run(CFG, setup, tmp_path / "full")
    calls = {"n": 0}

    def dies_on_third_validation(pred, target, mask):
        calls["n"] += 1
        if calls["n"] == 3:  # validations at steps 0, 3, 6: dies at 6, before its checkpoint; 4 is on disk
            raise KeyboardInterrupt
        return _validate(pred, target, mask)

    with pytest.raises(KeyboardInterrupt):
        _run(CFG, setup, tmp_path / "cut", validate=dies_on_third_validation)
    assert load_checkpoint(tmp_path / "cut/last.pt")["step"] == 4
    summary = _run(CFG, setup, tmp_path / "cut")
    assert summary["steps"] == 6
    _assert_same(_states(tmp_path / "full/last.pt"), _states(tmp_path / "cut/last.pt"))
    assert (tmp_path / "full/logs/log.csv").read_text() .count("\n") == (tmp_path / "cut/logs/log.csv").read_text().count("\n")


CHILD = """
import json, os, signal, sys
import numpy as np, torch
from inpaint.training import train
cfg, paths, out, kill_at = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[5])
data = np.load(sys.argv[4])
torch.set_num_threads(1)
validate = lambda p, t, m: {"hole_l1": float(((p - t).abs() * m).sum() / m.sum() / 3)}
die = lambda step: os.kill(os.getpid(), signal.SIGKILL) if step == kill_at else None
train(cfg, paths, data["images"], data["masks"], out, out + "/logs", validate=validate, on_step=die)
"""


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


def test_model_config_merges_the_models_section_and_names_a_bad_best_metric():
    params = {"base": {"image_size": 32, "seed": 3},
              "train": {"common": {**{k: v for k, v in CFG.items() if k not in ("model", "kwargs", "image_size", "seed",
                                                                                 "best_higher")},
                                   "val_metrics": ["hole_l1"]},
                        "lama": {"loss": {"adv": 0.5}, "max_steps": 9}}}
    cfg = training.model_config(params, "lama")
    assert cfg["model"] == "lama" and cfg["kwargs"] == {} and cfg["max_steps"] == 9 and cfg["seed"] == 3
    assert cfg["loss"]["adv"] == 0.5 and cfg["loss"]["l1_hole"] == CFG["loss"]["l1_hole"]  # merged key by key
    assert cfg["best_higher"] is False  # hole_l1: lower is better
    params["train"]["common"]["best_metric"] = "fid"
    with pytest.raises(ValueError, match=r"train.common.best_metric.*'fid'.*hole_l1.*lpips.*psnr"):
        training.model_config(params, "lama")
    params["train"]["common"].update(best_metric="psnr", val_metrics=["lpips"])
    with pytest.raises(ValueError, match=r"'psnr' is not among train.common.val_metrics \['lpips'\]"):
        training.model_config(params, "lama")


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


def test_learning_rate_warms_up_linearly_and_resumes_at_the_same_rate():
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
    rates = []
    for step in range(6):
        training._warm_up(opt, 0.4, step, 4)
        rates.append(opt.param_groups[0]["lr"])
    assert rates == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4, 0.4])
    training._warm_up(opt, 0.4, 1, 0)
    assert opt.param_groups[0]["lr"] == 0.4  # no warm-up


def test_pick_device():
    assert checkpoints.pick_device("cpu").type == "cpu"
    assert checkpoints.pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_curriculum_trains_small_crops_first_and_resumes_across_the_switch(setup, tmp_path, monkeypatch):
    cfg = {**CFG, "curriculum": {"size": 16, "steps": 3}}
    assert training.phases(cfg) == [(16, 3), (32, 6)] and training.phases(CFG) == [(32, 6)]
    sizes = [img.shape[-1] for img, _ in training.batches(cfg, setup[0], 1)]
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


@pytest.mark.parametrize("size", [20, 8, "64"])
def test_a_bad_curriculum_size_names_its_key(size):
    params = {"base": {"image_size": 64, "seed": 0},
              "train": {"common": {**{k: v for k, v in CFG.items() if k not in ("model", "image_size", "seed")},
                                   "val_metrics": ["hole_l1"], "curriculum": {"size": size, "steps": 5}}}}
    with pytest.raises(ValueError, match=r"train\.common\.curriculum\.size"):
        training.model_config(params, "autoencoder")
    params["train"]["common"]["curriculum"]["steps"] = 0  # off: the size is not used
    assert training.model_config(params, "autoencoder")["curriculum"]["steps"] == 0


def test_the_diversity_loss_makes_a_vaes_samples_differ(setup, tmp_path):
    from inpaint.evaluation import diverse_samples

    paths, images, masks = setup
    cfg = {**CFG, "model": "vae", "kwargs": {"width": 8, "n_down": 2, "max_width": 16, "latent_channels": 4, "n_mid": 1},
           "max_steps": 40, "val_every": 40, "ckpt_every": 40, "log_every": 10, "lr_g": 3e-3,
           "loss": {**CFG["loss"], "adv": 0.0, "kl": 0.01, "diversity": 1.0, "diversity_margin": 0.05}}
    spreads = {}
    for weight in (0.0, 1.0):
        run = tmp_path / f"w{weight}"
        _run({**cfg, "loss": {**cfg["loss"], "diversity": weight}}, setup, run)
        model, _ = generator_from_checkpoint(run / "last.pt")
        fills = diverse_samples(model, images, masks, 2, seed=0)  # (N, 2, S, S, 3)
        spreads[weight] = float(np.abs(fills[:, 0] - fills[:, 1]).sum() / (3 * masks.sum()))
    assert spreads[1.0] > 0.02 and spreads[1.0] > 3 * spreads[0.0]
    log = (tmp_path / "w1.0/logs/log.csv").read_text()
    assert "sample_spread" in log.splitlines()[0]


def test_the_logs_show_the_head_learning_and_the_fill_changing(setup):
    cfg = {**CFG, "model": "lama", "kwargs": {"width": 8, "n_down": 2, "max_width": 16, "n_blocks": 1},
           "warmup_steps": 1, "loss": {**CFG["loss"], "adv": 0.0}}
    nets = training.build_nets(cfg, torch.device("cpu"))
    image, mask = next(training.batches(cfg, setup[0], 0))
    first = training.train_step(nets, image, mask, 0, cfg)
    assert first["change_hole"] == 0 and first["head_grad"] > 0  # zero head: the start fill, but it gets a gradient
    for step in range(1, 4):
        logs = training.train_step(nets, image, mask, step, cfg)
    assert logs["change_hole"] > 0 and logs["head_grad"] > 0


def test_the_generator_feels_the_adversary_only_from_adv_start(setup):
    cfg = {**CFG, "loss": {**CFG["loss"], "adv_start": 2}}
    nets = training.build_nets(cfg, torch.device("cpu"))
    batches = training.batches(cfg, setup[0], 0)
    logs = [training.train_step(nets, *next(batches), step, cfg) for step in range(3)]
    assert ["g_adv" in lg for lg in logs] == [False, False, True]
    assert all("d_loss" in lg for lg in logs)  # the discriminator trains throughout


def test_set_param_overrides_known_keys_and_names_unknown_ones():
    params = {"train": {"common": {"lr_g": 0.001}, "lama": {}}}
    training.set_param(params, "train.common.lr_g=0.0002")
    assert params["train"]["common"]["lr_g"] == 0.0002
    with pytest.raises(ValueError, match=r"train\.lama\.loss is not a key of params\.yaml"):
        training.set_param(params, "train.lama.loss={adv: 0}")
    training.set_param(params, "train.lama.loss={adv: 0}", new_keys_under=("train",))
    assert params["train"]["lama"]["loss"] == {"adv": 0}
    with pytest.raises(ValueError, match="use key=value"):
        training.set_param(params, "train.common.lr_g")


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
