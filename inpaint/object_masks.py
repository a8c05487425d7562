"""Masks that look like what people remove from a photo, drawn at the photo's own size (bench/fullres.py):
one object-shaped blob, one object's box, a few thick strokes, or an NVIDIA irregular mask scaled to the
photo. Each is drawn to a hole ratio picked uniformly within given bounds, from a seeded generator, so the
same photo list and seed give the same holes for every method. Masks: 1 = hole.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from inpaint.io import read_mask

OBJECT_KINDS = ("blob", "box", "strokes", "nvidia")


def blob(rng: np.random.Generator, height: int, width: int, ratio: float) -> np.ndarray:
    """One smooth, object-shaped region of about `ratio` of the photo: a star-shaped outline (random radii
    at 16 angles, smoothed around the circle) around a random centre, kept inside the photo where it fits,
    and rescaled until its drawn area is `ratio` (a shape cut by the photo's edge grows to make up for it)."""
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    radii = rng.uniform(0.6, 1.4, 16)
    radii = (radii + np.roll(radii, 1) + np.roll(radii, -1)) / 3  # smooth: no spikes
    aspect = rng.uniform(0.6, 1.6)  # taller or wider than round
    t = np.linspace(0, 2 * np.pi, 256, endpoint=False)
    r = np.interp(t, np.r_[angles, 2 * np.pi], np.r_[radii, radii[0]])
    x, y = r * np.cos(t) * aspect, r * np.sin(t) / aspect
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))  # of the unit outline
    scale = np.sqrt(ratio * height * width / area)
    u, v = rng.uniform(size=2)  # where in the room left, as fractions, so a rescale keeps the place
    m = np.zeros((height, width), np.uint8)
    for _ in range(6):
        xs, ys = x * scale, y * scale
        lo_x, hi_x, lo_y, hi_y = -xs.min(), width - xs.max(), -ys.min(), height - ys.max()
        cx = lo_x + u * (hi_x - lo_x) if hi_x >= lo_x else width / 2  # centred when it cannot fit
        cy = lo_y + v * (hi_y - lo_y) if hi_y >= lo_y else height / 2
        m[:] = 0
        cv2.fillPoly(m, [np.round(np.c_[xs + cx, ys + cy]).astype(np.int32)], 1)
        drawn = m.mean()
        if drawn == 0 or abs(drawn - ratio) < 0.005:
            break
        scale *= np.sqrt(ratio / drawn)
    return m


def object_box(rng: np.random.Generator, height: int, width: int, ratio: float) -> np.ndarray:
    """One axis-aligned box of about `ratio` of the photo (an object's bounding box), aspect 1:2 to 2:1,
    placed at random inside the photo."""
    aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
    bh = int(round(min(height, np.sqrt(ratio * height * width / aspect))))
    bw = int(round(min(width, ratio * height * width / max(bh, 1))))
    y, x = int(rng.integers(0, height - bh + 1)), int(rng.integers(0, width - bw + 1))
    m = np.zeros((height, width), np.uint8)
    m[y:y + bh, x:x + bw] = 1
    return m


def strokes(rng: np.random.Generator, height: int, width: int, ratio: float) -> np.ndarray:
    """Two to four thick brush strokes (a wire, a pole, a person's outline) whose width is set so they
    cover about `ratio` of the photo."""
    side = min(height, width)
    lines = []
    for _ in range(int(rng.integers(2, 5))):
        p = np.array([rng.uniform(0, width), rng.uniform(0, height)])
        pts = [p]
        for _ in range(int(rng.integers(2, 5))):
            a = rng.uniform(0, 2 * np.pi)
            p = np.clip(p + rng.uniform(0.15, 0.4) * side * np.array([np.cos(a), np.sin(a)]), 0, [width - 1, height - 1])
            pts.append(p)
        lines.append(np.round(pts).astype(np.int32))
    lo, hi = 1, max(height, width)  # the thickness whose cover is nearest `ratio`, by bisection
    while lo < hi:
        mid = (lo + hi) // 2
        if _draw(lines, height, width, mid).mean() < ratio:
            lo = mid + 1
        else:
            hi = mid
    return _draw(lines, height, width, lo)


def _draw(lines: list[np.ndarray], height: int, width: int, thick: int) -> np.ndarray:
    m = np.zeros((height, width), np.uint8)
    cv2.polylines(m, lines, False, 1, thick)
    for pts in lines:
        for x, y in pts:
            cv2.circle(m, (int(x), int(y)), thick // 2, 1, -1)
    return m


def nvidia(rng: np.random.Generator, height: int, width: int, ratio: float, files: list[Path]) -> np.ndarray:
    """An NVIDIA irregular test mask scaled to the photo, the one of 50 drawn whose hole ratio there is
    nearest `ratio`."""
    best, err = None, np.inf
    for _ in range(50):
        m = (read_mask(files[int(rng.integers(len(files)))], size=(height, width)) > 0.5).astype(np.uint8)
        if abs(m.mean() - ratio) < err:
            best, err = m, abs(m.mean() - ratio)
    return best


def object_mask(kind: str, rng: np.random.Generator, height: int, width: int, ratio: tuple[float, float],
                nvidia_files: list[Path] | None = None) -> np.ndarray:
    """A mask of `kind` (one of OBJECT_KINDS) at height x width whose hole ratio is drawn uniformly from
    `ratio`; (height, width) uint8, 1 = hole."""
    target = float(rng.uniform(*ratio))
    if kind == "blob":
        return blob(rng, height, width, target)
    if kind == "box":
        return object_box(rng, height, width, target)
    if kind == "strokes":
        return strokes(rng, height, width, target)
    if kind == "nvidia":
        if not nvidia_files:
            raise ValueError("object_mask: kind 'nvidia' needs the NVIDIA mask files (inpaint.heldout.nvidia_files)")
        return nvidia(rng, height, width, target, nvidia_files)
    raise ValueError(f"unknown object mask kind {kind!r}; use one of {list(OBJECT_KINDS)}")
