"""inpaint.textures (texture measure, synthetic patterns), inpaint.lattice and attention.copy_error."""
import numpy as np
import pytest

from inpaint.attention import copy_error
from inpaint.lattice import lattice
from inpaint.textures import PATTERNS, busiest, pattern, pattern_set, texture_measure


def test_the_texture_measure_ranks_busy_known_regions_above_flat_ones_and_ignores_the_hole():
    rng = np.random.default_rng(0)
    flat = np.full((64, 64, 3), 0.5, np.float32)
    busy = rng.random((64, 64, 3)).astype(np.float32)
    mask = np.zeros((64, 64), np.float32)
    assert texture_measure(flat, mask) < 1e-6 < 0.05 < texture_measure(busy, mask)
    holed = flat.copy()
    holed[20:44, 20:44] = busy[20:44, 20:44]  # busy only where the hole is: it does not count
    mask[16:48, 16:48] = 1
    assert texture_measure(holed, mask) < 1e-6 and texture_measure(holed) > 0.005
    assert np.isnan(texture_measure(busy, np.ones((64, 64))))
    images = np.stack([flat, busy, holed])
    masks = np.stack([np.zeros((64, 64)), np.zeros((64, 64)), mask])
    assert list(busiest(images, masks, 1.0)) == [1, 0, 2] and list(busiest(images, masks, 0.3)) == [1]
    with pytest.raises(ValueError, match="share"):
        busiest(images, masks, 0)


def test_patterns_repeat_are_seeded_and_every_kind_is_drawn():
    images, ids = pattern_set(2, 64, seed=3)
    assert images.shape == (2 * len(PATTERNS), 64, 64, 3) and images.dtype == np.float32
    assert ids[:2] == [f"{PATTERNS[0]}_0", f"{PATTERNS[0]}_1"] and len(set(ids)) == len(ids)
    assert 0 <= images.min() and images.max() <= 1
    np.testing.assert_array_equal(images, pattern_set(2, 64, seed=3)[0])
    assert not np.array_equal(images, pattern_set(2, 64, seed=4)[0])
    for img in images:  # a repeated pattern: busy, and its halves alike in their statistics
        assert texture_measure(img) > 0.005
        assert abs(img[:, :32].mean() - img[:, 32:].mean()) < 0.1
    with pytest.raises(ValueError, match="unknown pattern 'wood'"):
        pattern("wood", 64, np.random.default_rng(0))


def test_the_lattice_score_finds_an_8_pixel_grid_and_not_noise():
    rng = np.random.default_rng(0)
    start = np.zeros((4, 64, 64, 3), np.float32)
    masks = np.ones((4, 64, 64), np.float32)
    y, x = np.mgrid[0:64, 0:64]
    grid = (((y % 8) == 0) | ((x % 8) == 0)).astype(np.float32)[None, :, :, None] * 0.2
    noise = rng.normal(0, 0.1, start.shape).astype(np.float32)
    assert lattice(start + noise, start, masks) == pytest.approx(1.0, abs=0.3)
    assert lattice(start + grid + noise, start, masks) > 10


def test_copy_error_is_small_when_the_sources_hold_what_the_hole_holds():
    # stripes of period 8: a hole pixel copied from a place 8k pixels to the side matches it exactly
    y, x = np.mgrid[0:64, 0:64]
    truth = np.repeat(((x % 8) < 4).astype(np.float32)[..., None], 3, axis=-1)
    mask = np.zeros((64, 64), np.float32)
    mask[24:40, 24:40] = 1
    cell = 8
    source = np.full((64, 64, 2), np.nan, np.float32)
    cy, cx = (y // cell) * cell + cell / 2, (x // cell) * cell + cell / 2
    source[..., 0], source[..., 1] = cy, cx - 16  # two periods to the left, same phase
    rng = np.random.default_rng(0)
    matched, anywhere = copy_error(truth, mask, source, cell, rng)
    assert matched == 0.0 and anywhere > 0.2
    source[..., 1] = cx - 20  # half a period off: copies the opposite stripe
    assert copy_error(truth, mask, source, cell, rng)[0] == 1.0
    assert np.isnan(copy_error(truth, np.ones((64, 64)), source, cell, rng)[0])
