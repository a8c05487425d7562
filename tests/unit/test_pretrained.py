"""Pretrained models: fp16 export with a card, pinned hashes, shipping, fine-tuning from one (init_from),
and using one as a method (`pretrained/<model>`)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from inpaint import pretrained
from inpaint.checkpoints import generator_from_checkpoint
from inpaint.evaluation import checkpoint_note, resolve_all, resolve_method
from inpaint.models import build_discriminator, build_generator
from inpaint.training import train

KW = {"width": 8, "n_down": 2, "max_width": 16, "n_mid": 1}
DISC = {"name": "patchgan", "kwargs": {"width": 8, "depth": 2, "kernel": 3}}
CFG = {
    "model": "autoencoder", "kwargs": KW, "discriminator": DISC,
    "image_size": 32, "seed": 0, "batch_size": 2, "max_steps": 4, "max_minutes": 10, "workers": 0,
    "lr_g": 1e-3, "lr_d": 1e-3, "warmup_steps": 1, "betas": [0.5, 0.99], "ema_decay": 0.9, "log_every": 1, "val_every": 2,
    "ckpt_every": 2, "best_metric": "hole_l1", "best_higher": False, "device": "cpu",
    "masks": {"kinds": {"thick": 1, "box": 1}, "min_ratio": 0.05, "max_ratio": 0.6},
    "augment": {"min_scale": 0.5, "color": 0.0},
    "loss": {"l1_hole": 1.0, "l1_valid": 0.5, "perceptual": 0.0, "style": 0.0, "perceptual_net": "vgg16",
             "perceptual_layers": ["relu1_2"], "adv": 0.1, "adv_kind": "hinge", "kl": 0.0, "r1": 0.0},
}


def _validate(pred, target, mask):
    return {"hole_l1": float(((pred - target).abs() * mask).sum() / mask.sum() / 3)}


@pytest.fixture
def data(setup):
    return setup  # photo paths, validation crops and masks (conftest)


def _trained_generator(seed=1):
    torch.manual_seed(seed)
    gen = build_generator("autoencoder", **KW)
    with torch.no_grad():  # non-zero heads, so the model differs from its start fill
        for p in gen.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return gen


def _export(folder: Path, name="autoencoder", with_disc=True) -> Path:
    gen = _trained_generator()
    disc = build_discriminator(DISC["name"], **DISC["kwargs"]) if with_disc else None
    weights = folder / f"{name}.safetensors"
    digest = pretrained.export(weights, "autoencoder", KW, gen.state_dict(), disc.state_dict() if disc else None,
                               DISC if disc else None)
    pretrained.write_card(weights, {"sha256": digest, "steps": 123, "params": {"max_steps": 123}, "heldout": {}})
    return weights


def test_export_is_fp16_and_reads_back_the_same_generator(tmp_path):
    weights = _export(tmp_path)
    from safetensors.torch import load_file

    tensors = load_file(str(weights))
    assert all(v.dtype == torch.float16 for k, v in tensors.items() if v.is_floating_point())
    assert any(k.startswith("disc.") for k in tensors) and any(k.startswith("gen.") for k in tensors)
    model, info = pretrained.load_generator(weights)
    assert info["arch"] == "autoencoder" and info["kwargs"] == KW and not model.training
    ref = _trained_generator().state_dict()
    for k, v in model.state_dict().items():  # fp16 round trip: within half precision of the original
        assert torch.allclose(v, ref[k], rtol=1e-3, atol=1e-3), k
    assert info["disc_spec"] == DISC


def test_a_file_that_does_not_match_its_card_or_pin_is_refused(tmp_path):
    weights = _export(tmp_path)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the last tensor
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"autoencoder\.json.*corrupt"):
        pretrained.read(weights)
    weights2 = _export(tmp_path / "b")
    (tmp_path / "b" / pretrained.PINS).write_text(f"{'0' * 64}  {weights2.name}\n")
    with pytest.raises(ValueError, match="SHA256SUMS"):
        pretrained.read(weights2)


def test_ship_copies_weights_and_card_and_pins_the_hash(tmp_path):
    weights = _export(tmp_path / "export")
    shipped = tmp_path / "shipped"
    digest = pretrained.ship(tmp_path / "export" / "autoencoder", shipped)
    assert (shipped / weights.name).read_bytes() == weights.read_bytes()
    assert pretrained.pins(shipped) == {weights.name: digest}
    assert pretrained.read(shipped / weights.name)["sha256"] == digest
    card = json.loads(weights.with_suffix(".json").read_text())
    del card["heldout"]  # a card without held-out scores is not shippable
    weights.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="held-out scores"):
        pretrained.ship(tmp_path / "export" / "autoencoder", shipped)


def test_a_missing_pretrained_name_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"pretrained/nothing\.safetensors not found"):
        resolve_method("pretrained/nothing", tmp_path)


def test_fine_tuning_starts_from_the_checkpoint_and_retrains_when_it_changes(data, tmp_path, capsys):
    weights = _export(tmp_path / "pre")
    cfg = {**CFG, "init_from": str(weights), "max_steps": 2, "val_every": 100}
    train(cfg, data[0], data[1], data[2], tmp_path / "ft", tmp_path / "ft/logs", _validate)
    assert "fine-tuning autoencoder from" in capsys.readouterr().out
    # step 0's validation scores the starting checkpoint, not the untrained model
    start_model, _ = pretrained.load_generator(weights)
    vals = torch.load(tmp_path / "ft/last.pt", weights_only=True)["vals"]
    from inpaint.checkpoints import predict
    from inpaint.arrays import masks_to_nchw, to_nchw

    preds = predict(start_model, data[1], data[2], "cpu")
    assert vals[0]["hole_l1"] == pytest.approx(_validate(to_nchw(preds), to_nchw(data[1]), masks_to_nchw(data[2]))["hole_l1"], rel=1e-5)
    last = torch.load(tmp_path / "ft/last.pt", weights_only=True)  # (the discriminator: its own test below)
    assert last["step"] == 2 and last["init"] == {"source": str(weights), "sha256": pretrained.sha256(weights)}
    # another starting checkpoint changes the fingerprint: the run starts again instead of resuming
    other = _export(tmp_path / "pre2")
    gen = _trained_generator(seed=5)
    digest = pretrained.export(other, "autoencoder", KW, gen.state_dict())
    pretrained.write_card(other, {"sha256": digest})
    train({**cfg, "init_from": str(other), "max_steps": 3}, data[0], data[1], data[2], tmp_path / "ft", tmp_path / "ft/logs", _validate)
    out = capsys.readouterr().out
    assert "training from the start" in out and "fine-tuning autoencoder from" in out


def test_fine_tuning_loads_the_discriminator_when_the_file_has_one(data, tmp_path, monkeypatch):
    from inpaint import training

    weights = _export(tmp_path / "pre")
    seen = {}
    real = training.load_start

    def spy(nets, init, *args):
        real(nets, init, *args)
        seen["disc"] = {k: v.clone() for k, v in nets.disc.state_dict().items()}

    monkeypatch.setattr(training, "load_start", spy)
    train({**CFG, "init_from": str(weights), "max_steps": 1}, data[0], data[1], data[2], tmp_path / "ft", tmp_path / "ft/logs", _validate)
    stored = pretrained.read(weights)["disc"]
    assert seen["disc"].keys() == stored.keys()
    assert all(torch.equal(seen["disc"][k], stored[k]) for k in stored)


def test_an_architecture_mismatch_names_both_sides(data, tmp_path):
    weights = _export(tmp_path / "pre")
    cfg = {**CFG, "init_from": str(weights), "kwargs": {**KW, "width": 16}}
    with pytest.raises(ValueError, match=r"train\.autoencoder\.init_from .* holds autoencoder with kwargs .*'width': 8.*"
                                         r"builds autoencoder with kwargs .*'width': 16"):
        train(cfg, data[0], data[1], data[2], tmp_path / "ft", tmp_path / "ft/logs", _validate)
    assert not (tmp_path / "ft" / "last.pt").exists()


def test_a_fine_tuned_model_is_scored_beside_its_start_and_the_note_says_so(data, tmp_path):
    weights = _export(tmp_path / "pre")
    train({**CFG, "init_from": str(weights), "max_steps": 2}, data[0], data[1], data[2], tmp_path / "m/autoencoder",
          tmp_path / "logs", _validate)
    methods = resolve_all(["autoencoder"], tmp_path / "m", device="cpu")
    assert [m.name for m in methods] == ["autoencoder", str(weights), "hybrid"]
    note = checkpoint_note(methods[0])
    assert f"fine-tuned from {weights}" in note
    assert checkpoint_note(methods[1]).endswith(f"pretrained, 123 steps (see its model card {weights.with_suffix('.json')})")
    # a pretrained model fills like the generator it holds
    model, _ = pretrained.load_generator(weights)
    from inpaint.checkpoints import predict

    assert np.allclose(methods[1].fill(data[1], data[2]), predict(model, data[1], data[2], "cpu"))


def test_a_training_checkpoint_can_be_the_start_too(data, tmp_path):
    train(CFG, data[0], data[1], data[2], tmp_path / "a", tmp_path / "a/logs", _validate)
    init = pretrained.init_state(tmp_path / "a" / "last.pt")
    model, _ = generator_from_checkpoint(tmp_path / "a" / "last.pt")
    assert init["arch"] == "autoencoder" and init["disc"] and init["gen"].keys() == model.state_dict().keys()
    with pytest.raises(ValueError, match="no such file"):
        pretrained.init_state(tmp_path / "missing.pt")


def test_the_report_compares_a_fine_tuned_model_with_its_pretrained_start(data, tmp_path):
    import pandas as pd

    from inpaint.evaluation import evaluate
    from inpaint.report import comparisons
    from inpaint.stats import aggregate

    weights = _export(tmp_path / "pre")
    train({**CFG, "init_from": str(weights), "max_steps": 2}, data[0], data[1], data[2], tmp_path / "m/autoencoder",
          tmp_path / "logs", _validate)
    images, masks = data[1], data[2]
    pairs = pd.DataFrame({"image_id": ["a", "b"], "mask_id": ["m0", "m1"], "mask_kind": ["box", "box"],
                          "hole_ratio": [0.14, 0.14], "bucket": ["10-20", "10-20"]})
    results = evaluate(["autoencoder", "telea"], images, masks, pairs, ["hole_l1"], tmp_path / "m", device="cpu")
    triples = comparisons(results, aggregate(results.per_image, n_boot=10))
    assert ("autoencoder", str(weights), "the checkpoint it was fine-tuned from") in triples
    assert ("autoencoder", "hybrid") in [t[:2] for t in triples]
    assert (str(weights), "hybrid") in [t[:2] for t in triples]  # the pretrained model is a learned method too


def test_optimisers_start_fresh_unless_asked_and_only_a_last_pt_has_them(data, tmp_path):
    from inpaint import training

    train(CFG, data[0], data[1], data[2], tmp_path / "a", tmp_path / "a/logs", _validate)
    init = pretrained.init_state(tmp_path / "a" / "last.pt")
    cfg = {**CFG, "init_from": str(tmp_path / "a" / "last.pt")}
    nets = training.build_nets(cfg, torch.device("cpu"))
    training.load_start(nets, init)
    assert not nets.opt_g.state_dict()["state"]  # fresh: no Adam moments yet
    training.load_start(nets, init, optimizers=True)
    moments = nets.opt_g.state_dict()["state"]
    assert moments and all(torch.equal(moments[k]["exp_avg"], init["opt_g"]["state"][k]["exp_avg"]) for k in moments)
    with pytest.raises(ValueError, match="init_optimizers is true but .* holds no optimiser state"):
        training.load_start(nets, pretrained.init_state(_export(tmp_path / "pre")), optimizers=True)


def _stage(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[2] / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pretraining_learns_from_scratch_at_the_common_rates_whatever_the_fine_tuning_says():
    import yaml

    root = Path(__file__).resolve().parents[2]
    params = yaml.safe_load((root / "params.yaml").read_text())
    pre = yaml.safe_load((root / "pretrain" / "params.yaml").read_text())
    params["train"]["lama"].update(init_from="pretrained/lama", lr_g=1e-5, lr_d=1e-6, init_optimizers=True,
                                   loss={"adv": 0.3})
    pre["train"].update(loss={"kl": 0.5})
    cfg = _stage("pretrain").pretrain_config(params, pre)
    assert not cfg.get("init_from") and not cfg["init_optimizers"]
    assert cfg["lr_g"] == params["train"]["common"]["lr_g"] and cfg["lr_d"] == params["train"]["common"]["lr_d"]
    assert cfg["loss"]["adv"] == 0.3 and cfg["loss"]["kl"] == 0.5  # nested overrides merge, not replace
    assert cfg["kwargs"] == pre["train"]["kwargs"] == params["train"]["lama"]["kwargs"]  # shipped = fine-tuned arch
    assert cfg["batch_size"] == pre["train"]["batch_size"]
    pre["train"]["val_evry"] = 100  # a misspelt key must not be ignored for a two-hour run
    with pytest.raises(ValueError, match=r"pretrain/params\.yaml train \(merged into params\.yaml's train\.lama\): "
                                         r"train\.lama\.val_evry is not a known key"):
        _stage("pretrain").pretrain_config(params, pre)


def test_a_discriminator_that_does_not_fit_starts_fresh_not_half_loaded(tmp_path, capsys):
    from inpaint import training

    weights = _export(tmp_path / "pre")  # its discriminator: width 8
    cfg = {**CFG, "init_from": str(weights), "discriminator": {"name": "patchgan", "kwargs": {"width": 16, "depth": 2, "kernel": 3}}}
    nets = training.build_nets(cfg, torch.device("cpu"))
    fresh = {k: v.clone() for k, v in nets.disc.state_dict().items()}
    training.load_start(nets, pretrained.init_state(weights))
    assert "the discriminator starts fresh" in capsys.readouterr().out
    assert all(torch.equal(fresh[k], v) for k, v in nets.disc.state_dict().items())  # not one tensor loaded


def test_a_killed_fine_tuning_run_resumes_its_own_weights_not_the_start(data, tmp_path, capsys):
    weights = _export(tmp_path / "pre")
    cfg = {**CFG, "init_from": str(weights), "max_steps": 4, "ckpt_every": 2, "val_every": 100}

    class Killed(Exception):
        pass

    def kill(step):
        if step == 2:
            raise Killed

    with pytest.raises(Killed):
        train(cfg, data[0], data[1], data[2], tmp_path / "ft", tmp_path / "ft/logs", _validate, on_step=kill)
    at_kill = torch.load(tmp_path / "ft/last.pt", weights_only=True)["gen"]
    capsys.readouterr()
    train(cfg, data[0], data[1], data[2], tmp_path / "ft", tmp_path / "ft/logs", _validate)
    out = capsys.readouterr().out
    assert "resuming autoencoder from step 2" in out and "fine-tuning autoencoder from" not in out
    uninterrupted = tmp_path / "whole"
    train(cfg, data[0], data[1], data[2], uninterrupted, uninterrupted / "logs", _validate)
    resumed, whole = (torch.load(p / "last.pt", weights_only=True)["gen"] for p in (tmp_path / "ft", uninterrupted))
    assert all(torch.allclose(resumed[k], whole[k], atol=1e-6) for k in whole)  # as if never killed
    assert any(not torch.equal(at_kill[k], whole[k]) for k in whole)  # and the check can fail


def test_shipped_files_must_be_pinned_and_the_pin_file_is_read_strictly(tmp_path, monkeypatch):
    weights = _export(tmp_path / "shipped")
    monkeypatch.setattr(pretrained, "SHIPPED", tmp_path / "shipped")
    with pytest.raises(ValueError, match=r"no line for it in .*SHA256SUMS"):
        pretrained.read(weights)
    digest = pretrained.sha256(weights)
    (tmp_path / "shipped" / "SHA256SUMS").write_text(f"{digest} *{weights.name}\n")  # sha256sum's binary mark
    assert pretrained.read(weights)["sha256"] == digest
    (tmp_path / "shipped" / "SHA256SUMS").write_text("not a hash line\n")
    with pytest.raises(ValueError, match=r"SHA256SUMS line 1: expected"):
        pretrained.read(weights)


def test_a_start_that_changed_since_fine_tuning_is_not_scored_beside_it(data, tmp_path, capsys):
    weights = _export(tmp_path / "pre")
    train({**CFG, "init_from": str(weights), "max_steps": 2}, data[0], data[1], data[2], tmp_path / "m/autoencoder",
          tmp_path / "logs", _validate)
    gen = _trained_generator(seed=9)  # the start file is replaced by another model
    pretrained.write_card(weights, {"sha256": pretrained.export(weights, "autoencoder", KW, gen.state_dict())})
    names = [m.name for m in resolve_all(["autoencoder"], tmp_path / "m", device="cpu")]
    assert names == ["autoencoder", "hybrid"]
    assert "is no longer the file it started from" in capsys.readouterr().out
    weights.unlink()
    assert [m.name for m in resolve_all(["autoencoder"], tmp_path / "m", device="cpu")] == ["autoencoder", "hybrid"]
    assert "which is missing" in capsys.readouterr().out


def test_a_vae_with_a_lama_decoder_fine_tunes_from_a_lama(data, tmp_path, monkeypatch):
    from inpaint import training

    lama_kw = {"width": 8, "n_down": 2, "max_width": 16, "n_blocks": 1}
    torch.manual_seed(3)
    lama = build_generator("lama", **lama_kw)
    weights = tmp_path / "pre" / "lama.safetensors"
    digest = pretrained.export(weights, "lama", lama_kw, lama.state_dict())
    pretrained.write_card(weights, {"sha256": digest})
    seen = {}
    real = training.load_start

    def spy(nets, init, *args):
        real(nets, init, *args)
        seen["backbone"] = {k: v.clone() for k, v in nets.gen.backbone.state_dict().items()}
        seen["into"] = init["into"]

    monkeypatch.setattr(training, "load_start", spy)
    vae_kw = {"decoder": "lama", "backbone": lama_kw, "latent_channels": 2}
    cfg = {**CFG, "model": "vae", "kwargs": vae_kw, "init_from": str(weights), "max_steps": 2,
           "loss": {**CFG["loss"], "kl": 0.01, "diversity": 1.0, "diversity_margin": 0.05, "diversity_pool": 4}}
    train(cfg, data[0], data[1], data[2], tmp_path / "vae", tmp_path / "vae/logs", _validate)
    stored = pretrained.read(weights)["gen"]
    assert seen["into"] == "backbone" and all(torch.equal(seen["backbone"][k], stored[k]) for k in stored)
    model, _ = generator_from_checkpoint(tmp_path / "vae" / "last.pt")
    assert model.decoder == "lama" and hasattr(model, "sample")
    with pytest.raises(ValueError, match=r"train\.vae\.init_optimizers is true but .* starts only the backbone of vae"):
        train({**cfg, "init_optimizers": True}, data[0], data[1], data[2], tmp_path / "vae2", tmp_path / "vae2/logs", _validate)
    with pytest.raises(ValueError, match=r"a vae: decoder: lama, backbone: the lama's kwargs"):
        train({**cfg, "kwargs": {**vae_kw, "backbone": {**lama_kw, "width": 4}}}, data[0], data[1], data[2],
              tmp_path / "vae3", tmp_path / "vae3/logs", _validate)
