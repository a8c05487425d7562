import numpy as np
import pandas as pd
import pytest
import torch

from inpaint.classical import BASELINES
from inpaint.evaluation import checkpoint_note, diverse_samples, example_rows, load_method, run_method, score
from inpaint.models import build_generator
from inpaint.training import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint


def _pairs(n):
    kinds = ["thick", "box"] * n
    return pd.DataFrame({"pair_id": [f"{i:06d}" for i in range(n)], "image_id": [f"img{i % 2}" for i in range(n)],
                         "mask_id": [f"m{i}" for i in range(n)], "mask_kind": kinds[:n],
                         "hole_ratio": [0.15 + 0.1 * (i % 3) for i in range(n)],
                         "bucket": [["10-20", "20-30", "30-40"][i % 3] for i in range(n)]})


def _data(n=4, size=32):
    rng = np.random.default_rng(0)
    images = rng.random((n, size, size, 3)).astype(np.float32)
    masks = np.zeros((n, size, size), np.float32)
    masks[:, 8:20, 6:22] = 1
    return images, masks


def _checkpoint(tmp_path, name="tiny"):
    torch.manual_seed(0)
    kwargs = {"width": 8, "n_down": 2, "max_width": 16, "n_mid": 1}
    model = build_generator("autoencoder", **kwargs)
    save_checkpoint(tmp_path / name / "best.pt", {"format": CHECKPOINT_FORMAT, "arch": "autoencoder", "kwargs": kwargs, "state": model.state_dict()})
    return model


@pytest.mark.parametrize("name", ["telea", "biharmonic", "trained"])
def test_every_method_leaves_known_pixels_untouched(tmp_path, name):
    _checkpoint(tmp_path, "trained")
    images, masks = _data()
    fill, _ = load_method(name, tmp_path, "cpu")
    preds, seconds = run_method(fill, images, masks)
    known = masks == 0
    assert preds.shape == images.shape and seconds > 0
    assert np.array_equal(preds[known], images[known])
    assert not np.allclose(preds[~known], images[~known])


def test_trained_method_is_rebuilt_from_its_checkpoint(tmp_path):
    model = _checkpoint(tmp_path)
    images, masks = _data()
    fill, loaded = load_method("tiny", tmp_path, "cpu")
    assert not loaded.training
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    m = torch.from_numpy(masks)[:, None]
    with torch.no_grad():
        expected = (m * model.eval()(x, m)["pred"] + (1 - m) * x).permute(0, 2, 3, 1).numpy()
    assert np.allclose(fill(images, masks), expected, atol=1e-6)


def test_checkpoint_note_names_the_step_and_flags_an_untrained_best(tmp_path):
    _checkpoint(tmp_path, "m")
    ckpt = load_checkpoint(tmp_path / "m/best.pt")
    save_checkpoint(tmp_path / "m/best.pt", {**ckpt, "step": 0, "params": {"max_steps": 250}, "val": {"lpips": 0.13849}})
    assert checkpoint_note("m", tmp_path) == "m: best.pt from step 0 of 250 (validation lpips 0.1385) = the untrained starting fill"
    save_checkpoint(tmp_path / "m/best.pt", {**ckpt, "step": 50, "params": {"max_steps": 250}, "val": {}})
    assert checkpoint_note("m", tmp_path) == "m: best.pt from step 50 of 250"
    assert checkpoint_note("telea", tmp_path) is None


def test_unknown_method_says_what_exists(tmp_path):
    with pytest.raises(ValueError, match="neither a baseline.*telea.*best.pt missing"):
        load_method("nope", tmp_path)


def test_score_is_long_format_and_deterministic():
    images, masks = _data()
    preds = np.clip(images + 0.05, 0, 1)
    pairs = _pairs(4)
    a = score("m", preds, images, masks, pairs, ["psnr", "hole_l1"], "cpu", batch_size=3)
    b = score("m", preds, images, masks, pairs, ["psnr", "hole_l1"], "cpu", batch_size=4)
    assert list(a.columns) == ["method", "image_id", "mask_id", "mask_kind", "hole_ratio", "bucket", "metric", "value"]
    assert len(a) == 8 and set(a.metric) == {"psnr", "hole_l1"}
    pd.testing.assert_frame_equal(a, b)
    assert (a[a.metric == "hole_l1"].value <= 0.05 + 1e-6).all()


def test_example_rows_pick_first_pair_of_each_kind_and_bucket():
    rows = example_rows(_pairs(6))
    assert rows == {"box": [1, 3, 5], "thick": [0, 2, 4]}


def test_diverse_samples_differ_and_keep_known_pixels():
    torch.manual_seed(0)
    model = build_generator("vae").eval()
    with torch.no_grad():  # an untrained VAE's zero-initialised head would make every sample the base fill
        for p in model.parameters():
            if not p.any():
                p.normal_(0, 0.05)
    images, masks = _data(2, 32)
    out = diverse_samples(model, images, masks, 3, seed=0)
    assert out.shape == (2, 3, 32, 32, 3)
    known = masks[:, None].repeat(3, 1) == 0
    assert np.array_equal(out[known], np.repeat(images[:, None], 3, 1)[known])
    assert not np.allclose(out[:, 0], out[:, 1])
    assert np.array_equal(out, diverse_samples(model, images, masks, 3, seed=0))
    assert set(BASELINES) >= {"telea", "navier_stokes", "biharmonic"}
