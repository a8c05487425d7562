"""Issue 14's 60 hostile cases, one test each (`pytest -m hostile`).

Rows 1-24 failed before the issue and are fixed; G1-G36 behaved well and must stay so. Every test
asserts the message (or the correct result) and compares the whole working folder before and after:
nothing changes but the outputs the user named, and nothing is left behind. Four cases run the real
pipeline and live where its fixtures are: row 11, G34, G35 and G36 in tests/e2e/test_pipeline.py; G33
is tests/unit/training/test_loop.py's SIGKILL test. Row 24's memory bound is measured by
bench/fill_memory.py; its code paths are tested in test_huge_photos.py.
"""
import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio
from testkit import bomb_png, changed, cli, save_mask, save_photo, snapshot, user_folder

from inpaint.checkpoints import CHECKPOINT_FORMAT, save_checkpoint
from inpaint.io import read_rgb8
from inpaint.models import build_generator
from inpaint.sources import SourceError, build_manifest

ROOT = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
W, H = 64, 48
TINY = {"width": 4, "n_down": 2, "max_width": 8}


def hostile(row):
    return pytest.mark.hostile(row)


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A user's folder: a photo, its mask, truth and prediction folders, two checkpoints of one model."""
    monkeypatch.chdir(tmp_path)
    user_folder(tmp_path)
    torch.manual_seed(0)
    untrained = build_generator("autoencoder", **TINY)
    trained = build_generator("autoencoder", **TINY)
    for p in trained.parameters():
        torch.nn.init.normal_(p, std=0.3)
    meta = {"format": CHECKPOINT_FORMAT, "arch": "autoencoder", "kwargs": TINY}
    save_checkpoint(tmp_path / "models/lama/best.pt", {**meta, "state": untrained.state_dict()})
    save_checkpoint(tmp_path / "models/lama/last.pt", {**meta, "state": trained.state_dict()})
    save_checkpoint(tmp_path / "elsewhere/telea/best.pt", {**meta, "state": trained.state_dict()})
    return tmp_path


def fill_args(*extra, method="telea", image="photo.png", mask="mask.png", out="out.png"):
    return ["fill", "--method", method, "--image", image, "--mask", mask, "--out", out, "-q", *extra]


def mean_of(out: str, metric: str) -> float:
    return float(re.search(rf"{metric}=([0-9.]+)", out).group(1))


# ------------------------------------------------------------------------------------------------
# Rows 1-24: failed before issue 14


@hostile(1)
def test_row01_score_without_masks_scores_the_prediction_as_given(ws, capsys):
    out = cli(ws, capsys, ["score", "gt", "pred"], 0)
    truth, pred = read_rgb8(ws / "gt/a.png"), read_rgb8(ws / "pred/a.png")
    psnr = mean_of(out, "psnr")
    assert psnr == pytest.approx(peak_signal_noise_ratio(truth, pred), abs=1e-3) and psnr < 40


@hostile(2)
def test_row02_score_with_a_mask_without_hole_warns_and_scores_the_whole_image(ws, capsys):
    Image.fromarray(np.zeros((H, W), np.uint8)).save(ws / "black.png")
    out = cli(ws, capsys, ["score", "gt", "pred", "--masks", "black.png"], 0, r"black\.png has no hole")
    truth, pred = read_rgb8(ws / "gt/a.png"), read_rgb8(ws / "pred/a.png")
    assert mean_of(out, "psnr") == pytest.approx(peak_signal_noise_ratio(truth, pred), abs=1e-3)
    assert "hole_psnr=n/a" in out


@hostile(3)
@pytest.mark.parametrize("mode", ["file", "folder"])
def test_row03_out_equal_to_the_image_is_refused(ws, capsys, mode):
    image = "photo.png" if mode == "file" else "gt"
    cli(ws, capsys, fill_args(image=image, out=image), 2, r"--out .* is the same as --image; .*--overwrite")


@hostile(4)
def test_row04_out_equal_to_the_mask_is_refused(ws, capsys):
    cli(ws, capsys, fill_args(out="mask.png"), 2, r"--out mask\.png is the same as --mask; .*--overwrite")


