"""inpaint.plots: each metric against the hole ratio, as tidy CSV and PNG."""


import pandas as pd
import pytest
from PIL import Image

from inpaint import plots, stats
from testkit import agg_row as _row
from testkit import synthetic_scores as _synthetic



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
