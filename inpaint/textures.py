"""Texture test sets, where copying known texture into the hole is the way to fill it (bench/texture.py):
a texture measure that picks the busiest photos before any method is scored, and synthetic repeated
patterns (bricks, tiles, stripes, dots, plaid, a tiled motif) drawn from a seed.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

PATTERNS = ("bricks", "tiles", "stripes", "dots", "plaid", "motif")


def texture_measure(image: np.ndarray, mask: np.ndarray | None = None, sigma: float = 1.5) -> float:
    """How busy a photo's known region is: the mean absolute difference between its grey values and a
    Gaussian blur of them (sigma pixels), over the known pixels (mask 0) not next to the hole. A flat sky
    scores about 0, grass or masonry 0.05-0.1 (grey values in [0, 1]). It reads the photo only, so a
    subset chosen by it is fixed before any method is scored.

    Args:
        image: (H, W, 3) float in [0, 1]; mask: (H, W), 1 = hole, or None (the whole photo).
    """
    grey = np.asarray(image, np.float32).mean(-1)
    detail = np.abs(grey - ndimage.gaussian_filter(grey, sigma))
    if mask is None:
        return float(detail.mean())
    known = ~ndimage.binary_dilation(np.asarray(mask) > 0.5, iterations=int(np.ceil(3 * sigma)))
    return float(detail[known].mean()) if known.any() else float("nan")


def busiest(images: np.ndarray, masks: np.ndarray, share: float) -> np.ndarray:
    """Indices of the `share` of pairs whose known regions score highest by `texture_measure`, busiest first."""
    return busiest_of(np.array([texture_measure(i, m) for i, m in zip(images, masks)]), share)


def busiest_of(scores: np.ndarray, share: float) -> np.ndarray:
    """Indices of the `share` of texture measures that are highest (NaN: a pair with no known region, last)."""
    if not 0 < share <= 1:
        raise ValueError(f"busiest: share must be in (0, 1], got {share}")
    scores = np.nan_to_num(np.asarray(scores, float), nan=-1.0)
    return np.argsort(-scores, kind="stable")[: max(1, round(share * len(scores)))]


def _colours(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct-ish colours, (n, 3) in [0.1, 0.9]."""
    return rng.uniform(0.1, 0.9, (n, 3)).astype(np.float32)


def pattern(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One repeated pattern of `kind` (a name of PATTERNS), (size, size, 3) float32 in [0, 1], with
    per-element colour jitter and a little pixel noise so no two repeats are identical."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    a, b = _colours(rng, 2)
    if kind == "bricks":
        h = int(rng.integers(10, 20))
        w = int(h * rng.uniform(2.0, 3.0))
        row = (y // h).astype(int)
        shifted = x + (row % 2) * (w / 2)
        col = (shifted // w).astype(int)
        mortar = ((y % h) < 2) | ((shifted % w) < 2)
        jitter = rng.uniform(-0.08, 0.08, (row.max() + 2, col.max() + 2, 1)).astype(np.float32)
        img = np.where(mortar[..., None], b, a + jitter[row, col])
    elif kind == "tiles":
        p = int(rng.integers(12, 28))
        checker = ((x // p + y // p) % 2).astype(bool)
        grout = ((x % p) < 2) | ((y % p) < 2)
        c = _colours(rng, 1)[0]
        img = np.where(grout[..., None], c, np.where(checker[..., None], a, b))
    elif kind == "stripes":
        period, angle = rng.uniform(8, 20), rng.uniform(0, np.pi)
        t = (x * np.cos(angle) + y * np.sin(angle)) / period
        img = np.where(((t % 1) < 0.5)[..., None], a, b)
    elif kind == "dots":
        p = int(rng.integers(10, 22))
        r = p * rng.uniform(0.2, 0.4)
        row = (y // p).astype(int)
        cx = (x + (row % 2) * p / 2) % p - p / 2
        cy = y % p - p / 2
        img = np.where((np.hypot(cx, cy) < r)[..., None], a, b)
    elif kind == "plaid":
        p1, p2 = rng.uniform(10, 24, 2)
        c = _colours(rng, 1)[0]
        band_x, band_y = (x % p1) < p1 / 3, (y % p2) < p2 / 3
        img = b + 0.5 * (a - b) * band_x[..., None] + 0.5 * (c - b) * band_y[..., None]
    elif kind == "motif":  # a random smooth tile repeated: wallpaper with a motif nobody named
        p = int(rng.integers(12, 28))
        tile = ndimage.gaussian_filter(rng.random((p, p, 3)).astype(np.float32), (1.5, 1.5, 0), mode="wrap")
        tile = (tile - tile.min()) / max(float(np.ptp(tile)), 1e-6)
        img = np.tile(tile, (size // p + 1, size // p + 1, 1))[:size, :size]
    else:
        raise ValueError(f"unknown pattern {kind!r}; known: {list(PATTERNS)}")
    img = np.asarray(img, np.float32) + rng.normal(0, 0.02, (size, size, 3)).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32)


def pattern_set(per_kind: int, size: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """`per_kind` patterns of each kind: images (n, size, size, 3) float32 and their ids (`<kind>_<k>`)."""
    rng = np.random.default_rng([seed, 23])
    images, ids = [], []
    for kind in PATTERNS:
        for k in range(per_kind):
            images.append(pattern(kind, size, rng))
            ids.append(f"{kind}_{k}")
    return np.stack(images), ids


def detail_ratio(image: np.ndarray, mask: np.ndarray, sigma: float = 1.5, gap: int = 4) -> float:
    """How much fine detail a fill carries: the high-frequency energy (mean squared difference between the
    grey values and their Gaussian blur of `sigma` px) inside the hole, over that of a ring of known pixels
    around it. Both leave out `gap` px either side of the hole's edge, so the seam counts for neither. A
    photo's own texture gives about 0.7-1.3; a blurry fill 0.1-0.3. NaN when the hole is too thin to have
    an inside.

    Args:
        image: (H, W, 3) float in [0, 1], the filled photo; mask: (H, W), 1 = hole.
    """
    hole = np.asarray(mask) > 0.5
    grey = np.asarray(image, np.float32).mean(-1)
    energy = (grey - ndimage.gaussian_filter(grey, sigma)) ** 2
    inside = ndimage.distance_transform_edt(hole) > gap
    outside = ndimage.distance_transform_edt(~hole)  # each known pixel's distance to the hole
    width = max(16, int(np.sqrt(hole.sum()) / 4))  # a ring as wide as a quarter of the hole's side
    ring = (outside > gap) & (outside <= gap + width)
    if not inside.any() or not ring.any():
        return float("nan")
    return float(energy[inside].mean() / max(energy[ring].mean(), 1e-12))
