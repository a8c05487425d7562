import numpy as np
import pytest
from testkit import bomb_png, save_photo
from PIL import Image

from inpaint.io import (ImageError, atomic_dir, atomic_path, read_image, read_mask, read_rgb8, remove_stale_temps,
                        write_png)


def test_read_image_is_float_rgb_in_unit_range(tmp_path):
    img = read_image(save_photo(tmp_path / "p.png"))
    assert img.dtype == np.float32 and img.shape == (40, 48, 3)
    assert 0.0 <= img.min() and img.max() <= 1.0


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA", "1"])
def test_modes_become_rgb(tmp_path, mode):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    path = save_photo(tmp_path / f"p.{fmt.lower()}", mode=mode, fmt=fmt)
    a = read_rgb8(path)
    assert a.shape == (40, 48, 3) and a.dtype == np.uint8


def test_alpha_is_dropped_keeping_colour(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 0  # fully transparent red
    Image.fromarray(rgba).save(tmp_path / "a.png")
    assert (read_rgb8(tmp_path / "a.png")[..., 0] == 200).all()


def test_16_bit_is_scaled_to_8_bit(tmp_path):
    a = np.full((3, 4), 65535, np.uint16)
    a[0, 0] = 257 * 100
    Image.fromarray(a).save(tmp_path / "g16.png")
    out = read_rgb8(tmp_path / "g16.png")
    assert out[0, 0].tolist() == [100, 100, 100] and out[1, 1].tolist() == [255, 255, 255]


def test_exif_orientation_is_applied(tmp_path):
    im = Image.fromarray(np.zeros((10, 30, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    im.save(tmp_path / "r.jpg", exif=exif)
    assert read_rgb8(tmp_path / "r.jpg").shape == (30, 10, 3)


def test_bad_files_name_the_file_and_reason(tmp_path):
    (tmp_path / "zero.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    good = save_photo(tmp_path / "t.jpg", size=(64, 64)).read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(good[: len(good) // 2])
    cases = {"zero.jpg": "zero bytes", "text.png": "not an image", "trunc.jpg": "truncated",
             "missing.png": "cannot read"}
    for name, reason in cases.items():
        with pytest.raises(ImageError, match=reason) as e:
            read_rgb8(tmp_path / name)
        assert name in str(e.value)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    with pytest.raises(ImageError, match="decompression bomb"):
        read_rgb8(bomb_png(tmp_path / "bomb.png"))


def test_read_mask_polarity_and_nearest_resize(tmp_path):
    m = np.zeros((8, 8), np.uint8)
    m[2:4, 2:6] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    white = read_mask(tmp_path / "m.png", "white_hole")
    black = read_mask(tmp_path / "m.png", "black_hole")
    assert white.sum() == 8 and np.array_equal(white, 1 - black)
    big = read_mask(tmp_path / "m.png", size=(16, 16))
    assert set(np.unique(big)) == {0.0, 1.0} and big.sum() == 32
    with pytest.raises(ValueError, match="polarity"):
        read_mask(tmp_path / "m.png", "white")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_dir_replaces_whole_folder_only_on_success(tmp_path):
    out = tmp_path / "masks"
    with atomic_dir(out) as tmp:
        write_png(tmp / "a.png", np.ones((2, 2), np.float32))
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            write_png(tmp / "b.png", np.ones((2, 2), np.float32))
            raise RuntimeError("boom")
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks"]
    with atomic_dir(out) as tmp:
        write_png(tmp / "c.png", np.ones((2, 2), np.float32))
    assert sorted(p.name for p in out.iterdir()) == ["c.png"]
    assert (out.stat().st_mode & 0o777) != 0o700  # not left private like mkdtemp's folders


def test_remove_stale_temps_only_touches_atomic_leftovers(tmp_path):
    (tmp_path / ".last.pt.abc123.tmp.pt").write_bytes(b"half")
    (tmp_path / "last.pt").write_bytes(b"whole")
    removed = remove_stale_temps(tmp_path)
    assert [p.name for p in removed] == [".last.pt.abc123.tmp.pt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_atomic_dir_removes_the_temporary_folders_of_a_killed_run(tmp_path):
    from inpaint.io import atomic_dir

    stale = tmp_path / ".masks.k1ll3d"  # what a run killed mid-write leaves beside its output
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "big.png").write_bytes(b"x" * 100)
    other = tmp_path / ".other.abc"  # another output's: left alone
    other.mkdir()
    with atomic_dir(tmp_path / "masks") as tmp:
        (tmp / "a.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.abc", "masks"]
    assert (tmp_path / "masks" / "a.txt").read_text() == "new"


def test_staged_into_replaces_what_it_wrote_only_on_success(tmp_path):
    from inpaint.io import staged_into

    reports = tmp_path / "reports"
    (reports / "plots").mkdir(parents=True)
    (reports / "plots" / "old.png").write_text("old plot")
    (reports / "summary.md").write_text("last good")
    (reports / "recipe.md").write_text("not ours")
    with pytest.raises(RuntimeError):
        with staged_into(reports) as tmp:
            (tmp / "summary.md").write_text("half")
            raise RuntimeError("evaluation failed")
    assert (reports / "summary.md").read_text() == "last good" and (reports / "plots" / "old.png").exists()
    assert sorted(p.name for p in reports.iterdir()) == ["plots", "recipe.md", "summary.md"]  # no staging left
    (reports / ".staging.k1ll3d").mkdir()  # a killed run's
    with staged_into(reports) as tmp:
        (tmp / "plots").mkdir()
        (tmp / "plots" / "new.png").write_text("new plot")
        (tmp / "summary.md").write_text("new")
    assert sorted(p.name for p in reports.iterdir()) == ["plots", "recipe.md", "summary.md"]
    assert [p.name for p in (reports / "plots").iterdir()] == ["new.png"] and (reports / "summary.md").read_text() == "new"
    assert (reports / "recipe.md").read_text() == "not ours"


def test_mask_rule_for_rgb_alpha_and_palette_masks(tmp_path):
    from PIL import Image

    from inpaint.io import read_mask

    hole = np.zeros((8, 10), bool)
    hole[2:5, 3:8] = True
    red = np.zeros((8, 10, 3), np.uint8)
    red[hole] = (255, 0, 0)  # a pure-red stroke on black: its brightest channel is 255
    Image.fromarray(red).save(tmp_path / "red.png")
    alpha = np.zeros((8, 10, 4), np.uint8)
    alpha[..., 3] = np.where(hole, 0, 255)  # flat black colour, transparent where the hole is
    Image.fromarray(alpha, "RGBA").save(tmp_path / "alpha.png")
    grey = Image.fromarray(np.where(hole, 255, 0).astype(np.uint8), "L")
    grey.save(tmp_path / "grey.png")
    grey.convert("P").save(tmp_path / "palette.png")
    photo = np.zeros((8, 10, 4), np.uint8)  # colour that varies: the colour decides, alpha is ignored
    photo[..., :3] = np.where(hole, 255, 0)[..., None]
    photo[..., 3] = 128
    Image.fromarray(photo, "RGBA").save(tmp_path / "rgba.png")
    for name in ("red", "alpha", "grey", "palette", "rgba"):
        assert np.array_equal(read_mask(tmp_path / f"{name}.png"), hole.astype(np.float32)), name
    for name in ("alpha", "grey", "palette", "rgba"):  # black_hole: the other pixels
        assert np.array_equal(read_mask(tmp_path / f"{name}.png", "black_hole"), (~hole).astype(np.float32)), name
    on_white = np.full((8, 10, 3), 255, np.uint8)
    on_white[hole] = (255, 0, 0)  # a red stroke on white: its darkest channel is 0
    Image.fromarray(on_white).save(tmp_path / "red_on_white.png")
    assert np.array_equal(read_mask(tmp_path / "red_on_white.png", "black_hole"), hole.astype(np.float32))
