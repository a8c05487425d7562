"""Leakage-free split of the photo manifest, and the fixed evaluation pairs.

The unit of splitting is a photo's `group` (a photo, or photos of one scene such as a stereo pair),
so no crop of a test photo, nor of its twin, is ever seen in training.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")
PAIR_COLUMNS = [
    "pair_id", "image_id", "path", "crop_x", "crop_y", "crop_size",
    "mask_id", "mask_file", "mask_kind", "hole_ratio", "bucket", "touches_border",
]


def _count(value: float, n: int, name: str) -> int:
    """A ratio in [0, 1) of n, or an absolute count (an integer >= 1)."""
    if value < 0:
        raise ValueError(f"split.{name}={value} must be >= 0 (a ratio below 1 or a count)")
    if value < 1:
        return max(1, int(round(value * n))) if value > 0 else 0
    if value != int(value):
        raise ValueError(f"split.{name}={value}: counts must be whole numbers (or give a ratio below 1)")
    return int(value)


def assign_splits(manifest: pd.DataFrame, val: float, test: float, seed: int) -> pd.DataFrame:
    """Return the manifest with `split` filled in: kept where the source was pre-split, else by group.

    Args:
        val, test: ratios of groups (below 1) or numbers of groups (whole numbers >= 1); a non-zero
            ratio always gets at least one group.
    """
    m = manifest.copy()
    m["split"] = m["split"].fillna("").astype(str)
    if (m["split"] != "").all():
        bad = sorted(set(m["split"]) - set(SPLITS))
        if bad:
            raise ValueError(f"manifest has unknown split names {bad}; expected {SPLITS}")
        return m
    if (m["split"] != "").any():
        raise ValueError("manifest is partly pre-split; split all photos into train/val/test folders or none")
    groups = np.array(sorted(m["group"].astype(str).unique()))
    rng = np.random.default_rng(seed)
    groups = groups[rng.permutation(len(groups))]
    n_test, n_val = _count(test, len(groups), "test"), _count(val, len(groups), "val")
    if n_test + n_val >= len(groups):
        raise ValueError(
            f"{len(groups)} photo groups cannot give {n_test} test + {n_val} val and still leave training data; "
            "lower split.test / split.val or add photos"
        )
    which = {g: "test" for g in groups[:n_test]}
    which.update({g: "val" for g in groups[n_test : n_test + n_val]})
    m["split"] = [which.get(str(g), "train") for g in m["group"]]
    return m


def crop_box(rng: np.random.Generator, width: int, height: int, min_scale: float) -> tuple[int, int, int]:
    """A random square (x, y, side) inside the photo, side in [min_scale, 1] of the shorter side."""
    short = min(width, height)
    side = max(1, int(round(short * rng.uniform(min_scale, 1.0))))
    return int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1)), side


def make_test_pairs(test: pd.DataFrame, masks: pd.DataFrame, per_cell: int, seed: int,
                    min_crop_scale: float = 0.5) -> pd.DataFrame:
    """Assign every test photo to `per_cell` masks of every (mask kind, hole-ratio bucket) cell.

    Each pair also fixes a square crop of the photo (later resized to the evaluation size), so every
    method is scored on exactly the same pixels and holes.
    """
    if test.empty:
        raise ValueError("no test photos: the split left the test set empty; raise split.test")
    if per_cell < 1:
        raise ValueError(f"split.pairs_per_cell={per_cell} must be >= 1")
    rng = np.random.default_rng(seed)
    cells = masks.sort_values("id").groupby(["kind", "bucket"], sort=True)
    rows = []
    for photo in test.sort_values("id").itertuples():
        for (kind, bucket), cell in cells:
            picks = rng.choice(len(cell), size=min(per_cell, len(cell)), replace=False)
            for mask in cell.iloc[np.sort(picks)].itertuples():
                x, y, side = crop_box(rng, photo.width, photo.height, min_crop_scale)
                rows.append({
                    "pair_id": f"{len(rows):06d}", "image_id": photo.id, "path": photo.path,
                    "crop_x": x, "crop_y": y, "crop_size": side,
                    "mask_id": mask.id, "mask_file": mask.file, "mask_kind": kind,
                    "hole_ratio": mask.hole_ratio, "bucket": bucket, "touches_border": mask.touches_border,
                })
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)
