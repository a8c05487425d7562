"""The parameter-free fills: registry, contract, shared parts, and their use as baselines."""
import numpy as np
import pytest
import torch

from inpaint.baselines import BASELINES
from inpaint.start_fills import (FILLS, MEAN_OF, compute_fills, fade_fill, get_fill, hybrid_fill, nearest_fill, nearest_known,
                                 patch_fill, pyramid_fill)
from testkit import stripes
from inpaint.models import INIT_FILLS, start_fill

NAMES = sorted(FILLS)


def _batch(seed=0, size=24):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, size, size + 4, generator=g)
    mask = torch.zeros(2, 1, size, size + 4)
    mask[0, :, 6:16, 8:20] = 1
    mask[1, :, 2:10, 3:9] = 1
    return image, mask


@pytest.mark.parametrize("name", NAMES)
def test_known_pixels_come_back_bit_for_bit_and_hole_pixels_are_never_read(name):
    image, mask = _batch()
    out = get_fill(name)(image, mask)
    assert out.shape == image.shape and torch.isfinite(out).all()
    assert torch.equal(out * (1 - mask), image * (1 - mask))
    scrambled = torch.where(mask.bool(), torch.rand_like(image), image)
    torch.testing.assert_close(get_fill(name)(scrambled, mask), out)


@pytest.mark.parametrize("name", NAMES)
def test_a_constant_image_is_filled_with_its_colour(name):
    image = torch.full((1, 3, 20, 20), 0.3)
    _, mask = _batch(size=20)
    torch.testing.assert_close(get_fill(name)(image, mask[:1, :, :, :20]), image, atol=1e-5, rtol=0)


def test_a_mean_fill_is_the_mean_of_its_parts_computed_once(monkeypatch):
    image, mask = _batch()
    for name, parts in MEAN_OF.items():
        expected = sum(get_fill(p)(image, mask) for p in parts) / len(parts)
        torch.testing.assert_close(get_fill(name)(image, mask), expected)
        calls = []
        for p in parts:
            real = FILLS[p]
            monkeypatch.setitem(FILLS, p, lambda i, m, real=real, p=p: calls.append(p) or real(i, m))
        compute_fills([*parts, name], image, mask)
        assert sorted(calls) == sorted(parts)  # each part once, though asked for directly and via the mean


def test_unknown_fill_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown fill 'telea'.*hybrid.*nearest"):
        get_fill("telea")


@pytest.mark.parametrize("name", NAMES)
def test_every_fill_is_a_baseline_that_matches_the_batched_fill(name):
    image, mask = _batch()
    for b in range(2):
        got = BASELINES[name](image[b].permute(1, 2, 0).numpy(), mask[b, 0].numpy())
        want = get_fill(name)(image[b : b + 1], mask[b : b + 1])[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_every_generators_start_is_a_registered_fill():
    for init_fill in INIT_FILLS:
        assert start_fill(init_fill) in (*FILLS, None)


@pytest.mark.parametrize("size", [(32, 32), (17, 23), (1, 1), (5, 3), (2, 64)])
def test_pyramid_fill_keeps_known_pixels_and_fills_a_constant_exactly(size):
    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(2, 1, *size, generator=g) > 0.5).float()
    mask[0, 0, 0, 0] = 0  # at least one known pixel
    image = torch.rand(2, 3, *size, generator=g)
    out = pyramid_fill(image, mask)
    assert torch.equal(out * (1 - mask), image * (1 - mask))
    const = torch.full((2, 3, *size), 0.3)
    torch.testing.assert_close(pyramid_fill(const, mask)[:1], const[:1], atol=1e-6, rtol=0)


def test_pyramid_fill_stays_within_the_known_range_and_never_reads_holes():
    g = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, 40, 36, generator=g) * 0.5 + 0.25
    mask = torch.zeros(1, 1, 40, 36)
    mask[..., 5:30, 8:33] = 1
    out = pyramid_fill(image, mask)
    known = image[(1 - mask).bool().expand_as(image)]
    assert out.min() >= known.min() - 1e-6 and out.max() <= known.max() + 1e-6  # convex combinations only
    scrambled = torch.where(mask.bool(), torch.rand_like(image), image)
    assert torch.equal(pyramid_fill(scrambled, mask), out)


