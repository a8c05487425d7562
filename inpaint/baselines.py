"""The registry of every non-learned method: diffusion, patch methods and the parameter-free fills.

Each entry is `(image (H, W, 3) float32 in [0, 1], mask (H, W), 1 = hole) -> composited image`, the
signature every method has, so evaluation and the `inpaint` command call them all alike. The fills
(`nearest`, `pyramid`, `hybrid`, `patch`, `fade`) are the starting points of the generators: scoring them
beside a trained model shows what training added.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from inpaint.classical import biharmonic, check_image_and_mask, composite, navier_stokes, telea
from inpaint.names import FILL_NAMES

Baseline = Callable[[np.ndarray, np.ndarray], np.ndarray]


def as_baseline(fill_name: str) -> Baseline:
    """A registered fill (`inpaint.start_fills.FILLS`, batched torch) as a baseline on one numpy image; torch
    loads on its first call, so naming or running a diffusion baseline never imports it."""

    def baseline(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        from inpaint.arrays import masks_to_nchw, to_nchw, to_nhwc
        from inpaint.start_fills import FILLS

        image, mask, hole = check_image_and_mask(image, mask)
        if not hole.any():
            return image.copy()
        with torch.no_grad():
            filled = to_nhwc(FILLS[fill_name](to_nchw(image), masks_to_nchw(hole.astype(np.float32))))[0]
        return composite(filled, image, mask)

    baseline.__name__ = baseline.__qualname__ = f"{fill_name}_fill"
    baseline.__doc__ = f"The `{fill_name}` fill of inpaint.start_fills as a baseline (1 = hole)."
    return baseline


def patch_method(name: str) -> Baseline:
    """`inpaint.patch`'s `name` (PatchMatch, Criminisi), imported on its first call: numba loads only when a
    patch method runs."""

    def run(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        from inpaint import patch

        return getattr(patch, name)(image, mask)

    run.__name__ = run.__qualname__ = name
    run.__doc__ = f"inpaint.patch.{name} (1 = hole)."
    return run


BASELINES: dict[str, Baseline] = {
    "telea": telea,
    "navier_stokes": navier_stokes,
    "biharmonic": biharmonic,
    "patch_match": patch_method("patch_match"),
    "patch_criminisi": patch_method("patch_criminisi"),
    **{name: as_baseline(name) for name in FILL_NAMES},
}
