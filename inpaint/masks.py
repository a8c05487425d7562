"""Hole-mask generators by name, seeded and resolution-aware. A mask is uint8 (H, W), 1 = hole.

Sizes are given for a 256 px image and scale with min(H, W) / 256, so a kind looks the same at any
resolution. The LaMa presets follow the stroke/box settings of LaMa's random_{thin,medium,thick}_256
data-generation configs; `brush` follows DeepFill v2's free-form brush strokes.
"""
from __future__ import annotations

import math
import sys
import zlib
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pandas as pd

from inpaint.atomic import write_csv, write_png
from inpaint.io import IMAGE_EXTENSIONS, read_mask

MASK_COLUMNS = ["id", "file", "kind", "hole_ratio", "bucket", "touches_border"]


def _scale(height: int, width: int) -> float:
    return min(height, width) / 256.0


def _strokes(m, rng, s, min_times, max_times, max_width, max_angle, max_len):
    """LaMa-style irregular strokes: chains of thick line segments with sharp turns."""
    h, w = m.shape
    n = int(rng.integers(min_times, max_times + 1))
    segments = 1 + rng.integers(0, 5, n)
    total = int(segments.sum())
    # All random numbers drawn up front: per-call overhead, not drawing, dominates at 256 px.
    xs, ys = rng.integers(0, w, n), rng.integers(0, h, n)
    angles = 0.01 + rng.uniform(0, max_angle, total)
    lengths = (10 + rng.uniform(0, max_len, total)) * s
    widths = np.maximum(1, np.round((5 + rng.integers(0, max_width, total)) * s)).astype(int)
    k = 0
    for i in range(n):
        x, y = int(xs[i]), int(ys[i])
        for j in range(segments[i]):
            a = angles[k] if j % 2 else 2 * math.pi - angles[k]
            nx = min(max(int(x + lengths[k] * math.sin(a)), 0), w - 1)
            ny = min(max(int(y + lengths[k] * math.cos(a)), 0), h - 1)
            cv2.line(m, (x, y), (nx, ny), 1, int(widths[k]))
            x, y, k = nx, ny, k + 1


def _boxes(m, rng, s, min_times, max_times, min_size, max_size, margin):
    h, w = m.shape
    margin = int(margin * s)
    for _ in range(rng.integers(min_times, max_times + 1)):
        bw = int(rng.integers(int(min_size * s), int(max_size * s) + 1))
        bh = int(rng.integers(int(min_size * s), int(max_size * s) + 1))
        bw, bh = min(max(bw, 1), w - 2 * margin), min(max(bh, 1), h - 2 * margin)
        x = int(rng.integers(margin, max(margin, w - margin - bw) + 1))
        y = int(rng.integers(margin, max(margin, h - margin - bh) + 1))
        m[y : y + bh, x : x + bw] = 1


def _lama(times, width, length, box_proba, box_size, box_times, box_margin):
    """A LaMa preset: irregular strokes, plus boxes with probability `box_proba`."""

    def generate(rng, height, width_px, **kw):
        p = dict(min_times=times[0], max_times=times[1], max_width=width, max_angle=4, max_len=length)
        b = dict(min_times=box_times[0], max_times=box_times[1], min_size=box_size[0], max_size=box_size[1], margin=box_margin)
        bp = kw.pop("box_proba", box_proba)
        for k, v in kw.items():
            if k in p:
                p[k] = v
            elif k.startswith("box_") and k[4:] in b:
                b[k[4:]] = v
            else:
                known = sorted(p) + ["box_proba"] + [f"box_{n}" for n in b]
                raise TypeError(f"unexpected keyword {k!r}; known: {known}")
        m = np.zeros((height, width_px), np.uint8)
        s = _scale(height, width_px)
        _strokes(m, rng, s, **p)
        if rng.random() < bp:
            _boxes(m, rng, s, **b)
        return m

    return generate


