"""params.yaml checked up front: every key known, types and ranges, the dotted key and the fix in the message."""
import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from inpaint import params as P
from inpaint.evaluation import params_checker as evaluate_checker
from inpaint.masks import params_checker as masks_checker
from inpaint.training.config import params_checker as train_checker

ROOT = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
EVERY = {"base": P.BASE, "cuda_visible_devices": P.CUDA_VISIBLE_DEVICES, "data": P.DATA, "masks": masks_checker(),
         "split": P.SPLIT, "train": train_checker(), "evaluate": evaluate_checker()}


def _check(change):
    params = copy.deepcopy(PARAMS)
    change(params)
    P.check(params, EVERY)


def test_the_projects_params_pass():
    assert P.check(copy.deepcopy(PARAMS), EVERY) == PARAMS
    assert set(EVERY) == set(P.SECTIONS)


@pytest.mark.parametrize("change, message", [
    (lambda p: p["base"].update(image_size=0), r"base\.image_size is 0; use a whole number from 32 to 2048, a multiple of 16"),
    (lambda p: p["base"].update(image_size=-64), r"base\.image_size is -64"),
    (lambda p: p["base"].update(image_size=100000), r"base\.image_size is 100000"),
    (lambda p: p["base"].update(image_size=7), r"base\.image_size is 7"),
    (lambda p: p["base"].update(image_size=100), r"base\.image_size is 100; .*a multiple of 16"),
    (lambda p: p["base"].update(seed="zero"), r"base\.seed is 'zero'"),
    (lambda p: p["masks"].update(per_kind=0), r"masks\.per_kind is 0; use a whole number from 1 to 100000"),
    (lambda p: p["masks"].update(per_kind=-3), r"masks\.per_kind is -3"),
    (lambda p: p["masks"].update(min_ratio=0.8), r"masks\.min_ratio 0\.8 is not below masks\.max_ratio 0\.7"),
    (lambda p: p["masks"]["kinds"].update(blob={}), r"masks\.kinds key is 'blob'; use one of \[.*'thin'"),
    (lambda p: p["train"]["common"].update(best_metric="fid"), r"train\.common\.best_metric is 'fid'; use one of \["),
    (lambda p: p["train"].update(models=["foo"], foo={}), r"train\.models\[0\] is 'foo'; use one of \["),
    (lambda p: p["train"].update(foo={}), r"train\.foo is not a generator"),
    (lambda p: p["train"]["common"]["loss"].update(l2_hole=1.0), r"train\.common\.loss\.l2_hole is not a known key"),
    (lambda p: p["train"]["lama"].update(loss={"l2_hole": 1.0}), r"train\.lama\.loss\.l2_hole is not a known key"),
    (lambda p: p["train"]["lama"].update(kwargs={"widht": 48}), r"train\.lama\.kwargs\.widht is not an argument of the lama"),
    (lambda p: p["train"]["common"].update(batch_size=0), r"train\.common\.batch_size is 0"),
    (lambda p: p["train"]["common"].update(lr_g=-1e-3), r"train\.common\.lr_g is -0\.001; use a number above 0"),
    (lambda p: p["train"]["common"].update(betas=[0.5]), r"train\.common\.betas is \[0\.5\]; use a list of 2 values"),
    (lambda p: p["train"]["common"].pop("ema_decay"), r"train\.common\.ema_decay is missing"),
    (lambda p: p["train"]["common"]["distributed"].update(nproc_per_node=0), r"train\.common\.distributed\.nproc_per_node is 0"),
    (lambda p: p["evaluate"].update(metrics=["psnr", "fid"]), r"evaluate\.metrics\[1\] is 'fid'"),
    (lambda p: p["evaluate"].update(bootstrap=0), r"evaluate\.bootstrap is 0"),
    (lambda p: p["evaluate"].update(baselines=["telea", "lama"]), r"evaluate\.baselines\[1\] is 'lama'; use one of \["),
    (lambda p: p["evaluate"].update(pretrained=["../lama"]), r"evaluate\.pretrained\[0\] is '\.\./lama'"),
    (lambda p: p["evaluate"].update(methods=["lama"]),
     r"evaluate\.methods is gone: every trained model in train\.models is evaluated; list shipped checkpoints in "
     r"evaluate\.pretrained .* non-learned methods in evaluate\.baselines"),
    (lambda p: p["data"].update(on_error="ignore"), r"data\.on_error is 'ignore'; use one of \['fail', 'skip'\]"),
    (lambda p: p["split"].update(min_crop_scale=0), r"split\.min_crop_scale is 0; use a number above 0"),
    (lambda p: p.update(evalute={}), r"evalute is not a known section"),
    (lambda p: p.update(cuda_visible_devices=[0.5]), r"cuda_visible_devices is \[0\.5\]"),
])
def test_a_bad_value_names_its_dotted_key_and_the_fix(change, message):
    with pytest.raises(P.ParamsError, match=r"^params\.yaml: " + message):
        _check(change)


