"""inpaint.refine: the multi-scale feature refinement (`inpaint fill --refine`): its levels, that it reads no hole
pixel, that one level is the plain fill, that the finer level is pulled towards the coarser fill, and its refusals."""
import numpy as np
import pytest
import torch

from inpaint.models import build_generator, fill_holes
from inpaint.refine import can_refine, down, down_mask, erode, n_levels, pyramid, refine_fill, refined
from testkit import cli, randomise_heads, save_mask, save_photo, tiny_checkpoint

LAMA = {"width": 8, "n_down": 3, "max_width": 16, "n_blocks": 1}


def lama():
    torch.manual_seed(0)
    model = build_generator("lama", **LAMA).eval()
    randomise_heads(model)  # an untrained head returns the start fill whatever the features: nothing to refine
    return model


def photo(h=96, w=128, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / 16.0
    image = np.stack([0.5 + 0.4 * np.sin(xx + c) * np.cos(yy) for c in range(3)])
    image = np.clip(image + 0.05 * rng.standard_normal(image.shape), 0, 1)
    mask = np.zeros((h, w), np.float32)
    mask[24:72, 40:100] = 1
    return torch.tensor(image, dtype=torch.float32)[None], torch.from_numpy(mask)[None, None]


def test_levels_follow_the_shorter_side():
    assert n_levels(321, 481) == 1  # a BSDS500 photo: filled once, as without refinement
    assert n_levels(362, 512) == 1 and n_levels(363, 512) == 2  # 256 x sqrt(2) = 362.04: the first crop halved
    assert n_levels(724, 1024) == 2 and n_levels(725, 1024) == 3  # 2.5 rounds up (not to even)
    assert n_levels(680, 1024) == 2 and n_levels(1024, 1024) == 3
    assert n_levels(4000, 6000) == 3 and n_levels(4000, 6000, max_scales=5) == 5
    assert n_levels(96, 128, min_side=48) == 2 and n_levels(10, 10) == 1


def test_pyramid_masks_keep_every_hole_pixel_and_erode_inwards():
    m = torch.zeros(1, 1, 40, 40)
    m[..., 10:31, 7:30] = 1
    assert down_mask(m, (20, 20), whole=False).sum() == 11 * 12  # rows 5-15, cols 3-14: any hole pixel under it
    assert down_mask(m, (20, 20), whole=True).sum() == 10 * 11  # rows 5-14, cols 4-14: hole through and through
    e = erode(m, 5)
    assert e.sum() > 0 and (e <= m).all() and e[..., 12:29, 9:28].all() and not e[..., 11, :].any()
    x = torch.rand(1, 3, 40, 40)
    assert down(x, (20, 20)).shape == (1, 3, 20, 20)


def test_one_level_is_the_plain_fill():
    model, (x, m) = lama(), photo()
    with torch.no_grad():
        plain = fill_holes(model, x, m)
    assert torch.equal(refine_fill(model, x, m), plain)  # shorter side 96 < 362: one level


def test_hole_pixels_are_never_read_and_known_pixels_are_kept():
    model, (x, m) = lama(), photo()
    other = x.clone()
    other[m.expand_as(x) > 0] = torch.rand(int(m.sum()) * 3)
    a = refine_fill(model, x, m, min_side=32, n_iters=3)
    b = refine_fill(model, other, m, min_side=32, n_iters=3)
    assert n_levels(96, 128, min_side=32) == 3
    assert torch.equal(a, b)
    assert torch.equal(a[m.expand_as(x) == 0], x[m.expand_as(x) == 0])


def test_the_finer_fill_is_pulled_towards_the_coarser_one():
    model, (x, m) = lama(), photo()
    with torch.no_grad():  # a gentler head than randomise_heads': a fill that is not clamped through and through
        for name, p in model.named_parameters():
            if "head" in name:
                p.mul_(0.3)
    cx, cm = pyramid(x, m, 2)[1]
    coarse = refine_fill(model, cx, cm)  # 48 x 64: one level
    deep = erode(down_mask(m, cx.shape[-2:], whole=True))
    assert deep.sum() > 20

    def mismatch(n_iters):
        fill = refine_fill(model, x, m, min_side=48, n_iters=n_iters, lr=0.05)
        return float(((down(fill, cx.shape[-2:]) - coarse).abs() * deep).sum() / deep.sum())

    none, some, more = mismatch(0), mismatch(15), mismatch(50)
    assert more < some < none and more < 0.95 * none, (none, some, more)


def test_only_a_generator_split_into_encode_and_decode_is_refined(tmp_path):
    from inpaint.methods import resolve_method

    assert can_refine(lama()) and not can_refine(build_generator("autoencoder", width=8, n_down=2, max_width=16))
    with pytest.raises(ValueError, match="telea is a classical method"):
        refined(resolve_method("telea", tmp_path))
    tiny_checkpoint(tmp_path, "tiny", "deepfill")
    with pytest.raises(ValueError, match="--refine works with lama models"):
        refined(resolve_method("tiny", tmp_path, "cpu"))


def test_fill_refine_refuses_a_classical_method_in_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_photo(tmp_path / "p.png", size=(64, 48))
    save_mask(tmp_path / "m.png")
    cli(tmp_path, capsys, ["fill", "--method", "telea", "--refine", "--image", "p.png", "--mask", "m.png",
                           "--out", "o.png"], 2, "--refine works with lama models.*telea")


def test_a_batch_is_refined_photo_by_photo_and_the_weights_are_untouched():
    model = lama()
    (x1, m1), (x2, m2) = photo(seed=1), photo(seed=2)
    m2 = m2.clone()
    m2[..., 30:60, 10:50] = 1  # another hole: the losses would mix if normalised over the batch
    both = refine_fill(model, torch.cat([x1, x2]), torch.cat([m1, m2]), min_side=48)
    assert torch.equal(both[:1], refine_fill(model, x1, m1, min_side=48))
    assert torch.equal(both[1:], refine_fill(model, x2, m2, min_side=48))
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="odd"):
        erode(m1, 4)


