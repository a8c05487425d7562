"""Statistics of the per-image scores: bucket parsing, bootstrap means and CIs, paired differences.

The per-image frame is long: one row per measurement, columns
`method, image_id, mask_id, mask_kind, hole_ratio, bucket, metric, value`, where `bucket` is a
hole-ratio range in percent such as "30-40" (meaning [30%, 40%)). NaN values (e.g. a hole-only
metric on an image without a hole) are left out of means and out of n.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

PER_IMAGE_COLUMNS = ["method", "image_id", "mask_id", "mask_kind", "hole_ratio", "bucket", "metric", "value"]
AGG_COLUMNS = ["method", "metric", "group_type", "group", "mean", "ci_low", "ci_high", "n"]

_BUCKET_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$")
# Bootstrap resamples are drawn in chunks of at most this many indices, so 1000 resamples of a
# 100k-row group stay at a few tens of MB instead of materialising a (1000, 100k) float matrix.
_BOOT_CHUNK = 1 << 22


# --------------------------------------------------------------------------- buckets


def bucket_bounds(bucket: str) -> tuple[float, float]:
    """Parse a hole-ratio bucket such as "30-40" into (30.0, 40.0) percent."""
    m = _BUCKET_RE.match(str(bucket))
    if m is None:
        raise ValueError(f"bucket {bucket!r} is not of the form 'LOW-HIGH' in percent (e.g. '30-40')")
    return float(m.group(1)), float(m.group(2))


def bucket_mid(bucket: str) -> float:
    lo, hi = bucket_bounds(bucket)
    return (lo + hi) / 2


def sorted_buckets(buckets) -> list[str]:
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
    buckets = sorted_buckets(pd.unique(df["bucket"]))

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


def as_agg(data: pd.DataFrame, n_boot: int, seed: int, ci: float) -> pd.DataFrame:
    """Accept either an aggregate() result or a per-image frame (then aggregate it)."""
    if all(c in data.columns for c in AGG_COLUMNS):
        return data
    return aggregate(data, n_boot=n_boot, seed=seed, ci=ci)


def check_agg(agg: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in AGG_COLUMNS if c not in getattr(agg, "columns", [])]
    if missing:
        raise ValueError(f"agg lacks columns {missing}; pass the frame returned by aggregate()")
    return agg



def infer_ci_level(agg: pd.DataFrame) -> float:
    # aggregate() records its level in attrs; a frame read back from disk has none: assume 95%.
    return float(agg.attrs.get("ci", 0.95))


# --------------------------------------------------------------------------- paired differences

PAIRED_COLUMNS = ["method", "versus", "metric", "holes", "diff", "ci_low", "ci_high", "better", "n", "photos"]


def paired_differences(per_image: pd.DataFrame, comparisons: list[tuple[str, str]], metrics: dict[str, bool],
                       min_ratios: dict[str, float] | None = None, n_boot: int = 1000, seed: int = 0,
                       ci: float = 0.95) -> pd.DataFrame:
    """Mean paired difference `method - versus` per metric, with a bootstrap CI over photos.

    Pairs are matched on (image_id, mask_id). The resampling unit is the photo (image_id): many
    crops of one photo are not independent evidence, so a resample draws photos with replacement
    and takes the mean difference over all their pairs. With few test photos the interval is wide,
    as it should be.

    Args:
        per_image: long frame with columns PER_IMAGE_COLUMNS.
        comparisons: (method, versus) method names, both in per_image.
        metrics: metric -> higher_is_better, for `better` (the share of pairs where method wins).
        min_ratios: label -> smallest hole ratio of the pairs compared, e.g. {"all": 0, ">= 30%": 0.3}.
    Returns:
        DataFrame with PAIRED_COLUMNS: holes is the label, n the pairs compared, photos their photos,
        better the share of pairs where the method is strictly better (a tie is not); the CI is NaN
        when the pairs come from a single photo.
    """
    df = _check_per_image(per_image)
    min_ratios = min_ratios if min_ratios is not None else {"all": 0.0}
    alpha = (1 - ci) / 2
    rows = []
    for method, versus in comparisons:
        for metric, higher in metrics.items():
            sel = df[(df["metric"] == metric) & df["method"].isin([method, versus])]
            wide = sel.pivot_table(index=["image_id", "mask_id", "hole_ratio"], columns="method", values="value",
                                   aggfunc="first")
            if method not in wide or versus not in wide:
                continue
            for label, lo in min_ratios.items():
                keep = wide[wide.index.get_level_values("hole_ratio") >= lo]
                d = (keep[method] - keep[versus]).dropna()
                if d.empty:
                    continue
                low, high = _cluster_bootstrap_ci(d.to_numpy(), d.index.get_level_values("image_id").astype(str),
                                                  n_boot, seed, alpha)
                wins = (d > 0) if higher else (d < 0)
                rows.append([method, versus, metric, label, float(d.mean()), low, high, float(wins.mean()), len(d),
                             d.index.get_level_values("image_id").nunique()])
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def _cluster_bootstrap_ci(values: np.ndarray, clusters: np.ndarray, n_boot: int, seed: int,
                          alpha: float) -> tuple[float, float]:
    """Percentile CI of the mean of `values` when whole clusters are resampled with replacement."""
    ids, inverse = np.unique(clusters, return_inverse=True)
    if len(ids) < 2:  # one photo: a resample is that photo again, and a zero-width interval would lie
        return float("nan"), float("nan")
    sums = np.bincount(inverse, weights=values)  # (P,)
    counts = np.bincount(inverse).astype(np.float64)  # (P,)
    rng = np.random.default_rng([seed, len(values)])
    p = len(ids)
    draws = rng.integers(0, p, size=(n_boot, p))  # (B, P) photos drawn
    # times each photo is drawn in each resample, in one bincount (as in _bootstrap_means)
    flat = (draws + (np.arange(n_boot) * p)[:, None]).ravel()
    weight = np.bincount(flat, minlength=n_boot * p).reshape(n_boot, p).astype(np.float64)  # (B, P)
    means = weight @ sums / (weight @ counts)  # (B,)
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)
