"""Static plots of the report: each metric against the hole ratio (the PNG in the report and the CSV `dvc plots`
draws). A training run's curves are `inpaint.curves`."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from inpaint.atomic import write_bytes, write_figure
from inpaint.stats import as_agg, bucket_bounds, bucket_mid, infer_ci_level, sorted_buckets

PLOT_COLUMNS = ["method", "metric", "bucket", "hole_ratio_mid", "mean", "ci_low", "ci_high"]


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
    write_figure(path, fig, dpi)
