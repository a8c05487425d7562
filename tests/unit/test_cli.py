import numpy as np
import pytest
from PIL import Image
from testkit import save_photo

from inpaint.cli import fill_any_size, hole_crop, main
from inpaint.io import read_image, write_png
from inpaint.models import build_generator
from inpaint.checkpoints import CHECKPOINT_FORMAT, save_checkpoint


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
