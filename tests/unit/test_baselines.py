"""Classical baselines: contract of the shared signature, edge cases and known-value fills."""
import numpy as np
import pytest

from inpaint.baselines import BASELINES
from inpaint.patch import patch_match

NAMES = sorted(BASELINES)
PATCH = [n for n in NAMES if n.startswith("patch")]  # patch_match, patch_criminisi and the patch fill


def _photo_like(h=32, w=36, seed=0):
    """Seeded smooth colours plus noise: varied enough that copying a wrong pixel shows."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w] / max(h, w)
    base = np.stack([0.5 + 0.4 * np.sin(6 * xx), 0.5 + 0.4 * np.cos(5 * yy), 0.3 + 0.5 * xx * yy], -1)
    return np.clip(base + 0.05 * rng.standard_normal((h, w, 3)), 0, 1).astype(np.float32)


def _stripes(h=40, w=40):
    """A periodic texture (periods 6 and 4) a patch method can continue exactly."""
    yy, xx = np.mgrid[:h, :w]
    img = np.stack([(xx % 6 < 3) * 0.8 + 0.1, (yy % 4 < 2) * 0.5 + 0.2, np.full((h, w), 0.5)], -1)
    return img.astype(np.float32)


def _box(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), np.float32)
    m[y0:y1, x0:x1] = 1
    return m


@pytest.mark.parametrize("name", NAMES)
def test_output_contract_and_known_pixels_untouched(name):
    img = _photo_like()
    mask = _box(32, 36, 8, 20, 10, 24)
    out = BASELINES[name](img, mask)
    assert out.dtype == np.float32 and out.shape == img.shape
    assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(out[mask == 0], img[mask == 0])
    # The hole was actually filled, not left as the input's pixels or zeros.
    assert not np.array_equal(out[mask == 1], img[mask == 1])
    assert out[mask == 1].mean() > 0.1


@pytest.mark.parametrize("name", NAMES)
def test_hole_content_is_never_read(name):
    img = _photo_like()
    mask = _box(32, 36, 6, 18, 4, 20)
    other = img.copy()
    other[mask == 1] = [1.0, 0.0, 0.0]  # a colour found nowhere else
    np.testing.assert_array_equal(BASELINES[name](img, mask), BASELINES[name](other, mask))


@pytest.mark.parametrize("name", NAMES)
def test_constant_image_is_filled_with_its_colour(name):
    img = np.broadcast_to(np.array([0.3, 0.6, 0.9], np.float32), (24, 24, 3)).copy()
    mask = _box(24, 24, 5, 15, 0, 9)  # touches the left border
    out = BASELINES[name](img, mask)
    # Telea's first-order extrapolation drifts by ~1.7 grey levels near the border; others are exact.
    np.testing.assert_allclose(out, img, atol=0.01)


@pytest.mark.parametrize("name", PATCH)
def test_patch_methods_continue_a_periodic_texture_exactly(name):
    img = _stripes()
    mask = _box(40, 40, 14, 26, 12, 28)
    out = BASELINES[name](img, mask)
    assert np.abs(out - img)[mask == 1].mean() < 0.01


def test_diffusion_cannot_continue_texture_so_the_patch_test_means_something():
    img, mask = _stripes(), _box(40, 40, 14, 26, 12, 28)
    assert np.abs(BASELINES["telea"](img, mask) - img)[mask == 1].mean() > 0.1


@pytest.mark.parametrize("name", NAMES)
def test_no_hole_returns_the_image_unchanged(name):
    img = _photo_like(16, 16)
    out = BASELINES[name](img, np.zeros((16, 16), np.float32))
    np.testing.assert_array_equal(out, img)


@pytest.mark.parametrize("name", NAMES)
def test_all_hole_raises(name):
    with pytest.raises(ValueError, match="every pixel"):
        BASELINES[name](_photo_like(16, 16), np.ones((16, 16), np.float32))


@pytest.mark.parametrize("name", NAMES)
def test_wrong_mask_shape_names_both_shapes(name):
    with pytest.raises(ValueError, match=r"\(16, 15\).*\(16, 16, 3\)"):
        BASELINES[name](_photo_like(16, 16), np.zeros((16, 15), np.float32))


@pytest.mark.parametrize("name", NAMES)
def test_tiny_image_and_border_hole(name):
    img = _photo_like(6, 5)
    mask = _box(6, 5, 0, 3, 3, 5)  # corner hole on a 6x5 image: no 7x7 patch fits anywhere
    out = BASELINES[name](img, mask)
    assert out.shape == img.shape and np.isfinite(out).all()
    np.testing.assert_array_equal(out[mask == 0], img[mask == 0])


@pytest.mark.parametrize("name", NAMES)
def test_soft_mask_composites_with_the_given_mask(name):
    img = _photo_like()
    hard = _box(32, 36, 8, 20, 10, 24)
    soft = hard.copy()
    soft[8:20, 10] = 0.75  # still hole (>= 0.5), but the composite keeps 25 % of the input
    out_hard = BASELINES[name](img, hard)
    out_soft = BASELINES[name](img, soft)
    expected = 0.75 * out_hard[8:20, 10] + 0.25 * img[8:20, 10]
    np.testing.assert_allclose(out_soft[8:20, 10], expected, atol=1e-6)


def test_patch_match_is_seeded():
    img = _photo_like(40, 40)
    mask = _box(40, 40, 10, 30, 12, 28)
    a = patch_match(img, mask, seed=3)
    np.testing.assert_array_equal(a, patch_match(img, mask, seed=3))



def test_patch_match_from_a_given_fill_keeps_its_layout_and_copies_only_known_patches():
    # left half dark, right half bright, with fine stripes in both; the hole spans the border. Started from a
    # fill that moves the border into the hole's left part, the refinement keeps it there (PatchMatch alone
    # puts it where the known edges meet) and draws stripes, not a blur
    h, w = 64, 96
    y, x = np.mgrid[0:h, 0:w]
    base = np.where(x < 48, 0.2, 0.8) + 0.1 * ((x % 4) < 2)
    img = np.repeat(base[..., None], 3, -1).astype(np.float32)
    mask = _box(h, w, 16, 48, 24, 72)
    guide = img.copy()
    guide[mask > 0] = np.where(x < 36, 0.25, 0.85)[mask > 0][:, None]  # a layout, no texture
    out = patch_match(img, mask, init=guide, seed=0)
    np.testing.assert_array_equal(out[mask == 0], img[mask == 0])
    hole = mask > 0
    moved = hole & (x >= 40) & (x < 46)  # dark beside the known pixels, bright in the fill it started from
    assert out[moved].mean() > 0.65 > patch_match(img, mask, seed=0)[moved].mean()
    assert np.abs(np.diff(out[..., 0], axis=1))[hole[:, 1:] & hole[:, :-1]].mean() > 0.03  # stripes copied in
    copied = np.isin(out[hole].round(4), np.unique(img.round(4)))
    assert copied.mean() > 0.8  # known values, copied whole; votes blend only along the new border
    with pytest.raises(ValueError, match="init is"):
        patch_match(img, mask, init=guide[:10])
