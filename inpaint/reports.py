"""Reports: bootstrap aggregation, metrics.json, summary.md, plots and comparison grids.

Everything here takes plain data (a long per-image DataFrame, dicts, numpy images) and knows
nothing about the metric registry: directions and descriptions arrive as arguments.

The per-image frame is long: one row per measurement, columns
`method, image_id, mask_id, mask_kind, hole_ratio, bucket, metric, value`, where `bucket` is a
hole-ratio range in percent such as "30-40" (meaning [30%, 40%)). NaN values (e.g. a hole-only
metric on an image without a hole) are left out of means and out of n.
"""

from __future__ import annotations

import io
import math
import os
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from inpaint.io import atomic_path

PER_IMAGE_COLUMNS = ["method", "image_id", "mask_id", "mask_kind", "hole_ratio", "bucket", "metric", "value"]
AGG_COLUMNS = ["method", "metric", "group_type", "group", "mean", "ci_low", "ci_high", "n"]
PLOT_COLUMNS = ["method", "metric", "bucket", "hole_ratio_mid", "mean", "ci_low", "ci_high"]

_BUCKET_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$")
# Bootstrap resamples are drawn in chunks of at most this many indices, so 1000 resamples of a
# 100k-row group stay at a few tens of MB instead of materialising a (1000, 100k) float matrix.
_BOOT_CHUNK = 1 << 22


# --------------------------------------------------------------------------- file writing


def _atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _save_figure(fig, path: str | os.PathLike, dpi: int) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    _atomic_write_bytes(path, buf.getvalue())


# --------------------------------------------------------------------------- buckets


def bucket_bounds(bucket: str) -> tuple[float, float]:
    """Parse a hole-ratio bucket such as "30-40" into (30.0, 40.0) percent."""
    m = _BUCKET_RE.match(str(bucket))
    if m is None:
        raise ValueError(f"bucket {bucket!r} is not of the form 'LOW-HIGH' in percent (e.g. '30-40')")
    return float(m.group(1)), float(m.group(2))


def _bucket_mid(bucket: str) -> float:
    lo, hi = bucket_bounds(bucket)
    return (lo + hi) / 2


def _sorted_buckets(buckets) -> list[str]:
    return sorted(set(map(str, buckets)), key=bucket_bounds)


# --------------------------------------------------------------------------- aggregation


