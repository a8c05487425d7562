"""Evaluation: every method, learned or classical, on the same test pairs; long-format scores.

A method is anything named in params: a classical baseline, or a trained model whose checkpoint is
`<checkpoints>/<name>/best.pt` (rebuilt from the checkpoint, not from today's params). All of them
are called alike: `fill(images (N, S, S, 3), masks (N, S, S)) -> composited images`, 1 = hole.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from inpaint.classical import BASELINES
from inpaint.metrics import compute
from inpaint.training import generator_from_checkpoint, load_checkpoint, pick_device, predict

Fill = Callable[[np.ndarray, np.ndarray], np.ndarray]


def load_method(name: str, checkpoints: str | Path, device: str = "auto", batch_size: int = 16) -> tuple[Fill, object]:
    """The batched fill function of a method, and its model (None for a baseline)."""
    if name in BASELINES:
        fn = BASELINES[name]
        return (lambda images, masks: np.stack([fn(i, m) for i, m in zip(images, masks)])), None
    ckpt = Path(checkpoints) / name / "best.pt"
    if not ckpt.exists():
        raise ValueError(
            f"method {name!r} is neither a baseline {sorted(BASELINES)} nor a trained model ({ckpt} missing); "
            "list it in train.models or remove it from evaluate.methods"
        )
    dev = pick_device(device)
    model, _ = generator_from_checkpoint(ckpt, dev)
    return (lambda images, masks: predict(model, images, masks, dev, batch_size)), model


def checkpoint_note(name: str, checkpoints: str | Path) -> str | None:
    """Which training step a model's best.pt holds, out of how many, and its validation score;
    None for a baseline. Step 0 is the untrained model, i.e. its starting fill: training never beat it."""
    path = Path(checkpoints) / name / "best.pt"
    if name in BASELINES or not path.exists():
        return None
    ckpt = load_checkpoint(path)
    params, val = ckpt.get("params") or {}, ckpt.get("val") or {}
    scores = ", ".join(f"{k} {v:.4f}" for k, v in val.items())
    note = f"{name}: best.pt from step {ckpt.get('step')} of {params.get('max_steps', '?')}"
    note += f" (validation {scores})" if scores else ""
    return note + (" = the untrained starting fill" if ckpt.get("step") == 0 else "")


def run_method(fill: Fill, images: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, float]:
    """Fill every pair; returns predictions and mean wall-clock seconds per image."""
    t0 = time.perf_counter()
    preds = fill(images, masks)
    seconds = (time.perf_counter() - t0) / len(images)
    if preds.shape != images.shape:
        raise ValueError(f"a method returned shape {preds.shape} for inputs {images.shape}")
    return preds.astype(np.float32), seconds


def score(method: str, preds: np.ndarray, images: np.ndarray, masks: np.ndarray, pairs: pd.DataFrame,
          metrics: list[str], device: str = "auto", batch_size: int = 32) -> pd.DataFrame:
    """Long-format per-image scores: method, image_id, mask_id, mask_kind, hole_ratio, bucket, metric, value."""
    dev = pick_device(device)
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)  # noqa: E731  (N, 3, S, S)
    values = {m: [] for m in metrics}
    for i in range(0, len(images), batch_size):
        sl = slice(i, i + batch_size)
        out = compute(metrics, to_t(preds[sl]), to_t(images[sl]), torch.from_numpy(masks[sl])[:, None], device=dev)
        for m in metrics:
            values[m].append(np.asarray(out[m], dtype=np.float64))
    base = pairs[["image_id", "mask_id", "mask_kind", "hole_ratio", "bucket"]].reset_index(drop=True)
    frames = [base.assign(method=method, metric=m, value=np.concatenate(values[m])) for m in metrics]
    cols = ["method", "image_id", "mask_id", "mask_kind", "hole_ratio", "bucket", "metric", "value"]
    return pd.concat(frames, ignore_index=True)[cols]


def example_rows(pairs: pd.DataFrame) -> dict[str, list[int]]:
    """Per mask kind, the row index of the first pair of each bucket (fixed grid examples)."""
    firsts = pairs.reset_index(drop=True).groupby(["mask_kind", "bucket"], sort=True).head(1)
    return {kind: rows.index.tolist() for kind, rows in firsts.groupby("mask_kind", sort=True)}


@torch.no_grad()
def diverse_samples(model, images: np.ndarray, masks: np.ndarray, n: int, seed: int) -> np.ndarray:
    """`n` composited fills per pair from a model that can sample: (N, n, S, S, 3); masks 1 = hole."""
    device = next(model.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(device)  # (N, 3, S, S)
    m = torch.from_numpy(masks)[:, None].to(device)  # (N, 1, S, S)
    gen = torch.Generator(device=device).manual_seed(seed)
    samples = model.sample(x, m, n, generator=gen).float().clamp(0, 1)  # (n, N, 3, S, S)
    comp = m[None] * samples + (1 - m[None]) * x[None]
    return comp.permute(1, 0, 3, 4, 2).cpu().numpy()