def test_a_stage_refuses_bad_params_before_writing_anything(tmp_path):
    params = copy.deepcopy(PARAMS)
    params["masks"]["per_kind"] = 0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "masks"
    proc = subprocess.run([sys.executable, str(ROOT / "stages/masks.py"), "--params", str(tmp_path / "params.yaml"),
                           "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"masks: {tmp_path / 'params.yaml'}: masks.per_kind is 0; use a whole number from 1 to 100000"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # nothing written, no temp folder


def test_unreadable_params_files_are_named(tmp_path):
    with pytest.raises(P.ParamsError, match="not found; run from the project folder or pass --params"):
        P.load(tmp_path / "nope.yaml", {})
    (tmp_path / "bad.yaml").write_text("base: [1,\n")
    with pytest.raises(P.ParamsError, match=r"bad\.yaml: not valid YAML .*fix the syntax"):
        P.load(tmp_path / "bad.yaml", {})
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(P.ParamsError, match=r"list\.yaml: the file is not a mapping of sections"):
        P.load(tmp_path / "list.yaml", {})


def test_the_loader_refuses_duplicate_keys_and_reads_no_dates(tmp_path):
    (tmp_path / "twice.yaml").write_text("base: {seed: 0, image_size: 128}\nbase: {seed: 1, image_size: 64}\n")
    with pytest.raises(P.ParamsError, match=r"twice\.yaml: base is given twice \(line 2\); keep one"):
        P.load(tmp_path / "twice.yaml", {})
    (tmp_path / "date.yaml").write_text("base: {seed: 0, image_size: 2001-13-45}\n")
    with pytest.raises(P.ParamsError, match=r"date\.yaml: base\.image_size is '2001-13-45'"):
        P.load(tmp_path / "date.yaml", {"base": P.BASE})


@pytest.mark.parametrize("change, message", [
    (lambda p: p["split"].update(val=1.5), r"split\.val is 1\.5; use a ratio below 1 .* or a whole number"),
    (lambda p: p["evaluate"].update(samples=1), r"evaluate\.samples is 1"),
    (lambda p: p["train"]["common"].update(max_steps=0), r"train\.common\.max_steps is 0"),
    (lambda p: p["train"]["lama"].update(masks={"min_ratio": 0.9}),
     r"train\.lama\.masks\.min_ratio 0\.9 is not below its max_ratio 0\.7"),
])
def test_values_the_code_would_refuse_later_are_refused_up_front(change, message):
    with pytest.raises(P.ParamsError, match=message):
        _check(change)


def test_masks_external_may_be_left_out():
    _check(lambda p: p["masks"].pop("external"))
    with pytest.raises(P.ParamsError, match=r"masks\.kinds is empty and masks\.external\.path is null"):
        _check(lambda p: p["masks"].update(kinds={}, external=None))
