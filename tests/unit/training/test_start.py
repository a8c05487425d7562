"""inpaint.training.start: a fine-tune starts from a pretrained file or a training checkpoint (init_from)."""
import pytest
import torch

from inpaint import pretrained
from inpaint.checkpoints import generator_from_checkpoint
from inpaint.models import build_generator
from inpaint.training.loop import train
from testkit import SHORT_TRAIN_CFG as CFG
from testkit import export_pretrained as _export
from testkit import hole_l1 as _validate
from testkit import trained_generator as _trained_generator

KW = CFG["kwargs"]


@pytest.fixture
def data(setup):
    return setup  # photo paths, validation crops and masks (conftest)


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
    from inpaint.training import loop as training_loop, start as training_start

    weights = _export(tmp_path / "pre")
    seen = {}
    real = training_start.load_start

    def spy(nets, init, *args):
        real(nets, init, *args)
        seen["disc"] = {k: v.clone() for k, v in nets.disc.state_dict().items()}

    monkeypatch.setattr(training_loop, "load_start", spy)
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


def test_a_training_checkpoint_can_be_the_start_too(data, tmp_path):
    train(CFG, data[0], data[1], data[2], tmp_path / "a", tmp_path / "a/logs", _validate)
    init = pretrained.init_state(tmp_path / "a" / "last.pt")
    model, _ = generator_from_checkpoint(tmp_path / "a" / "last.pt")
    assert init["arch"] == "autoencoder" and init["disc"] and init["gen"].keys() == model.state_dict().keys()
    with pytest.raises(ValueError, match="no such file"):
        pretrained.init_state(tmp_path / "missing.pt")


def test_optimisers_start_fresh_unless_asked_and_only_a_last_pt_has_them(data, tmp_path):
    from inpaint.training import start as training_start, step as training_step

    train(CFG, data[0], data[1], data[2], tmp_path / "a", tmp_path / "a/logs", _validate)
    init = pretrained.init_state(tmp_path / "a" / "last.pt")
    cfg = {**CFG, "init_from": str(tmp_path / "a" / "last.pt")}
    nets = training_step.build_nets(cfg, torch.device("cpu"))
    training_start.load_start(nets, init)
    assert not nets.opt_g.state_dict()["state"]  # fresh: no Adam moments yet
    training_start.load_start(nets, init, optimizers=True)
    moments = nets.opt_g.state_dict()["state"]
    assert moments and all(torch.equal(moments[k]["exp_avg"], init["opt_g"]["state"][k]["exp_avg"]) for k in moments)
    with pytest.raises(ValueError, match="init_optimizers is true but .* holds no optimiser state"):
        training_start.load_start(nets, pretrained.init_state(_export(tmp_path / "pre")), optimizers=True)


def test_a_discriminator_that_does_not_fit_starts_fresh_not_half_loaded(tmp_path, capsys):
    from inpaint.training import start as training_start, step as training_step

    weights = _export(tmp_path / "pre")  # its discriminator: width 8
    cfg = {**CFG, "init_from": str(weights), "discriminator": {"name": "patchgan", "kwargs": {"width": 16, "depth": 2, "kernel": 3}}}
    nets = training_step.build_nets(cfg, torch.device("cpu"))
    fresh = {k: v.clone() for k, v in nets.disc.state_dict().items()}
    training_start.load_start(nets, pretrained.init_state(weights))
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


def test_a_vae_with_a_lama_decoder_fine_tunes_from_a_lama(data, tmp_path, monkeypatch):
    from inpaint.training import loop as training_loop, start as training_start

    lama_kw = {"width": 8, "n_down": 2, "max_width": 16, "n_blocks": 1}
    torch.manual_seed(3)
    lama = build_generator("lama", **lama_kw)
    weights = tmp_path / "pre" / "lama.safetensors"
    digest = pretrained.export(weights, "lama", lama_kw, lama.state_dict())
    pretrained.write_card(weights, {"sha256": digest})
    seen = {}
    real = training_start.load_start

    def spy(nets, init, *args):
        real(nets, init, *args)
        seen["backbone"] = {k: v.clone() for k, v in nets.gen.backbone.state_dict().items()}
        seen["into"] = init["into"]

    monkeypatch.setattr(training_loop, "load_start", spy)
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
    with pytest.raises(ValueError, match=r"leave the architecture out of train\.vae\.kwargs \(it then comes from the checkpoint\)"):
        train({**cfg, "kwargs": {**vae_kw, "backbone": {**lama_kw, "width": 4}}}, data[0], data[1], data[2],
              tmp_path / "vae3", tmp_path / "vae3/logs", _validate)


