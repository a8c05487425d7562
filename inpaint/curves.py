"""A training run's curves as a static PNG: every logged loss and validation metric against the training
images seen (for readers without `dvc plots show`, whose HTML loads Vega from the web)."""
from __future__ import annotations

import os

import pandas as pd

from inpaint.atomic import write_figure

CURVE_AXES = ("step", "images", "minutes", "chosen")  # columns that are not losses or metrics


def plot_training_curves(log: pd.DataFrame, val: pd.DataFrame, path: str | os.PathLike, title: str,
                         dpi: int = 110) -> None:
    """PNG with one small panel per training loss (log.csv) and per validation metric (val.csv, with
    its starting fill's score dashed), all against training images seen.

    Args:
        log: log.csv of a run (columns step, images, minutes, then one per logged loss).
        val: val.csv (columns step, images, then <metric>, <metric>_se, <metric>_start_fill; `chosen` = 1
            where best.pt was written, marked with a ring).
        path: output PNG, written atomically.
    """
    from matplotlib.figure import Figure

    losses = [c for c in log.columns if c not in CURVE_AXES and log[c].notna().any()] if "images" in log else []
    metrics = [c for c in val.columns if c not in CURVE_AXES and not c.endswith(("_se", "_start_fill")) and "_vs_best" not in c] \
        if "images" in val else []
    panels = [("loss", c) for c in losses] + [("val", c) for c in metrics]
    if not panels:
        raise ValueError(f"nothing to plot for {title}: log.csv and val.csv have no loss or metric columns")
    cols = 4
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(3.2 * cols, 2.3 * rows), layout="constrained")
    fig.suptitle(f"{title} (x: training images seen)")
    for k, (what, c) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, k + 1)
        frame = log if what == "loss" else val
        ax.plot(frame["images"], frame[c], lw=1, marker="." if what == "val" else None, color="C0" if what == "loss" else "C1")
        if what == "val":
            if f"{c}_se" in frame:
                ax.fill_between(frame["images"], frame[c] - frame[f"{c}_se"], frame[c] + frame[f"{c}_se"], color="C1", alpha=0.2)
            if "chosen" in frame:
                picked = frame[frame["chosen"] == 1]
                ax.plot(picked["images"], picked[c], ls="none", marker="o", mfc="none", color="C3", label="best.pt")
            if f"{c}_start_fill" in frame:
                ax.axhline(frame[f"{c}_start_fill"].iloc[0], ls="--", lw=1, color="grey", label="step 0: the start")
                ax.legend(fontsize=7, loc="best")
        ax.set_title(("val " if what == "val" else "") + c, fontsize=9)
        ax.tick_params(labelsize=7)
    write_figure(path, fig, dpi)
