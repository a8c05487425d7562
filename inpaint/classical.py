"""Diffusion baselines behind the model signature `(image, mask) -> image`, and the input checks
and compositing every non-learned method shares (`inpaint.patch`, `inpaint.baselines`).

Every method takes an RGB float32 (H, W, 3) image in [0, 1] and a float32 (H, W) mask with
1 = hole (white, 255 in PNG), and returns a float32 (H, W, 3) image composited as
`mask * fill + (1 - mask) * image`, so known pixels come back bit-for-bit. A soft mask is binarised
at 0.5 to decide which pixels a method may read; the composite uses the mask as given.

- `telea`, `navier_stokes`: OpenCV's diffusion fills (Telea 2004 fast marching; Bertalmio et al. 2001
  fluid dynamics), run per channel on float32 (0-255 scale) so nothing is quantised to 8 bits.
- `biharmonic`: scikit-image's biharmonic-equation fill (smooth, no texture).

The patch methods live in `inpaint.patch`, the parameter-free fills in `inpaint.start_fills`; the
registry of every non-learned method is `inpaint.baselines.BASELINES`.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Baseline = Callable[[np.ndarray, np.ndarray], np.ndarray]


# ---------------------------------------------------------------------------------------------
# Input checks and compositing, shared by every non-learned method


def check_image_and_mask(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate inputs; return (image float32, mask float32, hole bool) with hole = mask >= 0.5."""
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be RGB (H, W, 3), got shape {image.shape}")
    if mask.shape != image.shape[:2]:
        raise ValueError(
            f"mask shape {mask.shape} does not match image shape {image.shape}; "
            f"expected a (H, W) mask = {image.shape[:2]} with 1 = hole"
        )
    image = image.astype(np.float32, copy=False)
    mask = mask.astype(np.float32, copy=False)
    if not np.isfinite(image).all():
        raise ValueError("image contains NaN or inf; expected float RGB in [0, 1]")
    hole = mask >= 0.5
    if hole.all():
        raise ValueError(
            f"mask marks every pixel of the {mask.shape[0]}x{mask.shape[1]} image as hole "
            "(1 = hole): there is nothing known to fill from; check the mask polarity"
        )
    return image, mask, hole


def blank(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """A working copy with the hole zeroed, so no method can read what lies under the hole."""
    return np.where(hole[..., None], np.float32(0), image).astype(np.float32)


def composite(fill: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`mask * fill + (1 - mask) * image`, float32 in [0, 1]; exact where mask == 0."""
    m = mask[..., None]
    out = m * np.clip(fill, 0.0, 1.0) + (1.0 - m) * image
    return out.astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------------
# Diffusion fills


def _opencv(image: np.ndarray, mask: np.ndarray, radius: float, flag: int) -> np.ndarray:
    image, mask, hole = check_image_and_mask(image, mask)
    if not hole.any():
        return image.copy()
    m8 = hole.astype(np.uint8)
    # cv2.inpaint takes float32 only for one channel; per channel it is the same algorithm (the
    # marching order depends on the mask alone) without rounding to 8 bits. Its constants assume
    # 0-255 values: Telea on [0, 1] floats gives a checkerboard, so scale there and back.
    work = blank(image, hole) * np.float32(255)
    fill = np.stack([cv2.inpaint(np.ascontiguousarray(work[..., c]), m8, radius, flag) for c in range(3)], -1)
    return composite(fill / np.float32(255), image, mask)


def telea(image: np.ndarray, mask: np.ndarray, *, radius: float = 3.0) -> np.ndarray:
    """Telea (2004) fast-marching fill via OpenCV; `radius` is the neighbourhood in pixels.

    Args:
        image: float32 (H, W, 3) RGB in [0, 1].
        mask: float32 (H, W), 1 = hole.
    """
    return _opencv(image, mask, radius, cv2.INPAINT_TELEA)


def navier_stokes(image: np.ndarray, mask: np.ndarray, *, radius: float = 3.0) -> np.ndarray:
    """Navier-Stokes (Bertalmio et al. 2001) fill via OpenCV; `radius` is the neighbourhood in pixels.

    Args:
        image: float32 (H, W, 3) RGB in [0, 1].
        mask: float32 (H, W), 1 = hole.
    """
    return _opencv(image, mask, radius, cv2.INPAINT_NS)


def biharmonic(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Biharmonic-equation fill (scikit-image), smooth and textureless.

    Args:
        image: float32 (H, W, 3) RGB in [0, 1].
        mask: float32 (H, W), 1 = hole.
    """
    from skimage.restoration import inpaint_biharmonic

    image, mask, hole = check_image_and_mask(image, mask)
    if not hole.any():
        return image.copy()
    fill = inpaint_biharmonic(blank(image, hole), hole, channel_axis=-1)
    return composite(fill, image, mask)