def test_pyramid_fill_interpolates_between_the_hole_sides():
    # left half black, right half white, a vertical hole band in the middle: the fill must ramp
    image = torch.zeros(1, 1, 16, 32)
    image[..., 16:] = 1.0
    mask = torch.zeros(1, 1, 16, 32)
    mask[..., 12:20] = 1.0
    row = pyramid_fill(image, mask)[0, 0, 8, 12:20]
    assert row[0] < 0.5 < row[-1]
    assert (row[1:] >= row[:-1] - 1e-6).all()  # monotone across the band


def test_pyramid_fill_edge_cases():
    image = torch.rand(1, 3, 9, 7)
    assert torch.equal(pyramid_fill(image, torch.zeros(1, 1, 9, 7)), image)
    torch.testing.assert_close(pyramid_fill(image, torch.ones(1, 1, 9, 7)), torch.full_like(image, 0.5))


def test_patch_fill_keeps_known_pixels_never_reads_holes_and_is_deterministic():
    image, mask = stripes(n=3)
    out = patch_fill(image, mask)
    assert torch.equal(out * (1 - mask), image * (1 - mask))
    scrambled = torch.where(mask.bool(), torch.rand_like(image), image)
    assert torch.equal(patch_fill(scrambled, mask), out)
    assert not torch.equal(patch_fill(image, mask, seed=1), out)  # the seed matters
    # the stripes are copied, not smoothed: the hole's rows vary as much as the known rows do
    assert out[:, :, 16].std() > 0.8 * image[:, :, 16].std()


