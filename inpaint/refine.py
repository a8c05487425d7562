"""Multi-scale feature refinement: a fill made at a coarse scale, carried up to the work crop's size.

A generator fills best at the scale it learnt; at 2-4x that size a large hole is wider than what its
layers see across, and the fill shows it (the start fill's wedges, a lattice on flat areas). The
refinement of Kulshreshtha et al. 2022 ("Feature refinement to improve high resolution image
inpainting", the refiner LaMa ships) fills an image pyramid from its coarsest level up. At each finer
level the generator runs as usual, and then its bottleneck features (what `encode` returns) are
optimised for a few Adam steps, the weights untouched, so that
- the fill, blurred and halved, matches the coarser level's fill deep inside the hole (the hole eroded,
  at the coarse level, by a disc of `ERODE` px: near the hole's edge the finer level is free), and
- the prediction keeps the known pixels (an L1 term over them).
The layout comes from the scale the model knows, the detail from the full-size pass.

Works with generators split into `encode(image, mask) -> (features, start)` and `decode(features, start)`
(lama). Levels: LaMa's rule, 1 + log2(shorter side / min_side) rounded half up of them, at most `max_scales`,
so a crop whose shorter side is under 1.414 x min_side (363 px at 256) is filled once, as without refinement.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from inpaint.models import pad_to_multiple

ERODE = 15  # px, the disc that shrinks the coarse hole where the coarse fill constrains the finer one
N_ITERS = 15  # Adam steps per finer level (LaMa's refiner)
LR = 0.002  # on the bottleneck features (LaMa's refiner)
MIN_SIDE = 256  # the coarsest level's shorter side is at least this / sqrt(2) (the crops the shipped models learnt on)
MAX_SCALES = 3


def can_refine(model: torch.nn.Module) -> bool:
    """Whether a generator is split into encode and decode (what the refinement optimises between)."""
    return callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None))


def n_levels(height: int, width: int, min_side: int = MIN_SIDE, max_scales: int = MAX_SCALES) -> int:
    """Pyramid levels for a crop of height x width: 1 = fill once, at this size."""
    return max(1, min(1 + math.floor(max(0.0, math.log2(min(height, width) / min_side)) + 0.5), max_scales))


def _blur(x: torch.Tensor) -> torch.Tensor:
    """Gaussian blur, 5 taps, sigma 1 px, reflected borders (before halving, against aliasing)."""
    t = torch.arange(5, dtype=x.dtype, device=x.device) - 2
    g = torch.exp(-t * t / 2)
    g = g / g.sum()
    c = x.shape[1]
    x = F.pad(x, (2, 2, 2, 2), mode="reflect" if min(x.shape[-2:]) > 2 else "replicate")
    x = F.conv2d(x, g.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(x, g.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def down(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Blur and resize to size (h, w): one level down the pyramid."""
    return F.interpolate(_blur(x), size=size, mode="bilinear", align_corners=False)


def down_mask(mask: torch.Tensor, size: tuple[int, int], whole: bool) -> torch.Tensor:
    """A hole mask one level down: a cell is a hole when any pixel it covers is (`whole` False: no hole pixel
    is lost), or only when all are (`whole` True: cells that are hole through and through)."""
    m = F.adaptive_max_pool2d(mask, size) if not whole else -F.adaptive_max_pool2d(-mask, size)
    return (m > 0.5).float()


