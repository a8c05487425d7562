"""The lattice score: how much of what a model changes in the hole is a regular grid of period 8 pixels,
the artefact stride-2 upsampling draws (seen at 3-5x zoom on flat areas). bench/recipe.py, bench/texture.py
and the model card (stages/model_card.py) report it.
"""
from __future__ import annotations

import numpy as np


def lattice(preds: np.ndarray, start: np.ndarray, masks: np.ndarray, period: int = 8) -> float:
    """How much of what a model changes in the hole is a regular lattice: the share of the power
    spectrum of (pred - start fill) inside the hole at the harmonics of `period` pixels, divided by
    the share a spectrum without peaks would put there. About 1 = no lattice. Period 8 is where our
    generators' stride-2 upsampling grid (1/8 resolution) and AlexNet's conv1-pool1 stride meet; the
    transposed-convolution variants drew their visible lattice there (20-50x).

    Images of any size (N, H, W[, 3]) whose top-left pixel is where the model's grid starts (a work crop);
    each side is cut to a multiple of `period`, so the harmonics fall on frequency bins."""
    h, w = (preds.shape[1] // period) * period, (preds.shape[2] // period) * period
    if h == 0 or w == 0:
        raise ValueError(f"lattice: images of {preds.shape[1]}x{preds.shape[2]} px are smaller than the period {period}")
    change = preds[:, :h, :w] - start[:, :h, :w]
    if change.ndim == 4:
        change = change.mean(-1)  # grey
    change = change * masks[:, :h, :w]  # (N, h, w), hole only
    power = (np.abs(np.fft.fft2(change)) ** 2).mean(0)
    rows, cols = np.arange(0, h, h // period), np.arange(0, w, w // period)
    total = power.sum() - power[0, 0]
    peaks = power[np.ix_(rows, cols)].sum() - power[0, 0]
    return float((peaks / max(total, 1e-20)) / ((len(rows) * len(cols) - 1) / (h * w - 1)))
