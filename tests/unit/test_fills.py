"""The parameter-free fills: registry, contract, shared parts, and their use as baselines."""
import numpy as np
import pytest
import torch

from inpaint.baselines import BASELINES
from inpaint.fills import FILLS, MEAN_OF, compute_fills, get_fill
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