@hostile(5)
def test_row05_a_last_pt_is_that_checkpoint_not_the_best_pt_beside_it(ws, capsys):
    cli(ws, capsys, fill_args(method="models/lama/last.pt", out="last.png"), 0, new={"last.png"})
    cli(ws, capsys, fill_args(method="models/lama/best.pt", out="best.png"), 0, new={"best.png"})
    (ws / "copy").mkdir()
    (ws / "copy/other.pt").write_bytes((ws / "models/lama/last.pt").read_bytes())
    cli(ws, capsys, fill_args(method="copy/other.pt", out="copy.png"), 0, new={"copy.png"})
    last, best, copied = (read_rgb8(ws / f) for f in ("last.png", "best.png", "copy.png"))
    assert np.array_equal(last, copied) and not np.array_equal(last, best)


@hostile(6)
def test_row06_a_checkpoint_in_a_folder_named_like_a_baseline_is_the_checkpoint(ws, capsys):
    cli(ws, capsys, fill_args(method="elsewhere/telea/best.pt", out="ckpt.png"), 0, new={"ckpt.png"})
    cli(ws, capsys, fill_args(method="models/lama/last.pt", out="last.png"), 0, new={"last.png"})
    cli(ws, capsys, fill_args(out="telea.png"), 0, new={"telea.png"})
    ckpt, last, telea = (read_rgb8(ws / f) for f in ("ckpt.png", "last.png", "telea.png"))
    assert np.array_equal(ckpt, last) and not np.array_equal(ckpt, telea)


