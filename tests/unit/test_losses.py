"""Losses: known values on hand-made tensors, empty regions, gradients."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from inpaint.losses import (
    ADVERSARIAL_KINDS,
    d_loss,
    diversity_loss,
    g_adv_loss,
    gram_matrix,
    kl_loss,
    l1_loss,
    lattice_loss,
    perceptual_loss,
    perceptual_style_loss,
    r1_penalty,
    style_loss,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors gain nothing from threads; on a busy shared machine spinning OpenMP threads stall."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class RandomConvStack(nn.Module):
    """Stand-in for the VGG16 extractor: three random conv + ReLU stages, one feature map each."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        shapes = [(3, 8, 1), (8, 16, 2), (16, 16, 2)]  # (in, out, stride)
        self.stages = nn.ModuleList([nn.Sequential(nn.Conv2d(a, b, 3, stride=s, padding=1), nn.ReLU()) for a, b, s in shapes])
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


@pytest.fixture
def extractor() -> RandomConvStack:
    return RandomConvStack()


def images(seed: int = 0, n: int = 2, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g), torch.rand(n, 3, size, size, generator=g)


def check_logs(logs: dict) -> None:
    assert logs and all(isinstance(v, float) and math.isfinite(v) for v in logs.values())


# ---------------------------------------------------------------------------------------------
# Adversarial


def test_hinge_known_values():
    real = torch.tensor([2.0, 0.5, -1.0])
    fake = torch.tensor([-2.0, 0.0, 1.0])
    value, logs = d_loss(real, fake, "hinge")
    # relu(1 - real) = [0, 0.5, 2] -> 5/6; relu(1 + fake) = [0, 1, 2] -> 1
    assert value.item() == pytest.approx(5 / 6 + 1)
    assert logs["d_real"] == pytest.approx(0.5) and logs["d_fake"] == pytest.approx(-1 / 3)
    value, logs = g_adv_loss(fake, "hinge")
    assert value.item() == pytest.approx(1 / 3)
    check_logs(logs)


def test_nonsaturating_known_values():
    zeros = torch.zeros(4)
    assert d_loss(zeros, zeros, "nonsaturating")[0].item() == pytest.approx(2 * math.log(2))
    assert g_adv_loss(zeros, "nonsaturating")[0].item() == pytest.approx(math.log(2))
    # a confident, correct discriminator has a small loss
    assert d_loss(torch.full((4,), 10.0), torch.full((4,), -10.0), "nonsaturating")[0].item() < 1e-4


@pytest.mark.parametrize("kind", ADVERSARIAL_KINDS)
def test_generator_loss_falls_as_fakes_look_real(kind):
    assert g_adv_loss(torch.full((3,), 2.0), kind)[0] < g_adv_loss(torch.full((3,), -2.0), kind)[0]


def test_unknown_adversarial_kind_raises():
    with pytest.raises(ValueError, match="hinge"):
        d_loss(torch.zeros(1), torch.zeros(1), "wgan")
    with pytest.raises(ValueError, match="hinge"):
        g_adv_loss(torch.zeros(1), "lsgan")


def test_r1_of_a_linear_discriminator_is_the_squared_weight_norm():
    weight = torch.arange(12, dtype=torch.float32).reshape(1, 3, 2, 2) / 10
    real = torch.rand(2, 3, 2, 2).requires_grad_(True)
    logits = (real * weight).sum(dim=(1, 2, 3))  # gradient = weight for every image
    value, logs = r1_penalty(logits, real)
    assert value.item() == pytest.approx(weight.pow(2).sum().item())
    check_logs(logs)


def test_r1_is_differentiable_through_a_spectral_norm_discriminator():
    from inpaint.models import build_discriminator

    disc = build_discriminator("patchgan", width=4, depth=2, max_width=8)
    real = torch.rand(2, 3, 16, 16).requires_grad_(True)
    value, _ = r1_penalty(disc(real, torch.zeros(2, 1, 16, 16)), real)
    value.backward()
    assert value.item() > 0 and disc.head.parametrizations.weight.original.grad.abs().sum() > 0


