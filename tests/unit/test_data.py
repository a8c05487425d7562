import numpy as np
import pandas as pd
import pytest
import torch
from testkit import save_photo

from inpaint.atomic import write_png
from inpaint.data import MaskMix, StepSampler, TrainSet, fit_short_side, load_crop, load_pairs


def test_fit_short_side_only_upscales():
    a = np.zeros((20, 40, 3), np.uint8)
    assert fit_short_side(a, 32).shape == (32, 64, 3)
    assert fit_short_side(a, 10) is a


def test_load_crop_is_float_and_exact_when_unscaled(tmp_path):
    p = save_photo(tmp_path / "p.png", size=(60, 50))
    crop = load_crop(str(p), 5, 7, 32, 32)
    full = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(p), dtype=np.float32) / 255
    assert crop.dtype == np.float32 and np.allclose(crop, full[7:39, 5:37])
    assert load_crop(str(p), 0, 0, 50, 16).shape == (16, 16, 3)


def _trainset(tmp_path, **kw):
    paths = [str(save_photo(tmp_path / f"{i}.png", size=(80, 64), seed=i)) for i in range(3)]
    return TrainSet(paths, 32, MaskMix({"thick": 1, "box": 1}, 0.05, 0.6), seed=0, **kw)


def test_train_samples_are_deterministic_by_sample_number(tmp_path):
    ds = _trainset(tmp_path)
    (a, ma), (b, mb), (c, _) = ds[5], ds[5], ds[6]
    assert a.shape == (3, 32, 32) and ma.shape == (1, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b) and torch.equal(ma, mb) and not torch.equal(a, c)
    assert 0 <= a.min() and a.max() <= 1 and set(ma.unique().tolist()) <= {0.0, 1.0}
    ratios = [ds[k][1].mean().item() for k in range(20)]
    assert min(ratios) >= 0.05 and max(ratios) <= 0.6


def test_resumed_sampler_draws_the_same_batches(tmp_path):
    ds = _trainset(tmp_path, cache=False)
    full = list(torch.utils.data.DataLoader(ds, batch_size=4, sampler=StepSampler(0, 16)))
    resumed = list(torch.utils.data.DataLoader(ds, batch_size=4, sampler=StepSampler(8, 16), num_workers=2))
    for (x, m), (y, n) in zip(full[2:], resumed):
        assert torch.equal(x, y) and torch.equal(m, n)


def test_mask_mix_validates():
    with pytest.raises(ValueError, match="empty"):
        MaskMix({})
    with pytest.raises(ValueError, match="known kinds"):
        MaskMix({"blob": 1})
    with pytest.raises(ValueError, match="weights"):
        MaskMix({"box": 0})
    mix = MaskMix({"box": 1, "thin": 0})
    assert all(mix(np.random.default_rng(i), 32).shape == (32, 32) for i in range(5))


def test_empty_training_split_is_an_error():
    with pytest.raises(ValueError, match="training split is empty"):
        TrainSet([], 32, MaskMix({"box": 1}), 0)


def test_load_pairs(tmp_path):
    p = save_photo(tmp_path / "p.png", size=(64, 64))
    m = np.zeros((16, 16), np.float32)
    m[4:8, 4:8] = 1
    write_png(tmp_path / "m.png", m)
    pairs = pd.DataFrame([{"path": str(p), "crop_x": 0, "crop_y": 0, "crop_size": 64, "mask_file": "m.png"}])
    images, masks = load_pairs(pairs, str(tmp_path), 16)
    assert images.shape == (1, 16, 16, 3) and masks.shape == (1, 16, 16) and masks.sum() == 16


def test_the_validation_crops_take_the_photos_in_turn_as_val_photos_says(tmp_path):
    from inpaint.atomic import write_png
    from inpaint.data import MaskMix, make_val_set, val_photos

    paths = []
    for k, level in enumerate((0.1, 0.5, 0.9)):  # three flat photos, told apart by their grey level
        paths.append(tmp_path / f"p{k}.png")
        write_png(paths[-1], np.full((40, 40, 3), level, np.float32))
    images, _ = make_val_set([str(p) for p in paths], 16, MaskMix({"box": 1}, 0.1, 0.3), 7, seed=0)
    photos = val_photos(7, 3)
    assert photos.tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert np.allclose(images.mean(axis=(1, 2, 3)), np.array([0.1, 0.5, 0.9])[photos], atol=0.01)
