"""`inpaint fill` (inpaint.fill): plan, fill and write a user's photos of any size with any method."""
import numpy as np
import pytest
from PIL import Image
from testkit import box_mask as _mask
from testkit import one_line_error as _one_line_error
from testkit import save_photo

from inpaint.atomic import write_png
from inpaint.checkpoints import CHECKPOINT_FORMAT, save_checkpoint
from inpaint.cli import main
from inpaint.io import read_image
from inpaint import pretrained
from inpaint.models import build_generator


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


SHIPPED = sorted(p.stem for p in pretrained.SHIPPED.glob("*.safetensors"))  # every model the project ships


def test_every_shipped_model_is_pinned_and_every_pin_is_shipped():
    assert {"lama", "lama_fullres", "deepfill"} <= set(SHIPPED)
    assert set(pretrained.pins()) == {f"{name}.safetensors" for name in SHIPPED}


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_pretrained_model_fills_out_of_the_box_from_any_folder(name, tmp_path, monkeypatch):
    from inpaint.baselines import BASELINES

    monkeypatch.chdir(tmp_path)  # not the project: pretrained/<name> is found in the project's own folder
    photo = save_photo(tmp_path / "p.png", size=(96, 80))
    m = _mask(tmp_path / "m.png", (80, 96), (20, 56, 30, 70))
    assert main(["fill", "--method", f"pretrained/{name}", "--image", str(photo), "--mask", str(tmp_path / "m.png"),
                 "--out", str(tmp_path / "out.png"), "--device", "cpu"]) == 0
    out, src = read_image(tmp_path / "out.png"), read_image(photo)
    assert out.shape == src.shape and np.array_equal(out[m == 0], src[m == 0])
    assert pretrained.load_generator(f"pretrained/{name}")[0].init_fill == "hybrid"  # the start fill compared below
    start = BASELINES["hybrid"](src, m)  # what the untrained model would return: the shipped one is trained
    assert np.abs(out[m == 1] - start[m == 1]).mean() > 1e-3
    assert np.abs(out[m == 1] - src[m == 1]).mean() < 0.2


# ---------------------------------------------------------------------------------------------
# inpaint fill: methods, masks, formats, progress, batching, refusals

def _args(photo, mask, out, *extra, method="telea"):
    return ["fill", "--method", method, "--image", str(photo), "--mask", str(mask), "--out", str(out), *extra]


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

    from inpaint.methods import Method
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


def test_fill_out_inside_a_file_is_a_clear_error(tmp_path, capsys):
    photo = save_photo(tmp_path / "p.png", size=(40, 32), seed=1)
    _mask(tmp_path / "m.png", (32, 40), (8, 20, 10, 30))
    (tmp_path / "f.png").write_bytes(b"not a folder")
    code = main(["fill", "--method", "telea", "--image", str(photo), "--mask", str(tmp_path / "m.png"),
                 "--out", str(tmp_path / "f.png" / "out.png")])
    err = capsys.readouterr().err
    assert code == 2 and f"{tmp_path / 'f.png'} is a file, so nothing can be written inside it" in err
    assert "Traceback" not in err and (tmp_path / "f.png").read_bytes() == b"not a folder"
