"""inpaint.textures (texture measure, detail ratio, synthetic patterns), inpaint.lattice and attention.copy_error."""
import numpy as np
import pytest

from inpaint.attention import copy_error, valid_keys
from inpaint.lattice import lattice
from inpaint.textures import PATTERNS, busiest, detail_ratio, pattern, pattern_set, texture_measure


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


def test_the_lattice_score_works_on_photo_sized_crops_of_any_shape():
    rng = np.random.default_rng(1)
    h, w = 203, 330  # cut to 200 x 328 inside: multiples of 8, so the harmonics fall on frequency bins
    start = np.zeros((1, h, w, 3), np.float32)
    mask = np.zeros((1, h, w), np.float32)
    mask[:, 40:180, 60:300] = 1
    y, x = np.mgrid[0:h, 0:w]
    grid = (((y % 8) == 0) | ((x % 8) == 0)).astype(np.float32)[None, :, :, None] * 0.2
    noise = rng.normal(0, 0.1, start.shape).astype(np.float32)
    assert lattice(start + noise, start, mask) < 2
    assert lattice(start + grid + noise, start, mask) > 10
    with pytest.raises(ValueError, match="smaller than the period"):
        lattice(start[:, :5], start[:, :5], mask[:, :5])


def test_the_detail_ratio_is_near_one_for_a_photo_texture_and_low_for_a_blurry_fill():
    from scipy import ndimage

    rng = np.random.default_rng(2)
    texture = ndimage.gaussian_filter(rng.random((160, 200)), 0.7)[..., None].repeat(3, -1).astype(np.float32)
    mask = np.zeros((160, 200), np.float32)
    mask[50:110, 60:140] = 1
    assert detail_ratio(texture, mask) == pytest.approx(1.0, abs=0.25)  # the same texture inside and around
    blurry = texture.copy()
    blurry[mask > 0] = ndimage.gaussian_filter(texture, (4, 4, 0))[mask > 0]
    assert detail_ratio(blurry, mask) < 0.1
    flat_fill = texture.copy()
    flat_fill[mask > 0] = 0.5
    assert detail_ratio(flat_fill, mask) < 0.01  # nothing inside; the seam is left out
    thin = np.zeros((160, 200), np.float32)
    thin[80:83, 20:180] = 1  # no inside beyond the gap at the edge
    assert np.isnan(detail_ratio(texture, thin))


def test_copy_error_is_small_when_the_sources_hold_what_the_hole_holds_and_the_baselines_obey_the_key_rule():
    # stripes of period 8 at the far left and inside the hole, flat grey elsewhere: copying from the
    # stripes in phase is exact; the nearest valid keys (and most random ones) hold grey
    y, x = np.mgrid[0:64, 0:64]
    stripes = ((x % 8) < 4).astype(np.float32)
    mask = np.zeros((64, 64), np.float32)
    mask[24:40, 32:48] = 1
    grey = np.where((x < 16) | (mask > 0), stripes, 0.5)
    truth = np.repeat(grey[..., None], 3, axis=-1)
    cell = 8
    source = np.full((64, 64, 2), np.nan, np.float32)
    cy, cx = (y // cell) * cell + cell / 2, (x // cell) * cell + cell / 2
    source[..., 0], source[..., 1] = cy, cx - 32  # from the stripes on the left, in phase
    rng = np.random.default_rng(0)
    errors = copy_error(truth, mask, source, cell, rng, 3)
    assert errors["attention"] == 0.0 and errors["nearest_key"] == 0.5 and errors["random_key"] > 0.2
    source[..., 1] = cx - 36  # half a period off: the opposite stripe (a quarter of the pixels clip to the edge)
    assert copy_error(truth, mask, source, cell, rng, 3)["attention"] == 0.75
    assert np.isnan(copy_error(truth, np.ones((64, 64)), source, cell, rng, 3)["attention"])


def test_valid_keys_are_the_3x3_cell_patches_that_hold_no_hole_pixel():
    mask = np.zeros((32, 40), np.float32)
    mask[9, 17] = 1  # one hole pixel in cell (1, 2) of 8-pixel cells (4 x 5 cells)
    keys = valid_keys(mask, 8, 3)
    cells = {(int(y) // 8, int(x) // 8) for y, x in keys}
    touched = {(r, c) for r in range(0, 3) for c in range(1, 4)}
    assert cells == {(r, c) for r in range(4) for c in range(5)} - touched
    ones = {(int(y) // 8, int(x) // 8) for y, x in valid_keys(mask, 8, 1)}  # 1x1 keys (lama): only the hole's own cell is out
    assert ones == {(r, c) for r in range(4) for c in range(5)} - {(1, 2)}
    assert {(int(y) % 8, int(x) % 8) for y, x in keys} == {(4, 4)}  # cell centres