def test_r1_without_requires_grad_raises():
    with pytest.raises(ValueError, match="requires_grad"):
        r1_penalty(torch.zeros(2, requires_grad=True), torch.zeros(2, 3, 2, 2))


# ---------------------------------------------------------------------------------------------
# Content


def test_l1_known_values():
    pred = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    value, logs = l1_loss(pred, target, mask, hole_weight=2.0, valid_weight=0.5)
    assert logs["l1_hole"] == pytest.approx(1.0)
    assert logs["l1_valid"] == pytest.approx(3.0)  # (2 + 3 + 4) / 3
    assert value.item() == pytest.approx(2.0 * 1.0 + 0.5 * 3.0)


def test_l1_normalises_over_channels_and_batch():
    pred, target = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.25)
    mask = torch.zeros(2, 1, 4, 4)
    mask[0, :, :2] = 1
    _, logs = l1_loss(pred, target, mask)
    assert logs["l1_hole"] == pytest.approx(0.25) and logs["l1_valid"] == pytest.approx(0.25)


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_l1_with_an_empty_region_is_finite_with_finite_gradients(fill):
    pred = torch.rand(2, 3, 4, 4, requires_grad=True)
    target = torch.rand(2, 3, 4, 4)
    mask = torch.full((2, 1, 4, 4), fill)
    value, logs = l1_loss(pred, target, mask)
    value.backward()
    empty = "l1_hole" if fill == 0.0 else "l1_valid"
    assert logs[empty] == 0.0 and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------
# Perceptual and style


def test_gram_of_a_known_tensor():
    feat = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / (2 * 1 * 2)
    torch.testing.assert_close(gram_matrix(feat), expected)


def test_perceptual_and_style_of_identical_images_are_zero(extractor):
    x, _ = images()
    assert perceptual_loss(x, x, extractor)[0].item() == pytest.approx(0.0, abs=1e-6)
    assert style_loss(x, x, extractor)[0].item() == pytest.approx(0.0, abs=1e-9)


def test_perceptual_known_values_with_an_identity_extractor():
    pred = torch.zeros(1, 3, 2, 2)
    target = torch.zeros(1, 3, 2, 2)
    pred[:, 0], target[:, 1] = 1.0, 2.0  # unit vectors e0 and e1 at every pixel after normalising
    identity = lambda x: [x]  # noqa: E731
    assert perceptual_loss(pred, target, identity)[0].item() == pytest.approx(2.0)  # |e0 - e1|^2
    raw = perceptual_loss(pred, target, identity, normalize=False)[0].item()
    assert raw == pytest.approx((1.0 + 2.0) / 3)  # mean |pred - target| over 3 channels


def test_perceptual_accepts_dict_features_and_layer_weights(extractor):
    x, y = images()
    as_dict = lambda img: {f"l{i}": f for i, f in enumerate(extractor(img))}  # noqa: E731
    v_list = perceptual_loss(x, y, extractor, layer_weights=[1.0, 0.0, 0.0])[0]
    v_dict = perceptual_loss(x, y, as_dict, layer_weights=[1.0, 0.0, 0.0])[0]
    torch.testing.assert_close(v_list, v_dict)
    with pytest.raises(ValueError, match="layer_weights"):
        perceptual_loss(x, y, extractor, layer_weights=[1.0])


def test_perceptual_grows_with_distortion(extractor):
    x, noise = images()
    small = perceptual_loss((x + 0.05 * noise).clamp(0, 1), x, extractor)[0]
    large = perceptual_loss((x + 0.5 * noise).clamp(0, 1), x, extractor)[0]
    assert 0 < small < large


