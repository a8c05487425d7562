"""inpaint.curves: a training run's losses and validation metrics as one PNG."""
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from inpaint.curves import plot_training_curves


def test_training_curves_draw_every_loss_and_metric(tmp_path):
    log = pd.DataFrame({"step": [1, 2, 3], "images": [8, 16, 24], "minutes": [0.1, 0.2, 0.3], "g_total": [1.0, 0.8, 0.7],
                        "d_loss": [2.0, 1.9, 1.8], "kl": [np.nan] * 3})
    val = pd.DataFrame({"step": [0, 3], "images": [0, 24], "lpips": [0.2, 0.18], "lpips_se": [0.01, 0.01],
                        "lpips_start_fill": [0.2, 0.2], "psnr": [20.0, 20.5], "psnr_start_fill": [20.0, 20.0]})
    plot_training_curves(log, val, tmp_path / "curves.png", "toy")
    with Image.open(tmp_path / "curves.png") as im:
        assert im.width > im.height > 200  # one row of four panels: g_total, d_loss, val lpips, val psnr
    with pytest.raises(ValueError, match="nothing to plot for empty"):
        plot_training_curves(log[["step", "images"]], val[["step", "images"]], tmp_path / "x.png", "empty")


def test_the_selection_columns_mark_points_and_add_no_panel(tmp_path):
    log = pd.DataFrame({"step": [1, 2], "images": [8, 16], "minutes": [0.1, 0.2], "g_total": [1.0, 0.8]})
    val = pd.DataFrame({"step": [0, 2], "images": [0, 16], "lpips": [0.2, 0.18], "lpips_start_fill": [0.2, 0.2]})
    plot_training_curves(log, val, tmp_path / "plain.png", "toy")
    chosen = val.assign(chosen=[1, 0], lpips_vs_best=[np.nan, -0.02], lpips_vs_best_se=[np.nan, 0.01],
                        lpips_vs_best_worst_photo=[np.nan, 0.01])
    plot_training_curves(log, chosen, tmp_path / "chosen.png", "toy")
    with Image.open(tmp_path / "plain.png") as a, Image.open(tmp_path / "chosen.png") as b:
        assert a.size == b.size  # still two panels: g_total and val lpips
        assert not np.array_equal(np.asarray(a), np.asarray(b))  # the ring on best.pt's step
