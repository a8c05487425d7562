import numpy as np
import pytest
from testkit import bomb_png, save_photo
from PIL import Image

from inpaint.io import ImageError, read_image, read_mask, read_rgb8


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
