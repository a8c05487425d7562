"""Metric registry: known values, conventions cross-checked with skimage, batching and edge cases."""
import math
import socket

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inpaint import metrics as M
from inpaint.metrics import METRICS, compute, get_metric


# Every metric runs here: `make test` provisions the LPIPS weights first (a missing cache fails, never skips).
NAMES = sorted(METRICS)
# Value of a perfect prediction: PSNR's eps caps identical images at 10 log10(1 / 1e-8) = 80 dB.
PERFECT = {"psnr": 80.0, "ssim": 1.0, "lpips": 0.0, "lpips_vgg": 0.0, "hole_psnr": 80.0, "hole_l1": 0.0}


def _batch(n=3, h=40, w=36, seed=0):
    """Seeded smooth-ish images in [0, 0.9] (room for a +0.1 offset) and a box hole per image."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, h // 4, w // 4, generator=g)
    target = 0.9 * torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    mask = torch.zeros(n, 1, h, w)
    mask[:, :, 8:24, 6:22] = 1
    return target, mask


def _noisy(target, mask, sigma, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (target + sigma * mask * torch.randn(target.shape, generator=g)).clamp(0, 1)


def test_every_metric_has_the_report_fields():
    for name, m in METRICS.items():
        assert m.name == name and isinstance(m.higher_is_better, bool) and len(m.description) > 40
    assert set(PERFECT) == set(METRICS)  # a new entry must add its perfect value above


@pytest.mark.parametrize("name", NAMES)
def test_identical_images_score_perfect(name):
    target, mask = _batch()
    out = compute([name], target, target, mask)[name]
    assert out.shape == (3,) and out.dtype == np.float64
    np.testing.assert_allclose(out, PERFECT[name], atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_more_error_in_the_hole_scores_worse(name):
    target, mask = _batch()
    small = compute([name], _noisy(target, mask, 0.03), target, mask)[name]
    large = compute([name], _noisy(target, mask, 0.3), target, mask)[name]
    better = small > large if get_metric(name).higher_is_better else small < large
    assert better.all(), (small, large)


@pytest.mark.parametrize("name", NAMES)
def test_batch_equals_per_item(name):
    target, mask = _batch(n=4)
    pred = _noisy(target, mask, 0.1)
    whole = compute([name], pred, target, mask)[name]
    single = [compute([name], pred[i : i + 1], target[i : i + 1], mask[i : i + 1])[name] for i in range(4)]
    single = np.concatenate(single)
    np.testing.assert_allclose(whole, single, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_values_lie_in_range(name):
    target, mask = _batch()
    out = compute([name], _noisy(target, mask, 0.5), target, mask)[name]
    low, high = {"psnr": (0, 80), "hole_psnr": (0, 80), "ssim": (0, 1), "lpips": (0, 1), "lpips_vgg": (0, 1),
                 "hole_l1": (0, 1)}[name]
    assert np.isfinite(out).all() and (out >= low).all() and (out <= high).all()


@pytest.mark.parametrize("name", NAMES)
def test_pixels_outside_the_hole_are_taken_from_the_target(name):
    target, mask = _batch()
    pred = _noisy(target, mask, 0.2)
    garbage = torch.where(mask.bool(), pred, torch.rand(target.shape, generator=torch.Generator().manual_seed(5)))
    np.testing.assert_allclose(compute([name], garbage, target, mask)[name], compute([name], pred, target, mask)[name])


def test_psnr_of_a_constant_offset_is_20_db():
    target, mask = _batch()
    full = torch.ones_like(mask)
    out = compute(["psnr", "hole_psnr", "hole_l1"], target + 0.1, target, full)
    np.testing.assert_allclose(out["psnr"], 20.0, atol=1e-4)  # 10 log10(1 / 0.1^2)
    np.testing.assert_allclose(out["hole_psnr"], 20.0, atol=1e-4)
    np.testing.assert_allclose(out["hole_l1"], 0.1, atol=1e-6)


def test_hole_psnr_sees_only_the_hole():
    target, mask = _batch()
    pred = target + 0.1 * mask  # differs only inside the hole
    out = compute(["psnr", "hole_psnr", "hole_l1"], pred, target, mask)
    frac = mask.mean().item()  # 16 * 16 / (40 * 36)
    np.testing.assert_allclose(out["hole_psnr"], 20.0, atol=1e-4)
    np.testing.assert_allclose(out["hole_l1"], 0.1, atol=1e-6)
    # Full-image MSE is the hole MSE times the hole fraction.
    np.testing.assert_allclose(out["psnr"], 20.0 - 10 * math.log10(frac), atol=1e-3)
    assert (out["hole_psnr"] < out["psnr"]).all()


def test_hole_metrics_are_nan_without_a_hole():
    target, _ = _batch()
    pred = (target + 0.1).clamp(0, 1)
    out = compute(["psnr", "hole_psnr", "hole_l1"], pred, target, torch.zeros(3, 1, 40, 36))
    assert np.isnan(out["hole_psnr"]).all() and np.isnan(out["hole_l1"]).all()
    # Without a hole the composite is the target itself.
    np.testing.assert_allclose(out["psnr"], 80.0)


def test_psnr_and_ssim_match_skimage_conventions():
    """RGB PSNR on floats; SSIM per channel on 8-bit values, Gaussian window, population covariance."""
    target, mask = _batch(n=2)
    pred = _noisy(target, torch.ones_like(mask), 0.05)  # correlated, as an inpainting is
    out = compute(["psnr", "ssim"], pred, target, torch.ones_like(mask))
    for i in range(2):
        a, b = target[i].permute(1, 2, 0).numpy(), pred[i].permute(1, 2, 0).numpy()
        assert out["psnr"][i] == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), abs=1e-4)
        a8, b8 = np.round(a * 255), np.round(b * 255)
        sk = structural_similarity(a8, b8, data_range=255, channel_axis=-1, gaussian_weights=True,
                                   sigma=1.5, use_sample_covariance=False)
        assert out["ssim"][i] == pytest.approx(sk, abs=1e-5)


def test_pyiqa_metrics_are_built_once_and_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    import pyiqa

    built = []
    real = pyiqa.create_metric
    monkeypatch.setattr(pyiqa, "create_metric", lambda *a, **kw: built.append((a, kw.get("test_y_channel"))) or real(*a, **kw))
    M._pyiqa.cache_clear()
    target, mask = _batch(n=1)
    for _ in range(3):
        compute(["psnr", "ssim"], target, target, mask)
    assert built == [(("psnr",), False)]  # once, on RGB (not pyiqa's luma default); SSIM calls pyiqa's function directly


def test_ssim_matches_pyiqa_metric_module():
    torch.manual_seed(0)
    a = torch.rand(3, 3, 48, 40, dtype=torch.float32)
    b = (a + 0.1 * torch.randn_like(a)).clamp(0, 1)
    import pyiqa

    ref = pyiqa.create_metric("ssim", device=torch.device("cpu"), test_y_channel=False)(b, a)  # float64, RGB
    ours = torch.from_numpy(compute(["ssim"], b, a, torch.ones(3, 1, 48, 40))["ssim"])  # an all-hole mask: b as it is
    assert torch.allclose(ours.double(), ref.double(), atol=1e-6)


def test_bad_inputs_raise():
    target, mask = _batch(n=2)
    with pytest.raises(ValueError, match="known"):
        compute(["psnr", "nope"], target, target, mask)
    with pytest.raises(ValueError, match=r"\(2, 40, 36\).*\(2, 3, 40, 36\)"):
        compute(["psnr"], target, target, mask[:, 0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        compute(["psnr"], target, target * 2 + 0.5, mask)
    with pytest.raises(ValueError, match="at least 11 px"):
        compute(["ssim"], target[..., :8], target[..., :8], mask[..., :8])


def test_prediction_overshoot_is_clamped():
    target, mask = _batch(n=1)
    over = target + 5 * mask  # a generator overshooting in the hole
    clipped = over.clamp(0, 1)
    np.testing.assert_allclose(compute(["hole_l1"], over, target, mask)["hole_l1"],
                               compute(["hole_l1"], clipped, target, mask)["hole_l1"])


def test_compute_returns_every_requested_metric_in_order():
    target, mask = _batch(n=2)
    out = compute(NAMES, _noisy(target, mask, 0.1), target, mask)
    assert list(out) == NAMES and all(v.shape == (2,) for v in out.values())


def test_validation_scores_carry_their_standard_error():
    from inpaint.metrics import mean_scores

    g = torch.Generator().manual_seed(0)
    target = torch.rand(5, 3, 16, 16, generator=g)
    pred = (target + 0.1 * torch.rand(5, 3, 16, 16, generator=g)).clamp(0, 1)
    mask = torch.zeros(5, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    mask[4] = 0  # no hole: hole_l1 is NaN there and left out
    per_image = torch.as_tensor(compute(["hole_l1"], pred, target, mask)["hole_l1"][:4]).double()
    out = mean_scores(["hole_l1"])(pred, target, mask)
    assert out["hole_l1"] == pytest.approx(float(per_image.mean()))
    assert out["hole_l1_se"] == pytest.approx(float(per_image.std() / 2))  # sqrt(4 scored images)
    crops = out["per_crop"]["hole_l1"]  # every crop, in order, for training's paired comparison
    assert len(crops) == 5 and np.isnan(crops[4]) and crops[:4] == pytest.approx(per_image.tolist())
