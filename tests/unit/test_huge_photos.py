"""Huge photos in bounded memory: the paths `inpaint fill` takes above io.LARGE_PIXELS give what the
ordinary paths give. The threshold is lowered here so small photos take them (bench/fill_memory.py
measures the memory at 250 MP)."""
import contextlib
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from inpaint.cli import main
from inpaint.crops import PackedMask, any_pool, paste, work_crop
import inpaint.io as io


@pytest.fixture
def small_large(monkeypatch):
    """Photos over 1,000 pixels count as large."""
    monkeypatch.setattr(io, "LARGE_PIXELS", 1000)


def _write(path: Path, pixels: np.ndarray, **kw) -> Path:
    Image.fromarray(pixels).save(path, **kw)
    return path


@pytest.mark.parametrize("name, pixels", [
    ("rgb.png", data.astronaut()[:200, :300]),
    ("grey.png", data.camera()[:200, :300]),
    ("rgba.png", np.dstack([data.astronaut()[:200, :300], data.camera()[:200, :300]])),
    ("rgb.jpg", data.astronaut()[:200, :300]),
    ("grey.jpg", data.camera()[:200, :300]),
])
def test_a_large_photo_decodes_to_what_pillow_gives(tmp_path, monkeypatch, name, pixels):
    path = _write(tmp_path / name, pixels)
    expected = io.read_rgb8(path)  # the ordinary reader
    monkeypatch.setattr(io, "LARGE_PIXELS", 1000)
    assert io._read_large(path, io.MAX_PIXELS) is not None  # OpenCV's path is taken ...
    got = io.read_rgb8(path)
    assert got.shape == expected.shape and got.dtype == np.uint8 and got.flags.writeable
    assert np.array_equal(got, expected)  # ... and reads the same pixels


