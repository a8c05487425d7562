import numpy as np
import pytest
from PIL import Image
from testkit import save_photo

from inpaint.checkpoints import CHECKPOINT_FORMAT, save_checkpoint
from inpaint.cli import main
from inpaint.fill import fill_any_size, hole_crop
from inpaint.io import read_image, write_png
from inpaint.models import build_generator


def _mask(path, shape, box):
    m = np.zeros(shape, np.float32)
    y0, y1, x0, x1 = box
    m[y0:y1, x0:x1] = 1
    write_png(path, m)
    return m


def test_fill_single_photo_with_a_baseline(tmp_path):
    photo = save_photo(tmp_path / "p.jpg", size=(90, 70))
    m = _mask(tmp_path / "m.png", (70, 90), (20, 40, 30, 60))
    assert main(["fill", "--method", "telea", "--image", str(photo), "--mask", str(tmp_path / "m.png"),
                 "--out", str(tmp_path / "out.png")]) == 0
    out, src = read_image(tmp_path / "out.png"), read_image(photo)
    assert out.shape == src.shape and np.array_equal(out[m == 0], src[m == 0])
    assert np.abs(out[m == 1] - src[m == 1]).mean() < 0.2


def test_fill_folder_with_a_checkpoint_and_black_hole_masks(tmp_path):
    kwargs = {"width": 8, "n_down": 2, "max_width": 16, "n_mid": 1}
    save_checkpoint(tmp_path / "ck" / "best.pt", {"format": CHECKPOINT_FORMAT, "arch": "autoencoder", "kwargs": kwargs,
                                                  "state": build_generator("autoencoder", **kwargs).state_dict()})
    for i in range(2):
        save_photo(tmp_path / "imgs" / f"{i}.png", size=(50 + 10 * i, 40), seed=i)
        _mask(tmp_path / "masks" / f"{i}.png", (40, 50 + 10 * i), (0, 40, 0, 50 + 10 * i))
        m = np.ones((40, 50 + 10 * i), np.float32)
        m[10:20, 10:30] = 0  # black = hole in these files
        write_png(tmp_path / "masks" / f"{i}.png", m)
    code = main(["fill", "--method", str(tmp_path / "ck" / "best.pt"), "--image", str(tmp_path / "imgs"),
                 "--mask", str(tmp_path / "masks"), "--out", str(tmp_path / "out"), "--polarity", "black_hole"])
    assert code == 0
    for i in range(2):
        out, src = read_image(tmp_path / "out" / f"{i}.png"), read_image(tmp_path / "imgs" / f"{i}.png")
        hole = np.zeros(out.shape[:2], bool)
        hole[10:20, 10:30] = True
        assert np.array_equal(out[~hole], src[~hole]) and not np.array_equal(out[hole], src[hole])