LAMA_KW = {"width": 8, "n_down": 2, "max_width": 16, "n_blocks": 1}  # init_fill: hybrid, the default


def plain_lama_watched(tmp_path, monkeypatch) -> tuple:
    """A tiny plain lama exported as a pretrained file, and a dict that the fine-tune's `load_start` fills with
    the generator it started ("gen") and the start it was given ("init")."""
    from inpaint.training import loop as training_loop, start as training_start

    torch.manual_seed(3)
    weights = tmp_path / "pre" / "lama.safetensors"
    digest = pretrained.export(weights, "lama", LAMA_KW, build_generator("lama", **LAMA_KW).state_dict())
    pretrained.write_card(weights, {"sha256": digest})
    seen = {}
    real = training_start.load_start

    def spy(nets, init, *args):
        real(nets, init, *args)
        seen["gen"] = {k: v.clone() for k, v in nets.gen.state_dict().items()}
        seen["init"] = init

    monkeypatch.setattr(training_loop, "load_start", spy)
    return weights, seen


def test_a_lama_grown_with_attention_fine_tunes_from_a_plain_lama_but_not_its_optimisers(data, tmp_path, monkeypatch):
    weights, seen = plain_lama_watched(tmp_path, monkeypatch)
    lama_kw = LAMA_KW
    cfg = {**CFG, "model": "lama", "kwargs": {**lama_kw, "attention": True}, "init_from": str(weights), "max_steps": 2}
    train(cfg, data[0], data[1], data[2], tmp_path / "ft", tmp_path / "ft/logs", _validate)
    stored = pretrained.read(weights)["gen"]
    assert seen["init"]["grown"] == ("attention_merge.",)
    assert all(torch.equal(seen["gen"][k], stored[k].float()) for k in stored)  # the checkpoint's layers, as stored
    assert not seen["gen"]["attention_merge.weight"].any()  # the grown block starts at zero
    model, _ = generator_from_checkpoint(tmp_path / "ft" / "last.pt")
    assert model.attention is not None and model.attention_merge.weight.abs().sum() > 0  # and it learnt
    with pytest.raises(ValueError, match=r"train\.lama\.init_optimizers is true but .* add layers \(attention_merge\.\)"):
        train({**cfg, "init_optimizers": True}, data[0], data[1], data[2], tmp_path / "ft2", tmp_path / "ft2/logs", _validate)


def test_a_lama_shown_patch_match_too_fine_tunes_from_a_hybrid_lama_its_new_inputs_starting_at_zero(data, tmp_path, monkeypatch):
    weights, seen = plain_lama_watched(tmp_path, monkeypatch)
    lama_kw = LAMA_KW
    cfg = {**CFG, "model": "lama", "kwargs": {**lama_kw, "init_fill": "hybrid_patch"}, "init_from": str(weights),
           "max_steps": 2}
    train(cfg, data[0], data[1], data[2], tmp_path / "ft", tmp_path / "ft/logs", _validate)
    stored = pretrained.read(weights)["gen"]
    assert seen["init"]["more_fills"] is True
    for key, value in stored.items():  # the checkpoint's tensors as stored, in the leading part of the wider ones
        lead = seen["gen"][key][tuple(slice(0, n) for n in value.shape)]
        assert torch.equal(lead, value.float()), key
    stem, head = seen["gen"]["stem.1.0.weight"], seen["gen"]["head.conv.weight"]
    assert stem.shape[1] == stored["stem.1.0.weight"].shape[1] + 12 and not stem[:, -12:].any()  # 3 channels, unshuffled
    assert head.shape[0] == stored["head.conv.weight"].shape[0] + 4 and not head[-4:].any()  # the third gate, shuffled
    model, _ = generator_from_checkpoint(tmp_path / "ft" / "last.pt")
    assert model.init_fill == "hybrid_patch" and model.head.conv.weight[-4:].abs().sum() > 0  # and the gate learnt
    with pytest.raises(ValueError, match=r"train\.lama\.init_optimizers is true but .*init_fill shows more fills"):
        train({**cfg, "init_optimizers": True}, data[0], data[1], data[2], tmp_path / "ft2", tmp_path / "ft2/logs", _validate)
