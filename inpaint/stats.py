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
AGG_COLUMNS = ["method", "metric", "group_type", "group", "mean", "ci_low", "ci_high", "n", "photos"]

_BUCKET_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$")


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


def photo_resamples(photos, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The bootstrap resamples of a test set's photos: (ids, weights).

    ids: the distinct photos, sorted as strings; weights: (n_boot, P) how many times each photo is drawn
    in each resample (P photos drawn with replacement). A function of (photos, n_boot, seed) only, so
    every mean and every paired difference of one report is computed on the same resamples.
    """
    ids = np.array(sorted(set(map(str, photos))))
    p = len(ids)
    rng = np.random.default_rng([seed, p])
    draws = rng.integers(0, p, size=(n_boot, p))  # (B, P) photos drawn
    flat = (draws + (np.arange(n_boot) * p)[:, None]).ravel()  # one bincount counts every resample
    return ids, np.bincount(flat, minlength=n_boot * p).reshape(n_boot, p).astype(np.float64)


def _photo_index(ids: np.ndarray, photos) -> np.ndarray:
    """Each value's photo as its position in `ids` (the sorted ids of `photo_resamples`)."""
    return np.searchsorted(ids, np.asarray(photos).astype(str))


def _per_photo(photo: np.ndarray, values: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """(P,) sum and (P,) number of `values` on each of the `p` photos."""
    return np.bincount(photo, weights=values, minlength=p), np.bincount(photo, minlength=p).astype(np.float64)


def _ratio_ci(sums: np.ndarray, counts: np.ndarray, weights: np.ndarray, alpha: float) -> np.ndarray:
    """Percentile CIs of G means under photo resampling: mean_b = sum_p w_bp S_gp / sum_p w_bp C_gp.

    Args:
        sums, counts: (G, P) per group, the sum and number of its values on each photo.
        weights: (B, P) from `photo_resamples`.
    Returns:
        (G, 2) low, high; NaN for a group whose values come from fewer than two photos (every
        resample would be that photo again: a zero-width interval would lie). A resample that draws
        none of a group's photos does not count for that group.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (sums @ weights.T) / (counts @ weights.T)  # (G, B); 0/0 = NaN where no photo of g was drawn
    out = np.full((len(sums), 2), np.nan)
    ok = (counts > 0).sum(1) >= 2
    if ok.any():
        out[ok] = np.nanquantile(means[ok], [alpha, 1 - alpha], axis=1).T
    return out


def aggregate(per_image: pd.DataFrame, n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> pd.DataFrame:
    """Mean and percentile-bootstrap CI per method x metric, overall, per mask kind and per bucket.

    The resampling unit is the photo (image_id), not the (image, mask) pair: many crops and masks of
    one photo are not independent evidence, so a resample draws photos with replacement and takes the
    mean over all their pairs (a cluster bootstrap). Every group of every method is computed on the
    same resamples (`photo_resamples`). NaN values are dropped before counting.

    Args:
        per_image: long frame with columns PER_IMAGE_COLUMNS.
        n_boot: number of bootstrap resamples (>= 1).
        seed: the CIs are a deterministic function of (data, n_boot, seed).
        ci: confidence level in (0, 1).
    Returns:
        DataFrame with AGG_COLUMNS: group_type is "all" (group "all"), "kind" (group = mask kind)
        or "bucket" (group = bucket string); n counts pairs and photos their photos; a group whose
        values are all NaN has n=0 and NaN stats, and one whose values come from one photo has no CI.
    """
    _check_per_image(per_image)
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 1):
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be a confidence level in (0, 1) such as 0.95, got {ci!r}")

    methods = list(pd.unique(per_image["method"]))
    metrics = list(pd.unique(per_image["metric"]))
    kinds = sorted(map(str, pd.unique(per_image["mask_kind"])))
    buckets = sorted_buckets(pd.unique(per_image["bucket"]))
    ids, weights = photo_resamples(per_image["image_id"], n_boot, seed)
    p = len(ids)

    # (method, metric, group_type, group) -> per-photo sums and counts, in a fixed output order
    keys: list[tuple] = []
    sums, counts = [], []
    for (method, metric), sub in per_image.groupby(["method", "metric"], sort=False):
        finite = sub["value"].notna().to_numpy()
        v = np.where(finite, sub["value"].to_numpy(dtype=np.float64), 0.0)
        photo = _photo_index(ids, sub["image_id"])
        kind = sub["mask_kind"].astype(str).to_numpy()
        bucket = sub["bucket"].astype(str).to_numpy()
        groups = [("all", "all", np.ones(len(sub), bool))]
        groups += [("kind", k, kind == k) for k in kinds]
        groups += [("bucket", b, bucket == b) for b in buckets]
        for group_type, group, sel in groups:
            if group_type != "all" and not sel.any():
                continue  # no empty groups are invented
            keys.append((method, metric, group_type, group))
            s, c = _per_photo(photo[sel & finite], v[sel & finite], p)
            sums.append(s)
            counts.append(c)
    sums, counts = np.array(sums), np.array(counts)  # (G, P)

    n = counts.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums.sum(1) / n
    cis = _ratio_ci(sums, counts, weights, (1 - ci) / 2)

    out = pd.DataFrame(keys, columns=["method", "metric", "group_type", "group"])
    out["mean"], out["ci_low"], out["ci_high"] = mean, cis[:, 0], cis[:, 1]
    out["n"] = n.astype(np.int64)
    out["photos"] = (counts > 0).sum(1).astype(np.int64)
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
TIE_RTOL = 1e-6  # float32 keeps about 7 digits; metrics computed in it differ by this much on the same fill


def paired_differences(per_image: pd.DataFrame, comparisons: list[tuple[str, str]], metrics: dict[str, bool],
                       min_ratios: dict[str, float] | None = None, n_boot: int = 1000, seed: int = 0,
                       ci: float = 0.95) -> pd.DataFrame:
    """Mean paired difference `method - versus` per metric, with a bootstrap CI over photos.

    Pairs are matched on (image_id, mask_id). The resampling unit is the photo (image_id), with the
    very resamples `aggregate` uses for the means (`photo_resamples` of the same frame, n_boot and
    seed): a resample draws photos with replacement and takes the mean difference over all their
    pairs. With few test photos the interval is wide, as it should be.

    Args:
        per_image: long frame with columns PER_IMAGE_COLUMNS.
        comparisons: (method, versus) method names, both in per_image.
        metrics: metric -> higher_is_better, for `better` (the share of pairs where method wins).
        min_ratios: label -> smallest hole ratio of the pairs compared, e.g. {"all": 0, ">= 30%": 0.3}.
    Returns:
        DataFrame with PAIRED_COLUMNS: holes is the label, n the pairs compared, photos their photos,
        better the share of pairs where the method is better by more than float32 rounding (TIE_RTOL of
        the larger of the pair's two values; a tie is no win); the CI is NaN
        when the pairs come from a single photo.
    """
    df = _check_per_image(per_image)
    min_ratios = min_ratios if min_ratios is not None else {"all": 0.0}
    alpha = (1 - ci) / 2
    ids, weights = photo_resamples(df["image_id"], n_boot, seed)
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
                sums, counts = _per_photo(_photo_index(ids, d.index.get_level_values("image_id")), d.to_numpy(), len(ids))
                low, high = _ratio_ci(sums[None], counts[None], weights, alpha)[0]
                # a tie within float32 rounding (TIE_RTOL of the larger of the two values: a few units in the last
                # place) is no win: two fills that differ only in summation order must not read as one better on a
                # third of pairs
                tie = TIE_RTOL * np.maximum(keep.loc[d.index, method].abs(), keep.loc[d.index, versus].abs())
                wins = (d > tie) if higher else (d < -tie)
                rows.append([method, versus, metric, label, float(d.mean()), low, high, float(wins.mean()), len(d),
                             int((counts > 0).sum())])
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)