@pytest.mark.parametrize("mask_shape,match", [((30, 30), "mask is 30x30 but"), ((70, 90), "whole image is a hole")])
def test_fill_bad_masks_name_the_files(tmp_path, capsys, mask_shape, match):
    photo = save_photo(tmp_path / "p.png", size=(90, 70))
    _mask(tmp_path / "m.png", mask_shape, (0, 1000, 0, 1000))
    code = main(["fill", "--method", "telea", "--image", str(photo), "--mask", str(tmp_path / "m.png"),
                 "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2 and match in err and "m.png" in err and not (tmp_path / "o.png").exists()


def test_fill_unknown_method_and_missing_masks(tmp_path, capsys):
    photo = save_photo(tmp_path / "imgs" / "a.png")
    (tmp_path / "masks").mkdir()
    assert main(["fill", "--method", "nope", "--image", str(photo), "--mask", str(photo), "--out", "x.png"]) == 2
    assert "neither a baseline" in capsys.readouterr().err
    assert main(["fill", "--method", "telea", "--image", str(tmp_path / "imgs"), "--mask", str(tmp_path / "masks"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "no mask for ['a']" in capsys.readouterr().err


def test_high_resolution_fill_works_on_the_holes_context_only():
    rng = np.random.default_rng(0)
    image = rng.random((3000, 2000, 3)).astype(np.float32)
    mask = np.zeros((3000, 2000), np.float32)
    mask[1000:1040, 500:1500] = 1  # a long scratch: its context is 1000+ px wide
    seen = {}

    def fill(images, masks):
        seen["shape"] = images.shape
        return np.full_like(images, 0.5)

    out = fill_any_size(fill, image, mask, max_side=512)
    assert max(seen["shape"][1:3]) <= 512  # worked on a downscaled crop
    assert np.array_equal(out[mask == 0], image[mask == 0])
    assert np.allclose(out[mask == 1], 0.5, atol=1e-6)
    ys, xs = hole_crop(mask)
    assert ys.start < 1000 and ys.stop > 1040 and xs.start < 500 and xs.stop > 1500


def test_score_folders_prints_table_and_writes_csv(tmp_path, capsys):
    (tmp_path / "pred").mkdir()
    for i in range(2):
        save_photo(tmp_path / "gt" / f"{i}.png", size=(48, 48), seed=i)
        a = np.asarray(Image.open(tmp_path / "gt" / f"{i}.png")).copy()
        a[10:20, 10:20] = 0
        Image.fromarray(a).save(tmp_path / "pred" / f"{i}.png")
        _mask(tmp_path / "masks" / f"{i}.png", (48, 48), (10, 20, 10, 20))
    code = main(["score", str(tmp_path / "gt"), str(tmp_path / "pred"), "--masks", str(tmp_path / "masks"),
                 "--metrics", "psnr,hole_l1", "--csv", str(tmp_path / "s.csv")])
    out = capsys.readouterr().out
    assert code == 0 and "psnr" in out and "mean" in out
    table = np.genfromtxt(tmp_path / "s.csv", delimiter=",", names=True, dtype=None, encoding=None)
    assert len(table) == 2 and (table["hole_l1"] > 0).all()
    # the same images score perfectly
    assert main(["score", str(tmp_path / "gt"), str(tmp_path / "gt"), "--metrics", "psnr"]) == 0
    assert "80.0000" in capsys.readouterr().out


def _two_checkpoints(tmp_path):
    """models/lama/best.pt = an untrained autoencoder (returns its hybrid fill); last.pt and
    telea/best.pt = the same net with random head weights (a different fill)."""
    import torch

    kwargs = {"width": 8, "n_down": 2, "max_width": 16, "n_mid": 1}
    untrained = build_generator("autoencoder", **kwargs)
    trained = build_generator("autoencoder", **kwargs)
    torch.manual_seed(0)
    for p in trained.head.parameters():
        torch.nn.init.normal_(p, 0, 0.2)
    meta = {"format": CHECKPOINT_FORMAT, "arch": "autoencoder", "kwargs": kwargs}
    save_checkpoint(tmp_path / "models/lama/best.pt", {**meta, "state": untrained.state_dict()})
    save_checkpoint(tmp_path / "models/lama/last.pt", {**meta, "state": trained.state_dict()})
    save_checkpoint(tmp_path / "elsewhere/telea/best.pt", {**meta, "state": trained.state_dict()})


def test_fill_method_is_a_checkpoint_path_a_model_name_or_a_baseline(tmp_path):
    _two_checkpoints(tmp_path)
    photo = save_photo(tmp_path / "p.png", size=(64, 48))
    _mask(tmp_path / "m.png", (48, 64), (10, 30, 20, 44))

    def fill(method, *extra):
        out = tmp_path / f"out_{len(list(tmp_path.glob('out_*')))}.png"
        assert main(["fill", "--method", method, "--image", str(photo), "--mask", str(tmp_path / "m.png"),
                     "--out", str(out), "--checkpoints", str(tmp_path / "models"), *extra]) == 0
        return read_image(out)

    best, last = fill("lama"), fill(str(tmp_path / "models/lama/last.pt"))
    hybrid, telea = fill("hybrid"), fill("telea")
    in_telea_folder = fill(str(tmp_path / "elsewhere/telea/best.pt"))
    assert np.array_equal(best, fill(str(tmp_path / "models/lama/best.pt")))
    assert not np.array_equal(best, last)  # last.pt is that file, not the best.pt beside it
    assert np.abs(best - hybrid).max() <= 1 / 255  # the untrained model is its start fill
    assert np.array_equal(in_telea_folder, last) and not np.array_equal(in_telea_folder, telea)


def test_unknown_method_lists_baselines_and_accepts_a_checkpoint_path(tmp_path, capsys):
    photo = save_photo(tmp_path / "p.png", size=(40, 40))
    _mask(tmp_path / "m.png", (40, 40), (10, 20, 10, 20))
    assert main(["fill", "--method", "lamma", "--image", str(photo), "--mask", str(tmp_path / "m.png"),
                 "--out", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert "neither a baseline (" in err and "telea" in err and "checkpoint path" in err and "train.models" not in err
    assert not (tmp_path / "o.png").exists()


def test_the_shipped_pretrained_model_fills_out_of_the_box_from_any_folder(tmp_path, monkeypatch):
    from inpaint.baselines import get_baseline

    monkeypatch.chdir(tmp_path)  # not the project: pretrained/lama is found in the project's own folder
    photo = save_photo(tmp_path / "p.png", size=(96, 80))
    m = _mask(tmp_path / "m.png", (80, 96), (20, 56, 30, 70))
    assert main(["fill", "--method", "pretrained/lama", "--image", str(photo), "--mask", str(tmp_path / "m.png"),
                 "--out", str(tmp_path / "out.png"), "--device", "cpu"]) == 0
    out, src = read_image(tmp_path / "out.png"), read_image(photo)
    assert out.shape == src.shape and np.array_equal(out[m == 0], src[m == 0])
    start = get_baseline("hybrid")(src, m)  # what an untrained lama would return: the shipped one is trained
    assert np.abs(out[m == 1] - start[m == 1]).mean() > 1e-3
    assert np.abs(out[m == 1] - src[m == 1]).mean() < 0.2


# ---------------------------------------------------------------------------------------------
# inpaint score

def _read_csv(path):
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _gt_pred_mask(tmp_path, size=(48, 48)):
    """A photo, a prediction that differs inside the box hole (grey) and outside it (a dark stripe), its mask."""
    gt = save_photo(tmp_path / "gt.png", size=size)
    a = np.asarray(Image.open(gt)).copy()
    a[10:20, 10:20] = 128  # the fill
    a[40:44, :] = 0  # damage outside the hole: compositing hides it, scoring as given does not
    Image.fromarray(a).save(tmp_path / "pred.png")
    m = _mask(tmp_path / "m.png", size[::-1], (10, 20, 10, 20))
    return read_image(gt), read_image(tmp_path / "pred.png"), m


def _psnr(a, b):
    return 10 * np.log10(1 / (np.mean((a.astype(np.float64) - b) ** 2) + 1e-8))


def test_score_without_masks_scores_the_prediction_as_given(tmp_path, capsys):
    gt, pred, _ = _gt_pred_mask(tmp_path)
    code = main(["score", str(tmp_path / "gt.png"), str(tmp_path / "pred.png"), "--csv", str(tmp_path / "s.csv")])
    out = capsys.readouterr().out
    assert code == 0 and "80.0000" not in out
    (row,) = _read_csv(tmp_path / "s.csv")
    assert list(row) == ["image", "psnr", "ssim", "lpips"]  # no hole metrics without a hole
    assert float(row["psnr"]) == pytest.approx(_psnr(pred, gt), abs=1e-3)
    assert float(row["lpips"]) > 0.01 and float(row["ssim"]) < 0.99


def test_score_with_masks_composites_and_adds_hole_metrics(tmp_path):
    gt, pred, m = _gt_pred_mask(tmp_path)
    assert main(["score", str(tmp_path / "gt.png"), str(tmp_path / "pred.png"), "--masks", str(tmp_path / "m.png"),
                 "--csv", str(tmp_path / "s.csv")]) == 0
    (row,) = _read_csv(tmp_path / "s.csv")
    assert list(row) == ["image", "hole_ratio", "psnr", "ssim", "lpips", "hole_psnr", "hole_l1"]
    comp = m[..., None] * pred + (1 - m[..., None]) * gt  # the stripe outside the hole is not scored
    hole = m.astype(bool)
    assert float(row["hole_ratio"]) == pytest.approx(m.mean())
    assert float(row["psnr"]) == pytest.approx(_psnr(comp, gt), abs=1e-3) and float(row["psnr"]) > _psnr(pred, gt) + 3
    assert float(row["hole_l1"]) == pytest.approx(np.abs(pred[hole] - gt[hole]).mean(), abs=1e-6)
    assert float(row["hole_psnr"]) == pytest.approx(_psnr(pred[hole], gt[hole]), abs=1e-3)


def test_score_mask_of_another_size_is_an_error(tmp_path, capsys):
    _gt_pred_mask(tmp_path)
    _mask(tmp_path / "small.png", (24, 24), (0, 5, 0, 5))
    code = main(["score", str(tmp_path / "gt.png"), str(tmp_path / "pred.png"), "--masks", str(tmp_path / "small.png"),
                 "--csv", str(tmp_path / "s.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "small.png: mask is 24x24 but" in err and "give a mask of the image's size" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "s.csv").exists()


def test_score_mask_without_a_hole_warns_and_leaves_hole_metrics_blank(tmp_path, capsys):
    gt, pred, _ = _gt_pred_mask(tmp_path)
    write_png(tmp_path / "black.png", np.zeros((48, 48), np.float32))
    assert main(["score", str(tmp_path / "gt.png"), str(tmp_path / "pred.png"), "--masks", str(tmp_path / "black.png"),
                 "--metrics", "psnr,hole_psnr,hole_l1", "--csv", str(tmp_path / "s.csv")]) == 0
    captured = capsys.readouterr()
    assert "black.png has no hole" in captured.err and len(captured.err.strip().splitlines()) == 1
    assert "hole_psnr=n/a" in captured.out
    (row,) = _read_csv(tmp_path / "s.csv")
    assert float(row["psnr"]) == pytest.approx(_psnr(pred, gt), abs=1e-3)  # as given, not a perfect 80
    assert row["hole_psnr"] == "" and row["hole_l1"] == "" and float(row["hole_ratio"]) == 0


def test_score_hole_metrics_need_masks(tmp_path, capsys):
    _gt_pred_mask(tmp_path)
    assert main(["score", str(tmp_path / "gt.png"), str(tmp_path / "pred.png"), "--metrics", "psnr,hole_l1"]) == 2
    assert "hole_l1: hole-only metrics need --masks" in capsys.readouterr().err


# LPIPS (v0.1, AlexNet) and PSNR of pyiqa's calibration pairs (TID2013 references and distortions) as pyiqa
# publishes them: ResultsCalibra/calibration_summary.csv in its repository, rows "lpips(ours)" and "psnr(ours)"
# (the official lpips code gives the same LPIPS to 4 decimals, I08 0.0520 against 0.0521). The wheel installs
# the images, not the CSV, so the figures are copied here. Tolerances: the figures are rounded to 4 decimals,
# so +-5e-5 is the tightest check they allow; our LPIPS is the official lpips network with verified offline
# weights and lands within that (tests/unit/test_perceptual.py pins it at 5e-5 too). PSNR gets 1e-4 dB:
# our MSE is float32 where pyiqa's calibration ran in float64, worth ~5e-5 dB at 27 dB (I06: 27.01385).
CALIBRATION_LPIPS = {"I03": 0.7237, "I04": 0.2572, "I06": 0.0508, "I08": 0.0521, "I19": 0.4253}
CALIBRATION_PSNR = {"I03": 21.1136, "I04": 20.9872, "I06": 27.0139, "I08": 23.3002, "I19": 21.6186}


def test_score_command_reproduces_the_published_calibration_figures(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    root = Path(importlib.util.find_spec("pyiqa").origin).parents[1] / "ResultsCalibra"
    # reference and distorted files share their names (I03.bmp in both folders): matched by name
    assert main(["score", str(root / "ref_dir"), str(root / "dist_dir"), "--metrics", "psnr,lpips",
                 "--csv", str(tmp_path / "calibra.csv")]) == 0
    assert "lpips" in capsys.readouterr().out
    rows = {Path(r["image"]).stem: r for r in _read_csv(tmp_path / "calibra.csv")}
    assert sorted(rows) == sorted(CALIBRATION_LPIPS)
    for name, published in CALIBRATION_LPIPS.items():
        assert float(rows[name]["lpips"]) == pytest.approx(published, abs=5e-5), name
        assert float(rows[name]["psnr"]) == pytest.approx(CALIBRATION_PSNR[name], abs=1e-4), name


# ---------------------------------------------------------------------------------------------
# inpaint fill: methods, masks, formats, progress, batching, refusals

def _args(photo, mask, out, *extra, method="telea"):
    return ["fill", "--method", method, "--image", str(photo), "--mask", str(mask), "--out", str(out), *extra]


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


def test_a_model_name_falls_back_to_the_shipped_pretrained_model(tmp_path, capsys):
    photo = save_photo(tmp_path / "p.png", size=(64, 48))
    _mask(tmp_path / "m.png", (48, 64), (10, 30, 20, 44))
    (tmp_path / "empty").mkdir()
    assert main(_args(photo, tmp_path / "m.png", tmp_path / "a.png", "--checkpoints", str(tmp_path / "empty"),
                      method="lama")) == 0
    assert "lama = " in (err := capsys.readouterr().err) and "pretrained/lama.safetensors" in err  # says which
    assert main(_args(photo, tmp_path / "m.png", tmp_path / "b.png", method="pretrained/lama")) == 0
    assert np.array_equal(read_image(tmp_path / "a.png"), read_image(tmp_path / "b.png"))
    capsys.readouterr()
    assert main(_args(photo, tmp_path / "m.png", tmp_path / "c.png", "--checkpoints", str(tmp_path / "empty"),
                      method="lamma")) == 2
    _one_line_error(capsys, "neither a baseline (", str(tmp_path / "empty" / "lamma" / "best.pt"),
                    "pretrained/lamma.safetensors")
    assert not (tmp_path / "c.png").exists()


def test_one_mask_serves_a_whole_folder(tmp_path):
    for i in range(2):
        save_photo(tmp_path / "imgs" / f"{i}.png", size=(64, 48), seed=i)
    m = _mask(tmp_path / "hole.png", (48, 64), (10, 30, 20, 44))
    assert main(_args(tmp_path / "imgs", tmp_path / "hole.png", tmp_path / "out", "-q")) == 0
    for i in range(2):
        out, src = read_image(tmp_path / "out" / f"{i}.png"), read_image(tmp_path / "imgs" / f"{i}.png")
        assert np.array_equal(out[m == 0], src[m == 0]) and not np.array_equal(out[m == 1], src[m == 1])


def test_output_format_follows_the_extension(tmp_path, capsys):
    photo = save_photo(tmp_path / "p.png", size=(64, 48))
    m = _mask(tmp_path / "m.png", (48, 64), (10, 30, 20, 44))
    for name, fmt in [("o.png", "PNG"), ("o.jpg", "JPEG"), ("o.JPEG", "JPEG"), ("o.webp", "WEBP")]:
        assert main(_args(photo, tmp_path / "m.png", tmp_path / name, "-q")) == 0
        with Image.open(tmp_path / name) as im:
            assert im.format == fmt and im.size == (64, 48)
    png = read_image(tmp_path / "o.png")
    assert np.array_equal(png[m == 0], read_image(photo)[m == 0])  # PNG is lossless
    assert np.abs(read_image(tmp_path / "o.jpg") - png).mean() < 0.02  # quality 95 by default
    assert main(_args(photo, tmp_path / "m.png", tmp_path / "q10.jpg", "--quality", "10", "-q")) == 0
    assert (tmp_path / "q10.jpg").stat().st_size < (tmp_path / "o.jpg").stat().st_size
    assert main(_args(photo, tmp_path / "m.png", tmp_path / "o.tif")) == 2
    _one_line_error(capsys, "--out", "o.tif", ".png, .jpg, .jpeg, .webp")
    assert not (tmp_path / "o.tif").exists()
    assert main(_args(photo, tmp_path / "m.png", tmp_path / "o2.png", "--format", "jpg")) == 2
    _one_line_error(capsys, "--format")
    assert main(_args(photo, tmp_path / "m.png", photo / "o.png", "-q")) == 2  # a folder that cannot be made
    _one_line_error(capsys, "p.png is a file, so nothing can be written inside it")
    save_photo(tmp_path / "imgs" / "a.png", size=(64, 48))
    assert main(_args(tmp_path / "imgs", tmp_path / "m.png", tmp_path / "outs", "--format", "webp", "-q")) == 0
    assert [p.name for p in (tmp_path / "outs").iterdir()] == ["a.webp"]


def test_progress_bar_and_quiet(tmp_path, capsys):
    for i in range(3):
        save_photo(tmp_path / "imgs" / f"{i}.png", size=(40, 40), seed=i)
    _mask(tmp_path / "m.png", (40, 40), (10, 20, 10, 20))
    assert main(_args(tmp_path / "imgs", tmp_path / "m.png", tmp_path / "a")) == 0
    captured = capsys.readouterr()
    assert "0/3 [00:00<?" in captured.err and "photo/s]" in captured.err  # tqdm: count, elapsed<ETA, rate
    assert captured.out.count("\n") == 1 and "3 photos -> " in captured.out  # one summary, not a line per file
    assert main(_args(tmp_path / "imgs", tmp_path / "m.png", tmp_path / "b", "-q")) == 0
    assert capsys.readouterr() == ("", "")
    assert len(list((tmp_path / "b").iterdir())) == 3


def test_network_methods_get_same_size_photos_batched_classical_ones_one_at_a_time(tmp_path):
    import torch

    from inpaint.evaluation import Method
    from inpaint.fill import fill_photos, plan_jobs

    for i, (w, h) in enumerate([(64, 48), (80, 48), (64, 48), (64, 48)]):
        save_photo(tmp_path / "imgs" / f"{i}.png", size=(w, h), seed=i)
        _mask(tmp_path / "masks" / f"{i}.png", (h, w), (10, 30, 20, 44))
    calls = []

    def grey(images, masks):
        calls.append(images.shape)
        return np.full_like(images, 0.5)

    jobs = plan_jobs(tmp_path / "imgs", tmp_path / "masks", tmp_path / "out")
    fill_photos(Method("net", grey, model=torch.nn.Conv2d(1, 1, 1)), jobs, batch_size=2, quiet=True)
    assert sorted(calls) == [(1, 48, 64, 3), (1, 48, 76, 3), (2, 48, 64, 3)]  # 76: the hole's context
    for i in range(4):
        out = read_image(tmp_path / "out" / f"{i}.png")
        assert np.allclose(out[10:30, 20:44], 128 / 255) and np.array_equal(out[:10], read_image(jobs[i].image)[:10])
    calls.clear()
    fill_photos(Method("classical", grey), jobs, batch_size=2, quiet=True)
    assert calls == [(1, 48, 64, 3), (1, 48, 76, 3), (1, 48, 64, 3), (1, 48, 64, 3)]


def test_a_batch_fills_as_one_photo_at_a_time(tmp_path):
    _two_checkpoints(tmp_path)
    for i in range(3):
        save_photo(tmp_path / "imgs" / f"{i}.png", size=(64, 48), seed=i)
        _mask(tmp_path / "masks" / f"{i}.png", (48, 64), (10, 30, 20 + i, 44))
    for batch in ("1", "3"):
        assert main(_args(tmp_path / "imgs", tmp_path / "masks", tmp_path / f"b{batch}", "--batch-size", batch, "-q",
                          method=str(tmp_path / "models/lama/last.pt"))) == 0
    for i in range(3):
        assert np.abs(read_image(tmp_path / "b1" / f"{i}.png") - read_image(tmp_path / "b3" / f"{i}.png")).max() <= 1 / 255


def test_version_and_help_list_the_methods(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"inpaint {version('inpaint')}"
    with pytest.raises(SystemExit) as e:
        main(["fill", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    for name in ("telea", "patch_match", "hybrid", "pretrained/lama", "deepfill", "--quality", "--overwrite"):
        assert name in out, name


def test_outputs_never_replace_inputs_unless_asked(tmp_path, capsys):
    photo = save_photo(tmp_path / "p.png", size=(64, 48))
    _mask(tmp_path / "m.png", (48, 64), (10, 30, 20, 44))
    before = photo.read_bytes(), (tmp_path / "m.png").read_bytes()
    assert main(_args(photo, tmp_path / "m.png", photo)) == 2
    _one_line_error(capsys, "--out", "same as --image", "--overwrite")
    assert main(_args(photo, tmp_path / "m.png", tmp_path / "m.png")) == 2
    _one_line_error(capsys, "same as --mask")
    assert (photo.read_bytes(), (tmp_path / "m.png").read_bytes()) == before
    assert main(_args(tmp_path, tmp_path / "m.png", tmp_path)) == 2  # a folder onto itself
    _one_line_error(capsys, "same as --image")
    assert main(_args(photo, tmp_path / "m.png", photo, "--overwrite", "-q")) == 0
    assert photo.read_bytes() != before[0] and read_image(photo).shape == (48, 64, 3)


def test_out_folder_for_one_photo_and_outputs_inside_the_photo_folder(tmp_path):
    save_photo(tmp_path / "imgs" / "a.jpg", size=(64, 48))
    _mask(tmp_path / "m.png", (48, 64), (10, 30, 20, 44))
    (tmp_path / "dest").mkdir()
    assert main(_args(tmp_path / "imgs" / "a.jpg", tmp_path / "m.png", tmp_path / "dest", "-q")) == 0
    assert [p.name for p in (tmp_path / "dest").iterdir()] == ["a.png"]  # written inside, named after the photo
    for _ in range(2):  # a rerun does not take the earlier outputs for photos
        assert main(_args(tmp_path / "imgs", tmp_path / "m.png", tmp_path / "imgs" / "filled", "-q")) == 0
    assert sorted(p.name for p in (tmp_path / "imgs").rglob("*.*")) == ["a.jpg", "a.png"]


@pytest.mark.parametrize("case,needle", [
    ("missing photo", "no such file or folder"),
    ("mask folder for one photo", "give that photo's mask file"),
    ("same name twice", "share the name a"),
    ("file out for a folder", "must be a folder"),
    ("mask of another size in a folder", "mask is 30x30 but"),
])
def test_bad_fill_inputs_are_one_line_and_write_nothing(tmp_path, capsys, case, needle):
    save_photo(tmp_path / "imgs" / "a.png", size=(64, 48))
    save_photo(tmp_path / "imgs" / "b.png", size=(64, 48))
    _mask(tmp_path / "masks" / "a.png", (48, 64), (10, 30, 20, 44))
    _mask(tmp_path / "masks" / "b.png", (48, 64), (10, 30, 20, 44))
    image, mask, out = tmp_path / "imgs", tmp_path / "masks", tmp_path / "out"
    if case == "missing photo":
        image = tmp_path / "nope.png"
    elif case == "mask folder for one photo":
        image = tmp_path / "imgs" / "a.png"
    elif case == "same name twice":
        save_photo(tmp_path / "imgs" / "a.jpg", size=(64, 48))
    elif case == "file out for a folder":
        out = tmp_path / "out.png"
    else:
        _mask(tmp_path / "masks" / "b.png", (30, 30), (0, 5, 0, 5))  # a, filled first, must not be written either
    assert main(_args(image, mask, out)) == 2
    _one_line_error(capsys, needle)
    assert not out.exists()


def test_fill_mask_without_a_hole_copies_the_photo_with_a_warning(tmp_path, capsys):
    photo = save_photo(tmp_path / "p.png", size=(64, 48))
    write_png(tmp_path / "m.png", np.zeros((48, 64), np.float32))
    assert main(_args(photo, tmp_path / "m.png", tmp_path / "o.png", "-q")) == 0
    assert "m.png has no hole" in capsys.readouterr().err
    assert np.array_equal(read_image(tmp_path / "o.png"), read_image(photo))


def test_sizes_are_checked_as_read_with_exif_rotation(tmp_path, capsys):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 64 wide, 48 high; shown (and read) rotated: 48 wide, 64 high
    Image.open(save_photo(tmp_path / "raw.png", size=(64, 48))).save(tmp_path / "p.jpg", exif=exif)
    _mask(tmp_path / "upright.png", (64, 48), (10, 30, 10, 30))
    _mask(tmp_path / "stored.png", (48, 64), (10, 30, 10, 30))
    assert main(_args(tmp_path / "p.jpg", tmp_path / "upright.png", tmp_path / "o.png", "-q")) == 0
    assert read_image(tmp_path / "o.png").shape == (64, 48, 3)
    assert main(_args(tmp_path / "p.jpg", tmp_path / "stored.png", tmp_path / "o2.png", "-q")) == 2
    _one_line_error(capsys, "stored.png: mask is 64x48 but", "is 48x64")


@pytest.mark.parametrize("argv,needle", [
    (["fill", "--method", "telea", "--image", "p.png", "--mask", "m.png", "--out", "o.jpg", "--quality", "0"],
     "argument --quality: 0 must be between 1 and 100"),
    (["fill", "--method", "telea", "--image", "p.png", "--mask", "m.png"], "required: --out"),
    (["fill", "--method", "telea", "--image", "p.png", "--mask", "m.png", "--out", "o", "--format", "tif"],
     "argument --format: invalid choice"),
])
def test_usage_errors_are_one_line(capsys, argv, needle):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    _one_line_error(capsys, needle, "inpaint fill --help")


def test_score_a_prediction_folder_inside_the_truth_folder(tmp_path, capsys):
    gt = tmp_path / "photos"
    save_photo(gt / "a.png", size=(40, 32), seed=1)
    save_photo(gt / "filled" / "a.png", size=(40, 32), seed=2)  # where `inpaint fill --out photos/filled` puts it
    assert main(["score", str(gt), str(gt / "filled"), "--metrics", "psnr"]) == 0
    out = capsys.readouterr().out
    assert "a.png" in out and "filled" not in out.split("mean")[0]  # one pair: a.png against filled/a.png


def test_fill_out_inside_a_file_is_a_clear_error(tmp_path, capsys):
    photo = save_photo(tmp_path / "p.png", size=(40, 32), seed=1)
    _mask(tmp_path / "m.png", (32, 40), (8, 20, 10, 30))
    (tmp_path / "f.png").write_bytes(b"not a folder")
    code = main(["fill", "--method", "telea", "--image", str(photo), "--mask", str(tmp_path / "m.png"),
                 "--out", str(tmp_path / "f.png" / "out.png")])
    err = capsys.readouterr().err
    assert code == 2 and f"{tmp_path / 'f.png'} is a file, so nothing can be written inside it" in err
    assert "Traceback" not in err and (tmp_path / "f.png").read_bytes() == b"not a folder"