def test_refined_fills_large_photos_at_several_levels_keeping_known_pixels():
    from inpaint.checkpoints import predict
    from inpaint.methods import Method

    model = lama()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:380, 0:400] / 20.0
    images = np.stack([np.stack([0.5 + 0.4 * np.sin(xx + c + k) * np.cos(yy) for c in range(3)], -1)
                       for k in range(2)]).astype(np.float32)
    images = np.clip(images + 0.03 * rng.standard_normal(images.shape), 0, 1).astype(np.float32)
    masks = np.zeros((2, 380, 400), np.float32)
    masks[0, 100:260, 120:300] = 1
    masks[1, 50:200, 30:330] = 1
    assert n_levels(380, 400) == 2
    method = Method("lm", lambda i, m: predict(model, i, m, torch.device("cpu")), model)
    out = refined(method).fill(images, masks)
    plain = method.fill(images, masks)
    assert out.shape == images.shape and out.dtype == np.float32
    assert np.array_equal(out[masks == 0], images[masks == 0])  # known pixels bit for bit
    assert np.abs(out - plain)[masks == 1].mean() > 1e-3  # the refinement changed the fill


def test_refine_with_samples_or_seed_is_refused_before_anything_loads(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_photo(tmp_path / "p.png", size=(64, 48))
    save_mask(tmp_path / "m.png")
    for extra in (["--samples", "2"], ["--seed", "3"]):
        cli(tmp_path, capsys, ["fill", "--method", "nothing-here", "--refine", *extra, "--image", "p.png", "--mask",
                               "m.png", "--out", "o.png"], 2, "--refine fills deterministically")


def test_fill_refine_fills_with_a_lama_checkpoint(tmp_path, capsys, monkeypatch):
    from inpaint.checkpoints import CHECKPOINT_FORMAT, save_checkpoint
    from inpaint.io import read_rgb8

    monkeypatch.chdir(tmp_path)
    save_checkpoint(tmp_path / "models" / "lm" / "best.pt",
                    {"format": CHECKPOINT_FORMAT, "arch": "lama", "kwargs": LAMA, "state": lama().state_dict()})
    save_photo(tmp_path / "p.png", size=(64, 48))
    save_mask(tmp_path / "m.png")
    args = ["fill", "--method", "lm", "--checkpoints", "models", "--image", "p.png", "--mask", "m.png"]
    cli(tmp_path, capsys, [*args, "--refine", "--out", "o.png"], 0, new={"o.png"})
    cli(tmp_path, capsys, [*args, "--out", "plain.png"], 0, new={"plain.png"})
    assert np.array_equal(read_rgb8(tmp_path / "o.png"), read_rgb8(tmp_path / "plain.png"))  # 48 px: one level


def test_the_speed_bench_times_refine_through_the_command():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "fill_speed.py"
    spec = importlib.util.spec_from_file_location("bench_fill_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.fill_args("pretrained/lama_fullres+refine") == ["--method", "pretrained/lama_fullres", "--refine"]
    assert bench.fill_args("telea") == ["--method", "telea"]
