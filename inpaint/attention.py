"""Where an attention model copied from: the argmax of its contextual attention, per hole location, and a
picture of it.

DeepFill's refinement stage, and a lama built with `attention: true` after its FFC blocks, fill each
bottleneck location of the hole with a softmax-weighted copy of known-region patches
(models/deepfill.py: contextual_attention). `attention_sources` runs the model once
and reads, for every location of the attention's matching grid, the known patch of highest weight:
its position in image pixels and that weight. `source_picture` draws it: every known pixel gets the
colour of its position (`position_colours`: red grows to the right, blue downwards, green towards the
centre), shown dimmed; every hole pixel gets, at full brightness, the colour of the place it drew from.
A hole patch that copied the brick wall on its left shows the wall's colour code; one that drew from
all over the image shows a mixture of codes. `copy_error` measures whether those places hold what the
hole really holds.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from inpaint.models import pad_to_multiple


def has_attention(model) -> bool:
    """Whether a generator copies with contextual attention (a deepfill, or a lama built with attention: true)."""
    from inpaint.models.deepfill import ContextualAttention

    return isinstance(getattr(model, "attention", None), ContextualAttention)


def sources_of(model, images: np.ndarray, masks: np.ndarray) -> list[np.ndarray]:
    """`attention_sources`' source map of each pair: images (N, S, S, 3) float in [0, 1], masks (N, S, S)
    1 = hole -> N arrays (S, S, 2), one run of the model per pair."""
    out = []
    for image, mask in zip(images, masks):
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
        m = torch.from_numpy(np.ascontiguousarray(mask))[None, None].float()
        out.append(attention_sources(model, x, m)[1])
    return out


def attention_pictures(model, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """`source_picture` of each pair: (N, S, S, 3) float32 (images and masks as `sources_of`)."""
    return np.stack([source_picture(s, m) for s, m in zip(sources_of(model, images, masks), masks)])


def attention_cell(model) -> int:
    """Image pixels per location of the attention's matching grid (bottleneck scale x attention rate)."""
    return model.scale * model.attention.rate


