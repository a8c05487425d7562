"""Held-out scoring pairs from folders nobody here made: a folder of photos x a folder of irregular
masks (BSDS500 test x the NVIDIA irregular test masks). Used by the pretraining stage (the model
card's scores) and by bench/recipe.py.

The pairs depend only on the seed and the file lists: every method and every variant is scored on the
same pixels and holes. The NVIDIA test masks come in six hole-ratio bins of 2,000 files each, in
file order: 00000-01999 hold 1-10% holes, ..., 10000-11999 hold 50-60% (at 512 px; the ratio moves a
little when a mask is resized, so a drawn mask is kept only if its ratio at the crop size fits).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from inpaint.data import load_crop
from inpaint.io import read_mask, read_rgb8
from inpaint.masks import bucket
from inpaint.split import crop_box

NVIDIA_BIN = 2000  # files per 10% bin


def nvidia_files(folder: str | Path, first_bin: int = 0, last_bin: int = 5) -> list[Path]:
    """The NVIDIA test masks of bins first_bin..last_bin (0: 1-10% holes ... 5: 50-60%), in file order."""
    files = sorted(Path(folder).glob("*.png"))
    if len(files) != 6 * NVIDIA_BIN:
        raise ValueError(f"{folder}: expected the {6 * NVIDIA_BIN} NVIDIA irregular test masks, found {len(files)} PNGs")
    return files[first_bin * NVIDIA_BIN:(last_bin + 1) * NVIDIA_BIN]


def draw_mask(rng: np.random.Generator, mask_files: list[Path], size: int,
              ratio: tuple[float, float] = (0.0, 1.0)) -> tuple[Path, np.ndarray]:
    """A mask file drawn at random whose hole ratio at size x size lies within `ratio`, and that mask
    ((size, size) float32, 1 = hole)."""
    for _attempt in range(1000):
        f = mask_files[int(rng.choice(len(mask_files)))]
        mask = read_mask(f, size=(size, size))
        if ratio[0] <= mask.mean() <= ratio[1]:
            return f, mask
    raise ValueError(f"no mask of {len(mask_files)} has a hole ratio within {ratio} at {size} px")


def heldout_pairs(photos: list[str], mask_files: list[Path], size: int, per_photo: int, seed: int,
                  ratio: tuple[float, float] = (0.0, 1.0), min_crop_scale: float = 0.5):
    """`per_photo` pairs per photo: a random square crop (min_crop_scale..1 of the shorter side) resized to
    size x size, and a mask drawn from `mask_files` whose hole ratio at that size lies within `ratio`.

    Returns images (N, size, size, 3) float32, masks (N, size, size) float32 with 1 = hole, and a frame
    of image_id, mask_id, mask_kind, hole_ratio, bucket (the columns evaluation scores by).
    """
    if not photos:
        raise ValueError("heldout_pairs: no photos given")
    if not mask_files:
        raise ValueError("heldout_pairs: no mask files given")
    rng = np.random.default_rng([seed, 30])
    images, masks, rows = [], [], []
    for path in photos:
        h, w = read_rgb8(path).shape[:2]
        for _ in range(per_photo):
            x, y, side = crop_box(rng, w, h, min_crop_scale)
            f, mask = draw_mask(rng, mask_files, size, ratio)
            images.append(load_crop(path, x, y, side, size))
            masks.append(mask)
            rows.append({"image_id": Path(path).stem, "mask_id": f.stem, "mask_kind": "nvidia",
                         "hole_ratio": float(mask.mean()), "bucket": bucket(float(mask.mean()))})
    return np.stack(images), np.stack(masks), pd.DataFrame(rows)