def test_truncated_or_rotated_large_photos_take_the_careful_reader(tmp_path, small_large):
    pixels = data.astronaut()[:200, :300]
    for name in ("cut.png", "cut.jpg"):
        whole = _write(tmp_path / ("whole" + Path(name).suffix), pixels).read_bytes()
        (tmp_path / name).write_bytes(whole[: len(whole) // 2])
        assert io._read_large(tmp_path / name, io.MAX_PIXELS) is None
        with pytest.raises(io.ImageError, match=f"{name}: corrupt or truncated image"):
            io.read_rgb8(tmp_path / name)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    rotated = _write(tmp_path / "rotated.jpg", pixels, exif=exif)
    assert io._read_large(rotated, io.MAX_PIXELS) is None
    assert io.read_rgb8(rotated).shape == (300, 200, 3)
    assert io._read_large(tmp_path / "whole.png", 1500) is None  # over the caller's limit: Pillow's path refuses it


def test_any_pool_marks_every_cell_that_the_float_resize_marks():
    rng = np.random.default_rng(0)
    extra = 0
    for _ in range(100):
        h, w = rng.integers(20, 300, 2)
        mask = rng.random((h, w)) < rng.choice([0.002, 0.02, 0.2])
        size = (max(1, int(w * rng.uniform(0.05, 0.95))), max(1, int(h * rng.uniform(0.05, 0.95))))
        expected = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
        got = any_pool(mask, size)
        assert got.shape == expected.shape
        assert not (expected & ~got).any()  # never a hole lost
        extra += (got & ~expected).sum()
    assert extra < 0.01 * 100 * 100 * 100  # a few grazing cells more, not a dilated mask
    mask = np.zeros((40, 60), bool)
    mask[10:12, 30] = True
    assert np.array_equal(np.argwhere(any_pool(mask, (30, 20))), [[5, 15]])  # integer factor: exact


def test_a_huge_context_is_shrunk_and_pasted_in_strips_like_a_small_one(monkeypatch):
    rng = np.random.default_rng(1)
    image = (rng.random((300, 420, 3)) * 255).astype(np.uint8)
    mask = np.zeros((300, 420), bool)
    mask[20:60, 30:90] = True
    mask[240:280, 330:400] = True  # two holes far apart: the context is the whole photo
    ordinary = work_crop(image, mask, max_side=128)
    monkeypatch.setattr(io, "LARGE_PIXELS", 5000)
    huge = work_crop(image, mask, max_side=128)
    assert huge.crop == ordinary.crop and huge.image.shape == ordinary.image.shape == (91, 128, 3)
    assert huge.image.dtype == np.float32 and np.abs(huge.image - ordinary.image).max() <= 0.5 / 255 + 1e-6
    assert not (ordinary.mask.astype(bool) & ~huge.mask.astype(bool)).any()
    filled = rng.random(huge.image.shape).astype(np.float32)
    strips = paste(image, mask, huge, filled)
    monkeypatch.setattr(io, "LARGE_PIXELS", 10**9)
    whole = paste(image, mask, huge, filled)
    assert np.abs(strips.astype(int) - whole).max() <= 1
    assert np.array_equal(strips[~mask], image[~mask])  # known pixels bit for bit
    assert (strips[mask] != image[mask]).mean() > 0.9


def test_the_command_fills_a_large_photo_as_it_fills_a_small_one(tmp_path, monkeypatch):
    photo = _write(tmp_path / "photo.png", data.astronaut())
    mask = np.zeros((512, 512), np.uint8)
    mask[40:100, 50:120] = 255
    mask[400:470, 380:480] = 255
    _write(tmp_path / "mask.png", mask)
    outputs = {}
    for label, limit in (("small", 10**9), ("large", 1000)):
        monkeypatch.setattr(io, "LARGE_PIXELS", limit)
        for ext in ("png", "jpg"):
            out = tmp_path / f"{label}.{ext}"
            assert main(["fill", "--method", "telea", "--image", str(photo), "--mask", str(tmp_path / "mask.png"),
                         "--out", str(out), "--max-side", "256", "-q"]) == 0
            outputs[label, ext] = np.asarray(Image.open(out).convert("RGB")).astype(int)
    original = data.astronaut().astype(int)
    assert np.array_equal(outputs["large", "png"][mask == 0], original[mask == 0])  # colour order kept
    diff = np.abs(outputs["large", "png"] - outputs["small", "png"])  # the work crop rounded to 8 bits first
    assert diff.max() <= 4 and diff[mask > 0].mean() < 0.5
    assert np.abs(outputs["large", "jpg"] - outputs["small", "jpg"]).mean() < 2  # OpenCV's encoder, not Pillow's
    assert np.array_equal(io.read_rgb8(photo), data.astronaut())  # the input is untouched


def test_a_large_grey_mask_reads_as_the_careful_reader_reads_it(tmp_path, monkeypatch):
    level = (np.arange(200 * 300) % 256).astype(np.uint8).reshape(200, 300)
    _write(tmp_path / "m.png", level)
    _write(tmp_path / "rgb.png", np.dstack([level, level // 2, level // 3]))
    expected = {name: (io.mask_level(tmp_path / name), io.read_mask(tmp_path / name, "black_hole", dtype=bool))
                for name in ("m.png", "rgb.png")}
    monkeypatch.setattr(io, "LARGE_PIXELS", 1000)
    assert io._read_large(tmp_path / "m.png", io.MAX_PIXELS, grey=True) is not None
    assert io._read_large(tmp_path / "rgb.png", io.MAX_PIXELS, grey=True) is None  # the colour rule is Pillow's
    for name, (level_then, hole_then) in expected.items():
        assert np.array_equal(io.mask_level(tmp_path / name), level_then)
        hole = io.read_mask(tmp_path / name, "black_hole", dtype=bool)
        assert hole.dtype == np.bool_ and np.array_equal(hole, hole_then)


def test_an_older_opencv_without_decoding_into_an_array_gives_the_same_pixels(tmp_path, monkeypatch):
    path = _write(tmp_path / "rgb.png", data.astronaut()[:200, :300])
    real = cv2.imread

    def old_imread(name, *args):
        if len(args) == 2:  # the (filename, dst, flags) overload OpenCV 4.11 added
            raise TypeError("imread() takes at most 2 arguments")
        return real(name, *args)

    monkeypatch.setattr(io, "LARGE_PIXELS", 1000)
    monkeypatch.setattr(cv2, "imread", old_imread)
    assert io._read_large(path, io.MAX_PIXELS) is not None  # the fallback read it, not Pillow
    assert np.array_equal(io.read_rgb8(path), data.astronaut()[:200, :300])


def test_a_camera_jpeg_with_exif_takes_the_large_path_and_a_png_rotated_after_its_pixels_does_not(tmp_path, small_large):
    exif = Image.Exif()
    exif[0x010F] = "a camera"  # EXIF, upright
    camera = _write(tmp_path / "camera.jpg", data.astronaut()[:200, :300], exif=exif)
    assert io._read_large(camera, io.MAX_PIXELS) is not None
    png = _write(tmp_path / "plain.png", data.astronaut()[:200, :300]).read_bytes()
    rotated = Image.Exif()
    rotated[0x0112] = 6
    body = rotated.tobytes()[6:] if rotated.tobytes().startswith(b"Exif\x00\x00") else rotated.tobytes()
    chunk = len(body).to_bytes(4, "big") + b"eXIf" + body + zlib.crc32(b"eXIf" + body).to_bytes(4, "big")
    (tmp_path / "late.png").write_bytes(png[:-12] + chunk + png[-12:])  # eXIf after the pixels, before IEND
    assert io._read_large(tmp_path / "late.png", io.MAX_PIXELS) is None  # Pillow's reader applies its rotation
    assert io.read_rgb8(tmp_path / "late.png").shape[:2] == io.read_rgb8(tmp_path / "plain.png").shape[1::-1]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_under_a_large_output_is_an_error_not_a_short_file(tmp_path, monkeypatch):
    import inpaint.encode as encode

    monkeypatch.setattr(io, "LARGE_PIXELS", 1000)
    photo = data.astronaut()[:300, :400].copy()

    @contextlib.contextmanager
    def full(path):  # the temporary file is on a full disk
        tmp = tmp_path / f"full{path.suffix}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to("/dev/full")
        yield tmp

    monkeypatch.setattr(encode, "atomic_path", full)
    for ext in ("png", "jpg"):
        with pytest.raises(ValueError, match=rf"out\.{ext}: .*check that its folder is writable and has space"):
            encode.write_image(tmp_path / f"out.{ext}", photo.copy(), consume=True)
    monkeypatch.setattr(io, "LARGE_PIXELS", 10**9)
    with pytest.raises(ValueError, match=r"out\.png: cannot write it .*No space left"):
        encode.write_image(tmp_path / "out.png", photo)


def test_a_packed_mask_unpacks_the_rows_and_columns_asked_for():
    mask = np.random.default_rng(2).random((37, 53)) < 0.3
    packed = PackedMask(mask)
    assert packed.bits.nbytes == 37 * 7  # 8 pixels a byte
    for rows, cols in ((slice(0, 37), slice(0, 53)), (slice(5, 9), slice(3, 50)), (slice(30, 37), slice(47, 53))):
        assert np.array_equal(packed[rows, cols], mask[rows, cols])
