"""`inpaint score`: a user's predictions scored against their ground truths with the pipeline's metrics.

Files are paired as `inpaint fill` pairs them (by relative name without extension); a prediction is
scored composited on its ground truth through its mask, as the pipeline scores fills, or as given
without masks. Masks: 1 = hole unless read with polarity "black_hole".
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from inpaint.arrays import masks_to_nchw, to_nchw
from inpaint.atomic import write_csv
from inpaint.io import IMAGE_EXTENSIONS, read_image, read_mask
from inpaint.metrics import HEADLINE_METRICS, HOLE_METRICS, compute, get_metric
from inpaint.pairing import images_by_name, match_by_name


def _score_pairs(gt: Path, other: Path, what: str) -> list[tuple[Path, Path]]:
    """(ground truth, prediction or mask) pairs: two files, two folders matched by relative name without
    extension, or (masks only) one file for a whole folder."""
    if not gt.exists() or not other.exists():
        raise ValueError(f"{gt if not gt.exists() else other}: no such file or folder; check the path")
    if gt.is_file():
        if not other.is_file():
            raise ValueError(f"{other} is a folder but {gt} is one image; give the {what} file")
        return [(gt, other)]
    inside = other.is_dir() and gt.resolve() in other.resolve().parents  # predictions kept inside the truth folder
    a = images_by_name(gt, skip=other if inside else None)
    if not a:
        raise ValueError(f"{gt}: no images found")
    if other.is_file() and what != "mask":
        raise ValueError(f"{other} is one file but {gt} is a folder; give a folder of {what}s")
    b = match_by_name(a, other, what, str(other))
    return [(a[k], b[k]) for k in a]


def _check_csv(csv: Path, inputs: dict[Path, str]) -> None:
    """Refuse a --csv that would replace an input (a ground truth, prediction or mask) or is not a CSV path."""
    what = inputs.get(csv.resolve())
    if what is not None:
        raise ValueError(f"--csv {csv} is an input ({what}); the scores would replace it: give another path, such as "
                         "scores.csv")
    if csv.is_dir():
        raise ValueError(f"--csv {csv} is a folder; give a file path such as {csv / 'scores.csv'}")
    if csv.suffix.lower() in IMAGE_EXTENSIONS:
        raise ValueError(f"--csv {csv} ends in {csv.suffix}, an image extension; give a .csv path")


def score_files(gt: str | Path, pred: str | Path, masks: str | Path | None = None, metrics: str | None = None,
                polarity: str = "white_hole", csv: str | Path | None = None) -> pd.DataFrame:
    """Score predictions against their ground truths (two files, or two folders matched by name), as
    `inpaint score` does: a row per image (image, hole_ratio with masks, one column per metric);
    `metrics` comma-separated, by default the headline metrics, plus the hole metrics with `masks`.
    With `csv` the table is also written there (atomically; never over an input)."""
    names = [n.strip() for n in metrics.split(",") if n.strip()] if metrics else \
        list(HEADLINE_METRICS) + (list(HOLE_METRICS) if masks else [])
    for n in names:
        get_metric(n)  # unknown names fail before any work, listing the known ones
    hole = [n for n in names if n.startswith("hole_")]
    whole = [n for n in names if n not in hole]
    if hole and not masks:
        raise ValueError(f"--metrics {','.join(hole)}: hole-only metrics need --masks (1 = hole)")
    gt_root = Path(gt)
    pairs = _score_pairs(gt_root, Path(pred), "prediction")
    by_photo = dict(_score_pairs(gt_root, Path(masks), "mask")) if masks else {}
    if csv:
        _check_csv(Path(csv), {p.resolve(): what for pair in pairs for p, what in zip(pair, ("ground truth",
                                    "prediction"))} | {m.resolve(): "mask" for m in by_photo.values()})
    rows, mask_path = [], None
    for gt_path, pred_path in pairs:
        gt, pred = read_image(gt_path), read_image(pred_path)
        if gt.shape != pred.shape:
            raise ValueError(f"{pred_path}: size {pred.shape[1]}x{pred.shape[0]} differs from {gt_path} "
                             f"{gt.shape[1]}x{gt.shape[0]}; predictions must keep the ground truth's size")
        row = {"image": str(gt_path.relative_to(gt_root)) if gt_root.is_dir() else gt_path.name}
        as_given = np.ones(gt.shape[:2], np.float32)  # compositing through an all-hole mask keeps pred as it is
        values = {}
        if by_photo:
            if by_photo[gt_path] != mask_path:  # one mask for a whole folder is read once
                mask_path = by_photo[gt_path]
                mask = read_mask(mask_path, polarity)
            if mask.shape != gt.shape[:2]:
                raise ValueError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but {gt_path} is "
                                 f"{gt.shape[1]}x{gt.shape[0]}; give a mask of the image's size")
            row["hole_ratio"] = float(mask.mean())
            if not mask.any():
                print(f"inpaint score: warning: {mask_path} has no hole (polarity {polarity}); {pred_path} "
                      "scored as given, hole metrics left blank", file=sys.stderr)
            if hole:
                values.update(compute(hole, to_nchw(pred), to_nchw(gt), masks_to_nchw(mask)))  # NaN without a hole
            if mask.any():
                as_given = mask  # composite: known pixels from the ground truth, as the pipeline scores fills
        if whole:
            values.update(compute(whole, to_nchw(pred), to_nchw(gt), masks_to_nchw(as_given)))
        rows.append({**row, **{n: float(values[n][0]) for n in names}})
    table = pd.DataFrame(rows)
    if csv:
        write_csv(csv, table)
    return table