def test_combined_loss_equals_its_parts_and_only_pred_gets_gradients(extractor):
    x, y = images()
    pred = x.clone().requires_grad_(True)
    target = y.clone().requires_grad_(True)
    value, logs = perceptual_style_loss(pred, target, extractor, perceptual_weight=0.5, style_weight=3.0)
    expected = 0.5 * perceptual_loss(x, y, extractor)[0] + 3.0 * style_loss(x, y, extractor)[0]
    torch.testing.assert_close(value, expected)
    value.backward()
    assert pred.grad.abs().sum() > 0 and target.grad is None
    assert set(logs) == {"perceptual", "style"}
    check_logs(logs)


# ---------------------------------------------------------------------------------------------
# KL


def test_kl_of_identical_gaussians_is_zero():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(2, 4, 3, 3, generator=g), torch.randn(2, 4, 3, 3, generator=g)
    value, logs = kl_loss(mu, logvar, mu.clone(), logvar.clone())
    assert value.item() == pytest.approx(0.0, abs=1e-6)
    assert kl_loss(torch.zeros(3), torch.zeros(3))[0].item() == 0.0  # N(0, 1) against the default N(0, I)
    check_logs(logs)


def test_kl_hand_computed_cases():
    # KL(N(1, 1) || N(0, 1)) = 1/2 * mu^2 = 0.5
    assert kl_loss(torch.ones(1), torch.zeros(1))[0].item() == pytest.approx(0.5)
    # KL(N(0, 4) || N(0, 1)) = 1/2 * (4 - 1 - ln 4)
    assert kl_loss(torch.zeros(1), torch.tensor([math.log(4.0)]))[0].item() == pytest.approx(0.5 * (3 - math.log(4)))
    # KL(N(0, 1) || N(1, e^2)) = 1/2 * (2 + (1 + 1) / e^2 - 1)
    value = kl_loss(torch.zeros(1), torch.zeros(1), torch.ones(1), torch.full((1,), 2.0))[0].item()
    assert value == pytest.approx(0.5 * (1 + 2 / math.e**2))


def test_kl_per_image_sums_over_latent_elements():
    _, logs = kl_loss(torch.ones(2, 3, 2, 2), torch.zeros(2, 3, 2, 2))
    assert logs["kl"] == pytest.approx(0.5) and logs["kl_per_image"] == pytest.approx(0.5 * 12)


def test_diversity_loss_hinges_on_the_spread_inside_the_hole():
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1  # the top half is the hole
    a = torch.zeros(1, 3, 4, 4)
    b = a.clone()
    b[..., 2:, :] = 1.0  # differs outside the hole only: no spread
    value, logs = diversity_loss(torch.stack([a, b]), mask, margin=0.1)
    assert value.item() == pytest.approx(0.1) and logs["sample_spread"] == 0
    b[..., :2, :] = 0.04  # differs by 0.04 inside: 0.06 short of the margin
    value, logs = diversity_loss(torch.stack([a, b]), mask, margin=0.1)
    assert value.item() == pytest.approx(0.06) and logs["sample_spread"] == pytest.approx(0.04)
    b[..., :2, :] = 0.5  # beyond the margin: no push
    assert diversity_loss(torch.stack([a, b]), mask, margin=0.1)[0].item() == 0
    with pytest.raises(ValueError, match="2, N, 3, H, W"):
        diversity_loss(a, mask, 0.1)


def test_pooled_diversity_ignores_pixel_noise_and_counts_regional_differences():
    mask = torch.ones(1, 1, 8, 8)
    a = torch.full((1, 3, 8, 8), 0.5)
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None]) % 2 * 2 - 1.0  # +-1 alternating pixels
    noisy = a + 0.2 * checker  # differs from a by 0.2 everywhere, but only as pixel-scale noise
    assert diversity_loss(torch.stack([a, noisy]), mask, 0.1)[1]["sample_spread"] == pytest.approx(0.2)
    value, logs = diversity_loss(torch.stack([a, noisy]), mask, 0.1, pool=4)
    assert logs["sample_spread"] == pytest.approx(0, abs=1e-6) and value.item() == pytest.approx(0.1)
    shifted = a + 0.2  # a different colour for the whole region: the kind of difference that counts
    assert diversity_loss(torch.stack([a, shifted]), mask, 0.1, pool=4)[1]["sample_spread"] == pytest.approx(0.2)
    half = torch.zeros_like(mask)
    half[..., :, :4] = 1  # a hole covering half of each 8x8 cell: spread is still per hole pixel
    assert diversity_loss(torch.stack([a, shifted]), half, 0.1, pool=8)[1]["sample_spread"] == pytest.approx(0.2)


