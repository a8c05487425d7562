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
    transposed-convolution variants drew their visible lattice there (20-50x)."""
    change = (preds - start).mean(-1) * masks  # (N, S, S) grey change, hole only
    power = (np.abs(np.fft.fft2(change)) ** 2).mean(0)
    size = power.shape[0]
    idx = np.arange(0, size, size // period)
    total = power.sum() - power[0, 0]
    peaks = power[np.ix_(idx, idx)].sum() - power[0, 0]
    return float((peaks / max(total, 1e-20)) / ((len(idx) ** 2 - 1) / (size * size - 1)))
