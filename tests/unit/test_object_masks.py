"""inpaint.object_masks: native-size masks of what people remove (bench/fullres.py)."""
import numpy as np
import pytest

from inpaint.io import read_mask
from inpaint.object_masks import OBJECT_KINDS, object_mask


@pytest.fixture(scope="module")
def nvidia_like(tmp_path_factory):
    """Four square masks of 10-40% holes, standing in for the NVIDIA files."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("nvidia")
    files = []
    for i, side in enumerate((160, 200, 230, 260)):
        m = np.zeros((512, 512), np.uint8)
        m[100:100 + side, 50:50 + side] = 255
        files.append(folder / f"{i:05d}.png")
        Image.fromarray(m).save(files[-1])
    return files


@pytest.mark.parametrize("kind", OBJECT_KINDS)
@pytest.mark.parametrize("size", [(321, 481), (481, 321), (200, 900)])
def test_each_kind_is_drawn_at_the_photo_size_near_its_ratio_and_from_its_seed(kind, size, nvidia_like):
    h, w = size
    ratios = []
    for k in range(8):
        m = object_mask(kind, np.random.default_rng(k), h, w, (0.1, 0.4), nvidia_like)
        assert m.shape == (h, w) and m.dtype == np.uint8 and set(np.unique(m)) <= {0, 1}
        ratios.append(m.mean())
        target = np.random.default_rng(k).uniform(0.1, 0.4)  # the generator's first draw
        if kind != "nvidia":  # NVIDIA masks come as they are (the nearest of 50); the others are drawn to size
            assert m.mean() == pytest.approx(target, abs=0.015)
        again = object_mask(kind, np.random.default_rng(k), h, w, (0.1, 0.4), nvidia_like)
        np.testing.assert_array_equal(m, again)
    assert 0.1 - 0.12 <= min(ratios) and max(ratios) <= 0.4 + 0.12
    assert len({round(r, 4) for r in ratios}) > 1  # drawn, not fixed


def test_a_blob_and_a_box_are_one_piece_and_strokes_are_thick():
    from scipy import ndimage

    for kind in ("blob", "box"):
        m = object_mask(kind, np.random.default_rng(3), 321, 481, (0.2, 0.2))
        assert ndimage.label(m)[1] == 1 and m.mean() == pytest.approx(0.2, abs=0.03)
    s = object_mask("strokes", np.random.default_rng(3), 321, 481, (0.2, 0.2))
    assert s.mean() == pytest.approx(0.2, abs=0.04)
    assert ndimage.binary_erosion(s, iterations=5).any()  # wider than 10 px somewhere: a thick stroke


def test_nvidia_masks_are_scaled_to_the_photo_not_transposed(nvidia_like):
    m = object_mask("nvidia", np.random.default_rng(0), 300, 600, (0.1, 0.4), nvidia_like)
    assert m.shape == (300, 600)
    # the file's square hole becomes a rectangle twice as wide as it is tall, at the same place
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    width, height = cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1
    assert width == pytest.approx(2 * height, rel=0.05)
    assert read_mask(nvidia_like[0]).shape == (512, 512)


def test_unknown_kinds_and_missing_files_are_named():
    with pytest.raises(ValueError, match="unknown object mask kind 'person'"):
        object_mask("person", np.random.default_rng(0), 64, 64, (0.1, 0.2))
    with pytest.raises(ValueError, match="needs the NVIDIA mask files"):
        object_mask("nvidia", np.random.default_rng(0), 64, 64, (0.1, 0.2))