def _lattice_case(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(2, 3, 64, 64, generator=g)
    mask = torch.zeros(2, 1, 64, 64)
    mask[..., 8:56, 8:56] = 1
    noise = 0.1 * torch.randn(2, 3, 64, 64, generator=g)
    grid = torch.zeros(64, 64)
    grid[::8, :] = 1  # a line every 8 rows and columns: the lattice stride-2 upsampling draws
    grid[:, ::8] = 1
    return target, mask, noise, grid


def test_lattice_loss_is_about_one_for_irregular_error_and_large_for_a_grid():
    target, mask, noise, grid = _lattice_case()
    irregular, logs = lattice_loss(target + noise, target, mask)
    assert irregular.item() == pytest.approx(1, abs=0.3) and logs["lattice"] == pytest.approx(irregular.item())
    rms = noise.square().mean().sqrt()
    lattice = grid / grid.square().mean().sqrt() * rms  # the same error energy, all of it on the grid
    assert lattice_loss(target + lattice, target, mask)[0].item() > 20
    outside = target + lattice * (1 - mask)  # a grid outside the hole is not the fill's
    assert lattice_loss(outside + noise * mask, target, mask)[0].item() == pytest.approx(irregular.item(), rel=0.3)
    from inpaint.lattice import lattice  # the score the bench and the model card report: the same statistic
    pred = target + noise + 0.02 * grid
    nhwc = lambda t: t.permute(0, 2, 3, 1).numpy()  # noqa: E731
    assert lattice_loss(pred, target, mask)[0].item() == pytest.approx(
        lattice(nhwc(pred), nhwc(target), mask[:, 0].numpy() > 0), rel=1e-4)
    with pytest.raises(ValueError, match="60x64 px are not multiples of the period 8"):
        lattice_loss(target[..., :60, :], target[..., :60, :], mask[..., :60, :])


def test_lattice_loss_gradient_lowers_the_grid_and_not_the_rest_of_the_error():
    target, mask, noise, grid = _lattice_case(1)
    pred = (target + noise + 0.05 * grid).requires_grad_(True)
    value, _ = lattice_loss(pred, target, mask)
    value.backward()
    stepped = (pred - 1.0 * pred.grad).detach()  # one gradient step (the flat power held, it is quadratic)
    assert lattice_loss(stepped, target, mask)[0].item() < 0.5 * value.item()
    change = (stepped - pred.detach())[:, :, 8:56, 8:56].mean(1)  # the step, grey, in the hole
    spectrum = torch.fft.fft2(change).abs().square().mean(0)  # 48 x 48: harmonics every 6 bins
    harmonics = spectrum[::6, ::6].sum()
    assert harmonics > 0.9 * spectrum.sum()  # the step moved (almost) nothing but the grid's harmonics
    assert pred.grad[mask.expand_as(pred) == 0].abs().max().item() == 0  # nor anything outside the hole


def test_lattice_loss_pools_the_batch_so_a_nearly_right_crop_does_not_take_over():
    target, mask, noise, grid = _lattice_case(2)
    pred = target + noise + 0.05 * grid
    pred[1] = target[1] + 1e-4 * noise[1]  # one crop's hole is almost right
    pred.requires_grad_(True)
    lattice_loss(pred, target, mask)[0].backward()
    assert pred.grad[1].abs().max() < 0.01 * pred.grad[0].abs().max()
    empty = torch.zeros_like(mask)
    assert lattice_loss(pred.detach(), target, empty)[0].item() == 0  # no hole: nothing to measure
