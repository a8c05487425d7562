"""inpaint.summary: metrics.json, breakdown.json and summary.md from aggregated scores."""
import json
import re

import numpy as np
import pandas as pd
import pytest

from inpaint import stats, summary
from testkit import paired_scores as _paired_frame
from testkit import score_frame as _frame
from testkit import synthetic_scores as _synthetic


def _cells(line):
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]  # "\|" is an escaped pipe

DESCRIPTIONS = {"psnr": "peak signal-to-noise ratio, dB", "lpips": "learned perceptual distance"}

DIRECTIONS = {"psnr": True, "lpips": False}


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


def test_summary_opens_with_the_overview_then_what_training_adds_and_ends_with_the_notes():
    per_image = _paired_frame()
    agg = stats.aggregate(per_image, n_boot=50)
    paired = stats.paired_differences(per_image, [("m", "s")], {"lpips": False, "psnr": True}, n_boot=50)
    paired["role"] = "its start"
    md = summary.summary_markdown(agg, {"lpips": False, "psnr": True}, paired=paired, lead="**Verdict:** m.",
                                  notes="A caveat.")
    assert md.startswith("# Inpainting results\n\n**Verdict:** m.\n\n## Overview\n")
    assert md.index("## Overview") < md.index("## What training adds") < md.index("## lpips") < md.index("## Notes")
    assert md.index("## Notes") < md.index("A caveat.") and md.index("percentile-bootstrap") > md.index("## Notes")
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
    assert md.index("## Overview") < md.index("## Diverse fills") < md.index("## lpips")
    assert "| m | all | 20 | 4 | 0.0812 | 0.2101 | 0.1999 |" in md
    assert "## Diverse fills" not in summary.summary_markdown(agg, {"lpips": False, "psnr": True})


