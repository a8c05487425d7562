"""One method's fills of the test pairs on disk: what a `predict` stage writes and the `report` stage reads.

  predictions/<method>/method.json    the method as the report sees it (`evaluation.Scored`)
  predictions/<method>/scores.csv     long-format scores of every pair (scored on the unrounded fills)
  predictions/<method>/timing.json    seconds per pair from a separate warm pass, with batch, threads, device
  predictions/<method>/fills/<pair_id>.png          every composited fill
  predictions/<method>/diversity.csv                models that sample: each pair's diversity, sample LPIPS
  predictions/<method>/samples/<pair_id>_<k>.png    their samples of the pairs a diverse-fill grid shows
  predictions/<method>/attention/<pair_id>.png      models with contextual attention: where each hole
                                                    location drew from, for those same pairs (inpaint.attention)

The folder of a method named `pretrained/lama` is predictions/pretrained/lama. DVC caches each folder
(one `predict` stage per method), so an experiment refills and rescores only the methods it changed.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from inpaint.atomic import write_csv, write_png, write_text
from inpaint.evaluation import MethodResult, Results, Scored, combine
from inpaint.grids import diverse_rows
from inpaint.io import read_rgb8, to_uint8


def write_prediction(folder: str | Path, result: MethodResult, pairs: pd.DataFrame) -> None:
    """Write one method's results into `folder` (an empty or new folder: the stage stages it aside)."""
    folder = Path(folder)
    ids = pairs.pair_id.astype(str).tolist()
    write_text(folder / "method.json", json.dumps(asdict(result.method), indent=1) + "\n")
    write_csv(folder / "scores.csv", result.scores)
    if result.timing is not None:
        write_text(folder / "timing.json", json.dumps(result.timing, indent=1) + "\n")
    for pair_id, fill in zip(ids, result.preds):
        write_png(folder / "fills" / f"{pair_id}.png", to_uint8(fill))
    if result.diversity is not None:
        write_csv(folder / "diversity.csv", result.diversity)
    if result.samples is not None:
        for i, drawn in zip(diverse_rows(pairs), result.samples):
            for k, fill in enumerate(drawn):
                write_png(folder / "samples" / f"{ids[i]}_{k}.png", to_uint8(fill))
    if result.sources is not None:
        for i, picture in zip(diverse_rows(pairs), result.sources):
            write_png(folder / "attention" / f"{ids[i]}.png", to_uint8(picture))


def read_prediction(folder: str | Path, pairs: pd.DataFrame, expected: str | None = None) -> MethodResult:
    """One method's results as `write_prediction` left them (fills in [0, 1], rounded to 8 bits); `expected`:
    the method name the folder must hold."""
    folder = Path(folder)
    if not (folder / "method.json").is_file():
        raise ValueError(f"{folder} holds no predictions (no method.json); run its predict stage (dvc repro)")
    method = Scored(**json.loads((folder / "method.json").read_text()))
    if expected is not None and method.name != expected:
        raise ValueError(f"{folder} holds the predictions of {method.name!r}, not {expected!r}; rerun its predict stage "
                         "(dvc repro)")
    ids = pairs.pair_id.astype(str).tolist()
    missing = [i for i in ids if not (folder / "fills" / f"{i}.png").is_file()]
    if missing:
        raise ValueError(f"{folder}/fills lacks {len(missing)} of the {len(ids)} test pairs (e.g. {missing[0]}.png): "
                         "it was filled for other test pairs; rerun its predict stage (dvc repro)")
    preds = np.stack([_read(folder / "fills" / f"{i}.png") for i in ids])
    scores = pd.read_csv(folder / "scores.csv", dtype={"image_id": str, "mask_id": str})
    timing = json.loads((folder / "timing.json").read_text()) if (folder / "timing.json").is_file() else None
    diversity = samples = None
    if (folder / "diversity.csv").is_file():
        diversity = pd.read_csv(folder / "diversity.csv", dtype={"image_id": str, "mask_id": str})
        rows = diverse_rows(pairs)
        n = len(list((folder / "samples").glob(f"{ids[rows[0]]}_*.png"))) if rows else 0
        if rows and n:
            samples = np.stack([np.stack([_read(folder / "samples" / f"{ids[i]}_{k}.png") for k in range(n)])
                                for i in rows])
    sources, rows = None, diverse_rows(pairs)
    if (folder / "attention").is_dir() and rows:
        sources = np.stack([_read(folder / "attention" / f"{ids[i]}.png") for i in rows])
    return MethodResult(method, scores, preds, timing, diversity, samples, sources)


def read_predictions(root: str | Path, names: list[str], pairs: pd.DataFrame) -> Results:
    """The listed methods' results under `root` (root/<name>), as one evaluation."""
    return combine([read_prediction(Path(root) / name, pairs, name) for name in names])


def _read(path: Path) -> np.ndarray:
    return read_rgb8(path).astype(np.float32) / 255.0
