"""The photo's own fine detail laid into a network's fill (an experiment; see docs/fullres.md).

A network's fill at a photo's own size keeps the layout and colours right but carries less fine detail
than its surroundings (the detail ratio of `pretrained/lama_fullres` is 0.65 on BSDS500 test). PatchMatch
keeps texture because it copies pixels. This takes both: the fill's low frequencies stay, and its high
frequencies are replaced by those of the known patch that best matches the fill's low frequencies there.

1. The fill, composited into the photo, is split at a Gaussian of `sigma` px: low + high.
2. For every hole pixel, PatchMatch (`inpaint.patch`) finds the fully known patch whose low frequencies
   best match those of the patch around it (sum of squared differences), at full resolution.
3. Each hole pixel gets its own low frequencies plus the high frequencies of its match's centre.

Known pixels are never changed. Same contract as the fills: RGB float32 (H, W, 3) in [0, 1], mask
float32 (H, W) with 1 = hole.
"""
from __future__ import annotations

import cv2
import numpy as np

from inpaint import io
from inpaint.classical import check_image_and_mask, composite
from inpaint.io import to_uint8
from inpaint.patch import _fit_patch, _init_nnf, _patchmatch, _valid_sources


def detail_transfer(image: np.ndarray, mask: np.ndarray, fill: np.ndarray, *, sigma: float = 1.5,
                    patch_size: int = 7, iters: int = 5, seed: int = 0) -> np.ndarray:
    """`fill` with the high frequencies (above a Gaussian of `sigma` px) of its hole replaced by those of the
    photo's best-matching known patches (matched on the low frequencies); see the module's docstring."""
    image, mask, hole = check_image_and_mask(image, mask)
    if fill.shape != image.shape:
        raise ValueError(f"detail_transfer: the fill is {fill.shape}, the image {image.shape}")
    filled = composite(np.asarray(fill, np.float32), image, mask)
    if not hole.any():
        return filled
    low = cv2.GaussianBlur(filled, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    high = filled - low
    r = _fit_patch(hole, patch_size) // 2
    valid = _valid_sources(hole, r)
    if r == 0 or not valid.any():
        return filled
    h, w = hole.shape
    is_tgt = np.zeros((h, w), bool)
    is_tgt[r:h - r, r:w - r] = ~valid[r:h - r, r:w - r]
    src_y, src_x = (a.astype(np.int32) for a in np.nonzero(valid))
    nnf = np.full((h, w, 2), -1, np.int32)
    nnd = np.zeros((h, w), np.float64)
    _init_nnf(nnf, is_tgt, valid, src_y, src_x, r, np.zeros((0, 0, 2), np.int32), seed)
    _patchmatch(np.ascontiguousarray(low), is_tgt, valid, src_y, src_x, nnf, nnd, r, iters, seed + 1)
    ys, xs = np.nonzero(hole & is_tgt)  # hole pixels within r of the border keep their own detail
    out = filled.copy()
    out[ys, xs] = np.clip(low[ys, xs] + high[nnf[ys, xs, 0], nnf[ys, xs, 1]], 0, 1)
    return composite(out, image, mask)


def restore_detail(photo: np.ndarray, mask, work, max_pixels: int = io.LARGE_PIXELS) -> bool:
    """In place: where a photo's holes' context was shrunk to be filled (`inpaint.crops.work_crop`), the upsampled
    fill's fine detail is taken from the photo at its own size (`detail_transfer` on the context). `photo`: uint8
    (H, W, 3) with the fill pasted in; `mask`: bool or 0/1 (H, W), or a PackedMask. Returns whether it ran: not
    for a context filled at its own size, nor for one over `max_pixels` (its float copies would be gigabytes)."""
    ys, xs = work.crop
    context = photo[ys, xs]
    if not work.shrunk or context.shape[0] * context.shape[1] > max_pixels:
        return False
    hole = np.asarray(mask[ys, xs]) > 0.5
    as_float = context.astype(np.float32) / 255
    out = detail_transfer(as_float, hole.astype(np.float32), as_float)
    context[hole] = to_uint8(out[hole])
    return True
