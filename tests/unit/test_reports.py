"""Tests for the report modules: stats (bootstrap), summary (metrics.json, summary.md), plots, grids."""

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from inpaint import grids, plots, stats, summary

COLS = stats.PER_IMAGE_COLUMNS


def _frame(rows):
    return pd.DataFrame(rows, columns=COLS)


def _synthetic(n_images=40, methods=("a", "b"), seed=0):
    """Seeded long frame: psnr (higher better) and lpips (lower better); method "a" is the better one."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        kind = ["boxes", "strokes"][i % 2]
        hr = [0.05, 0.15, 0.35][i % 3]
        bucket = f"{int(hr * 10) * 10}-{int(hr * 10) * 10 + 10}"
        noise = rng.normal()
        for k, m in enumerate(methods):
            rows.append((m, f"img{i}", "m0", kind, hr, bucket, "psnr", 30 - 20 * hr + noise - k))
            rows.append((m, f"img{i}", "m0", kind, hr, bucket, "lpips", 0.05 + 0.3 * hr + 0.01 * noise + 0.02 * k))
    return _frame(rows)


def _row(agg, method, metric, group_type, group):
    sel = agg[(agg.method == method) & (agg.metric == metric) & (agg.group_type == group_type) & (agg.group == group)]
    assert len(sel) == 1, f"expected one row for {method}/{metric}/{group_type}/{group}, got {len(sel)}"
    return sel.iloc[0]


# --------------------------------------------------------------------------- aggregate


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


def test_aggregate_is_fast_enough_for_big_frames():
    # Not a timing assertion: guards that 1000 resamples of ~20k rows stay vectorised (a Python loop
    # of pandas resamples would take minutes here and time the test out of usefulness).
    df = _synthetic(n_images=3000)
    agg = stats.aggregate(df, n_boot=1000)
    assert int(_row(agg, "a", "psnr", "all", "all")["n"]) == 3000


# --------------------------------------------------------------------------- metrics.json


def test_metrics_json_structure_is_exact():
    df = _frame(
        [
            ("gan", "i1", "m", "boxes", 0.05, "0-10", "psnr", 30.0),
            ("gan", "i2", "m", "strokes", 0.35, "30-40", "psnr", 20.1234567),
            ("gan", "i1", "m", "boxes", 0.05, "0-10", "lpips", 0.1),
            ("gan", "i2", "m", "strokes", 0.35, "30-40", "lpips", 0.3),
            ("telea", "i1", "m", "boxes", 0.05, "0-10", "psnr", 28.0),
            ("telea", "i2", "m", "strokes", 0.35, "30-40", "psnr", 18.0),
            ("telea", "i1", "m", "boxes", 0.05, "0-10", "lpips", 0.2),
            ("telea", "i2", "m", "strokes", 0.35, "30-40", "lpips", np.nan),
        ]
    )
    got = summary.breakdown_json(stats.aggregate(df, n_boot=20))
    expected = {
        "gan": {
            "psnr": {"all": 25.06173, "boxes": 30.0, "strokes": 20.12346, "0-10": 30.0, "30-40": 20.12346},
            "lpips": {"all": 0.2, "boxes": 0.1, "strokes": 0.3, "0-10": 0.1, "30-40": 0.3},
        },
        "telea": {
            "psnr": {"all": 23.0, "boxes": 28.0, "strokes": 18.0, "0-10": 28.0, "30-40": 18.0},
            "lpips": {"all": 0.2, "boxes": 0.2, "strokes": None, "0-10": 0.2, "30-40": None},
        },
    }
    assert got == expected
    assert list(got["gan"]["psnr"]) == ["all", "boxes", "strokes", "0-10", "30-40"]  # all, kinds, buckets
    assert all(type(v) is float for m in got.values() for d in m.values() for v in d.values() if v is not None)
    json.dumps(got, allow_nan=False)  # valid strict JSON: no NaN literals for DVC


def test_metrics_json_rejects_kind_named_like_a_bucket():
    df = _frame([("a", "i1", "m", "0-10", 0.05, "0-10", "psnr", 1.0)])
    with pytest.raises(ValueError, match="mask kind"):
        summary.breakdown_json(stats.aggregate(df, n_boot=5))


# --------------------------------------------------------------------------- summary.md


def _cells(line):
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]  # "\|" is an escaped pipe


def _table_rows(md, heading, table_title=None):
    """Header and rows ({method: [cells]}) of the first table after `table_title` in section `heading`."""
    section = md.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = (section.split(table_title, 1)[1] if table_title else section).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append(line)
    rows = {cells[0]: cells[1:] for cells in map(_cells, block[2:])}
    return _cells(block[0]), rows


DIRECTIONS = {"psnr": True, "lpips": False}
DESCRIPTIONS = {"psnr": "peak signal-to-noise ratio, dB", "lpips": "learned perceptual distance"}


def test_summary_marks_best_respecting_direction():
    md = summary.summary_markdown(stats.aggregate(_synthetic(), n_boot=100), DIRECTIONS, DESCRIPTIONS)
    # "a" has higher PSNR (good) and lower LPIPS (good): it must be bold in both, "b" in neither.
    for metric in ("psnr ↑", "lpips ↓"):
        header, rows = _table_rows(md, metric, "**By hole ratio**")
        assert header[:2] == ["method", "all"]
        assert all(c.startswith("**") for c in rows["a"]), rows["a"]
        assert not any("**" in c for c in rows["b"]), rows["b"]
        assert rows["*n*"][0] == "40"
    _, overview = _table_rows(md, "Overview")
    assert "**" in "".join(overview["a"]) and "**" not in "".join(overview["b"])


def test_summary_flips_bold_when_direction_flips():
    agg = stats.aggregate(_synthetic(), n_boot=100)
    md = summary.summary_markdown(agg, {"psnr": False, "lpips": True}, DESCRIPTIONS)
    _, rows = _table_rows(md, "psnr ↓", "**By hole ratio**")
    assert all(c.startswith("**") for c in rows["b"]) and not any("**" in c for c in rows["a"])


def test_summary_bolds_all_tied_methods():
    df = _synthetic(methods=("a",))
    df = pd.concat([df, df.assign(method="b"), df.assign(method="c", value=df.value - 5)])
    md = summary.summary_markdown(stats.aggregate(df, n_boot=50), DIRECTIONS, DESCRIPTIONS)
    _, rows = _table_rows(md, "psnr ↑", "**By mask kind**")
    assert all(c.startswith("**") for c in rows["a"] + rows["b"])
    assert not any("**" in c for c in rows["c"])


def test_summary_lists_every_method_bucket_kind_and_description():
    agg = stats.aggregate(_synthetic(methods=("a", "b", "c|d")), n_boot=50)
    md = summary.summary_markdown(
        agg,
        DIRECTIONS,
        DESCRIPTIONS,
        title="Toy",
        notes="seed 0",
        plots={"psnr": "plots/psnr.png"},
        figures={"Samples": "grids/test.png"},
    )
    assert md.startswith("# Toy\n")
    header, rows = _table_rows(md, "psnr ↑", "**By hole ratio**")
    assert header == ["method", "all", "0-10%", "10-20%", "30-40%"]
    assert set(rows) == {"a", "b", "c\\|d", "*n*"}  # the pipe in a name must not break the table
    assert all(len(cells) == len(header) - 1 for cells in rows.values())
    header, _ = _table_rows(md, "psnr ↑", "**By mask kind**")
    assert header == ["method", "boxes", "strokes"]
    # Cell format: mean [low, high].
    assert rows["b"][0].count("[") == 1 and rows["b"][0].endswith("]")
    assert "## Timing" not in md and " ms" not in md  # nothing that changes from run to run
    for text in DESCRIPTIONS.values():
        assert text in md
    assert "![psnr vs hole ratio](plots/psnr.png)" in md and "![Samples](grids/test.png)" in md


def test_summary_requires_a_direction_for_every_metric():
    agg = stats.aggregate(_synthetic(), n_boot=10)
    with pytest.raises(ValueError, match="lpips"):
        summary.summary_markdown(agg, {"psnr": True}, DESCRIPTIONS)


# --------------------------------------------------------------------------- plots


def test_plot_data_csv_is_tidy(tmp_path):
    agg = stats.aggregate(_synthetic(), n_boot=50)
    table = plots.plot_data_csv(agg, tmp_path / "psnr.csv", metric="psnr")
    back = pd.read_csv(tmp_path / "psnr.csv")
    assert list(back.columns) == plots.PLOT_COLUMNS
    assert set(back.metric) == {"psnr"} and list(pd.unique(back.method)) == ["a", "b"]
    assert list(back[back.method == "a"].hole_ratio_mid) == [5.0, 15.0, 35.0]
    r = _row(agg, "a", "psnr", "bucket", "30-40")
    got = back[(back.method == "a") & (back.bucket == "30-40")].iloc[0]
    assert got["mean"] == pytest.approx(r["mean"], rel=1e-5) and got.ci_low == pytest.approx(r.ci_low, rel=1e-5)
    assert len(table) == len(back) == 6
    # From a per-image frame, all metrics at once.
    both = plots.plot_data_csv(_synthetic(), tmp_path / "all.csv", n_boot=20)
    assert set(both.metric) == {"psnr", "lpips"} and len(both) == 12
    with pytest.raises(ValueError, match="ssim"):
        plots.plot_data(agg, metric="ssim")


@pytest.mark.parametrize("source", ["per_image", "agg"])
def test_plot_metric_vs_hole_ratio_writes_png(tmp_path, source):
    df = _synthetic()
    data = df if source == "per_image" else stats.aggregate(df, n_boot=50)
    out = tmp_path / "sub" / "lpips.png"
    plots.plot_metric_vs_hole_ratio(data, "lpips", out, higher_is_better=False, n_boot=50)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 300 and im.height > 200
    assert [p.name for p in out.parent.iterdir()] == ["lpips.png"]  # no temp files left behind


# --------------------------------------------------------------------------- grids


def _img(h, w, seed=0):
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def test_show_hole_paints_only_the_hole():
    img = _img(8, 8)
    mask = np.zeros((8, 8), np.float32)
    mask[2:4, 3:6] = 1
    out = grids.show_hole(img, mask)
    assert out.dtype == np.float32 and out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out[2:4, 3:6], np.broadcast_to([1, 0, 1], (2, 3, 3)))
    np.testing.assert_array_equal(out[mask == 0], img[mask == 0])
    half = grids.show_hole(img, mask[..., None], color=(0, 0, 0), alpha=0.5)
    np.testing.assert_allclose(half[2, 3], img[2, 3] * 0.5, rtol=1e-6)
    with pytest.raises(ValueError, match="mask shape"):
        grids.show_hole(img, np.zeros((4, 4), np.float32))


def test_comparison_grid_size_and_crisp_pixels(tmp_path):
    imgs = [_img(64, 64, s) for s in range(6)]
    path = tmp_path / "grid.png"
    size = grids.comparison_grid([imgs[:3], imgs[3:]], ["input", "telea", "ground truth"], path)
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    gap, cell = 4, 256  # 64 px is enlarged x4 to reach min_cell=256
    assert size == (arr.shape[1], arr.shape[0])
    assert arr.shape[1] == 3 * (cell + gap) + gap
    # The last row ends `gap` px above the bottom: its last image must be the exact nearest-neighbour x4.
    top, left = arr.shape[0] - gap - cell, 2 * (cell + gap) + gap
    expected = np.round(np.repeat(np.repeat(imgs[5], 4, 0), 4, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(arr[top : top + cell, left : left + cell], expected)


def test_comparison_grid_row_labels_title_and_blank_cells(tmp_path):
    rows = [[_img(32, 48), None], [_img(32, 48, 1), _img(16, 24, 2)]]
    plain = grids.comparison_grid(rows, ["input", "sample"], tmp_path / "plain.png")
    labelled = grids.comparison_grid(
        rows,
        ["input", "sample"],
        tmp_path / "labelled.png",
        row_labels=["thick 40-50", "boxes\n10-20"],
        title="VAE samples",
    )
    assert labelled[0] > plain[0] and labelled[1] > plain[1]  # room for row labels and the title
    with Image.open(tmp_path / "labelled.png") as im:
        im.load()
        assert im.size == labelled


@pytest.mark.parametrize(
    "rows, labels, match",
    [
        ([[_img(8, 8)]], ["a", "b"], "row 0 has 1"),
        ([[_img(8, 8) * 255]], ["a"], "divide"),
        ([[np.zeros((8, 8, 3), np.uint8)]], ["a"], "dtype"),
        ([], ["a"], "empty"),
    ],
)
def test_comparison_grid_rejects_bad_input_without_writing(tmp_path, rows, labels, match):
    path = tmp_path / "grid.png"
    with pytest.raises(ValueError, match=match):
        grids.comparison_grid(rows, labels, path)
    assert not path.exists() and list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- paired differences


def _paired_frame():
    """Two photos of 10 crops each: model "m" beats "s" by 0.1 LPIPS on photo A, loses by 0.1 on B."""
    rows = []
    for photo, delta in (("A", -0.1), ("B", 0.1)):
        for k in range(10):
            ratio = 0.1 if k < 5 else 0.4
            bucket = "10-20" if k < 5 else "40-50"
            base = 0.2 + 0.01 * k
            rows.append(("s", photo, f"k{k}", "box", ratio, bucket, "lpips", base))
            rows.append(("m", photo, f"k{k}", "box", ratio, bucket, "lpips", base + delta))
            rows.append(("s", photo, f"k{k}", "box", ratio, bucket, "psnr", 20.0))
            rows.append(("m", photo, f"k{k}", "box", ratio, bucket, "psnr", 20.0 + (1.0 if photo == "A" else 0.0)))
    return _frame(rows)


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


def test_paired_differences_skip_methods_not_scored():
    out = stats.paired_differences(_paired_frame(), [("m", "nope")], {"lpips": False})
    assert out.empty


def test_summary_shows_what_training_adds_before_the_overview():
    per_image = _paired_frame()
    agg = stats.aggregate(per_image, n_boot=50)
    paired = stats.paired_differences(per_image, [("m", "s")], {"lpips": False, "psnr": True}, n_boot=50)
    paired["role"] = "its start"
    md = summary.summary_markdown(agg, {"lpips": False, "psnr": True}, paired=paired)
    assert md.index("## What training adds") < md.index("## Overview")
    assert "resampling unit is the photo (2 test photos" in md
    line = next(x for x in md.splitlines() if x.startswith("| m | s (its start) | all | 20 |"))
    assert line.endswith("| +0.0000 [-0.1000, +0.1000] | 50% | +0.500 [+0.000, +1.000] | 50% |")
    assert "## What training adds" not in summary.summary_markdown(agg, {"lpips": False, "psnr": True})


def test_pairs_from_one_photo_get_no_interval():
    one = _paired_frame()
    one = one[one.image_id == "A"]
    out = stats.paired_differences(one, [("m", "s")], {"lpips": False}, n_boot=50)
    assert out["diff"].iloc[0] == pytest.approx(-0.1) and out.photos.iloc[0] == 1
    assert np.isnan(out.ci_low.iloc[0]) and np.isnan(out.ci_high.iloc[0])
    md = summary.paired_markdown(out, {"lpips": False})
    assert "| -0.1000 [–, –] | 100% |" in md[-2]


def test_summary_shows_diverse_fills_beside_their_quality():
    per_image = _paired_frame()
    agg = stats.aggregate(per_image, n_boot=50)
    diverse = pd.DataFrame([{"method": "m", "holes": "all", "pairs": 20, "samples": 4, "diversity": 0.0812,
                             "sample_lpips": 0.2101, "lpips": 0.1999}])
    md = summary.summary_markdown(agg, {"lpips": False, "psnr": True}, diverse=diverse)
    assert md.index("## Diverse fills") < md.index("## Overview")
    assert "| m | all | 20 | 4 | 0.0812 | 0.2101 | 0.1999 |" in md
    assert "## Diverse fills" not in summary.summary_markdown(agg, {"lpips": False, "psnr": True})


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


def test_headline_metrics_are_few_and_say_what_was_scored(tmp_path):
    from inpaint.report import test_set_info

    df = _frame([(m, f"i{i}", "m0", "box", r, "30-40" if r >= 0.3 else "10-20", metric, v + (m == "b"))
                 for m in ("a", "b") for i, r in enumerate((0.1, 0.35, 0.5))
                 for metric, v in (("lpips", 0.1 * (i + 1)), ("psnr", 20.0 + i), ("ssim", 0.5), ("hole_l1", 0.2))])
    pairs_file = tmp_path / "test_pairs.csv"
    pairs_file.write_text("pair_id,image_id\n0,i0\n1,i1\n2,i2\n")
    pairs = pd.read_csv(pairs_file)
    info = test_set_info(pairs, pairs_file, 128)
    head = summary.headline_json(df, info)
    assert head["test_set"] == {"pairs": 3, "photos": 3, "image_size": 128, "fingerprint": info["fingerprint"]}
    assert head["a"] == {"lpips": 0.2, "lpips_30": 0.25, "psnr": 21.0, "psnr_30": 21.5, "ssim": 0.5, "ssim_30": 0.5}
    assert head["b"]["lpips"] == 1.2 and "hole_l1" not in head["b"]  # the breakdown has the rest
    assert test_set_info(pairs, pairs_file, 64)["fingerprint"] != info["fingerprint"]  # another crop size
    pairs_file.write_text("pair_id,image_id\n0,i0\n1,i1\n2,i3\n")
    assert test_set_info(pairs, pairs_file, 128)["fingerprint"] != info["fingerprint"]  # other pairs


def test_training_curves_draw_every_loss_and_metric(tmp_path):
    log = pd.DataFrame({"step": [1, 2, 3], "images": [8, 16, 24], "minutes": [0.1, 0.2, 0.3], "g_total": [1.0, 0.8, 0.7],
                        "d_loss": [2.0, 1.9, 1.8], "kl": [np.nan] * 3})
    val = pd.DataFrame({"step": [0, 3], "images": [0, 24], "lpips": [0.2, 0.18], "lpips_se": [0.01, 0.01],
                        "lpips_start_fill": [0.2, 0.2], "psnr": [20.0, 20.5], "psnr_start_fill": [20.0, 20.0]})
    plots.plot_training_curves(log, val, tmp_path / "curves.png", "toy")
    with Image.open(tmp_path / "curves.png") as im:
        assert im.width > im.height > 200  # one row of four panels: g_total, d_loss, val lpips, val psnr
    with pytest.raises(ValueError, match="nothing to plot for empty"):
        plots.plot_training_curves(log[["step", "images"]], val[["step", "images"]], tmp_path / "x.png", "empty")
