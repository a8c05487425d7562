"""inpaint.predictions: one method's fills, scores and timing on disk, read back as the report needs them."""
import numpy as np
import pandas as pd
import pytest

from inpaint.evaluation import MethodResult, Scored, evaluate_method
from inpaint.grids import diverse_rows
from inpaint.methods import resolve_method
from inpaint.predictions import read_prediction, read_predictions, write_prediction
from testkit import holed_images as _data
from testkit import tiny_checkpoint as _checkpoint


def _pairs(n):
    return pd.DataFrame({"pair_id": [f"{i:06d}" for i in range(n)], "image_id": [f"img{i % 2}" for i in range(n)],
                         "mask_id": [f"m{i}" for i in range(n)], "mask_kind": ["box"] * n,
                         "hole_ratio": [0.15 + 0.1 * i for i in range(n)],
                         "bucket": [f"{10 + 10 * i}-{20 + 10 * i}" for i in range(n)]})


def test_a_method_written_and_read_back_keeps_its_scores_fills_and_timing(tmp_path):
    _checkpoint(tmp_path, "tiny")
    images, masks = _data(4)
    pairs = _pairs(4)
    method = resolve_method("tiny", tmp_path, "cpu")
    result = evaluate_method(method, images, masks, pairs, ["psnr", "hole_l1"], "cpu", batch_size=2)
    write_prediction(tmp_path / "pred/tiny", result, pairs)
    back = read_prediction(tmp_path / "pred/tiny", pairs)
    assert back.method == Scored("tiny", learned=True, start="hybrid", origin=None, note="tiny: best.pt from step None of ?")
    pd.testing.assert_frame_equal(back.scores, result.scores)  # scored on the unrounded fills, kept exactly
    assert np.abs(back.preds - result.preds).max() <= 0.5 / 255 + 1e-6  # fills rounded to 8 bits
    assert back.timing == result.timing and back.timing["seconds_per_pair"]["tiny"] > 0
    assert back.diversity is None and back.samples is None  # the autoencoder does not sample


def test_a_samplers_diversity_and_grid_samples_come_back(tmp_path):
    images, masks = _data(4)
    pairs = _pairs(4)
    drawn = np.random.default_rng(0).random((len(diverse_rows(pairs)), 3, 32, 32, 3)).astype(np.float32)
    div = pairs[["image_id", "mask_id", "hole_ratio"]].assign(diversity=0.1, sample_lpips=0.2)
    result = MethodResult(Scored("s", True, "hybrid"), pd.DataFrame({"method": ["s"], "value": [1.0]}), images,
                          None, div, drawn)
    write_prediction(tmp_path / "s", result, pairs)
    back = read_prediction(tmp_path / "s", pairs)
    assert back.timing is None and back.samples.shape == drawn.shape
    assert np.abs(back.samples - drawn).max() <= 0.5 / 255 + 1e-6
    pd.testing.assert_frame_equal(back.diversity, div)


def test_predictions_of_other_test_pairs_or_none_are_refused_with_the_fix(tmp_path):
    images, masks = _data(4)
    pairs = _pairs(4)
    result = MethodResult(Scored("telea"), pd.DataFrame({"method": ["telea"]}), images)
    write_prediction(tmp_path / "telea", result, pairs)
    more = pd.concat([pairs, pairs.assign(pair_id="000009")], ignore_index=True)
    with pytest.raises(ValueError, match=r"fills lacks 4 of the 8 test pairs .*rerun its predict stage"):
        read_prediction(tmp_path / "telea", more)
    with pytest.raises(ValueError, match=r"nope holds no predictions .*dvc repro"):
        read_predictions(tmp_path, ["telea", "nope"], pairs)


def test_a_folder_holding_another_methods_predictions_is_refused(tmp_path):
    images, _ = _data(2)
    pairs = _pairs(2)
    write_prediction(tmp_path / "telea", MethodResult(Scored("hybrid"), pd.DataFrame({"method": ["hybrid"]}), images),
                     pairs)
    with pytest.raises(ValueError, match=r"telea holds the predictions of 'hybrid', not 'telea'"):
        read_predictions(tmp_path, ["telea"], pairs)


def test_timings_of_methods_timed_apart_keep_each_ones_conditions():
    from inpaint.evaluation import combine

    images, _ = _data(2)

    def part(name, threads):
        timing = {"pairs": 2, "threads": threads, "device": "cpu", "seconds_per_pair": {name: 0.1}}
        return MethodResult(Scored(name), pd.DataFrame({"method": [name]}), images, timing)

    same = combine([part("a", 2), part("b", 2)]).timings
    assert same == {"pairs": 2, "threads": 2, "device": "cpu", "seconds_per_pair": {"a": 0.1, "b": 0.1}}
    apart = combine([part("a", 2), part("b", 8)]).timings
    assert "threads" not in apart and apart["conditions"]["b"]["threads"] == 8 and apart["seconds_per_pair"]["a"] == 0.1
