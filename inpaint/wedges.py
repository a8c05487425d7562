"""The start fill's wedges: edges a fill draws on the seams of the nearest-known-pixel fill.

The nearest fill (`inpaint.start_fills.nearest_fill`, half of `hybrid`) splits a hole into cells, each taking
the colour of one known pixel. Where cells grown from different sides of the hole meet (the hole's medial
axis: the X of a box, the spine of a blob), it draws a sharp edge: the wedges and diamonds people see at
once in a large fill. A photo's own content does not know where those seams lie, so in a real photo the
edges on them are as strong as anywhere else in the hole. `wedge_score` is that ratio: about 1 = no
wedges; the nearest fill itself scores far above it.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

MIN_DEPTH = 6.0  # px from the hole's edge: nearer, every fill is the photo's own edge colours


def seams(mask: np.ndarray, min_depth: float = MIN_DEPTH) -> tuple[np.ndarray, np.ndarray]:
    """Where the nearest fill's cells from different sides of the hole meet, and the rest of the hole.

    A hole pixel at least `min_depth` px from a known pixel is on a seam when its nearest known pixel and
    a 4-neighbour's are at least as far apart as it is from its own (cells grown from the same stretch of
    edge are 1-2 px apart; across the medial axis they are about twice the depth apart). The rest are the
    deep hole pixels more than 2 px from any seam.

    Args:
        mask: (H, W), 1 (or True) = hole.
    Returns:
        seam, rest: (H, W) bool.
    """
    import torch

    from inpaint.start_fills import nearest_known

    hole = np.asarray(mask) > 0.5
    h, w = hole.shape
    seeds = nearest_known(torch.from_numpy(hole.astype(np.float32))[None, None])[0].numpy()  # (2, H, W)
    pos = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = np.sqrt(((seeds - pos) ** 2).sum(0))  # (H, W)
    jump = np.zeros((h, w), np.float32)
    for axis in (1, 2):  # a pixel and its next neighbour down / right: both get the jump between their seeds
        step = np.sqrt((np.diff(seeds, axis=axis) ** 2).sum(0))
        pad = [(0, 0), (0, 0)]
        pad[axis - 1] = (0, 1)
        jump = np.maximum(jump, np.pad(step, pad))
        pad[axis - 1] = (1, 0)
        jump = np.maximum(jump, np.pad(step, pad))
    deep = hole & (depth >= min_depth)
    seam = deep & (jump >= np.maximum(depth, min_depth))
    rest = deep & ~ndimage.binary_dilation(seam, iterations=2)
    return seam, rest


def wedge_score(fill: np.ndarray, mask: np.ndarray, sigma: float = 2.0, min_pixels: int = 20,
                where: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """How much stronger a fill's edges are on the nearest fill's seams than elsewhere deep in the hole.

    The grey fill is blurred (Gaussian, `sigma` px, so fine grain weighs little and a wedge's edge stays),
    and the mean gradient magnitude on the seams is divided by that on the rest of the deep hole. About 1:
    the fill does not know where the seams lie, as a photo's own content does not; the nearest fill itself
    scores far higher. NaN when either region has fewer than `min_pixels` pixels (a thin hole has no deep
    part).

    Args:
        fill: (H, W, 3) float in [0, 1], the filled image (known pixels included).
        mask: (H, W), 1 = hole.
        where: `seams(mask)` when the caller has it (one per mask, shared by every fill of it).
    """
    seam, rest = seams(mask) if where is None else where
    if seam.sum() < min_pixels or rest.sum() < min_pixels:
        return float("nan")
    grey = ndimage.gaussian_filter(np.asarray(fill, np.float32).mean(-1), sigma)
    gy, gx = np.gradient(grey)
    grad = np.hypot(gy, gx)
    return float(grad[seam].mean() / max(float(grad[rest].mean()), 1e-6))
