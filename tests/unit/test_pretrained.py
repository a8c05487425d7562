"""Pretrained models: fp16 export with a card, pinned hashes, shipping, a fine-tuned model scored beside its start,
and using one as a method (`pretrained/<model>`)."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from inpaint import pretrained
from inpaint.evaluation import checkpoint_note, resolve_all
from inpaint.methods import resolve_method
from inpaint.training.loop import train
from testkit import SHORT_TRAIN_CFG as CFG
from testkit import export_pretrained as _export
from testkit import hole_l1 as _validate
from testkit import trained_generator as _trained_generator

KW = CFG["kwargs"]
DISC = CFG["discriminator"]


@pytest.fixture
def data(setup):
    return setup  # photo paths, validation crops and masks (conftest)


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


def test_the_note_of_a_pretrained_model_names_the_step_its_generator_holds(tmp_path):
    weights = _export(tmp_path / "pre")
    card = pretrained.read(weights)["card"]
    pretrained.write_card(weights, {**card, "best_step": 100})  # validation chose step 100 of the run's 123
    note = checkpoint_note(resolve_method(str(weights), tmp_path, device="cpu"))
    assert note.endswith(f"pretrained, 123 steps, the generator of step 100 (see its model card {weights.with_suffix('.json')})")
    pretrained.write_card(weights, {**card, "best_step": 123})  # the last step: nothing to add
    assert "generator of step" not in checkpoint_note(resolve_method(str(weights), tmp_path, device="cpu"))


def test_a_pretrained_fine_tune_names_its_start_and_one_shipped_over_it_is_not_scored_beside_itself(tmp_path, capsys,
                                                                                                  monkeypatch):
    weights, other = _export(tmp_path / "pretrained"), _export(tmp_path / "other")
    (tmp_path / "pretrained" / pretrained.PINS).write_text(f"{pretrained.sha256(weights)}  {weights.name}\n")
    card = pretrained.read(weights)["card"]
    pretrained.write_card(weights, {**card, "params": {**card["params"], "init_from": str(other)}})
    method = resolve_method(str(weights), tmp_path, device="cpu")
    assert method.origin == str(other)
    assert checkpoint_note(method).endswith(f"pretrained, 123 steps fine-tuning {other} (see its model card "
                                            f"{weights.with_suffix('.json')})")
    # shipped over the file it fine-tuned: its card names its own path, which now holds it
    pretrained.write_card(weights, {**card, "params": {**card["params"], "init_from": str(weights)}})
    capsys.readouterr()
    method = resolve_method(str(weights), tmp_path, device="cpu")
    assert method.origin is None and capsys.readouterr().out == ""
    assert f"123 steps fine-tuning the earlier {weights} it replaced (see" in checkpoint_note(method)
    # named by its pretrained name, as the shipped models' cards do, and resolved from another folder
    monkeypatch.chdir(tmp_path)
    pretrained.write_card(weights, {**card, "params": {**card["params"], "init_from": "pretrained/autoencoder"}})
    method = resolve_method("pretrained/autoencoder", tmp_path / "elsewhere", device="cpu")
    assert method.origin is None and capsys.readouterr().out == ""
    assert "fine-tuning the earlier pretrained/autoencoder it replaced" in checkpoint_note(method)


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
    pre["train"]["common"].update(loss={"kl": 0.5}, batch_size=24)
    pre["train"]["lama"] = {"kwargs": pre["train"]["lama"]["kwargs"]}  # pretrain's own section asks for no start
    stage = _stage("pretrain")
    cfg = stage.pretrain_config(params, pre, "lama")
    assert not cfg.get("init_from") and not cfg["init_optimizers"] and cfg["image_size"] == params["base"]["image_size"]
    assert cfg["lr_g"] == params["train"]["common"]["lr_g"] and cfg["lr_d"] == params["train"]["common"]["lr_d"]
    assert cfg["loss"]["adv"] == 0.3 and cfg["loss"]["kl"] == 0.5  # nested overrides merge, not replace
    assert params["train"]["lama"]["kwargs"] == {}  # the fine-tune takes its architecture from the shipped file ...
    assert cfg["kwargs"] == pre["train"]["lama"]["kwargs"] == pretrained.read("pretrained/lama")["kwargs"]  # ... pretrain's
    assert cfg["batch_size"] == 24  # pretrain's common over params.yaml's ...
    pre["train"]["lama"]["batch_size"] = 12
    assert stage.pretrain_config(params, pre, "lama")["batch_size"] == 12  # ... and the model's own over both
    assert stage.pretrain_config(params, pre, "deepfill")["kwargs"] == pre["train"]["deepfill"]["kwargs"]
    assert stage.pretrain_config(params, pre, "autoencoder")["loss"]["adv"] == 0.0  # params.yaml's own recipe kept
    pre["train"]["lama"]["val_evry"] = 100  # a misspelt key must not be ignored for a two-hour run
    with pytest.raises(ValueError, match=r"pretrain/params\.yaml train \(merged into params\.yaml's train\.lama\): "
                                         r"train\.lama\.val_evry is not a known key"):
        stage.pretrain_config(params, pre, "lama")
    del pre["train"]["lama"]["val_evry"]
    pre["train"]["deepfil"] = {"batch_size": 8}  # nor a misspelt model
    with pytest.raises(ValueError, match=r"train\.deepfil is neither `common` nor a model"):
        stage.pretrain_config(params, pre, "lama")
    with pytest.raises(ValueError, match=r"'gan' has no train\.gan section"):
        stage.pretrain_config(params, {**pre, "train": {}}, "gan")


def test_a_pretraining_run_may_fine_tune_a_shipped_model_at_its_own_crop_size():
    import yaml

    root = Path(__file__).resolve().parents[2]
    params = yaml.safe_load((root / "params.yaml").read_text())
    pre = yaml.safe_load((root / "pretrain" / "params.yaml").read_text())
    pre["train"]["lama"].update(init_from="pretrained/lama", image_size=256)
    stage = _stage("pretrain")
    cfg = stage.pretrain_config(params, pre, "lama")
    assert cfg["init_from"] == "pretrained/lama" and cfg["image_size"] == 256
    assert cfg["lr_g"] == params["train"]["common"]["fine_tune"]["lr_g"]  # a fine-tune learns at the fine-tune rates
    for bad in (250, 16, "256", True):
        pre["train"]["lama"]["image_size"] = bad
        with pytest.raises(ValueError, match=r"train\.lama\.image_size .* use a multiple of 16 of at least 32"):
            stage.pretrain_config(params, pre, "lama")


def test_every_pretrain_model_has_a_stage_and_its_own_overrides():
    import yaml

    root = Path(__file__).resolve().parents[2]
    pre = yaml.safe_load((root / "pretrain" / "params.yaml").read_text())
    params = yaml.safe_load((root / "params.yaml").read_text())
    assert {"lama", "deepfill", "autoencoder"} <= set(pre["models"])
    for model in pre["models"]:
        assert model in params["train"] and "kwargs" in pre["train"][model]  # the architecture it pretrains
    stages = yaml.safe_load((root / "pretrain" / "dvc.yaml").read_text())["stages"]
    assert all(stages[s]["foreach"] == "${models}" for s in ("pretrain", "model_card"))
    assert "--model ${item}" in stages["pretrain"]["do"]["cmd"]


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




SHIPPED_NAMES = sorted(Path(f).stem for f in pretrained.pins())


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_every_shipped_model_matches_its_card_and_fills_a_photo_from_the_command_line(name, tmp_path):
    from PIL import Image

    from inpaint.cli import main

    card = pretrained.read(f"pretrained/{name}")["card"]  # hash-checked against SHA256SUMS and the card
    assert card["model"] == name and card["heldout"]["photos_n"] == 200  # scored on BSDS500 test, never trained on
    assert card["data"]["folders"] and "test" not in " ".join(card["data"]["folders"])
    rng = np.random.default_rng(0)
    photo = (rng.random((72, 100, 3)) * 255).astype(np.uint8)
    mask = np.zeros((72, 100), np.uint8)
    mask[20:50, 30:70] = 255
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(mask).save(tmp_path / "hole.png")
    main(["fill", "--method", f"pretrained/{name}", "--image", str(tmp_path / "photo.png"), "--mask",
          str(tmp_path / "hole.png"), "--out", str(tmp_path / "out.png"), "--device", "cpu", "-q"])
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == photo.shape
    np.testing.assert_array_equal(out[mask == 0], photo[mask == 0])  # the known pixels are the photo's
    assert np.abs(out[mask > 0].astype(int) - photo[mask > 0]).mean() > 1  # the hole was filled, not copied


def test_the_model_card_stage_scores_a_fresh_export_and_writes_its_card(tmp_path, monkeypatch):
    import sys

    import yaml
    from PIL import Image

    weights = _export(tmp_path / "export")
    facts = {"sha256": pretrained.sha256(weights), "model": "autoencoder", "params": {"image_size": 32}}
    pretrained.card_path(weights).unlink()  # as the pretrain stage leaves it: no card beside the export yet
    (tmp_path / "run" / "autoencoder").mkdir(parents=True)
    (tmp_path / "run" / "autoencoder" / "card.json").write_text(json.dumps(facts))
    rng = np.random.default_rng(0)
    for folder in ("photos", "masks"):
        (tmp_path / folder).mkdir()
    for i in range(3):
        Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(tmp_path / "photos" / f"p{i}.png")
        hole = np.zeros((64, 64), np.uint8)
        hole[4:4 + 16 * (i + 1), 10:50] = 255  # 16%, 31%, 47% of the photo
        Image.fromarray(hole).save(tmp_path / "masks" / f"{i:05d}.png")
    pre = yaml.safe_load((Path(__file__).resolve().parents[2] / "pretrain" / "params.yaml").read_text())
    pre["heldout"].update(photos=str(tmp_path / "photos"), masks=str(tmp_path / "masks"), methods=["telea"])
    pre["heldout"].pop("image_size")  # scored at the model's training size then
    (tmp_path / "pre.yaml").write_text(yaml.safe_dump(pre))
    stage = _stage("model_card")
    monkeypatch.setattr(stage, "nvidia_files", lambda folder: sorted(Path(folder).glob("*.png")))  # 3, not 12,000
    monkeypatch.setattr(sys, "argv", ["model_card.py", "--pretrain", str(tmp_path / "pre.yaml"), "--weights", str(weights),
                                      "--run", str(tmp_path / "run")])
    stage.main()
    card = json.loads(pretrained.card_path(weights).read_text())
    assert card["sha256"] == facts["sha256"] and card["heldout"]["photos_n"] == 3 and card["heldout"]["pairs"] == 6
    assert set(card["heldout"]["means"]["lpips"]) == {"pretrained/autoencoder", "telea", "hybrid"}
    assert card["heldout"]["lattice"] >= 0 and card["heldout"]["image_size"] == 32
    assert pretrained.read(weights)["sha256"] == facts["sha256"]  # it loads beside its card
    # a fine-tune's card scores the checkpoint it started from beside it, paired
    start = tmp_path / "start" / "autoencoder.safetensors"
    start.parent.mkdir()
    shutil.copyfile(weights, start)
    shutil.copyfile(pretrained.card_path(weights), pretrained.card_path(start))
    facts["params"]["init_from"] = str(start)
    (tmp_path / "run" / "autoencoder" / "card.json").write_text(json.dumps(facts))
    stage.main()
    held = json.loads(pretrained.card_path(weights).read_text())["heldout"]
    assert f"start: {start}" in held["means"]["lpips"] and held["best_non_learned"] in ("telea", "hybrid")
    versus = [r for r in held["paired"] if r["versus"] == f"start: {start}" and r["metric"] == "lpips"]
    assert versus and all(r["diff"] == 0 for r in versus)  # the same weights: no difference on any pair


def test_the_pretrain_stage_trains_exports_and_says_what_chose_the_checkpoint(tmp_path, monkeypatch):
    import sys

    from PIL import Image

    root = Path(__file__).resolve().parents[2]
    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    for i in range(4):
        Image.fromarray((rng.random((48, 56, 3)) * 255).astype(np.uint8)).save(tmp_path / "photos" / f"p{i}.png")
    stage = _stage("pretrain")
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", [
        "pretrain.py", "--model", "autoencoder", "--out", str(tmp_path / "export"), "--run", str(tmp_path / "run"),
        "-S", f"data.folders=[{tmp_path / 'photos'}]", "-S", "data.val_photos=1", "-S", "train.autoencoder.image_size=32",
        "-S", "train.autoencoder.max_steps=2", "-S", "train.autoencoder.batch_size=2", "-S", "train.autoencoder.val_size=2",
        "-S", "train.autoencoder.workers=0", "-S", "train.autoencoder.val_every=1", "-S", "train.autoencoder.ckpt_every=1",
        "-S", "train.autoencoder.device=cpu"])
    stage.main()
    card = json.loads((tmp_path / "run" / "autoencoder" / "card.json").read_text())
    assert card["steps"] == 2 and card["params"]["image_size"] == 32
    assert card["data"]["train_photos"] == 3 and card["data"]["val_photos"] == 1
    assert "p3.png" in card["chosen_on"]["checkpoint"] and "32-px" in card["chosen_on"]["checkpoint"]
    assert "BSDS500 test" in card["chosen_on"]["not_used"]
    assert pretrained.sha256(tmp_path / "export" / "autoencoder.safetensors") == card["sha256"]