def brush(rng, height, width, min_strokes=1, max_strokes=3, min_vertex=4, max_vertex=12, min_width=12, max_width=40):
    """DeepFill v2 free-form strokes: zig-zag polylines with round joints, random flips."""
    m = np.zeros((height, width), np.uint8)
    s = _scale(height, width)
    mean_angle, angle_range = 2 * math.pi / 5, 2 * math.pi / 15
    radius = math.hypot(height, width) / 8
    for _ in range(rng.integers(min_strokes, max_strokes + 1)):
        n = int(rng.integers(min_vertex, max_vertex + 1))
        angles = rng.uniform(mean_angle - angle_range, mean_angle + angle_range, n)
        angles[::2] = 2 * math.pi - angles[::2]
        pts = [(int(rng.integers(0, width)), int(rng.integers(0, height)))]
        for a in angles:
            r = float(np.clip(rng.normal(radius, radius / 2), 0, 2 * radius))
            x, y = pts[-1]
            pts.append((int(np.clip(x + r * math.cos(a), 0, width - 1)), int(np.clip(y + r * math.sin(a), 0, height - 1))))
        thick = max(1, int(rng.uniform(min_width, max_width) * s))
        for p, q in zip(pts[:-1], pts[1:]):
            cv2.line(m, p, q, 1, thick)
        for p in pts:
            cv2.circle(m, p, thick // 2, 1, -1)
    if rng.random() < 0.5:
        m = m[:, ::-1]
    if rng.random() < 0.5:
        m = m[::-1, :]
    return np.ascontiguousarray(m)


def box(rng, height, width, centre=False, centre_frac=0.5, min_times=1, max_times=3, min_size=30, max_size=150, margin=0):
    """Rectangles; `centre=True` gives the classic centre box covering `centre_frac` of each side."""
    m = np.zeros((height, width), np.uint8)
    if centre:
        bh, bw = int(round(height * centre_frac)), int(round(width * centre_frac))
        y, x = (height - bh) // 2, (width - bw) // 2
        m[y : y + bh, x : x + bw] = 1
    else:
        _boxes(m, rng, _scale(height, width), min_times, max_times, min_size, max_size, margin)
    return m


def scratch(rng, height, width, min_lines=1, max_lines=4, min_width=1, max_width=4):
    """Long, thin, gently curved lines across the image, like scratches on an old print."""
    m = np.zeros((height, width), np.uint8)
    s = _scale(height, width)
    t = np.linspace(0, 1, 64)[:, None]
    for _ in range(rng.integers(min_lines, max_lines + 1)):
        # A cubic Bezier from one edge region to the opposite one, control points near the chord.
        p0 = rng.uniform([0, 0], [width, height * 0.3])
        p3 = rng.uniform([0, height * 0.7], [width, height])
        if rng.random() < 0.5:  # horizontal scratch instead of vertical
            p0 = rng.uniform([0, 0], [width * 0.3, height])
            p3 = rng.uniform([width * 0.7, 0], [width, height])
        jitter = 0.15 * min(height, width)
        p1 = p0 + (p3 - p0) / 3 + rng.normal(0, jitter, 2)
        p2 = p0 + 2 * (p3 - p0) / 3 + rng.normal(0, jitter, 2)
        curve = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3
        thick = max(1, int(round(rng.uniform(min_width, max_width) * s)))
        cv2.polylines(m, [np.round(curve).astype(np.int32)], False, 1, thick)
    return m


def border(rng, height, width, min_sides=1, max_sides=4, min_frac=0.05, max_frac=0.35):
    """Outpainting bands along 1-4 sides, each `min_frac`-`max_frac` of the side it covers."""
    m = np.zeros((height, width), np.uint8)
    sides = rng.permutation(4)[: rng.integers(min_sides, max_sides + 1)]
    for side in sides:
        size = max(1, int(round(rng.uniform(min_frac, max_frac) * (height if side < 2 else width))))
        if side == 0:
            m[:size] = 1
        elif side == 1:
            m[-size:] = 1
        elif side == 2:
            m[:, :size] = 1
        else:
            m[:, -size:] = 1
    return m


MASKS: dict[str, Callable[..., np.ndarray]] = {
    "thin": _lama(times=(4, 50), width=10, length=40, box_proba=0.0, box_size=(10, 50), box_times=(1, 3), box_margin=0),
    "medium": _lama(times=(4, 5), width=50, length=100, box_proba=0.3, box_size=(10, 50), box_times=(1, 5), box_margin=0),
    "thick": _lama(times=(1, 5), width=100, length=200, box_proba=0.3, box_size=(30, 150), box_times=(1, 3), box_margin=10),
    "brush": brush,
    "box": box,
    "scratch": scratch,
    "border": border,
}


def get_generator(kind: str) -> Callable[..., np.ndarray]:
    """The generator function of a mask kind; ValueError lists the known kinds."""
    if kind not in MASKS:
        raise ValueError(f"unknown mask kind {kind!r}; known kinds: {sorted(MASKS)}")
    return MASKS[kind]


def sample_mask(kind, rng, height, width, min_ratio=0.0, max_ratio=1.0, max_tries=200, **kwargs) -> np.ndarray:
    """Draw masks of `kind` until the hole ratio lies in [min_ratio, max_ratio] (1 = hole).

    Raises ValueError if `max_tries` draws all miss, naming the ratios the kind produced.
    """
    if not 0.0 <= min_ratio <= max_ratio <= 1.0:
        raise ValueError(f"hole ratio bounds must satisfy 0 <= min <= max <= 1, got [{min_ratio}, {max_ratio}]")
    generate = get_generator(kind)
    seen = []
    for _ in range(max_tries):
        try:
            m = generate(rng, height, width, **kwargs)
        except TypeError as e:
            raise ValueError(f"mask kind {kind!r}: bad kwargs {kwargs}: {e}") from e
        r = float(m.mean())
        if min_ratio <= r <= max_ratio:
            return m
        seen.append(r)
    raise ValueError(
        f"mask kind {kind!r} at {height}x{width} missed hole ratio [{min_ratio}, {max_ratio}] in {max_tries} draws "
        f"(it gave {min(seen):.3f}-{max(seen):.3f}); widen the bounds or change its kwargs"
    )


def bucket(ratio: float, step: int = 10) -> str:
    """Hole-ratio bucket label such as '30-40' (percent; [30%, 40%), 100% falls in the last)."""
    lo = min(int(ratio * 100 // step) * step, 100 - step)
    return f"{lo}-{lo + step}"


def describe(mask: np.ndarray) -> dict:
    """Hole ratio, bucket and whether the hole touches the image border (1 = hole)."""
    r = float(mask.mean())
    edge = mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()
    return {"hole_ratio": round(r, 6), "bucket": bucket(r), "touches_border": bool(edge)}


def kind_rng(seed: int, kind: str) -> np.random.Generator:
    """A generator per (seed, kind), so adding a kind never changes the masks of another."""
    return np.random.default_rng([seed, zlib.crc32(kind.encode())])


def generate_set(out_dir, kinds: dict[str, dict], per_kind: int, size: int, seed: int,
                 min_ratio: float = 0.0, max_ratio: float = 1.0) -> pd.DataFrame:
    """Write `per_kind` masks of every kind as PNGs (white = hole) into `out_dir`; return their table.

    Args:
        kinds: kind name -> kwargs for its generator; `min_ratio`/`max_ratio` there override the
            global hole-ratio bounds for that kind.
    """
    rows = []
    for kind, kw in kinds.items():
        kw = dict(kw or {})
        lo, hi = kw.pop("min_ratio", min_ratio), kw.pop("max_ratio", max_ratio)
        rng = kind_rng(seed, kind)
        for i in range(per_kind):
            m = sample_mask(kind, rng, size, size, lo, hi, **kw)
            mid = f"{kind}_{i:05d}"
            write_png(Path(out_dir) / f"{mid}.png", m * 255)
            rows.append({"id": mid, "file": f"{mid}.png", "kind": kind, **describe(m)})
    return pd.DataFrame(rows, columns=MASK_COLUMNS)


GREY_LIMIT = 0.1  # a mask file whose pixels are more than this share grey (32-223) is a photo, not a mask


def import_external(out_dir, folder, polarity: str, size: int, kind: str = "external", limit: int | None = None,
                    min_ratio: float = 0.0, max_ratio: float = 1.0) -> pd.DataFrame:
    """Import a folder of foreign masks, binarised and resized nearest-neighbour to `size`.

    Each file must be a black-and-white mask (a photo is refused, naming it). Masks whose hole ratio
    at `size` lies outside [min_ratio, max_ratio], and masks without a hole or all hole whatever the
    bounds, are left out with a warning: they would be scored as perfect fills, or leave nothing to
    fill from. Files whose names differ only by extension are an error (their ids would collide).

    Args:
        polarity: "white_hole" if bright pixels mark the hole in those files, "black_hole" if dark ones do.
        kind: the kind's name, part of each mask's file name (letters, digits, _ and -).
        limit: import at most this many, spread evenly over the sorted file list.
    """
    from inpaint.io import list_images, mask_level
    from inpaint.params import ParamsError, name

    try:
        name(kind, "masks.external.kind")
    except ParamsError as e:
        raise ValueError(f"params.yaml: {e}") from None
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"masks.external.path={str(folder)!r} is not a folder")
    files = list_images(folder)
    if not files:
        raise ValueError(f"{folder}: no mask images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    ids: dict[str, Path] = {}
    for f in files:
        mid = f"{kind}_{f.relative_to(folder).with_suffix('').as_posix().replace('/', '__')}"
        if mid in ids:
            raise ValueError(f"{ids[mid]} and {f} have the same name without extension, so both would be mask {mid}; "
                             "rename or remove one")
        ids[mid] = f
    if limit and len(files) > limit:
        keep = {files[i] for i in np.linspace(0, len(files) - 1, limit).round().astype(int)}
        ids = {mid: f for mid, f in ids.items() if f in keep}
    rows, left_out = [], []
    for mid, f in ids.items():
        level = mask_level(f, polarity)
        grey = float(((level >= 32) & (level <= 223)).mean())
        if grey > GREY_LIMIT:
            raise ValueError(f"{f}: not a black-and-white mask ({grey:.0%} of its pixels are grey): is "
                             "masks.external.path a folder of photos? It must hold masks (white = hole, or set "
                             "masks.external.polarity)")
        m = read_mask(f, polarity, size=(size, size)).astype(np.uint8)
        r = float(m.mean())
        if r == 0.0 or r == 1.0 or not min_ratio <= r <= max_ratio:
            left_out.append((f, r))
            continue
        write_png(Path(out_dir) / f"{mid}.png", m * 255)
        rows.append({"id": mid, "file": f"{mid}.png", "kind": kind, **describe(m)})
    if left_out:
        shown = ", ".join(f"{f.name} ({r:.1%})" for f, r in left_out[:3])
        print(f"masks: warning: {len(left_out)} of {len(ids)} masks in {folder} left out: hole ratio at {size} px "
              f"outside masks.min_ratio..max_ratio [{min_ratio}, {max_ratio}], no hole or all hole ({shown}"
              f"{', ...' if len(left_out) > 3 else ''})", file=sys.stderr)
    if not rows:
        raise ValueError(f"{folder}: none of its {len(ids)} masks has a hole ratio in [{min_ratio}, {max_ratio}] at "
                         f"{size} px (masks.min_ratio, masks.max_ratio); check masks.external.polarity or the bounds")
    return pd.DataFrame(rows, columns=MASK_COLUMNS)


def write_table(out_dir, table: pd.DataFrame) -> None:
    """Write masks.csv; an empty table is an error (nothing to evaluate on)."""
    if table.empty:
        raise ValueError("no masks: list at least one kind in masks.kinds or set masks.external")
    write_csv(Path(out_dir) / "masks.csv", table)


def params_checker():
    """The checker of params.yaml's `masks` section (inpaint.params), with this module's mask kinds."""
    from inpaint.io import POLARITIES
    from inpaint.params import ParamsError, choice, integer, mapping, name, nullable, ratio, section, text

    fields = section({
        "per_kind": integer(1, 100_000), "min_ratio": ratio, "max_ratio": ratio,
        "kinds": mapping(nullable(mapping()), keys=choice(*MASKS)),
        "external": nullable(section({"path": nullable(text), "polarity": choice(*POLARITIES),
                                      "kind": name, "limit": integer(1)}, partial=True)),
    }, optional=("external",))

    def check(v, key):
        fields(v, key)
        if v["min_ratio"] >= v["max_ratio"]:
            raise ParamsError(f"{key}.min_ratio {v['min_ratio']} is not below {key}.max_ratio {v['max_ratio']}; "
                              "make min_ratio the smaller")
        if not v["kinds"] and not (v.get("external") or {}).get("path"):
            raise ParamsError(f"{key}.kinds is empty and {key}.external.path is null, so there would be no masks; "
                              f"list a kind ({sorted(MASKS)}) or a folder of masks")
    return check
