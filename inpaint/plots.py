"""Static plots: each metric against the hole ratio (the PNG in the report and the CSV `dvc plots` draws),
and a training run's curves (for readers without `dvc plots show`, whose HTML loads Vega from the web)."""

from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd

from inpaint.io import write_bytes
from inpaint.stats import as_agg, bucket_bounds, bucket_mid, infer_ci_level, sorted_buckets

PLOT_COLUMNS = ["method", "metric", "bucket", "hole_ratio_mid", "mean", "ci_low", "ci_high"]


def _save_figure(fig, path: str | os.PathLike, dpi: int) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    write_bytes(path, buf.getvalue())


# --------------------------------------------------------------------------- plots


def plot_data(
    data: pd.DataFrame, metric: str | None = None, n_boot: int = 1000, seed: int = 0, ci: float = 0.95
) -> pd.DataFrame:
    """Tidy per-bucket table behind the hole-ratio plots, columns PLOT_COLUMNS, sorted by method/metric/x.

    Args:
        data: an aggregate() result, or a per-image frame (aggregated here with n_boot/seed/ci).
        metric: keep only this metric (None: all).
    """
    agg = as_agg(data, n_boot, seed, ci)
    sub = agg[agg["group_type"] == "bucket"]
    if metric is not None:
        if metric not in set(agg["metric"]):
            raise ValueError(f"metric {metric!r} is not in the data; known: {sorted(set(agg['metric']))}")
        sub = sub[sub["metric"] == metric]
    out = pd.DataFrame(
        {
            "method": sub["method"].to_numpy(),
            "metric": sub["metric"].to_numpy(),
            "bucket": sub["group"].astype(str).to_numpy(),
            "hole_ratio_mid": [bucket_mid(b) for b in sub["group"]],
            "mean": sub["mean"].to_numpy(),
            "ci_low": sub["ci_low"].to_numpy(),
            "ci_high": sub["ci_high"].to_numpy(),
        }
    )
    # Sort by x within each (method, metric); methods and metrics keep the caller's order.
    rank = {c: {v: i for i, v in enumerate(pd.unique(out[c]))} for c in ("method", "metric")}
    out["_m"], out["_k"] = out["method"].map(rank["method"]), out["metric"].map(rank["metric"])
    return (
        out.sort_values(["_m", "_k", "hole_ratio_mid"], kind="stable").drop(columns=["_m", "_k"]).reset_index(drop=True)
    )


def plot_data_csv(
    data: pd.DataFrame,
    path: str | os.PathLike,
    metric: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Write plot_data() as CSV (atomically) for `dvc plots`; returns the written table.

    Args:
        data: an aggregate() result or a per-image frame.
        path: CSV path; one file per metric (metric=...) is what dvc plots wants.
        metric: keep only this metric (None: all metrics in one tidy file).
    """
    table = plot_data(data, metric=metric, n_boot=n_boot, seed=seed, ci=ci)
    write_bytes(path, table.to_csv(index=False, float_format="%.6g").encode())
    return table


def plot_metric_vs_hole_ratio(
    data: pd.DataFrame,
    metric: str,
    path: str | os.PathLike,
    higher_is_better: bool,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    title: str | None = None,
    dpi: int = 150,
) -> None:
    """PNG of mean `metric` per hole-ratio bucket, one line per method with CI error bars.

    Args:
        data: a per-image frame (aggregated here) or an aggregate() result (reused as is).
        metric: which metric to plot.
        path: output PNG, written atomically.
        higher_is_better: shown on the y label so the reader knows which way is good.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend needed

    agg = as_agg(data, n_boot, seed, ci)
    table = plot_data(agg, metric=metric)
    if table.empty:
        raise ValueError(f"metric {metric!r} has no bucket rows to plot")
    ns = agg[(agg["metric"] == metric) & (agg["group_type"] == "bucket")].groupby("group")["n"].max()
    methods = list(pd.unique(table["method"]))
    buckets = sorted_buckets(table["bucket"])
    mids = [bucket_mid(b) for b in buckets]
    width = min(b - a for a, b in map(bucket_bounds, buckets))

    fig = Figure(figsize=(7.0, 4.4), layout="constrained")
    ax = fig.add_subplot()
    markers = "osD^vP*Xh<>"
    # Spread methods sideways within a bucket so their error bars do not hide each other.
    spread = 0.3 * width
    offsets = np.linspace(-spread / 2, spread / 2, len(methods)) if len(methods) > 1 else [0.0]
    for i, (method, off) in enumerate(zip(methods, offsets)):
        t = table[table["method"] == method]
        x = t["hole_ratio_mid"].to_numpy() + off
        y = t["mean"].to_numpy()
        yerr = np.stack([y - t["ci_low"].to_numpy(), t["ci_high"].to_numpy() - y])  # (2, buckets)
        ax.errorbar(
            x,
            y,
            yerr=np.nan_to_num(yerr),
            label=str(method),
            color=f"C{i % 10}",
            marker=markers[i % len(markers)],
            markersize=5,
            linewidth=1.4,
            capsize=3,
            elinewidth=1.0,
        )
    ax.set_xticks(mids)
    ax.set_xticklabels([f"{b}\nn={ns.get(b, 0)}" for b in buckets], fontsize=8)
    lo, hi = bucket_bounds(buckets[0])[0], bucket_bounds(buckets[-1])[1]
    ax.set_xlim(lo - 0.5 * width / 2, hi + 0.5 * width / 2)
    ax.set_xlabel("hole ratio (% of image area)")
    ax.set_ylabel(f"{metric}  ({'↑ higher' if higher_is_better else '↓ lower'} is better)")
    pct = round(infer_ci_level(agg) * 100)
    ax.set_title(title or f"{metric} vs hole ratio (mean, {pct}% bootstrap CI)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best", frameon=True)
    _save_figure(fig, path, dpi)


CURVE_AXES = ("step", "images", "minutes")  # log.csv columns that are not losses


def plot_training_curves(log: pd.DataFrame, val: pd.DataFrame, path: str | os.PathLike, title: str,
                         dpi: int = 110) -> None:
    """PNG with one small panel per training loss (log.csv) and per validation metric (val.csv, with
    its starting fill's score dashed), all against training images seen.

    Args:
        log: log.csv of a run (columns step, images, minutes, then one per logged loss).
        val: val.csv (columns step, images, then <metric>, <metric>_se, <metric>_start_fill).
        path: output PNG, written atomically.
    """
    from matplotlib.figure import Figure

    losses = [c for c in log.columns if c not in CURVE_AXES and log[c].notna().any()] if "images" in log else []
    metrics = [c for c in val.columns if c not in CURVE_AXES and not c.endswith(("_se", "_start_fill"))] \
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
            if f"{c}_start_fill" in frame:
                ax.axhline(frame[f"{c}_start_fill"].iloc[0], ls="--", lw=1, color="grey", label="step 0: the start")
                ax.legend(fontsize=7, loc="best")
        ax.set_title(("val " if what == "val" else "") + c, fontsize=9)
        ax.tick_params(labelsize=7)
    _save_figure(fig, path, dpi)
