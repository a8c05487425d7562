"""inpaint.stats: per-image scores aggregated with photo-level bootstrap intervals, paired differences."""
import math

import numpy as np
import pandas as pd
import pytest

from inpaint import stats, summary
from testkit import agg_row as _row
from testkit import paired_scores as _paired_frame
from testkit import score_frame as _frame
from testkit import synthetic_scores as _synthetic


def _clustered(n_photos=30, seed=0):
    """Photos with 2-9 crops each: a photo effect (sd 1) shared by its crops, crop noise (sd 0.3)."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_photos):
        effect = rng.normal()
        for k in range(int(rng.integers(2, 10))):
            v = effect + 0.3 * rng.normal()
            rows.append(("a", f"p{p}", f"k{k}", "box", 0.35, "30-40", "x", v))
            rows.append(("b", f"p{p}", f"k{k}", "box", 0.35, "30-40", "x", v + 0.1 + 0.2 * rng.normal()))
    return _frame(rows)


def test_aggregate_means_and_n_are_exact():
    df = _frame(
        [
            ("a", "i1", "m", "boxes", 0.05, "0-10", "psnr", 10.0),
            ("a", "i2", "m", "boxes", 0.15, "10-20", "psnr", 20.0),
            ("a", "i3", "m", "strokes", 0.15, "10-20", "psnr", 40.0),
            ("b", "i1", "m", "boxes", 0.05, "0-10", "psnr", 1.0),
        ]
    )
    agg = stats.aggregate(df, n_boot=50)
    assert list(agg.columns) == stats.AGG_COLUMNS
    assert _row(agg, "a", "psnr", "all", "all")["mean"] == pytest.approx(70 / 3)
    assert _row(agg, "a", "psnr", "all", "all")["n"] == 3
    assert _row(agg, "a", "psnr", "kind", "boxes")["mean"] == pytest.approx(15.0)
    assert _row(agg, "a", "psnr", "kind", "strokes")["mean"] == pytest.approx(40.0)
    assert _row(agg, "a", "psnr", "bucket", "10-20")["mean"] == pytest.approx(30.0)
    assert _row(agg, "a", "psnr", "bucket", "10-20")["n"] == 2
    b = _row(agg, "b", "psnr", "all", "all")
    assert (b["mean"], b["n"], b["photos"]) == (1.0, 1, 1) and math.isnan(b["ci_low"]) and math.isnan(b["ci_high"])
    assert _row(agg, "a", "psnr", "all", "all")["photos"] == 3  # one photo: no interval (it would have zero width)
    # b has no strokes / 10-20 rows: no empty groups are invented.
    assert len(agg[agg.method == "b"]) == 3
    # Method order follows the input; buckets sort numerically, not as strings.
    assert list(pd.unique(agg.method)) == ["a", "b"]


def test_buckets_sort_numerically():
    df = _frame([("a", f"i{b}", "m", "k", b / 100, f"{b}-{b + 10}", "psnr", 1.0) for b in (90, 10, 0, 50)])
    agg = stats.aggregate(df, n_boot=10)
    assert list(agg.loc[agg.group_type == "bucket", "group"]) == ["0-10", "10-20", "50-60", "90-100"]


def test_ci_contains_mean_and_narrows_with_more_samples():
    small = _synthetic(n_images=12)
    large = _synthetic(n_images=300)
    w = {}
    for name, df in (("small", small), ("large", large)):
        agg = stats.aggregate(df, n_boot=300)
        assert (agg.ci_low <= agg["mean"] + 1e-12).all() and (agg["mean"] <= agg.ci_high + 1e-12).all()
        r = _row(agg, "a", "psnr", "all", "all")
        w[name] = r.ci_high - r.ci_low
    assert w["large"] < 0.5 * w["small"]


def test_ci_width_matches_normal_theory():
    # 400 draws of a unit-variance normal: the 95% CI of the mean is about +-1.96 / sqrt(400) = +-0.098.
    rng = np.random.default_rng(1)
    df = _frame([("a", f"i{i}", "m", "k", 0.05, "0-10", "x", v) for i, v in enumerate(rng.normal(size=400))])
    r = _row(stats.aggregate(df, n_boot=2000), "a", "x", "all", "all")
    sd = df.value.std()
    assert r.ci_high - r.ci_low == pytest.approx(2 * 1.96 * sd / 20, rel=0.15)


def test_ci_level_changes_width():
    df = _synthetic(n_images=60)
    r90 = _row(stats.aggregate(df, n_boot=500, ci=0.80), "a", "psnr", "all", "all")
    r99 = _row(stats.aggregate(df, n_boot=500, ci=0.99), "a", "psnr", "all", "all")
    assert r90.ci_high - r90.ci_low < r99.ci_high - r99.ci_low


def test_aggregate_is_deterministic_for_a_seed():
    df = _synthetic()
    a1 = stats.aggregate(df, n_boot=200, seed=3)
    # Row order must not change the numbers (only the order methods are listed in).
    a2 = stats.aggregate(df.sample(frac=1.0, random_state=0), n_boot=200, seed=3)
    key = ["method", "metric", "group_type", "group"]
    pd.testing.assert_frame_equal(a1.sort_values(key, ignore_index=True), a2.sort_values(key, ignore_index=True))
    a3 = stats.aggregate(df, n_boot=200, seed=4)
    assert not np.allclose(a1.ci_low, a3.ci_low)
    np.testing.assert_allclose(a1["mean"], a3["mean"])  # the mean itself is not random


def test_methods_on_the_same_images_are_resampled_together():
    # b = a + 1 on every image: paired resampling shifts the whole CI by exactly 1.
    df = _synthetic(n_images=30, methods=("a",))
    shifted = df.assign(method="b", value=df.value + 1.0)
    agg = stats.aggregate(pd.concat([df, shifted]), n_boot=200)
    a, b = _row(agg, "a", "psnr", "all", "all"), _row(agg, "b", "psnr", "all", "all")
    assert b.ci_low - a.ci_low == pytest.approx(1.0, abs=1e-9)
    assert b.ci_high - a.ci_high == pytest.approx(1.0, abs=1e-9)


def test_nan_values_are_left_out_of_mean_and_n():
    df = _frame(
        [
            ("a", "i1", "m", "k", 0.0, "0-10", "hole_l1", np.nan),  # no hole: hole-only metric undefined
            ("a", "i2", "m", "k", 0.25, "20-30", "hole_l1", 0.2),
            ("a", "i3", "m", "k", 0.25, "20-30", "hole_l1", 0.4),
        ]
    )
    agg = stats.aggregate(df, n_boot=100)
    r = _row(agg, "a", "hole_l1", "all", "all")
    assert r["mean"] == pytest.approx(0.3) and r["n"] == 2
    empty = _row(agg, "a", "hole_l1", "bucket", "0-10")
    assert empty["n"] == 0 and math.isnan(empty["mean"]) and math.isnan(empty["ci_low"])
    assert summary.breakdown_json(agg)["a"]["hole_l1"]["0-10"] is None


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda df: df.drop(columns=["bucket"]), "bucket"),
        (lambda df: df.assign(bucket="thirty"), "thirty"),
        (lambda df: df.iloc[:0], "empty"),
    ],
)
def test_aggregate_rejects_bad_frames(change, match):
    with pytest.raises(ValueError, match=match):
        stats.aggregate(change(_synthetic(n_images=3)), n_boot=10)


def test_paired_differences_resample_photos_not_crops():
    out = stats.paired_differences(_paired_frame(), [("m", "s")], {"lpips": False, "psnr": True},
                                   {"all": 0.0, ">= 30%": 0.3}, n_boot=400, seed=0)
    assert list(out.columns) == stats.PAIRED_COLUMNS
    lp = out[(out.metric == "lpips") & (out.holes == "all")].iloc[0]
    assert lp["diff"] == pytest.approx(0.0, abs=1e-12) and lp.n == 20 and lp.photos == 2 and lp.better == 0.5
    # two photos: a resample is A twice, B twice or one of each, so the CI is [-0.1, +0.1]; resampling
    # the 20 crops as if independent would give about +-0.045
    assert lp.ci_low == pytest.approx(-0.1) and lp.ci_high == pytest.approx(0.1)
    big = out[(out.metric == "psnr") & (out.holes == ">= 30%")].iloc[0]
    assert big.n == 10 and big["diff"] == pytest.approx(0.5) and big.better == 0.5


def test_a_difference_within_float32_rounding_is_a_tie_not_a_win():
    df = _paired_frame()
    twin = df[df.method == "s"].assign(method="twin")
    ulp = np.where(np.arange(len(twin)) % 2 == 0, 1, -1) * np.spacing(twin.value.abs().astype(np.float32)).astype(float)
    out = stats.paired_differences(pd.concat([df, twin.assign(value=twin.value + ulp)]), [("twin", "s")],
                                   {"lpips": False, "psnr": True})
    assert len(out) == 2 and (out.better == 0).all()  # the same fill up to one unit in the last place: never better
    # 10x the tolerance is a win, in either direction of "better"
    lower = np.where(twin.metric == "lpips", 1 - 10 * stats.TIE_RTOL, 1 + 10 * stats.TIE_RTOL)
    real = stats.paired_differences(pd.concat([df, twin.assign(value=twin.value * lower)]), [("twin", "s")],
                                    {"lpips": False, "psnr": True})
    assert len(real) == 2 and (real.better == 1).all()
    swapped = stats.paired_differences(pd.concat([df, twin.assign(value=twin.value + ulp)]), [("s", "twin")],
                                       {"lpips": False, "psnr": True})
    assert (swapped.better == 0).all()  # the same tie whichever side is compared


def test_paired_differences_skip_methods_not_scored():
    out = stats.paired_differences(_paired_frame(), [("m", "nope")], {"lpips": False})
    assert out.empty


def test_aggregate_resamples_photos_not_pairs():
    # 2 photos x 10 crops, values 0 and 1: a resample is photo A twice, B twice or one of each, so the 95%
    # CI is [0, 1]; resampling the 20 crops as if independent would give about 0.5 +- 0.22
    df = _frame([("a", ph, f"k{k}", "box", 0.35, "30-40", "x", float(ph == "B")) for ph in "AB" for k in range(10)])
    r = _row(stats.aggregate(df, n_boot=400), "a", "x", "all", "all")
    assert (r["mean"], r.ci_low, r.ci_high, r.n, r.photos) == (0.5, 0.0, 1.0, 20, 2)


def test_photo_bootstrap_agrees_with_scipy():
    from scipy.stats import bootstrap

    df = _clustered()
    r = _row(stats.aggregate(df, n_boot=4000, seed=1), "a", "x", "all", "all")
    a = df[df.method == "a"].groupby("image_id").value.agg(["sum", "count"])
    ref = bootstrap((a["sum"].to_numpy(), a["count"].to_numpy()), lambda s, c, axis=-1: s.sum(axis) / c.sum(axis),
                    paired=True, vectorized=True, n_resamples=4000, method="percentile", random_state=2)
    low, high = ref.confidence_interval
    width = high - low
    assert r.ci_low == pytest.approx(low, abs=0.06 * width) and r.ci_high == pytest.approx(high, abs=0.06 * width)
    pairs = stats.aggregate(df.assign(image_id=df.image_id + df.mask_id), n_boot=4000, seed=1)  # crops as photos
    assert _row(pairs, "a", "x", "all", "all").ci_high - _row(pairs, "a", "x", "all", "all").ci_low < 0.6 * width


def test_paired_differences_use_the_means_resamples():
    df = _clustered()
    wide = df.pivot_table(index=["image_id", "mask_id"], columns="method", values="value").reset_index()
    diff = _frame([("d", r.image_id, r.mask_id, "box", 0.35, "30-40", "x", r.b - r.a) for r in wide.itertuples()])
    expected = _row(stats.aggregate(diff, n_boot=300, seed=5), "d", "x", "all", "all")
    got = stats.paired_differences(df, [("b", "a")], {"x": False}, n_boot=300, seed=5).iloc[0]
    assert got["diff"] == pytest.approx(expected["mean"])
    assert (got.ci_low, got.ci_high) == (pytest.approx(expected.ci_low), pytest.approx(expected.ci_high))
    assert got.photos == 30
