import time
import numpy as np
import pandas as pd
import pytest
import torch

from inpaint.baselines import BASELINES
from inpaint.checkpoints import load_checkpoint, save_checkpoint
from inpaint.evaluation import checkpoint_note, check_names, diverse_samples, evaluate, resolve_all, run_method, score
from inpaint.grids import diverse_rows, example_rows
from inpaint.methods import resolve_method
from inpaint.models import build_generator
from testkit import holed_images as _data
from testkit import tiny_checkpoint as _checkpoint


def _pairs(n):
    kinds = ["thick", "box"] * n
    return pd.DataFrame({"pair_id": [f"{i:06d}" for i in range(n)], "image_id": [f"img{i % 2}" for i in range(n)],
                         "mask_id": [f"m{i}" for i in range(n)], "mask_kind": kinds[:n],
                         "hole_ratio": [0.15 + 0.1 * (i % 3) for i in range(n)],
                         "bucket": [["10-20", "20-30", "30-40"][i % 3] for i in range(n)]})


@pytest.mark.parametrize("name", [*sorted(BASELINES), "trained"])
def test_every_method_leaves_known_pixels_untouched(tmp_path, name):
    _checkpoint(tmp_path, "trained")
    images, masks = _data()
    fill = resolve_method(name, tmp_path, "cpu").fill
    preds = run_method(fill, images, masks, name, chunk=3)  # chunks of 3: the last one is shorter
    known = masks == 0
    assert preds.shape == images.shape and preds.dtype == np.float32
    assert np.array_equal(preds[known], images[known])
    assert not np.allclose(preds[~known], images[~known])


def test_checkpoint_note_names_the_step_and_flags_an_untrained_best(tmp_path):
    _checkpoint(tmp_path, "m")
    ckpt = load_checkpoint(tmp_path / "m/best.pt")
    save_checkpoint(tmp_path / "m/best.pt", {**ckpt, "step": 0, "params": {"max_steps": 250}, "val": {"lpips": 0.13849}})
    note = lambda name: checkpoint_note(resolve_method(name, tmp_path, "cpu"))  # noqa: E731
    assert note("m") == "m: best.pt from step 0 of 250 (validation lpips 0.1385) = the untrained starting fill"
    save_checkpoint(tmp_path / "m/best.pt", {**ckpt, "step": 50, "params": {"max_steps": 250}, "val": {}})
    assert note("m") == "m: best.pt from step 50 of 250"
    assert note("telea") is None


def test_names_are_checked_before_any_method_runs(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setitem(BASELINES, "spy", lambda i, m: ran.append(1) or i)
    monkeypatch.setattr("inpaint.methods.BASELINE_NAMES", (*BASELINES,))  # the names known before torch loads
    images, masks = _data()
    with pytest.raises(ValueError, match="'foo' is neither a baseline"):
        evaluate(["spy", "foo"], images, masks, _pairs(4), ["psnr"], tmp_path, "cpu")
    with pytest.raises(ValueError, match="unknown metric 'fid'"):
        evaluate(["spy"], images, masks, _pairs(4), ["psnr", "fid"], tmp_path, "cpu")
    with pytest.raises(ValueError, match="no method to evaluate"):
        check_names([], ["psnr"], tmp_path)
    assert ran == []


def test_a_learned_models_start_fill_is_always_evaluated_beside_it(tmp_path):
    _checkpoint(tmp_path, "tiny")
    assert [m.name for m in resolve_all(["tiny", "telea"], tmp_path, "cpu")] == ["tiny", "telea", "hybrid"]
    assert [m.name for m in resolve_all(["hybrid", "tiny"], tmp_path, "cpu")] == ["hybrid", "tiny"]
    images, masks = _data()
    res = evaluate(["tiny"], images, masks, _pairs(4), ["psnr"], tmp_path, "cpu")
    assert list(res.preds) == ["tiny", "hybrid"] and set(res.per_image.method) == {"tiny", "hybrid"}


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


def _many_photos(photos=("chelsea", "motorcycle_left", "motorcycle_right"), per_cell=4):
    """Like the default test set: every (kind, bucket) cell has pairs of every photo, the first listed first."""
    rows = [(p, kind, b, r) for kind in ("box", "thick") for b, r in (("10-20", 0.15), ("30-40", 0.35), ("40-50", 0.45))
            for p in photos for _ in range(per_cell)]
    return pd.DataFrame(rows, columns=["image_id", "mask_kind", "bucket", "hole_ratio"])


def test_example_rows_show_every_photo_one_pair_per_kind_and_bucket():
    pairs = _many_photos()
    rows = example_rows(pairs)
    assert sorted(rows) == ["box", "thick"] and all(len(r) == 3 for r in rows.values())
    for kind, picked in rows.items():
        assert list(pairs.bucket[picked]) == ["10-20", "30-40", "40-50"] and set(pairs.mask_kind[picked]) == {kind}
    shown = pairs.image_id[[i for r in rows.values() for i in r]]
    assert shown.value_counts().to_dict() == {"chelsea": 2, "motorcycle_left": 2, "motorcycle_right": 2}
    assert example_rows(pairs) == rows  # fixed examples


def test_diverse_rows_take_large_holes_of_every_photo():
    pairs = _many_photos()
    rows = diverse_rows(pairs)
    assert len(rows) == 6 and all(pairs.hole_ratio[i] >= 0.3 for i in rows)
    assert set(pairs.image_id[rows]) == {"chelsea", "motorcycle_left", "motorcycle_right"}


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


def test_diversity_is_zero_for_identical_samples_and_grows_with_their_spread():
    from inpaint.evaluation import diversity

    class Sampler(torch.nn.Module):
        """Fills the hole with grey plus `spread` x noise: spread 0 gives identical samples."""

        def __init__(self, spread):
            super().__init__()
            self.spread = torch.nn.Parameter(torch.tensor(float(spread)))

        def sample(self, image, mask, n, generator=None):
            noise = torch.rand((n, *image.shape), generator=generator, device=image.device) - 0.5
            fills = (0.5 + self.spread * noise).clamp(0, 1)
            return mask * fills + (1 - mask) * image

    images, masks = _data(4, 64)
    pairs = _pairs(4)
    frames = {s: diversity(Sampler(s), images, masks, pairs, 3, seed=0, batch_size=3) for s in (0.0, 0.3, 1.0)}
    assert list(frames[0.0].columns) == ["image_id", "mask_id", "hole_ratio", "diversity", "sample_lpips"]
    assert np.allclose(frames[0.0].diversity, 0, atol=1e-6)
    assert (frames[0.3].diversity > 0.01).all() and (frames[1.0].diversity > frames[0.3].diversity).all()
    with pytest.raises(ValueError, match="evaluate.samples"):
        diversity(Sampler(1.0), images, masks, pairs, 1, seed=0)


def test_timing_pass_is_separate_warm_and_states_its_conditions():
    from inpaint.evaluation import timing_pass

    calls = []

    class M:
        name = "slow"

        def fill(self, images, masks):
            calls.append(len(images))
            time.sleep(0.01)
            return images

    images, masks = _data(n=5)
    t = timing_pass([M()], images, masks, batch_size=2, device="cpu", pairs=4, repeats=2)
    assert calls == [4, 4, 4]  # a warm-up call, then the timed ones, on the first 4 pairs
    assert t["pairs"] == 4 and t["batch_size"] == 2 and t["threads"] == torch.get_num_threads() and t["device"] == "cpu"
    assert 0.0025 <= t["seconds_per_pair"]["slow"] < 0.05 and t["image_size"] == 32
