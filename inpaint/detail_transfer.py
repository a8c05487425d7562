"""The photo's own fine detail laid into a fill (`inpaint fill --detail`; measured in docs/fullres.md).

A fill made at a smaller size and upsampled (a hole's context over `--max-side`) keeps the layout and colours
but little fine detail (detail ratio 0.32 for `pretrained/lama_fullres` filled at 256 px on BSDS500 test, 0.58
with this). PatchMatch keeps texture because it copies pixels. This takes both: the fill's low frequencies
stay, and its high frequencies are replaced by those of the known patch that best matches them there.

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
    """`fill` (float, composited into `image`) with the high frequencies (above a Gaussian of `sigma` px) of its hole
    (mask > 0.5) replaced by those of the photo's best-matching known patches, matched on the low frequencies; see
    the module's docstring. The arrays are mirrored by a patch's radius at the edges, so a hole that touches them
    gets the photo's detail there too."""
    image, mask, hole = check_image_and_mask(image, mask)
    if fill.shape != image.shape or not np.issubdtype(fill.dtype, np.floating):
        raise ValueError(f"detail_transfer: the fill is {fill.dtype} {fill.shape}; give a float fill in [0, 1] of the "
                         f"image's shape {image.shape}")
    out = composite(fill.astype(np.float32, copy=False), image, mask)
    r = _fit_patch(hole, patch_size) // 2 if hole.any() else 0
    if r == 0:  # no hole, or no fully known patch to copy from
        return out
    low = cv2.GaussianBlur(out, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    side = ((r, r), (r, r))
    high = np.pad(out - low, (*side, (0, 0)), mode="reflect")
    hole_p = np.pad(hole, side, mode="reflect")
    valid = _valid_sources(hole_p, r)
    if not valid.any():
        return out
    h, w = hole_p.shape
    is_tgt = np.zeros((h, w), bool)  # every hole pixel is one: the padding keeps it r px from the edge
    is_tgt[r:h - r, r:w - r] = ~valid[r:h - r, r:w - r]
    src_y, src_x = (a.astype(np.int32) for a in np.nonzero(valid))
    nnf = np.full((h, w, 2), -1, np.int32)
    nnd = np.zeros((h, w), np.float64)
    _init_nnf(nnf, is_tgt, valid, src_y, src_x, r, np.zeros((0, 0, 2), np.int32), seed)
    _patchmatch(np.pad(low, (*side, (0, 0)), mode="reflect"), is_tgt, valid, src_y, src_x, nnf, nnd, r, iters, seed + 1)
    ys, xs = np.nonzero(hole)
    source = nnf[ys + r, xs + r]
    out[ys, xs] = np.clip(low[ys, xs] + high[source[:, 0], source[:, 1]], 0, 1)
    return out


def restore_detail(photo: np.ndarray, mask, work, max_pixels: int | None = None) -> bool:
    """In place: where a photo's holes' context was shrunk to be filled (`inpaint.crops.work_crop`), the upsampled
    fill's fine detail is taken from the photo at its own size (`detail_transfer` on the context). `photo`: uint8
    (H, W, 3) with the fill pasted in; `mask`: bool or 0/1 (H, W), or a PackedMask. Returns whether it ran: not
    for a context filled at its own size, nor for one over `max_pixels` (default `io.LARGE_PIXELS`: its float
    copies take about 90 bytes a pixel of the context: 1.4 GB at 16 MP)."""
    if photo.dtype != np.uint8:
        raise ValueError(f"restore_detail: the photo is {photo.dtype}; it works on the 8-bit photo a fill is pasted into")
    ys, xs = work.crop
    context = photo[ys, xs]
    limit = io.LARGE_PIXELS if max_pixels is None else max_pixels
    if not work.shrunk or context.shape[0] * context.shape[1] > limit:
        return False
    hole = np.asarray(mask[ys, xs]) > 0.5
    as_float = context.astype(np.float32) / 255
    out = detail_transfer(as_float, hole.astype(np.float32), as_float)
    context[hole] = to_uint8(out[hole])
    return True