def _check_per_image(per_image: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(per_image, pd.DataFrame):
        raise TypeError(f"per_image must be a pandas DataFrame, got {type(per_image).__name__}")
    missing = [c for c in PER_IMAGE_COLUMNS if c not in per_image.columns]
    if missing:
        raise ValueError(
            f"per_image lacks columns {missing}; expected {PER_IMAGE_COLUMNS} (long format, one row per measurement)"
        )
    if per_image.empty:
        raise ValueError("per_image is empty: there is nothing to aggregate (did evaluation score any image?)")
    for b in per_image["bucket"].unique():
        bucket_bounds(b)  # raises with the offending value
    return per_image


def _bootstrap_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap means of each row of `values`, with one index matrix shared by all rows.

    Args:
        values: (G, n) float64, G groups of the same size n, no NaN.
    Returns:
        (G, n_boot) means of the resamples.
    """
    g, n = values.shape
    # Seeded by (seed, n) only, so a group's resamples do not depend on which other groups exist,
    # and groups of equal size (e.g. two methods on the same images) are resampled identically.
    rng = np.random.default_rng([seed, n])
    chunk = max(1, min(n_boot, _BOOT_CHUNK // n))
    out = np.empty((g, n_boot))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))  # (b, n) resampled row indices
        if g < 3:  # a plain gather is cheapest for one or two groups
            for i in range(g):
                out[i, start : start + b] = values[i, idx].mean(axis=1)  # (b,)
            continue
        # Counts of each row in each resample: the means of all G groups are one matrix product.
        flat = (idx + (np.arange(b) * n)[:, None]).ravel()
        counts = np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)  # (b, n)
        out[:, start : start + b] = values @ counts.T / n  # (G, b)
    return out


def aggregate(per_image: pd.DataFrame, n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> pd.DataFrame:
    """Mean and percentile-bootstrap CI per method x metric, overall, per mask kind and per bucket.

    Rows are resampled as (image, mask) measurements, ordered by (image_id, mask_id), so methods
    scored on the same images get the same resamples. NaN values are dropped before counting.

    Args:
        per_image: long frame with columns PER_IMAGE_COLUMNS.
        n_boot: number of bootstrap resamples (>= 1).
        seed: the CIs are a deterministic function of (data, n_boot, seed).
        ci: confidence level in (0, 1).
    Returns:
        DataFrame with AGG_COLUMNS: group_type is "all" (group "all"), "kind" (group = mask kind)
        or "bucket" (group = bucket string); a group whose values are all NaN has n=0 and NaN stats.
    """
    df = _check_per_image(per_image)
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 1):
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be a confidence level in (0, 1) such as 0.95, got {ci!r}")

    df = df.sort_values(["image_id", "mask_id"], kind="stable", key=lambda s: s.astype(str))
    methods = list(pd.unique(df["method"]))
    metrics = list(pd.unique(df["metric"]))
    kinds = sorted(map(str, pd.unique(df["mask_kind"])))
    buckets = _sorted_buckets(pd.unique(df["bucket"]))

    # (method, metric, group_type, group) -> finite values, in a fixed output order.
    keys: list[tuple] = []
    values: list[np.ndarray] = []
    for (method, metric), sub in df.groupby(["method", "metric"], sort=False):
        v = sub["value"].to_numpy(dtype=np.float64)
        kind = sub["mask_kind"].astype(str).to_numpy()
        bucket = sub["bucket"].astype(str).to_numpy()
        keys.append((method, metric, "all", "all"))
        values.append(v)
        for k in kinds:
            sel = kind == k
            if sel.any():
                keys.append((method, metric, "kind", k))
                values.append(v[sel])
        for b in buckets:
            sel = bucket == b
            if sel.any():
                keys.append((method, metric, "bucket", b))
                values.append(v[sel])
    values = [v[~np.isnan(v)] for v in values]

    stats = np.full((len(keys), 3), np.nan)  # mean, ci_low, ci_high
    n = np.array([len(v) for v in values])
    alpha = (1 - ci) / 2
    for size in np.unique(n):
        if size == 0:
            continue
        rows = np.flatnonzero(n == size)
        block = np.stack([values[i] for i in rows])  # (G, size)
        boot = _bootstrap_means(block, n_boot, seed)  # (G, n_boot)
        stats[rows, 0] = block.mean(axis=1)
        stats[rows, 1:] = np.quantile(boot, [alpha, 1 - alpha], axis=1).T  # (G, 2)

    out = pd.DataFrame(keys, columns=["method", "metric", "group_type", "group"])
    out["mean"], out["ci_low"], out["ci_high"] = stats[:, 0], stats[:, 1], stats[:, 2]
    out["n"] = n.astype(np.int64)
    # Keep the caller's method/metric order (first appearance) rather than alphabetical.
    order = {"method": {m: i for i, m in enumerate(methods)}, "metric": {m: i for i, m in enumerate(metrics)}}
    out = out.sort_values(["method", "metric"], key=lambda s: s.map(order[s.name]), kind="stable").reset_index(
        drop=True
    )[AGG_COLUMNS]
    out.attrs["ci"] = ci  # read back by the summary and plot titles; a CSV round trip falls back to 95%
    return out


def _as_agg(data: pd.DataFrame, n_boot: int, seed: int, ci: float) -> pd.DataFrame:
    """Accept either an aggregate() result or a per-image frame (then aggregate it)."""
    if all(c in data.columns for c in AGG_COLUMNS):
        return data
    return aggregate(data, n_boot=n_boot, seed=seed, ci=ci)


def _check_agg(agg: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in AGG_COLUMNS if c not in getattr(agg, "columns", [])]
    if missing:
        raise ValueError(f"agg lacks columns {missing}; pass the frame returned by aggregate()")
    return agg


# --------------------------------------------------------------------------- metrics.json


def _plain(x, decimals: int):
    x = float(x)
    return None if not math.isfinite(x) else round(x, decimals)


def metrics_json(agg: pd.DataFrame, decimals: int = 5) -> dict:
    """DVC metrics dict `{method: {metric: {"all": mean, <kind>: mean, <bucket>: mean}}}`.

    Values are plain floats rounded to `decimals`; NaN (no finite value in a group) becomes None.
    """
    _check_agg(agg)
    out: dict = {}
    for row in agg.itertuples(index=False):
        group = "all" if row.group_type == "all" else str(row.group)
        cell = out.setdefault(str(row.method), {}).setdefault(str(row.metric), {})
        if group in cell:
            raise ValueError(
                f"group name {group!r} of method {row.method!r}, metric {row.metric!r} is used twice "
                "(a mask kind named like a bucket or 'all'?); rename the mask kind"
            )
        cell[group] = _plain(row.mean, decimals)
    return out


# --------------------------------------------------------------------------- summary.md


def _decimals_for(values) -> int:
    """Decimals that give ~3 significant digits for the largest magnitude: 25.1 -> 2, 0.81 -> 3, 0.031 -> 4."""
    finite = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    if not finite:
        return 3
    return int(min(6, max(2, 2 - math.floor(math.log10(max(finite))))))


def _md_escape(text) -> str:
    return str(text).replace("|", "\\|")


def _fmt(x: float, d: int) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{d}f}"


def _best(means: dict, higher_is_better: bool, d: int) -> set:
    """Keys whose mean, as displayed with `d` decimals, equals the best one (ties all bold)."""
    shown = {k: round(v, d) for k, v in means.items() if v is not None and math.isfinite(v)}
    if len(shown) < 2:  # bold needs something to beat
        return set()
    best = max(shown.values()) if higher_is_better else min(shown.values())
    return {k for k, v in shown.items() if v == best}


def _n_text(ns: list[int]) -> str:
    ns = [int(x) for x in ns]
    if not ns:
        return "–"
    lo, hi = min(ns), max(ns)
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def _metric_table(sub: pd.DataFrame, methods: list, columns: list[tuple[str, str, str]], higher: bool) -> list[str]:
    """Markdown table methods x columns; columns are (group_type, group, header)."""
    cells = {(r.method, r.group_type, str(r.group)): r for r in sub.itertuples(index=False)}
    d = _decimals_for(list(sub["mean"]) + list(sub["ci_low"]) + list(sub["ci_high"]))
    lines = [
        "| method | " + " | ".join(h for _, _, h in columns) + " |",
        "|:--|" + "--:|" * len(columns),
    ]
    bold = {}
    for gt, g, _ in columns:
        means = {m: cells[(m, gt, g)].mean for m in methods if (m, gt, g) in cells}
        bold[(gt, g)] = _best(means, higher, d)
    for m in methods:
        row = []
        for gt, g, _ in columns:
            r = cells.get((m, gt, g))
            if r is None or not math.isfinite(r.mean):
                row.append("–")
                continue
            mean = _fmt(r.mean, d)
            if m in bold[(gt, g)]:
                mean = f"**{mean}**"
            row.append(f"{mean} [{_fmt(r.ci_low, d)}, {_fmt(r.ci_high, d)}]")
        lines.append(f"| {_md_escape(m)} | " + " | ".join(row) + " |")
    ns = [_n_text([cells[(m, gt, g)].n for m in methods if (m, gt, g) in cells]) for gt, g, _ in columns]
    lines.append("| *n* | " + " | ".join(ns) + " |")
    return lines


def _fmt_seconds(s) -> str:
    if s is None or not math.isfinite(s):
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def _arrow(higher: bool) -> str:
    return "↑" if higher else "↓"


def summary_markdown(
    agg: pd.DataFrame,
    directions: dict[str, bool],
    descriptions: dict[str, str] | None = None,
    timings: dict[str, float] | None = None,
    title: str = "Inpainting results",
    notes: str | list[str] | None = None,
    plots: dict[str, str] | None = None,
    figures: dict[str, str] | None = None,
) -> str:
    """GitHub-flavoured markdown report: overview, per-metric tables by hole ratio and mask kind, timings.

    Args:
        agg: the frame returned by aggregate().
        directions: metric -> True if higher is better (every metric in agg must be present).
        descriptions: metric -> one-line description shown under its heading (optional per metric).
        timings: method -> seconds per image (wall clock of filling one image), or None to skip.
        title: the H1 heading.
        notes: paragraph(s) under the title, e.g. dataset, device, commit.
        plots: metric -> relative path of its PNG, embedded under that metric's heading.
        figures: caption -> relative path of an image (e.g. a comparison grid), in a Figures section.
    """
    _check_agg(agg)
    descriptions = descriptions or {}
    methods = list(pd.unique(agg["method"]))
    metrics = list(pd.unique(agg["metric"]))
    unknown = [m for m in metrics if m not in directions]
    if unknown:
        raise ValueError(
            f"directions lack metrics {unknown} (known: {sorted(directions)}); pass "
            "{metric: higher_is_better} for every metric in agg"
        )
    kinds = sorted(set(agg.loc[agg["group_type"] == "kind", "group"].astype(str)))
    buckets = _sorted_buckets(agg.loc[agg["group_type"] == "bucket", "group"])
    pct = round(_infer_ci_level(agg) * 100)

    out = [f"# {title}", ""]
    if notes:
        for note in [notes] if isinstance(notes, str) else notes:
            out += [note, ""]
    out += [
        (
            f"Means over test (image, mask) pairs with {pct}% percentile-bootstrap confidence intervals "
            "in brackets. **Bold** marks the best method per column (ties at the shown precision are all "
            "bold); overlapping intervals mean the difference is not resolved by this test set. "
            "*n* counts the scored pairs."
        ),
        "",
        "## Overview",
        "",
    ]

    # Overview: methods x metrics, "all" group, plus timing.
    overall = agg[agg["group_type"] == "all"]
    header = [f"{_md_escape(m)} {_arrow(directions[m])}" for m in metrics]
    has_time = bool(timings)
    out.append("| method | " + " | ".join(header) + (" | time / image |" if has_time else " |"))
    out.append("|:--|" + "--:|" * (len(metrics) + has_time))
    cells = {(r.method, r.metric): r for r in overall.itertuples(index=False)}
    decs = {m: _decimals_for(overall.loc[overall["metric"] == m, "mean"]) for m in metrics}
    bold = {
        m: _best({me: cells[(me, m)].mean for me in methods if (me, m) in cells}, directions[m], decs[m])
        for m in metrics
    }
    fastest = _best(dict(timings), False, 12) if has_time else set()
    for me in methods:
        row = []
        for m in metrics:
            r = cells.get((me, m))
            v = _fmt(r.mean if r is not None else None, decs[m])
            row.append(f"**{v}**" if me in bold[m] else v)
        if has_time:
            t = _fmt_seconds(timings.get(me))
            row.append(f"**{t}**" if me in fastest else t)
        out.append(f"| {_md_escape(me)} | " + " | ".join(row) + " |")
    out.append("")

    for metric in metrics:
        higher = bool(directions[metric])
        sub = agg[agg["metric"] == metric]
        better = "higher is better" if higher else "lower is better"
        out += [
            f"## {metric} {_arrow(higher)}",
            "",
            f"*{better}*" + (f" — {descriptions[metric]}" if descriptions.get(metric) else ""),
            "",
        ]
        if plots and metric in plots:
            out += [f"![{metric} vs hole ratio]({plots[metric]})", ""]
        cols = [("all", "all", "all")] + [("bucket", b, f"{b}%") for b in buckets]
        out += ["**By hole ratio** (% of the image inside the hole)", ""]
        out += _metric_table(sub, methods, cols, higher) + [""]
        if kinds:
            cols = [("kind", k, _md_escape(k)) for k in kinds]
            out += ["**By mask kind**", ""]
            out += _metric_table(sub, methods, cols, higher) + [""]

    if has_time:
        out += ["## Timing", "", "Wall-clock time to fill one test image (lower is better).", ""]
        out += ["| method | time / image | images / s |", "|:--|--:|--:|"]
        for me in list(methods) + [m for m in timings if m not in methods]:
            s = timings.get(me)
            t, ips = _fmt_seconds(s), (f"{1 / s:.1f}" if s and math.isfinite(s) and s > 0 else "–")
            out.append(f"| {_md_escape(me)} | {'**' + t + '**' if me in fastest else t} | {ips} |")
        out.append("")

    if figures:
        out += ["## Figures", ""]
        for caption, path in figures.items():
            out += [f"**{caption}**", "", f"![{caption}]({path})", ""]

    return "\n".join(out).rstrip() + "\n"


def _infer_ci_level(agg: pd.DataFrame) -> float:
    # aggregate() records its level in attrs; a frame read back from disk has none: assume 95%.
    return float(agg.attrs.get("ci", 0.95))


# --------------------------------------------------------------------------- plots


def plot_data(
    data: pd.DataFrame, metric: str | None = None, n_boot: int = 1000, seed: int = 0, ci: float = 0.95
) -> pd.DataFrame:
    """Tidy per-bucket table behind the hole-ratio plots, columns PLOT_COLUMNS, sorted by method/metric/x.

    Args:
        data: an aggregate() result, or a per-image frame (aggregated here with n_boot/seed/ci).
        metric: keep only this metric (None: all).
    """
    agg = _as_agg(data, n_boot, seed, ci)
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
            "hole_ratio_mid": [_bucket_mid(b) for b in sub["group"]],
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
    _atomic_write_bytes(path, table.to_csv(index=False, float_format="%.6g").encode())
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

    agg = _as_agg(data, n_boot, seed, ci)
    table = plot_data(agg, metric=metric)
    if table.empty:
        raise ValueError(f"metric {metric!r} has no bucket rows to plot")
    ns = agg[(agg["metric"] == metric) & (agg["group_type"] == "bucket")].groupby("group")["n"].max()
    methods = list(pd.unique(table["method"]))
    buckets = _sorted_buckets(table["bucket"])
    mids = [_bucket_mid(b) for b in buckets]
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
    ax.set_ylabel(f"{metric}  ({_arrow(higher_is_better)} {'higher' if higher_is_better else 'lower'} is better)")
    pct = round(_infer_ci_level(agg) * 100)
    ax.set_title(title or f"{metric} vs hole ratio (mean, {pct}% bootstrap CI)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best", frameon=True)
    _save_figure(fig, path, dpi)


# --------------------------------------------------------------------------- images and grids


def _as_rgb(image, where: str) -> np.ndarray:
    """Validate a float image in [0, 1]: (H, W, 3), (H, W, 1) or (H, W) -> (H, W, 3) float32."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"{where}: expected an image of shape (H, W, 3), (H, W, 1) or (H, W), got {a.shape}")
    if a.dtype.kind not in "fc":
        raise ValueError(
            f"{where}: expected float values in [0, 1], got dtype {a.dtype}; use image.astype(np.float32) / 255"
        )
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise ValueError(f"{where}: image contains NaN or inf")
    if a.size and (a.max() > 1.5 or a.min() < -0.5):
        raise ValueError(
            f"{where}: values span [{a.min():.3g}, {a.max():.3g}], expected [0, 1] "
            "(divide 0-255 images by 255; map [-1, 1] outputs with (x + 1) / 2)"
        )
    return np.clip(np.broadcast_to(a, a.shape[:2] + (3,)), 0.0, 1.0)


def show_hole(image: np.ndarray, mask: np.ndarray, color=(1.0, 0.0, 1.0), alpha: float = 1.0) -> np.ndarray:
    """Paint the hole of `mask` over `image` in `color` (alpha 1: solid, < 1: translucent overlay).

    Args:
        image: float32 (H, W, 3) in [0, 1].
        mask: float (H, W) or (H, W, 1) in [0, 1], 1 = hole; soft values blend proportionally.
        color: RGB in [0, 1]; magenta by default because it rarely occurs in photos.
    Returns:
        float32 (H, W, 3) in [0, 1].
    """
    img = _as_rgb(image, "show_hole image")
    m = np.asarray(mask, dtype=np.float32)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.shape != img.shape[:2]:
        raise ValueError(f"show_hole: mask shape {np.asarray(mask).shape} does not match image shape {img.shape[:2]}")
    w = (np.clip(m, 0, 1) * float(alpha))[:, :, None]  # (H, W, 1)
    return (img * (1 - w) + np.asarray(color, dtype=np.float32) * w).astype(np.float32)


@lru_cache(maxsize=16)
def _font(size: int, bold: bool = False):
    import matplotlib
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name  # ships with matplotlib: no system fonts needed
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:
        return ImageFont.load_default(size=size)


def _fit_text(draw, text: str, max_width: int, size: int, bold: bool = False, min_size: int = 9):
    """Largest font <= size that fits `text` in max_width px; truncated with an ellipsis at min_size."""
    for s in range(size, min_size - 1, -1):
        font = _font(s, bold)
        if draw.multiline_textbbox((0, 0), text, font=font)[2] <= max_width:
            return text, font
    font = _font(min_size, bold)
    while len(text) > 1 and draw.textbbox((0, 0), text + "…", font=font)[2] > max_width:
        text = text[:-1]
    return text + "…", font


def comparison_grid(
    rows: list[list],
    col_labels: list[str],
    path: str | os.PathLike,
    row_labels: list[str] | None = None,
    title: str | None = None,
    min_cell: int = 256,
    gap: int = 4,
) -> tuple[int, int]:
    """Write a labelled grid of images as one PNG; returns its (width, height) in pixels.

    Cells take the largest image size, enlarged by the integer factor ceil(min_cell / max(H, W))
    when that is small; each image is enlarged by the largest integer factor that fits its cell,
    with nearest neighbour, so every pixel stays a crisp square (never downscaled or blurred).

    Args:
        rows: list of rows, each a list of len(col_labels) float (H, W, 3) images in [0, 1]
            (grayscale (H, W) also accepted; None leaves a cell blank). Images may differ in size;
            each is centred in its cell.
        col_labels: one label per column, e.g. ["input", "telea", "gan", "ground truth"].
        path: output PNG, written atomically.
        row_labels: optional one label per row, e.g. "thick 40-50" (newlines allowed).
        title: optional line above the grid.
        min_cell: the smallest cell side in px that tiny images are scaled up to.
        gap: white space between cells in px.
    """
    from PIL import Image, ImageDraw

    if not rows:
        raise ValueError("comparison_grid: rows is empty; pass at least one row of images")
    ncol = len(col_labels)
    if row_labels is not None and len(row_labels) != len(rows):
        raise ValueError(f"comparison_grid: {len(row_labels)} row_labels for {len(rows)} rows")
    imgs = []
    for r, row in enumerate(rows):
        if len(row) != ncol:
            raise ValueError(f"comparison_grid: row {r} has {len(row)} images but there are {ncol} col_labels")
        imgs.append(
            [None if im is None else _as_rgb(im, f"comparison_grid row {r} col {c}") for c, im in enumerate(row)]
        )
    shapes = [im.shape[:2] for row in imgs for im in row if im is not None]
    if not shapes:
        raise ValueError("comparison_grid: every cell is None")
    h0, w0 = max(s[0] for s in shapes), max(s[1] for s in shapes)
    scale = max(1, math.ceil(min_cell / max(h0, w0)))
    ch, cw = h0 * scale, w0 * scale

    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_size = int(np.clip(cw // 14, 11, 22))
    # Column header height from the tallest fitted label.
    col_texts = [_fit_text(probe, str(t), cw - 4, label_size) for t in col_labels]
    head_h = max(probe.multiline_textbbox((0, 0), t, font=f)[3] for t, f in col_texts) + 2 * gap + 4
    left_w = 0
    row_texts = []
    if row_labels is not None:
        row_font = _font(label_size)
        widths = [probe.multiline_textbbox((0, 0), str(t), font=row_font)[2] for t in row_labels]
        left_w = min(max(widths) + 4 * gap + 6, max(cw, 160))  # never wider than a cell (or 160 px)
        row_texts = [_fit_text(probe, str(t), left_w - 4 * gap - 6, label_size) for t in row_labels]
    title_h = 0
    if title:
        title_text = _fit_text(probe, title, left_w + ncol * (cw + gap), label_size + 4, bold=True)
        title_h = probe.multiline_textbbox((0, 0), title_text[0], font=title_text[1])[3] + 2 * gap + 4

    width = left_w + ncol * (cw + gap) + gap
    height = title_h + head_h + len(rows) * (ch + gap)  # rows end with one gap of margin
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    y0 = title_h + head_h
    for r, row in enumerate(imgs):
        for c, im in enumerate(row):
            if im is None:
                continue
            # Integer factor per image: a smaller image in a mixed grid still fills its cell.
            k = max(1, min(ch // im.shape[0], cw // im.shape[1]))
            big = np.repeat(np.repeat(im, k, axis=0), k, axis=1)  # (h*k, w*k, 3) nearest
            h, w = big.shape[:2]
            top = y0 + r * (ch + gap) + (ch - h) // 2
            left = left_w + gap + c * (cw + gap) + (cw - w) // 2
            canvas[top : top + h, left : left + w] = np.round(big * 255).astype(np.uint8)

    pil = Image.fromarray(canvas)
    draw = ImageDraw.Draw(pil)
    black = (20, 20, 20)
    if title:
        draw.text((width // 2, gap + 2), title_text[0], font=title_text[1], fill=black, anchor="ma")
    for c, (text, font) in enumerate(col_texts):
        x = left_w + gap + c * (cw + gap) + cw // 2
        draw.multiline_text((x, title_h + head_h - gap - 2), text, font=font, fill=black, anchor="md", align="center")
    for r, (text, font) in enumerate(row_texts):
        y = y0 + r * (ch + gap) + ch // 2
        draw.multiline_text((left_w - 2 * gap, y), text, font=font, fill=black, anchor="rm", align="right")

    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    _atomic_write_bytes(path, buf.getvalue())
    return width, height