@pytest.mark.parametrize("size", [(32, 32), (17, 23), (1, 1), (5, 3), (2, 64), (64, 48)])
def test_nearest_known_finds_a_known_pixel_at_near_minimal_distance(size):
    from scipy import ndimage

    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(2, 1, *size, generator=g) > 0.3).float()
    mask[:, :, size[0] // 4 : 3 * size[0] // 4 + 1, size[1] // 4 : 3 * size[1] // 4 + 1] = 1  # a big hole too
    mask[:, 0, 0, 0] = 0  # at least one known pixel
    seeds = nearest_known(mask).long()  # (N, 2, H, W)
    for b in range(2):
        sy, sx = seeds[b, 0], seeds[b, 1]
        assert (mask[b, 0][sy, sx] == 0).all()  # every seed is a known pixel
        ys, xs = torch.meshgrid(torch.arange(size[0]), torch.arange(size[1]), indexing="ij")
        found = ((sy - ys) ** 2 + (sx - xs) ** 2).float().sqrt()
        exact = torch.from_numpy(ndimage.distance_transform_edt(mask[b, 0].numpy() > 0)).float()
        assert (found <= exact + 1.5).all()  # jump flooding is approximate, but only just
        assert (found <= exact + 1e-4).float().mean() > 0.85


def test_nearest_fill_copies_known_colours_and_keeps_known_pixels():
    g = torch.Generator().manual_seed(2)
    image = torch.rand(1, 3, 20, 24, generator=g)
    mask = torch.zeros(1, 1, 20, 24)
    mask[..., 4:15, 6:20] = 1
    out = nearest_fill(image, mask)
    assert torch.equal(out * (1 - mask), image * (1 - mask))
    known = image[0].permute(1, 2, 0)[mask[0, 0] == 0]  # (K, 3)
    filled = out[0].permute(1, 2, 0)[mask[0, 0] == 1]  # (M, 3)
    dists = torch.cdist(filled, known, compute_mode="donot_use_mm_for_euclid_dist")
    assert (dists.min(dim=1).values == 0).all()  # each is exactly some known colour
    # the pixel just inside the hole's left edge takes the colour just outside it
    torch.testing.assert_close(out[0, :, 9, 6], image[0, :, 9, 5])
    scrambled = torch.where(mask.bool(), torch.rand_like(image), image)
    assert torch.equal(nearest_fill(scrambled, mask), out)


def test_nearest_fill_edge_cases():
    image = torch.rand(1, 3, 9, 7)
    assert torch.equal(nearest_fill(image, torch.zeros(1, 1, 9, 7)), image)
    torch.testing.assert_close(nearest_fill(image, torch.ones(1, 1, 9, 7)), torch.full_like(image, 0.5))
    mask = (torch.rand(1, 1, 9, 7) > 0.5).float()
    mask[..., 0, 0] = 0
    const = torch.full((1, 3, 9, 7), 0.7)
    assert torch.equal(nearest_fill(const, mask), const)


def test_fade_fill_is_nearest_at_the_edge_and_pyramid_deep_inside():
    image, mask = _batch()
    hole = mask.bool().expand_as(image)
    torch.testing.assert_close(fade_fill(image, mask, length=1e-3)[hole], pyramid_fill(image, mask)[hole])
    torch.testing.assert_close(fade_fill(image, mask, length=1e9)[hole], nearest_fill(image, mask)[hole])
    # in between, every hole pixel lies between the two (a per-pixel blend), nearer nearest at the edge
    near, smooth, out = nearest_fill(image, mask), pyramid_fill(image, mask), fade_fill(image, mask, length=4.0)
    lo, hi = torch.minimum(near, smooth), torch.maximum(near, smooth)
    assert ((out >= lo - 1e-6) & (out <= hi + 1e-6)).all()
    edge, centre = (0, slice(None), 6, 13), (0, slice(None), 11, 13)  # first hole row, 5 px in
    assert (out[edge] - near[edge]).abs().max() < (out[centre] - near[centre]).abs().max()


def test_fade_fill_has_no_wedges_where_nearest_and_hybrid_do():
    """Four sides of four colours around a 100-px box: the nearest fill meets in an X of sharp edges across
    the hole (what hybrid keeps at half strength); three lengths in, the fade fill is smooth."""
    image = torch.zeros(1, 3, 120, 120)
    image[0, 0, :10], image[0, 1, 110:], image[0, 2, :, :10], image[0, :2, :, 110:] = 1, 1, 1, 1  # R, G, B, yellow
    mask = torch.zeros(1, 1, 120, 120)
    mask[..., 10:110, 10:110] = 1

    def steepest(fill):  # the largest colour step between neighbours >= 30 px into the hole
        inner = fill[..., 40:80, 40:80]
        return max(inner.diff(dim=-1).abs().max(), inner.diff(dim=-2).abs().max()).item()

    assert steepest(nearest_fill(image, mask)) > 0.9  # a wedge's edge: one side's colour to another's
    assert steepest(hybrid_fill(image, mask)) > 0.45
    assert steepest(fade_fill(image, mask, length=10.0)) < 0.1


def test_fade_fill_weighs_the_nearest_colour_by_exp_minus_distance_over_length():
    """A hole of whole columns, x >= 10: the nearest known pixel is d = x - 9 px away (jump flooding finds one
    within 1.5 px of it), so the nearest colour's weight lies in [exp(-(d + 1.5) / L), exp(-d / L)]."""
    g = torch.Generator().manual_seed(3)
    image = torch.rand(1, 3, 12, 40, generator=g)
    mask = torch.zeros(1, 1, 12, 40)
    mask[..., 10:] = 1
    near, smooth, out = nearest_fill(image, mask), pyramid_fill(image, mask), fade_fill(image, mask, length=6.0)
    apart = (near - smooth).abs() > 0.05
    weight = ((out - smooth) / (near - smooth))[apart]  # the blend's weight where it is well defined
    d = torch.arange(40.0).sub(9).view(1, 1, 1, 40).expand_as(out)[apart]
    assert (d > 0).all() and (d > 20).any()
    assert ((weight >= torch.exp(-(d + 1.5) / 6.0) - 1e-4) & (weight <= torch.exp(-d / 6.0) + 1e-4)).all()


def test_fade_fill_keeps_the_dtype_refuses_a_bad_length_and_shares_the_pyramid(monkeypatch):
    image, mask = _batch()
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        out = fade_fill(image.to(dtype), mask.to(dtype))
        assert out.dtype == dtype
        torch.testing.assert_close(out.float(), fade_fill(image, mask), atol=2e-2, rtol=0)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="length must be > 0"):
            fade_fill(image, mask, length=bad)
    want = {"nearest": nearest_fill(image, mask), "pyramid": pyramid_fill(image, mask), "fade": fade_fill(image, mask)}
    import inpaint.start_fills as start_fills

    calls = []
    real_pyramid, real_seeds = FILLS["pyramid"], start_fills.nearest_known
    monkeypatch.setitem(FILLS, "pyramid", lambda i, m: calls.append("pyramid") or real_pyramid(i, m))
    monkeypatch.setattr(start_fills, "nearest_known", lambda m: calls.append("seeds") or real_seeds(m))
    got = compute_fills(["nearest", "pyramid", "fade"], image, mask)  # what a model on fade is shown, and its base
    assert sorted(calls) == ["pyramid", "seeds"]  # one pyramid, one jump flood for all three
    for name, fill in want.items():
        assert torch.equal(got[name], fill)