def erode(mask: torch.Tensor, size: int = ERODE) -> torch.Tensor:
    """Shrink the holes (1) by a disc of diameter `size` px (odd); outside the image counts as hole."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"erode: size={size}; the disc's diameter is an odd number of pixels")
    r = size // 2
    yy, xx = torch.meshgrid(torch.arange(size) - r, torch.arange(size) - r, indexing="ij")
    disc = ((yy * yy + xx * xx) <= r * r).to(mask)
    known = F.conv2d(1.0 - mask, disc[None, None], padding=r)  # known pixels under the disc
    return mask * (known < 0.5).float()


def pyramid(image: torch.Tensor, mask: torch.Tensor, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """n levels (image, mask), the given ones first, each next one half the size; a known cell's colour comes
    from known pixels only (hole pixels are never read), and a cell is a hole when any pixel it covers is."""
    levels = [(image, mask)]
    for _ in range(n - 1):
        im, m = levels[-1]
        size = (im.shape[-2] // 2, im.shape[-1] // 2)
        known = down(1.0 - m, size)
        levels.append((down(im * (1.0 - m), size) / known.clamp(min=1e-6), down_mask(m, size, whole=False)))
    return levels


def refine_fill(model: torch.nn.Module, image: torch.Tensor, mask: torch.Tensor, n_iters: int = N_ITERS,
                lr: float = LR, min_side: int = MIN_SIDE, max_scales: int = MAX_SCALES) -> torch.Tensor:
    """Fill with multi-scale feature refinement; composited (N, 3, H, W), as `inpaint.models.fill_holes`.

    Args:
        model: a generator with encode/decode (`can_refine`), in eval mode.
        image: (N, 3, H, W) float in [0, 1]; mask: (N, 1, H, W) float, 1 = hole. Each photo is refined on
            its own (the losses are per photo), so a batch gives what N single calls give.
    """
    if not can_refine(model):
        raise ValueError(f"refinement needs a generator split into encode and decode; {type(model).__name__} is "
                         "not: use a lama model")
    if len(image) > 1:
        return torch.cat([refine_fill(model, image[i : i + 1], mask[i : i + 1], n_iters, lr, min_side, max_scales)
                          for i in range(len(image))])
    levels = pyramid(image, mask, n_levels(*image.shape[-2:], min_side, max_scales))
    coarse = None  # the previous (coarser) level's composited fill
    for im, m in reversed(levels):
        lh, lw = im.shape[-2:]
        x, xm = pad_to_multiple(im, m, model.size_multiple)
        with torch.no_grad():
            feats, start = model.encode(x, xm)
        if coarse is not None and n_iters > 0:
            size = coarse.shape[-2:]
            target_mask = erode(down_mask(m, size, whole=True))  # where the coarse fill is hole through and through
            known = 1.0 - m
            deep = bool(target_mask.any())
            feats = feats.detach().requires_grad_(True)
            opt = torch.optim.Adam([feats], lr=lr)
            with torch.enable_grad():
                for _ in range(n_iters):
                    pred = model.decode(feats, start)[..., :lh, :lw]
                    loss = ((pred - im).abs() * known).sum() / known.sum().clamp(min=1) / 3
                    if deep:
                        diff = (down(pred, size) - coarse).abs() * target_mask
                        loss = loss + diff.sum() / target_mask.sum() / 3
                    opt.zero_grad(set_to_none=True)
                    (grad,) = torch.autograd.grad(loss, [feats])
                    feats.grad = grad
                    opt.step()
        with torch.no_grad():
            pred = model.decode(feats.detach(), start)[..., :lh, :lw]
        coarse = m * pred + (1.0 - m) * im
    return coarse


def refined(method):
    """A resolved method (`inpaint.methods.Method`) that fills with the refinement, one photo at a time
    (`inpaint fill --refine`). Raises a ValueError naming the method when it is not a generator split into
    encode and decode."""
    import dataclasses

    import numpy as np

    from inpaint.arrays import masks_to_nchw, to_nchw, to_nhwc

    model = method.model
    if model is None or not can_refine(model):
        what = "a classical method" if model is None else f"a {type(model).__name__}"
        raise ValueError(f"--refine works with lama models (a generator split into encode and decode); "
                         f"{method.name} is {what}: drop --refine or pick a lama model such as pretrained/lama_fullres")
    device = next(model.parameters()).device

    def fill(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        model.eval()  # refine_fill takes the photos one at a time
        out = refine_fill(model, to_nchw(images).to(device), masks_to_nchw(masks).to(device))
        return to_nhwc(out.float().clamp(0, 1)).astype(np.float32)

    return dataclasses.replace(method, fill=fill)
