"""Lattice removal: the part of a network's fill that repeats every 8 pixels, estimated locally and taken out.

Our generators downsample three times by 2, and on flat areas of large work crops their fills carry a
faint grid of period 8 px anchored at the crop's top-left pixel (inpaint.lattice scores it: 50-500 on the
sky of 2.5-6K photos). Texture does not repeat on that grid, so the grid can be told apart from it:
- the fill's detail `r` is the fill minus its 8x8 box mean (a box of one period has no period-8 content);
- for each of the 64 phases (y mod 8, x mod 8) the detail is averaged over the CELLS x CELLS grid cells
  around each pixel, from hole pixels at least one period inside the hole only (near the hole's edge the
  box mean mixes in the known pixels), where at least MIN_CELLS such cells are found, and only where all 64
  phases around a pixel have their average. The average is the cells' median where all of them are inner
  (a sharp edge in one row of cells is then not taken for a lattice and subtracted as an echo of itself),
  their mean within two cells of the inner region's edge, where fewer are found;
- those averages minus their own 8x8 mean are the local lattice; it is shrunk by how far it stands above
  what averaging CELLS x CELLS cells of non-repeating detail leaves (a Wiener gain), and subtracted from the
  hole's pixels. Known pixels are never changed.
A cheap filter on the work crop, on by default for network methods in `inpaint fill` and `inpaint serve`
(`--no-delattice` for the network's own fill); what it removes is what the lattice score
counts, so its detail ratio and LPIPS are the checks that it takes nothing else (docs/fullres.md).
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.ndimage import binary_erosion, uniform_filter

PERIOD = 8  # px: the generators' grid (three stride-2 downsamplings)
CELLS = 5  # grid cells per side over which each phase is averaged (a 40-px window)
MIN_CELLS = 4  # inner cells a phase's average needs; fewer, and no pattern is estimated there
CHUNK = 1 << 16  # pixels whose cells' median is taken at once (25 x 3 floats each)


def cells_median(detail: np.ndarray, where: np.ndarray, period: int, cells: int) -> np.ndarray:
    """The median over the cells x cells grid cells around each pixel of `where` (H, W) bool, in its own phase:
    detail[y + period * i, x + period * j] for |i|, |j| <= cells // 2, per channel; (n, C) in `where`'s order.
    Those cells must lie inside the array (they do where all of them are inner hole pixels)."""
    ys, xs = np.nonzero(where)
    steps = period * np.arange(-(cells // 2), cells // 2 + 1)
    planes = np.moveaxis(detail, -1, 0)  # (C, H, W): each pixel's cells then lie last, side by side in memory
    middle = cells * cells // 2
    out = np.empty((detail.shape[-1], len(ys)), detail.dtype)
    for start in range(0, len(ys), CHUNK):
        y, x = ys[start:start + CHUNK], xs[start:start + CHUNK]
        rows = (y[:, None] + steps)[:, :, None]  # (n, cells, 1)
        cols = (x[:, None] + steps)[:, None, :]  # (n, 1, cells)
        around = planes[:, rows, cols].reshape(len(planes), len(y), cells * cells)  # (C, n, cells^2)
        out[:, start:start + CHUNK] = np.partition(around, middle, axis=-1)[..., middle]  # an odd count: exact
    return out.T


def phase_sum(a: np.ndarray, period: int, cells: int) -> np.ndarray:
    """For each pixel of `a` (H, W, C), the sum of a over the cells x cells grid cells around it in its own phase
    (y mod period, x mod period), zero beyond the array: one box filter over the cells of all phases at once."""
    h, w, c = a.shape
    grid = np.zeros((-(-h // period) * period, -(-w // period) * period, c), a.dtype)
    grid[:h, :w] = a
    cells_view = grid.reshape(grid.shape[0] // period, period, grid.shape[1] // period, period, c)
    summed = uniform_filter(cells_view, size=(cells, 1, cells, 1, 1), mode="constant") * cells * cells
    return summed.reshape(grid.shape)[:h, :w]


def lattice_component(fill: np.ndarray, mask: np.ndarray, period: int = PERIOD, cells: int = CELLS) -> np.ndarray:
    """The local period-`period` pattern of one fill (H, W, 3) float inside its hole (mask (H, W), 1 = hole),
    anchored at the top-left pixel; zero outside the hole and where the hole is too thin to estimate it.
    Computed on the hole's bounding box and a margin wider than anything it reaches (phase averages reach
    cells // 2 cells, box means half a period each way), cut at the array's edges, so the phases stay anchored:
    for float32 fills (the networks') the same values as on the whole array, bit for bit."""
    out = np.zeros_like(fill)
    rows, cols = np.nonzero(mask > 0.5)
    if not len(rows):
        return out
    margin = period * (cells // 2 + 2)
    y0, x0 = max(rows.min() - margin, 0), max(cols.min() - margin, 0)
    y0, x0 = y0 - y0 % period, x0 - x0 % period  # the same phases as the whole array
    y1, x1 = rows.max() + 1 + margin, cols.max() + 1 + margin
    out[y0:y1, x0:x1] = _component(fill[y0:y1, x0:x1], mask[y0:y1, x0:x1], period, cells)
    return out


def _component(fill: np.ndarray, mask: np.ndarray, period: int, cells: int) -> np.ndarray:
    """`lattice_component` on a window whose top-left pixel is in phase (0, 0)."""
    hole = mask > 0.5
    inner = binary_erosion(binary_erosion(hole, np.ones((2 * period + 1, 1), bool)), np.ones((1, 2 * period + 1), bool))
    inner = inner[..., None].astype(np.float32)  # the square erosion, as two lines
    detail = fill - uniform_filter(fill, size=(period, period, 1), mode="reflect")
    weight = phase_sum(inner, period, cells)  # inner cells around each pixel in its own phase
    m = phase_sum(detail * inner, period, cells) / np.maximum(weight, 1e-6)
    sq = phase_sum(detail * detail * inner, period, cells) / np.maximum(weight, 1e-6)
    enough = weight >= MIN_CELLS - 1e-3  # where a phase average exists
    mean = np.where(enough, m, 0.0).astype(fill.dtype)
    # the variance of that median: the cells' sample variance over their count, times pi/2
    noise = np.where(enough, np.pi / 2 * np.maximum(sq - m * m, 0.0) / np.maximum(weight - 1, 1), 0.0).astype(fill.dtype)
    known = enough.astype(np.float32)
    full = weight[..., 0] >= cells * cells - 1e-3  # where all its cells are inner
    # the median of the cells where all of them are inner, not their mean: a sharp edge in one row of cells is
    # not a lattice (near the hole's edge, with fewer cells, their mean)
    mean[full] = cells_median(detail, full, period, cells)
    whole = uniform_filter(known, size=(period, period, 1), mode="constant") > 1 - 1e-3  # all 64 phases around
    pattern = (mean - uniform_filter(mean, size=(period, period, 1), mode="reflect")) * whole
    power = uniform_filter(pattern * pattern, size=(period, period, 1), mode="reflect")
    spread = uniform_filter(noise, size=(period, period, 1), mode="reflect")
    gain = np.clip(1.0 - spread / np.maximum(power, 1e-12), 0.0, 1.0)
    return (pattern * gain * hole[..., None]).astype(fill.dtype)


def delattice(fills: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Fills (N, H, W, 3) float with their hole's lattice component taken out; masks (N, H, W), 1 = hole."""
    return np.stack([np.clip(f - lattice_component(f, m), 0.0, 1.0) for f, m in zip(fills, masks)]).astype(fills.dtype)


def delatticed(method):
    """A resolved method (`inpaint.methods.Method`) whose fill has its lattice taken out (`inpaint fill --delattice`).
    Raises a ValueError naming the method when it is a classical one (it draws no grid)."""
    if method.model is None:
        raise ValueError(f"--delattice takes the 8-px lattice out of a network's fill; {method.name} is a classical "
                         "method, which draws none: drop --delattice or pick a model such as pretrained/lama_fullres")
    return dataclasses.replace(method, fill=lambda images, masks: delattice(np.asarray(method.fill(images, masks)), masks))


def as_filled(method, choice: bool | None = None):
    """A resolved method as `inpaint fill` and `inpaint serve` run it: a network's fill with its lattice taken out,
    unless `choice` is False (`--no-delattice`); a classical method as it is, unless `choice` is True, which
    raises (see `delatticed`)."""
    if choice is False or (choice is None and method.model is None):
        return method
    return delatticed(method)