@torch.no_grad()
def attention_sources(model, image: torch.Tensor, mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run `model` (a generator with contextual attention, eval mode) once on one image and read its attention.

    Args:
        image: (1, 3, H, W) float in [0, 1]; mask: (1, 1, H, W) float, 1 = hole. Any H, W (padded as a fill is),
            any device (moved to the model's).
    Returns:
        fill: (H, W, 3) float32, the composited fill of this same run;
        source: (H, W, 2) float32, per pixel of a hole location (a matching cell holding any hole pixel) the
            (y, x) image position of the centre of the known patch that location weighted most (NaN at
            other locations, and where no known patch was valid; a source may lie in the padding a fill
            adds to reach a multiple of the model's size, beyond the photo's edge);
        weight: (H, W) float32, that patch's softmax weight (1 = copied from one place; small = a blend).
    """
    if getattr(model, "attention", None) is None:
        raise ValueError("attention_sources: the model has no contextual attention (a deepfill, or a lama built with "
                         "attention: true)")
    if image.shape[0] != 1:
        raise ValueError(f"attention_sources: one image at a time, got a batch of {image.shape[0]}")
    h, w = image.shape[-2:]
    device = next(model.parameters()).device
    padded_image, padded_mask = pad_to_multiple(image.to(device), mask.to(device), model.size_multiple)
    model.attention.record = True
    try:
        pred = model(padded_image, padded_mask)["pred"][..., :h, :w]
        strongest = model.attention.best[0]  # (2, gh, gw): the strongest key's weight and index
    finally:
        model.attention.record, model.attention.best = False, None
    fill = (padded_mask[..., :h, :w] * pred + (1 - padded_mask[..., :h, :w]) * padded_image[..., :h, :w])
    fill = fill[0].permute(1, 2, 0).float().cpu().numpy()
    gh, gw = strongest.shape[-2:]
    best, index = strongest[0], strongest[1].long()
    cell = attention_cell(model)
    ky, kx = (index // gw).float(), (index % gw).float()
    source = torch.stack([ky, kx], dim=-1) * cell + cell / 2  # (gh, gw, 2): the key patch's centre, image pixels
    source[best <= 0] = float("nan")  # a known location, or no valid key (an all-hole image)
    up = lambda a: np.repeat(np.repeat(a, cell, axis=0), cell, axis=1)[:h, :w]  # noqa: E731 (grid -> pixels)
    return fill.astype(np.float32), up(source.cpu().numpy()).astype(np.float32), up(best.cpu().numpy()).astype(np.float32)


def position_colours(h: int, w: int) -> np.ndarray:
    """A smooth colour per position of an h x w image, (h, w, 3) in [0, 1]: red grows to the right, blue
    downwards, green towards the centre, so nearby places look alike and distant ones differ."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = x / max(w - 1, 1), y / max(h - 1, 1)
    green = 1 - np.hypot(u - 0.5, v - 0.5) / np.hypot(0.5, 0.5)
    return np.stack([u, green, v], axis=-1).astype(np.float32)


def source_picture(source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32: known pixels in their own position colour at half brightness, hole pixels in the
    position colour of the place they drew from at full brightness (black where nothing was valid).

    Args:
        source: (H, W, 2) from `attention_sources`; mask: (H, W) float, 1 = hole.
    """
    h, w = mask.shape
    codes = position_colours(h, w)
    picture = 0.5 * codes
    hole = mask > 0.5
    valid = hole & np.isfinite(source).all(axis=-1)
    sy = np.clip(np.nan_to_num(source[..., 0]), 0, h - 1).astype(int)
    sx = np.clip(np.nan_to_num(source[..., 1]), 0, w - 1).astype(int)
    picture[hole] = 0.0
    picture[valid] = codes[sy[valid], sx[valid]]
    return picture.astype(np.float32)


def valid_keys(mask: np.ndarray, cell: int, ksize: int) -> np.ndarray:
    """Centres (y, x) in image pixels of the keys an attention matching `cell`-pixel cells may copy from:
    ksize x ksize cells holding no hole pixel (as models/deepfill.py: contextual_attention; `model.attention.ksize`:
    3 for deepfill, 1 for a lama with attention), (K, 2)."""
    h, w = mask.shape
    gh, gw = -(-h // cell), -(-w // cell)
    padded = np.zeros((gh * cell, gw * cell), bool)
    padded[:h, :w] = mask > 0.5
    hole_cells = padded.reshape(gh, cell, gw, cell).any(axis=(1, 3))
    touched = ndimage.maximum_filter(hole_cells, size=ksize, mode="constant", cval=False)
    ky, kx = np.nonzero(~touched)
    return np.stack([ky, kx], axis=1).astype(np.float32) * cell + cell / 2


def copy_error(truth: np.ndarray, mask: np.ndarray, source: np.ndarray, cell: int,
               rng: np.random.Generator, ksize: int) -> dict[str, float]:
    """Whether an attention drew from places that hold what the hole really holds.

    A hole pixel p of a matching location centred at c whose strongest source is the known patch centred
    at s copies the pixel s + (p - c). Returns the mean |truth[p] - truth[s + p - c]| over the hole's
    pixels (grey values in [0, 1]) as "attention", beside the same for two choices that obey the same
    rule (a key holds no hole pixel, `valid_keys`) but match nothing: "random_key", a valid key drawn at
    random per location, and "nearest_key", the valid key nearest to the location (photos are smooth, so
    copying from next door is already better than from anywhere). Attention below both: it copies
    matching texture, not merely nearby pixels. NaN when no hole location has a valid source.

    Args:
        truth: (H, W, 3) float, the photo before the hole was cut; mask: (H, W), 1 = hole;
        source: (H, W, 2) from `attention_sources`; cell: `attention_cell(model)`; ksize: the key size in
        cells (`model.attention.ksize`).
    """
    h, w = mask.shape
    grey = np.asarray(truth, np.float32).mean(-1)
    hole = (mask > 0.5) & np.isfinite(source).all(-1)
    keys = valid_keys(mask, cell, ksize)
    if not hole.any() or not len(keys):
        return {"attention": float("nan"), "random_key": float("nan"), "nearest_key": float("nan")}
    ys, xs = np.nonzero(hole)
    cy, cx = (ys // cell) * cell + cell / 2, (xs // cell) * cell + cell / 2

    def error(sy: np.ndarray, sx: np.ndarray) -> float:
        ty = np.clip(np.rint(sy + ys - cy), 0, h - 1).astype(int)
        tx = np.clip(np.rint(sx + xs - cx), 0, w - 1).astype(int)
        return float(np.abs(grey[ys, xs] - grey[ty, tx]).mean())

    location = (ys // cell) * (w // cell + 1) + xs // cell
    ids, first, inverse = np.unique(location, return_index=True, return_inverse=True)
    drawn = keys[rng.integers(0, len(keys), len(ids))][inverse]  # one random valid key per location
    centres = np.stack([cy[first], cx[first]], axis=1)  # (locations, 2)
    nearest = keys[np.argmin(((centres[:, None] - keys[None]) ** 2).sum(-1), axis=1)][inverse]
    return {"attention": error(source[ys, xs, 0], source[ys, xs, 1]), "random_key": error(drawn[:, 0], drawn[:, 1]),
            "nearest_key": error(nearest[:, 0], nearest[:, 1])}
