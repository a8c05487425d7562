"""inpaint.encode: output formats and their limits, what an output keeps of its photo, atomic writes."""
import numpy as np
import pytest
from PIL import Image

from inpaint.encode import OUTPUT_FORMATS, check_output, what_to_keep, write_image
from inpaint.io import read_exact


@pytest.mark.parametrize("ext", sorted(OUTPUT_FORMATS))
def test_every_format_writes_what_its_extension_names(tmp_path, ext):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    write_image(tmp_path / f"o{ext}", image, quality=100)
    with Image.open(tmp_path / f"o{ext}") as im:
        assert im.format == OUTPUT_FORMATS[ext] and im.size == (30, 20)
        if ext == ".png":  # lossless
            assert np.array_equal(np.asarray(im.convert("RGB")), image)
    assert [p.name for p in tmp_path.iterdir()] == [f"o{ext}"]  # no temporary left beside it


def test_16_bits_only_as_png_and_floats_are_rounded(tmp_path):
    deep = np.full((4, 5, 3), 40000, np.uint16)
    write_image(tmp_path / "d.png", deep)
    back = read_exact(tmp_path / "d.png", sixteen=True)
    assert back.dtype == np.uint16 and np.all(back == 40000)  # all 16 bits kept
    with pytest.raises(ValueError, match=r"d\.jpg: JPEG takes 8-bit samples; write 16 bits as \.png"):
        write_image(tmp_path / "d.jpg", deep)
    write_image(tmp_path / "f.png", np.full((2, 2, 3), 0.5, np.float32))
    assert np.asarray(Image.open(tmp_path / "f.png"))[0, 0, 0] == 128  # rint(127.5), not truncated


def test_an_unknown_extension_and_a_side_beyond_the_format_are_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match=r"o\.gif: unknown image extension"):
        write_image(tmp_path / "o.gif", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match=r"WEBP takes at most 16383 px a side .* write PNG"):
        check_output(tmp_path / "big.webp", 100, 20000)
    check_output(tmp_path / "big.png", 100, 20000)  # PNG takes it
    assert not list(tmp_path.iterdir())


def test_what_an_output_keeps_of_its_photo(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 3] = 128
    Image.fromarray(rgba).save(tmp_path / "a.png")
    keep, notes = what_to_keep(tmp_path / "a.png", tmp_path / "out.png", 64)
    assert keep is not None and keep.alpha and not keep.deep and not notes
    keep, notes = what_to_keep(tmp_path / "a.png", tmp_path / "out.jpg", 64)
    assert keep is None and "JPEG has no transparency" in notes[0]
    Image.fromarray(rgba[..., :3]).save(tmp_path / "plain.png")
    assert what_to_keep(tmp_path / "plain.png", tmp_path / "out.png", 64) == (None, [])
