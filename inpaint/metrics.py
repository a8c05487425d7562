"""Metric registry: full-reference scores of an inpainted image against its original.

Every metric sees the composited prediction `mask * pred + (1 - mask) * target` (known pixels are
the target's), as float RGB NCHW tensors in [0, 1] at the evaluation resolution, and returns one
value per image. `compute` is the batched entry point; PSNR/SSIM come from pyiqa and LPIPS from
`inpaint.perceptual`, each built once per device and cached.

Conventions, decided here once (pyiqa's own defaults differ per metric):
- Colour: RGB everywhere, never luma. pyiqa's 'ssim' defaults to test_y_channel=True (Y of YIQ);
  we pass test_y_channel=False. pyiqa's 'psnr' already defaults to RGB; we pass it explicitly too.
- PSNR = 10 log10(1 / (MSE + 1e-8)) on [0, 1] values (pyiqa's eps), so identical images score
  80 dB rather than inf; hole_psnr uses the same formula so the two are comparable.
- SSIM (pyiqa) quantises each channel to 8 bits (round(x * 255), data range 255), uses an 11x11
  Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, the valid region only (no padding, so
  images need >= 11 px a side), no downsampling, clamps the contrast-structure term at 0 and
  averages over channels and positions. Versus skimage.metrics.structural_similarity(
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1)
  on the same 8-bit images it differs only where that clamp bites (anti-correlated windows).
- Hole metrics weight pixels by the mask (binary masks: hole pixels only) over all 3 channels and
  are NaN for an image without a hole; the report's aggregation leaves NaN out of means and n.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

# The headline: the report's and the model card's metrics (whole image, composited), and what `inpaint
# score` gives by default; with masks it adds the hole-only ones. LARGE_HOLES: the headline's second
# column, pairs with at least 30% of the image in the hole.
HEADLINE_METRICS = ("lpips", "psnr", "ssim")
HOLE_METRICS = ("hole_psnr", "hole_l1")
LARGE_HOLES = 0.3
LARGE_HOLES_LABEL = f">= {LARGE_HOLES:.0%}"  # how reports name that range: ">= 30%" ...
LARGE_HOLES_SUFFIX = f"_{round(LARGE_HOLES * 100)}"  # ... and its keys: lpips_30, diversity_30

# PSNR's MSE floor: pyiqa's eps, so identical images give 10 log10(1 / 1e-8) = 80 dB everywhere.
PSNR_EPS = 1e-8

MetricFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.device], torch.Tensor]


@dataclass(frozen=True)
class Metric:
    """A registered metric: fn(pred, target, mask, device) -> (N,) on composited NCHW [0, 1] input."""

    name: str
    fn: MetricFn
    higher_is_better: bool
    description: str
    min_side: int = 1  # smallest image side the metric is defined for


# ---------------------------------------------------------------------------------------------
# Cached scorers (built once per device: pyiqa metrics and LPIPS are modules with buffers/weights)


@functools.cache
def _pyiqa(name: str, device: str) -> torch.nn.Module:
    import pyiqa  # slow to import (~3 s), so only when PSNR/SSIM are asked for

    # Neither metric has weights, so nothing is downloaded; RGB set explicitly (see module doc).
    return pyiqa.create_metric(name, device=torch.device(device), test_y_channel=False)


def _psnr(pred, target, mask, device):
    return _pyiqa("psnr", str(device))(pred, target).reshape(-1)  # (N,)


def _ssim(pred, target, mask, device):
    # pyiqa's own ssim() with its 'ssim' metric's preprocessing (8-bit rounding, data range 255),
    # run in float32: the metric module casts to float64, ~15x slower on CPU, and agrees to ~1e-7.
    from pyiqa.archs.ssim_arch import preprocess_rgb, ssim

    x = preprocess_rgb(pred, False, 255, "rgb").float()  # (N, 3, H, W) in [0, 255], rounded
    y = preprocess_rgb(target, False, 255, "rgb").float()
    return ssim(x, y, data_range=255).reshape(-1)  # (N,)


def _lpips(net: str):
    def fn(pred, target, mask, device):
        # Lazy: needs the provisioned weights cache; lpips_model builds once per device and caches.
        from inpaint.perceptual import lpips_model

        return lpips_model(net=net, device=device)(pred, target).reshape(-1)  # (N,)

    return fn


def _hole_mean(err: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mask-weighted mean of a per-pixel, per-channel error (N, 3, H, W); NaN where no hole."""
    err, mask = err.double(), mask.double()
    num = (err * mask).sum(dim=(1, 2, 3))  # (N,)  mask (N, 1, H, W) broadcasts over channels
    den = mask.sum(dim=(1, 2, 3)) * err.shape[1]  # (N,)
    return torch.where(den > 0, num / den.clamp_min(1e-12), torch.full_like(num, float("nan")))


def _hole_psnr(pred, target, mask, device):
    mse = _hole_mean((pred - target) ** 2, mask)  # (N,)
    return 10.0 * torch.log10(1.0 / (mse + PSNR_EPS))


def _hole_l1(pred, target, mask, device):
    return _hole_mean((pred - target).abs(), mask)  # (N,)


# ---------------------------------------------------------------------------------------------
# Registry

METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric(
            "psnr",
            _psnr,
            True,
            "PSNR (dB) of the whole composited image, RGB (3 channels, no luma), values in [0, 1]: "
            "10 log10(1 / (MSE + 1e-8)), so identical images score 80 dB (pyiqa 'psnr').",
        ),
        Metric(
            "ssim",
            _ssim,
            True,
            "SSIM of the whole composited image, RGB per channel on 8-bit values (data range 255), "
            "11x11 Gaussian window sigma 1.5, K1 0.01, K2 0.03, no padding, no downsampling, mean "
            "over channels and positions; 1 = identical (pyiqa 'ssim', test_y_channel=False).",
            min_side=11,  # 11x11 window over the valid region only
        ),
        Metric(
            "lpips",
            _lpips("alex"),
            False,
            "LPIPS v0.1 perceptual distance (AlexNet trunk and linear heads, inputs mapped to "
            "[-1, 1], spatial average) between the composited image and the original at full "
            "resolution; 0 = identical.",
            min_side=32,  # the AlexNet trunk's receptive field
        ),
        Metric(
            "lpips_vgg",
            _lpips("vgg"),
            False,
            "LPIPS v0.1 with the VGG16 trunk and its linear heads (otherwise as lpips): a second "
            "perceptual judge, independent of a model trained with AlexNet features.",
            min_side=16,
        ),
        Metric(
            "hole_psnr",
            _hole_psnr,
            True,
            "PSNR (dB) over hole pixels only: MSE over the 3 RGB channels of the pixels with "
            "mask 1, same formula and 80 dB ceiling as psnr; NaN (left out) when there is no hole.",
        ),
        Metric(
            "hole_l1",
            _hole_l1,
            False,
            "Mean absolute error over hole pixels only, 3 RGB channels, in [0, 1] units "
            "(x 255 for 8-bit levels); NaN (left out) when there is no hole.",
        ),
    ]
}

def get_metric(name: str) -> Metric:
    """The metric registered as `name`; ValueError lists the known names."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; known: {sorted(METRICS)}")
    return METRICS[name]


def directions(names: list[str]) -> dict[str, bool]:
    """{name: higher_is_better} for the report."""
    return {n: get_metric(n).higher_is_better for n in names}


def descriptions(names: list[str]) -> dict[str, str]:
    """{name: one-paragraph description of how it is computed} for the report."""
    return {n: get_metric(n).description for n in names}


PER_CROP = "per_crop"  # the key of a validation result that holds each crop's scores (not a mean)


def mean_scores(names: list[str]) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], dict]:
    """A validation function `(pred, target, mask) -> {name: mean over the batch, name_se: its standard
    error, PER_CROP: {name: each crop's score}}` (NCHW, 1 = hole); unknown names fail here, before any
    training. The per-crop scores let training compare two checkpoints crop by crop (a paired difference,
    whose standard error says whether the validation set can tell them apart)."""
    for n in names:
        get_metric(n)

    def validate(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> dict:
        out, per_crop = {}, {}
        for k, v in compute(names, pred, target, mask).items():
            v = np.asarray(v, dtype=np.float64)
            per_crop[k] = v.tolist()
            v = v[np.isfinite(v)]
            out[k] = float(v.mean()) if len(v) else float("nan")
            out[f"{k}_se"] = float(v.std(ddof=1) / len(v) ** 0.5) if len(v) > 1 else float("nan")
        return {**out, PER_CROP: per_crop}

    return validate


# ---------------------------------------------------------------------------------------------
# Batched entry point


def _check(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
    if pred.ndim != 4 or pred.shape[1] != 3 or pred.shape != target.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must both be RGB (N, 3, H, W)"
        )
    n, _, h, w = target.shape
    if tuple(mask.shape) != (n, 1, h, w):
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match images {tuple(target.shape)}; "
                         f"expected (N, 1, H, W) = {(n, 1, h, w)} with 1 = hole")
    for label, t in (("pred", pred), ("target", target), ("mask", mask)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{label} contains NaN or inf")
    if target.min() < 0 or target.max() > 1:
        raise ValueError(
            f"target values span [{float(target.min()):.4g}, {float(target.max()):.4g}]; "
            "expected float RGB in [0, 1] (divide 8-bit images by 255)"
        )


@torch.no_grad()
def compute(
    names: list[str],
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    device: str | torch.device = "cpu",
) -> dict[str, np.ndarray]:
    """Score a batch with each named metric; returns {name: float64 array (N,)}.

    `pred` is composited with `target` here (a no-op for an already composited prediction) and
    clamped to [0, 1], as writing it to an 8-bit file would.

    Args:
        names: metric names from METRICS, in the order wanted.
        pred: (N, 3, H, W) float RGB in [0, 1], the method's output.
        target: (N, 3, H, W) float RGB in [0, 1], the original.
        mask: (N, 1, H, W) float, 1 = hole.
        device: where the scorers run ("cpu", "cuda", ...).
    """
    metrics = [get_metric(n) for n in names]  # unknown names fail before any work
    _check(pred, target, mask)
    for m in metrics:
        if min(target.shape[-2:]) < m.min_side:
            raise ValueError(f"{m.name} needs images of at least {m.min_side} px a side, "
                             f"got {tuple(target.shape[-2:])}")
    device = torch.device(device)
    target = target.to(device, torch.float32)
    mask = mask.to(device, torch.float32)
    pred = pred.to(device, torch.float32).clamp(0, 1)
    pred = mask * pred + (1 - mask) * target  # (N, 3, H, W)
    return {m.name: m.fn(pred, target, mask, device).double().cpu().numpy() for m in metrics}
