"""Comparison grids: labelled PNGs of inputs, every method's fill and the ground truth."""

from __future__ import annotations

import io
import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from inpaint.atomic import write_bytes
from inpaint.metrics import LARGE_HOLES


# --------------------------------------------------------------------------- images and grids


def _as_rgb(image, where: str) -> np.ndarray:
    """Validate a float image in [0, 1]: (H, W, 3), (H, W, 1) or (H, W) -> (H, W, 3) float32."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"{where}: expected an image of shape (H, W, 3), (H, W, 1) or (H, W), got {a.shape}")
    if a.dtype.kind not in "fc":
        raise ValueError(
            f"{where}: expected float values in [0, 1], got dtype {a.dtype}; use image.astype(np.float32) / 255"
        )
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise ValueError(f"{where}: image contains NaN or inf")
    if a.size and (a.max() > 1.5 or a.min() < -0.5):
        raise ValueError(
            f"{where}: values span [{a.min():.3g}, {a.max():.3g}], expected [0, 1] "
            "(divide 0-255 images by 255; map [-1, 1] outputs with (x + 1) / 2)"
        )
    return np.clip(np.broadcast_to(a, a.shape[:2] + (3,)), 0.0, 1.0)


def show_hole(image: np.ndarray, mask: np.ndarray, color=(1.0, 0.0, 1.0), alpha: float = 1.0) -> np.ndarray:
    """Paint the hole of `mask` over `image` in `color` (alpha 1: solid, < 1: translucent overlay).

    Args:
        image: float32 (H, W, 3) in [0, 1].
        mask: float (H, W) or (H, W, 1) in [0, 1], 1 = hole; soft values blend proportionally.
        color: RGB in [0, 1]; magenta by default because it rarely occurs in photos.
    Returns:
        float32 (H, W, 3) in [0, 1].
    """
    img = _as_rgb(image, "show_hole image")
    m = np.asarray(mask, dtype=np.float32)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.shape != img.shape[:2]:
        raise ValueError(f"show_hole: mask shape {np.asarray(mask).shape} does not match image shape {img.shape[:2]}")
    w = (np.clip(m, 0, 1) * float(alpha))[:, :, None]  # (H, W, 1)
    return (img * (1 - w) + np.asarray(color, dtype=np.float32) * w).astype(np.float32)


@lru_cache(maxsize=16)
def _font(size: int, bold: bool = False):
    import matplotlib
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name  # ships with matplotlib: no system fonts needed
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:
        return ImageFont.load_default(size=size)


def _fit_text(draw, text: str, max_width: int, size: int, bold: bool = False, min_size: int = 9):
    """Largest font <= size that fits `text` in max_width px; truncated with an ellipsis at min_size."""
    for s in range(size, min_size - 1, -1):
        font = _font(s, bold)
        if draw.multiline_textbbox((0, 0), text, font=font)[2] <= max_width:
            return text, font
    font = _font(min_size, bold)
    while len(text) > 1 and draw.textbbox((0, 0), text + "…", font=font)[2] > max_width:
        text = text[:-1]
    return text + "…", font


def comparison_grid(
    rows: list[list],
    col_labels: list[str],
    path: str | os.PathLike,
    row_labels: list[str] | None = None,
    title: str | None = None,
    min_cell: int = 256,
    gap: int = 4,
) -> tuple[int, int]:
    """Write a labelled grid of images as one PNG; returns its (width, height) in pixels.

    Cells take the largest image size, enlarged by the integer factor ceil(min_cell / max(H, W))
    when that is small; each image is enlarged by the largest integer factor that fits its cell,
    with nearest neighbour, so every pixel stays a crisp square (never downscaled or blurred).

    Args:
        rows: list of rows, each a list of len(col_labels) float (H, W, 3) images in [0, 1]
            (grayscale (H, W) also accepted; None leaves a cell blank). Images may differ in size;
            each is centred in its cell.
        col_labels: one label per column, e.g. ["input", "telea", "gan", "ground truth"].
        path: output PNG, written atomically.
        row_labels: optional one label per row, e.g. "thick 40-50" (newlines allowed).
        title: optional line above the grid.
        min_cell: the smallest cell side in px that tiny images are scaled up to.
        gap: white space between cells in px.
    """
    from PIL import Image, ImageDraw

    if not rows:
        raise ValueError("comparison_grid: rows is empty; pass at least one row of images")
    ncol = len(col_labels)
    if row_labels is not None and len(row_labels) != len(rows):
        raise ValueError(f"comparison_grid: {len(row_labels)} row_labels for {len(rows)} rows")
    imgs = []
    for r, row in enumerate(rows):
        if len(row) != ncol:
            raise ValueError(f"comparison_grid: row {r} has {len(row)} images but there are {ncol} col_labels")
        imgs.append(
            [None if im is None else _as_rgb(im, f"comparison_grid row {r} col {c}") for c, im in enumerate(row)]
        )
    shapes = [im.shape[:2] for row in imgs for im in row if im is not None]
    if not shapes:
        raise ValueError("comparison_grid: every cell is None")
    h0, w0 = max(s[0] for s in shapes), max(s[1] for s in shapes)
    scale = max(1, math.ceil(min_cell / max(h0, w0)))
    ch, cw = h0 * scale, w0 * scale

    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_size = int(np.clip(cw // 14, 11, 22))
    # Column header height from the tallest fitted label.
    col_texts = [_fit_text(probe, str(t), cw - 4, label_size) for t in col_labels]
    head_h = max(probe.multiline_textbbox((0, 0), t, font=f)[3] for t, f in col_texts) + 2 * gap + 4
    left_w = 0
    row_texts = []
    if row_labels is not None:
        row_font = _font(label_size)
        widths = [probe.multiline_textbbox((0, 0), str(t), font=row_font)[2] for t in row_labels]
        left_w = min(max(widths) + 4 * gap + 6, max(cw, 160))  # never wider than a cell (or 160 px)
        row_texts = [_fit_text(probe, str(t), left_w - 4 * gap - 6, label_size) for t in row_labels]
    title_h = 0
    if title:
        title_text = _fit_text(probe, title, left_w + ncol * (cw + gap), label_size + 4, bold=True)
        title_h = probe.multiline_textbbox((0, 0), title_text[0], font=title_text[1])[3] + 2 * gap + 4

    width = left_w + ncol * (cw + gap) + gap
    height = title_h + head_h + len(rows) * (ch + gap)  # rows end with one gap of margin
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    y0 = title_h + head_h
    for r, row in enumerate(imgs):
        for c, im in enumerate(row):
            if im is None:
                continue
            # Integer factor per image: a smaller image in a mixed grid still fills its cell.
            k = max(1, min(ch // im.shape[0], cw // im.shape[1]))
            big = np.repeat(np.repeat(im, k, axis=0), k, axis=1)  # (h*k, w*k, 3) nearest
            h, w = big.shape[:2]
            top = y0 + r * (ch + gap) + (ch - h) // 2
            left = left_w + gap + c * (cw + gap) + (cw - w) // 2
            canvas[top : top + h, left : left + w] = np.round(big * 255).astype(np.uint8)

    pil = Image.fromarray(canvas)
    draw = ImageDraw.Draw(pil)
    black = (20, 20, 20)
    if title:
        draw.text((width // 2, gap + 2), title_text[0], font=title_text[1], fill=black, anchor="ma")
    for c, (text, font) in enumerate(col_texts):
        x = left_w + gap + c * (cw + gap) + cw // 2
        draw.multiline_text((x, title_h + head_h - gap - 2), text, font=font, fill=black, anchor="md", align="center")
    for r, (text, font) in enumerate(row_texts):
        y = y0 + r * (ch + gap) + ch // 2
        draw.multiline_text((left_w - 2 * gap, y), text, font=font, fill=black, anchor="rm", align="right")

    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    write_bytes(path, buf.getvalue())
    return width, height


# --------------------------------------------------------------------------- which pairs and images a grid shows

DIVERSE_ROWS = 6  # rows of a diverse-sample grid


def example_rows(pairs: pd.DataFrame) -> dict[str, list[int]]:
    """Per mask kind, the row index of one pair per bucket (fixed grid examples), the photos taken in
    turn: each pick is a pair of the photo shown least so far (in every grid together), so every
    test photo appears, not only the first one listed."""
    pairs = pairs.reset_index(drop=True)
    shown = dict.fromkeys(sorted(map(str, pairs.image_id.unique())), 0)
    order = {p: i for i, p in enumerate(shown)}
    out = {}
    for kind, of_kind in pairs.groupby("mask_kind", sort=True):
        rows = []
        for _, cell in of_kind.groupby("bucket", sort=True):
            photo = cell.image_id.astype(str)
            pick = min(cell.index, key=lambda i: (shown[photo[i]], order[photo[i]], i))
            shown[photo[pick]] += 1
            rows.append(int(pick))
        out[kind] = rows
    return out


def diverse_rows(pairs: pd.DataFrame) -> list[int]:
    """Row indices of the pairs a diverse-sample grid shows: large holes, the photos taken in turn."""
    pairs = pairs.reset_index(drop=True)
    big = pairs[pairs.hole_ratio >= LARGE_HOLES]  # large holes, where fills can differ
    per_photo = [list(rows.index) for _, rows in big.groupby(big.image_id.astype(str), sort=True)]
    turns = [rows[k] for k in range(max(map(len, per_photo), default=0)) for rows in per_photo if k < len(rows)]
    return [int(i) for i in turns[:DIVERSE_ROWS]]


def sample_grid(name: str):
    """The training run's sample-grid writer: fn(path, images, masks, preds) -> PNG of input | name | truth."""

    def write(path, images, masks, preds) -> None:
        rows = [[show_hole(i, m), p, i] for i, m, p in zip(images, masks, preds)]
        comparison_grid(rows, ["input", name, "ground truth"], path)

    return write
