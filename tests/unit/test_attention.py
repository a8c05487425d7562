"""inpaint.attention: where a contextual-attention model copied each hole location from, and its picture."""
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from inpaint.attention import attention_sources, has_attention, position_colours, source_picture
from inpaint.evaluation import evaluate_method
from inpaint.grids import diverse_rows
from inpaint.methods import resolve_method
from inpaint.models import build_generator
from inpaint.models.deepfill import ContextualAttention
from inpaint.predictions import read_prediction, write_prediction
from inpaint.report import write_report
from inpaint.evaluation import combine
from testkit import tiny_checkpoint


class Copier(nn.Module):
    """A generator whose features are the image itself, 4x smaller: its attention matches colours, so where
    each hole location must draw from is known."""

    def __init__(self):
        super().__init__()
        self.scale, self.size_multiple = 4, 8
        self.attention = ContextualAttention(ksize=1, rate=2, softmax_scale=100.0)
        self.w = nn.Parameter(torch.zeros(1))  # a device to be on

    def forward(self, image, mask):
        feats = F.avg_pool2d(image, self.scale)
        out = self.attention(feats, mask)
        return {"pred": F.interpolate(out, scale_factor=self.scale, mode="nearest")}


def test_each_hole_location_is_traced_to_the_known_place_its_attention_matched():
    # left half red, right half blue; the photo's content under the hole is red in its left part and
    # blue in its right part (the copier's queries see it), so their sources lie left and right
    image = torch.zeros(1, 3, 64, 64)
    image[:, 0, :, :32] = 1.0
    image[:, 2, :, 32:] = 1.0
    image[:, 1, :, 16:24] = 0.5  # a green column band on the left: the one place that matches the queries below
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 24:40, 0:64] = 1  # a band across the whole photo
    model = Copier()
    fill, source, weight = attention_sources(model, image, mask)
    assert fill.shape == (64, 64, 3) and source.shape == (64, 64, 2) and weight.shape == (64, 64)
    hole = mask[0, 0].numpy() > 0
    assert np.isfinite(source[hole]).all()
    sy, sx = source[..., 0], source[..., 1]
    # every source is a known place: outside the band
    assert ((sy[hole] < 24) | (sy[hole] >= 40)).all()
    # the red part of the band copies from the left half, the blue part from the right, the green from the band
    assert (sx[24:40, 40:64] >= 32).all() and (sx[24:40, 0:8] < 32).all()
    assert ((sx[24:40, 16:24] >= 16) & (sx[24:40, 16:24] < 24)).all()
    assert weight[hole].min() > 0 and weight.max() <= 1 + 1e-6
    assert model.attention.best is None and not model.attention.record  # nothing kept after the call


def test_the_picture_shows_each_hole_pixel_in_the_colour_of_its_source():
    mask = np.zeros((16, 20), np.float32)
    mask[4:8, 5:10] = 1
    source = np.full((16, 20, 2), np.nan, np.float32)
    source[4:8, 5:10] = (12.0, 18.0)  # everything copied from (12, 18)
    source[4, 5] = np.nan  # one location with nothing valid
    picture = source_picture(source, mask)
    codes = position_colours(16, 20)
    np.testing.assert_allclose(picture[0, 0], 0.5 * codes[0, 0])  # known: its own code, dimmed
    np.testing.assert_allclose(picture[6, 7], codes[12, 18])  # hole: its source's code, full brightness
    assert (picture[4, 5] == 0).all()
    assert not np.allclose(codes[0, 0], codes[15, 19]) and not np.allclose(codes[0, 19], codes[15, 0])


def test_only_a_deepfill_with_attention_has_it_and_others_are_refused_with_the_reason():
    assert has_attention(build_generator("deepfill"))
    plain = build_generator("deepfill", attention=False)
    assert not has_attention(plain) and not has_attention(build_generator("autoencoder"))
    with pytest.raises(ValueError, match="no contextual attention"):
        attention_sources(plain, torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32))


def _pairs(n):
    return pd.DataFrame({"pair_id": [f"{i:06d}" for i in range(n)], "image_id": [f"img{i % 2}" for i in range(n)],
                         "mask_id": [f"m{i}" for i in range(n)], "mask_kind": ["box"] * n,
                         "hole_ratio": [0.35] * n, "bucket": ["30-40"] * n})


def test_a_deepfill_evaluation_keeps_where_it_copied_and_the_report_draws_it(tmp_path):
    tiny_checkpoint(tmp_path, "df", arch="deepfill")
    rng = np.random.default_rng(0)
    images = rng.random((4, 64, 64, 3)).astype(np.float32)
    masks = np.zeros((4, 64, 64), np.float32)
    masks[:, 24:40, 20:44] = 1  # small enough to leave known 3x3 key patches on its 8 x 8 matching grid
    pairs = _pairs(4)
    method = resolve_method("df", tmp_path, "cpu")
    result = evaluate_method(method, images, masks, pairs, ["psnr", "lpips"], "cpu", batch_size=2, timing=False)
    rows = diverse_rows(pairs)
    assert result.sources.shape == (len(rows), 64, 64, 3)
    hole = masks[rows] > 0
    assert (result.sources[~hole] <= 0.5 + 1e-6).all() and result.sources[hole].max() > 0.5  # dimmed outside
    write_prediction(tmp_path / "pred/df", result, pairs)
    back = read_prediction(tmp_path / "pred/df", pairs)
    assert np.abs(back.sources - result.sources).max() <= 0.5 / 255 + 1e-6
    write_report(tmp_path / "reports", combine([back]), images, masks, pairs, n_boot=20, seed=0, samples=2)
    assert (tmp_path / "reports/grids/df_attention.png").is_file()
    assert "grids/df_attention.png" in (tmp_path / "reports/summary.md").read_text()


def test_a_lama_with_attention_is_an_attention_model_whose_sources_lie_outside_the_hole():
    assert not has_attention(build_generator("lama", width=8, n_down=2, max_width=16, n_blocks=1))
    torch.manual_seed(0)
    model = build_generator("lama", width=8, n_down=2, max_width=16, n_blocks=1, attention=True).eval()
    assert has_attention(model)
    image, mask = torch.rand(1, 3, 48, 40), torch.zeros(1, 1, 48, 40)
    mask[..., 12:28, 8:24] = 1
    fill, source, weight = attention_sources(model, image, mask)
    assert fill.shape == (48, 40, 3) and source.shape == (48, 40, 2)
    cells = mask[0, 0].numpy() > 0  # every hole pixel lies in a hole cell (4 px: the bottleneck of n_down 2)
    assert np.isfinite(source[cells]).all() and (weight[cells] > 0).all()
    sy, sx = source[cells][:, 0], source[cells][:, 1]
    # a source is a key (lama's: one cell) holding no hole pixel: its centre never lies in a hole cell
    assert model.attention.ksize == 1
    assert not ((sy > 12) & (sy < 28) & (sx > 8) & (sx < 24)).any()
    assert ((sy < 12) | (sy > 28) | (sx < 8) | (sx > 24)).all()