def stage(root: Path, name: str, change, *args) -> subprocess.CompletedProcess:
    """Run stages/<name>.py with the project's params.yaml changed by `change`, from root."""
    params = copy.deepcopy(PARAMS)
    change(params)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run([sys.executable, str(ROOT / "stages" / f"{name}.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=root)


def stage_refuses(tmp_path, name, change, message, *args):
    (tmp_path / "data").mkdir()
    before = snapshot(tmp_path)
    proc = stage(tmp_path, name, change, *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and re.search(message, proc.stderr), proc.stderr
    assert changed(before, snapshot(tmp_path)) == {"params.yaml"}  # nothing written, no folder left


TRAIN_ARGS = ("--split", "data/split", "--out", "models/foo", "--logs", "logs/foo")
PREDICT_ARGS = ("--pairs", "data/split/test_pairs.csv", "--masks", "data/masks", "--checkpoints", "models",
                "--out", "predictions/telea")


@hostile(7)
def test_row07_an_unknown_best_metric_is_named_before_training(tmp_path):
    stage_refuses(tmp_path, "train", lambda p: p["train"]["common"].update(best_metric="fid"),
                  r"^train: params\.yaml: train\.common\.best_metric is 'fid'; use one of \[", "--model", "lama",
                  *TRAIN_ARGS)


@hostile(8)
def test_row08_an_unknown_generator_is_named_and_leaves_no_folder(tmp_path):
    stage_refuses(tmp_path, "train", lambda p: p["train"].update(models=["foo"], foo={}),
                  r"train\.models\[0\] is 'foo'; use one of \[.*'lama'", "--model", "foo", *TRAIN_ARGS)


@hostile(9)
def test_row09_an_unknown_loss_key_is_an_error(tmp_path):
    stage_refuses(tmp_path, "train", lambda p: p["train"]["common"]["loss"].update(l2_hole=1.0),
                  r"train\.common\.loss\.l2_hole is not a known key", "--model", "lama", *TRAIN_ARGS)


@hostile(10)
def test_row10_an_unknown_method_is_named_before_any_method_runs(tmp_path):
    stage_refuses(tmp_path, "predict", lambda p: p["evaluate"].update(baselines=["telea", "foo"]),
                  r"^predict: params\.yaml: evaluate\.baselines\[1\] is 'foo'; use one of \[", "--method", "telea",
                  *PREDICT_ARGS)


@hostile(11)
def test_row11_reports_are_persisted_and_restorable():
    """Row 11 runs the real `dvc repro` in tests/e2e/test_pipeline.py::test_a_failed_evaluation_keeps_the_last_reports;
    here, the declaration it relies on: DVC never deletes a report before the report stage runs (persist), and
    each one can be restored, by `dvc checkout` (cached) or by git (the small ones, tracked in git)."""
    report = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["report"]
    outs = report["outs"] + report["metrics"]
    tracked = set(subprocess.run(["git", "ls-files", "reports"], cwd=ROOT, capture_output=True, text=True).stdout.split())
    assert outs and all(isinstance(o, dict) for o in outs)
    for out in outs:
        (path, spec), = out.items()
        assert spec.get("persist") is True, path
        assert spec.get("cache", True) or any(t == path or t.startswith(path + "/") for t in tracked), path


@hostile(12)
@pytest.mark.parametrize("size", [0, -64])
def test_row12_an_image_size_below_one_names_its_key(tmp_path, size):
    stage_refuses(tmp_path, "masks", lambda p: p["base"].update(image_size=size),
                  rf"^masks: params\.yaml: base\.image_size is {size}; use a whole number from 32 to 2048, a multiple "
                  "of 16", "--out", "data/masks")


@hostile(13)
def test_row13_a_huge_image_size_is_refused_and_a_killed_runs_temporary_folder_removed(tmp_path):
    stage_refuses(tmp_path, "masks", lambda p: p["base"].update(image_size=100000), r"base\.image_size is 100000",
                  "--out", "data/masks")
    stale = tmp_path / "data" / ".masks.killed"  # what a killed masks stage leaves (atomic.atomic_dir's name)
    stale.mkdir()
    (stale / "m.png").write_bytes(b"partial")
    proc = stage(tmp_path, "masks", lambda p: (p["base"].update(image_size=32), p["masks"].update(per_kind=1)),
                 "--out", "data/masks")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["masks"]  # the stale folder is gone


@hostile(14)
def test_row14_an_image_size_too_small_for_ssim_is_refused_up_front(tmp_path):
    stage_refuses(tmp_path, "masks", lambda p: p["base"].update(image_size=7), r"base\.image_size is 7; use a whole "
                  "number from 32", "--out", "data/masks")


@hostile(15)
@pytest.mark.parametrize("n", [0, -3])
def test_row15_per_kind_below_one_names_per_kind(tmp_path, n):
    stage_refuses(tmp_path, "masks", lambda p: p["masks"].update(per_kind=n),
                  rf"masks\.per_kind is {n}; use a whole number from 1", "--out", "data/masks")


@hostile(16)
def test_row16_an_existing_folder_as_out_receives_the_photo(ws, capsys):
    (ws / "outdir").mkdir()
    cli(ws, capsys, fill_args(out="outdir"), 0, new={"outdir/photo.png"})


@hostile(17)
def test_row17_out_inside_a_file_is_refused(ws, capsys):
    cli(ws, capsys, fill_args(out="photo.png/out.png"), 2, r"photo\.png is a file, so nothing can be written inside it")


def _unwritable() -> Path:
    """A folder the system refuses to write in, even for root (sysfs)."""
    probe = Path("/sys/kernel/inpaint-probe")
    try:
        probe.mkdir()
    except OSError:
        return Path("/sys/kernel/inpaint-out")
    probe.rmdir()
    pytest.skip("no read-only folder on this system")


@hostile(18)
@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs as a read-only folder")
def test_row18_a_read_only_output_folder_is_one_line_for_fill_score_and_train(ws, capsys):
    bad = _unwritable()
    cli(ws, capsys, fill_args(out=bad / "out.png"), 2, r"inpaint-out/out\.png: .*(Permission denied|Operation not "
        r"permitted)\)?; check that (the path exists and )?its folder is writable")
    cli(ws, capsys, ["score", "gt", "pred", "--csv", bad / "s.csv"], 2, r"inpaint-out.*; check that the path exists")
    split = ws / "split"
    for part in ("train", "val"):
        paths = [str(save_photo(ws / "photos" / f"{part}{i}.png", size=(64, 64), seed=i)) for i in range(2)]
        split.mkdir(exist_ok=True)
        (split / f"{part}.csv").write_text("path\n" + "\n".join(paths) + "\n")
    before = snapshot(ws)
    proc = stage(ws, "train", lambda p: (p["base"].update(image_size=32), p["train"].update(models=["autoencoder"]),
                                         p["train"]["common"].update(val_size=2, device="cpu")),
                 "--model", "autoencoder", "--split", split, "--out", bad / "models", "--logs", bad / "logs")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert re.search(r"^train: /sys/kernel/inpaint-out.*; check that the path exists and its folder is writable",
                     proc.stderr.strip().splitlines()[-1]), proc.stderr
    assert changed(before, snapshot(ws)) == {"params.yaml"}


@hostile(19)
@pytest.mark.parametrize("side", ["0", "-5"])
def test_row19_a_max_side_below_32_names_the_option(ws, capsys, side):
    cli(ws, capsys, fill_args("--max-side", side), 2, rf"argument --max-side: {side} must be at least 32")


@hostile(20)
@pytest.mark.parametrize("device, message", [
    ("cuda", r"device 'cuda': this machine has no CUDA GPU visible to torch; use auto or cpu"),
    ("bogus", r"device 'bogus' is not a device; use auto, cpu, cuda or cuda:N"),
])
def test_row20_a_device_that_is_not_there_is_named(ws, capsys, device, message):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    cli(ws, capsys, fill_args("--device", device, method="models/lama/best.pt"), 2, message)


@hostile(21)
def test_row21_score_refuses_a_mask_of_another_size(ws, capsys):
    save_mask(ws / "small.png", (2, 8, 2, 8), size=(32, 32))
    cli(ws, capsys, ["score", "gt", "pred", "--masks", "small.png"], 2,
        r"small\.png: mask is 32x32 but gt/a\.png is 64x48; give a mask of the image's size")


@hostile(22)
def test_row22_fill_with_a_mask_without_hole_warns_and_copies(ws, capsys):
    Image.fromarray(np.zeros((H, W), np.uint8)).save(ws / "black.png")
    cli(ws, capsys, fill_args(mask="black.png"), 0, r"warning: black\.png has no hole .*written unchanged",
        new={"out.png"})
    assert np.array_equal(read_rgb8(ws / "out.png"), read_rgb8(ws / "photo.png"))


@hostile(23)
@pytest.mark.parametrize("kind", ["pure red RGB", "alpha only"])
def test_row23_red_and_alpha_only_masks_mark_their_hole(ws, capsys, kind):
    if kind == "pure red RGB":
        m = np.zeros((H, W, 3), np.uint8)
        m[12:30, 20:44, 0] = 255
    else:  # an editor's selection: one flat colour, transparent where the hole is
        m = np.zeros((H, W, 4), np.uint8)
        m[..., 3] = 255
        m[12:30, 20:44, 3] = 0
    Image.fromarray(m).save(ws / "odd.png")
    cli(ws, capsys, fill_args(mask="odd.png"), 0, new={"out.png"})
    cli(ws, capsys, fill_args(out="ref.png"), 0, new={"ref.png"})  # the same hole as a white-on-black mask
    assert np.array_equal(read_rgb8(ws / "out.png"), read_rgb8(ws / "ref.png"))
    assert not np.array_equal(read_rgb8(ws / "out.png"), read_rgb8(ws / "photo.png"))


@hostile(24)
def test_row24_a_huge_grey_photo_is_filled_with_its_context_bounded(ws, capsys, monkeypatch):
    """At the real size this is bench/fill_memory.py; here the huge-photo paths run on a small photo."""
    import inpaint.io as io

    monkeypatch.setattr(io, "LARGE_PIXELS", 1000)
    grey = np.asarray(Image.open(ws / "photo.png").convert("L"))
    Image.fromarray(grey).save(ws / "grey.png")
    cli(ws, capsys, fill_args("--max-side", "32", image="grey.png"), 0, new={"out.png"})
    out, hole = read_rgb8(ws / "out.png"), np.asarray(Image.open(ws / "mask.png")) > 127
    grey_rgb = np.repeat(grey[..., None], 3, axis=2)
    assert np.array_equal(out[~hole], grey_rgb[~hole])
    assert (out[hole] != grey_rgb[hole]).mean() > 0.5  # the hole is filled
    monkeypatch.setattr(io, "LARGE_PIXELS", 10**9)
    cli(ws, capsys, fill_args("--max-side", "32", image="grey.png", out="small.png"), 0, new={"small.png"})
    assert np.abs(read_rgb8(ws / "small.png").astype(int) - out).max() <= 4  # as the ordinary path fills it


# ------------------------------------------------------------------------------------------------
# G1-G30: bad files, in every place a file is read

BAD_FILES = {
    "corrupt": lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200)),
    "zero-byte": lambda p: p.write_bytes(b""),
    "truncated": lambda p: p.write_bytes(save_photo(p, size=(W, H)).read_bytes()[:300]),
    "not an image": lambda p: p.write_text("these are not pixels"),
    "decompression bomb": bomb_png,
}
MESSAGES = {"corrupt": r"(corrupt or truncated|not an image Pillow can read)", "zero-byte": "zero bytes",
            "truncated": "corrupt or truncated", "not an image": "not an image Pillow can read",
            "decompression bomb": "exceeds the 250 MP limit"}
PLACES = ["data source", "fill --image", "fill --mask", "score truth", "score prediction", "score --masks"]
GOOD = [pytest.param(kind, place, marks=pytest.mark.hostile(f"G{i + 1}"), id=f"G{i + 1}-{kind}-{place}")
        for i, (place, kind) in enumerate((p, k) for p in PLACES for k in BAD_FILES)]


@pytest.mark.parametrize("kind, place", GOOD)
def test_g01_g30_a_bad_file_is_named_with_its_fault(ws, capsys, kind, place):
    name = {"fill --mask": "badmask.png", "score --masks": "badmask.png"}.get(place, "bad.png")
    target = {"score truth": ws / "gt" / name, "score prediction": ws / "pred" / name}.get(place, ws / name)
    if place in ("score truth", "score prediction"):  # a pair for the bad file
        save_photo(ws / ("pred" if place == "score truth" else "gt") / name, size=(W, H), seed=3)
    BAD_FILES[kind](target)
    message = rf"{re.escape(name)}: .*{MESSAGES[kind]}"
    if place == "data source":
        before = snapshot(ws)
        with pytest.raises(SourceError, match=message) as e:
            build_manifest(str(ws), ws / "data", min_size=32)
        assert "on_error: skip" in str(e.value) and changed(before, snapshot(ws)) == set()
    elif place == "fill --image":
        cli(ws, capsys, fill_args(image=name), 2, message)
    elif place == "fill --mask":
        cli(ws, capsys, fill_args(mask=name), 2, message)
    elif place == "score --masks":
        cli(ws, capsys, ["score", "gt", "pred", "--masks", name], 2, message)
    else:
        cli(ws, capsys, ["score", "gt", "pred"], 2, message)


# ------------------------------------------------------------------------------------------------
# G31-G32 here; G33 in training/test_loop.py, G34-G36 in the e2e tests


@hostile("G31")
def test_g31_fill_refuses_a_mask_of_another_size(ws, capsys):
    save_mask(ws / "small.png", (2, 8, 2, 8), size=(32, 32))
    cli(ws, capsys, fill_args(mask="small.png"), 2, r"small\.png: mask is 32x32 but photo\.png is 64x48; give a mask "
        "of the photo's size")


@hostile("G32")
def test_g32_a_malicious_pickle_is_never_run(ws, capsys):
    marker = ws / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"format": CHECKPOINT_FORMAT, "arch": "lama", "kwargs": {}, "state": Evil()}, ws / "evil.pt")
    cli(ws, capsys, fill_args(method="evil.pt"), 2, r"evil\.pt: not a readable inpaint checkpoint")
    from inpaint.pretrained import init_state  # train.<model>.init_from reads it the same way

    with pytest.raises(ValueError, match="not a readable inpaint checkpoint"):
        init_state(str(ws / "evil.pt"))
    assert not marker.exists()
