"""Generators, discriminator, contextual attention, FFC and the initial fill, on tiny seeded inputs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
import torch
import torch.nn as nn
import torch.nn.functional as F
from testkit import randomise_heads
from testkit import stripes as batch

from inpaint.arrays import to_nchw, to_nhwc
from inpaint.baselines import BASELINES
from inpaint.models import (
    DISCRIMINATORS,
    GENERATORS,
    build_discriminator,
    build_generator,
    fill_holes,
    pad_to_multiple,
)
from inpaint.models.common import INIT_FILLS, FillHead, initial_fills, input_channels, n_fills_shown, network_inputs, start_fill
from inpaint.models.deepfill import contextual_attention
from inpaint.models.lama import FFCResBlock, FourierUnit
from inpaint.patch import patch_match
from inpaint.start_fills import patch_fill

# tiny sizes per registry entry; an entry missing here is tested with its defaults
TINY = {
    "deepfill": dict(width=4, n_down=2, max_width=8, dilations=[2], attention_rate=2),
    "lama": dict(width=8, n_down=2, max_width=16, n_blocks=1),
    "autoencoder": dict(width=4, n_down=3, max_width=8, n_mid=1),
    "vae": dict(width=4, n_down=3, max_width=8, latent_channels=2, n_mid=1),
}
NAMES = sorted(GENERATORS)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors gain nothing from threads, and on a shared, busy machine OpenMP threads that
    spin-wait for a core make these tests 100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(name: str, **overrides) -> nn.Module:
    torch.manual_seed(0)
    return build_generator(name, **{**TINY.get(name, {}), **overrides})


def first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


# ---------------------------------------------------------------------------------------------
# Registries and builders


def test_the_default_params_name_registered_models():
    params = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    assert set(params["train"]["models"]) <= set(GENERATORS)
    assert params["train"]["common"]["discriminator"]["name"] in DISCRIMINATORS


def test_unknown_names_raise_listing_known():
    with pytest.raises(ValueError, match="lama"):
        build_generator("nope")
    with pytest.raises(ValueError, match="patchgan"):
        build_discriminator("nope")


def test_bad_kwargs_raise_value_error():
    with pytest.raises(ValueError, match="lama"):
        build_generator("lama", widht=3)
    with pytest.raises(ValueError, match="init_fill"):
        build_generator("lama", init_fill="telea")
    with pytest.raises(ValueError, match="norm"):
        build_generator("autoencoder", norm="layer")


@pytest.mark.parametrize("name", ["deepfill", "lama"])
def test_default_gan_generators_have_1_to_3_million_parameters(name):
    assert 1_000_000 <= sum(p.numel() for p in build_generator(name).parameters() if p.requires_grad) <= 3_000_000


@pytest.mark.parametrize("name", ["autoencoder", "vae"])
def test_default_other_generators_are_cpu_sized(name):
    assert 300_000 <= sum(p.numel() for p in build_generator(name).parameters() if p.requires_grad) <= 5_000_000


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_rebuild_from_json_kwargs_is_identical(name):
    kwargs = json.loads(json.dumps(TINY.get(name, {})))  # what a checkpoint stores
    model = build_generator(name, **kwargs)
    randomise_heads(model)
    rebuilt = build_generator(name, **kwargs)
    rebuilt.load_state_dict(model.state_dict())
    image, mask = batch()
    model.eval(), rebuilt.eval()
    with torch.no_grad():
        assert torch.equal(model(image, mask)["pred"], rebuilt(image, mask)["pred"])


# ---------------------------------------------------------------------------------------------
# Generator behaviour


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("training", [True, False])
def test_forward_shape_range_and_extras(name, training):
    model = tiny(name).train(training)
    randomise_heads(model)
    image, mask = batch()
    out = model(image, mask)
    assert out["pred"].shape == image.shape
    assert torch.isfinite(out["pred"]).all()
    assert out["pred"].min() >= 0 and out["pred"].max() <= 1
    if name == "deepfill":
        assert out["coarse"].shape == image.shape
    if name == "vae":
        assert out["prior_mu"].shape == out["prior_logvar"].shape
        assert ("mu" in out) == training


@pytest.mark.parametrize("name", NAMES)
def test_size_multiple_is_honoured(name):
    model = tiny(name).eval()
    m = model.size_multiple
    assert isinstance(m, int) and m >= 1
    image, mask = batch(size=4 * m)
    with torch.no_grad():
        model(image, mask)  # a multiple works
        with pytest.raises(ValueError, match="multiples of"):
            model(image[..., :-1], mask[..., :-1])


@pytest.mark.parametrize("init_fill", list(INIT_FILLS))
@pytest.mark.parametrize("name", NAMES)
def test_untrained_model_returns_its_start_fill_baseline(name, init_fill):
    # zero-initialised last layer: the network starts exactly at its registered start fill, the
    # method the report scores beside it
    model = tiny(name, init_fill=init_fill).eval()
    image, mask = batch()
    with torch.no_grad():
        pred = fill_holes(model, image, mask)
    fill = start_fill(init_fill)
    if fill is None:  # "none": grey holes
        expected = image * (1 - mask) + 0.5 * mask
    else:
        expected = to_nchw(np.stack([BASELINES[fill](i, m) for i, m in zip(to_nhwc(image), mask[:, 0].numpy())]))
    torch.testing.assert_close(pred, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("init_fill", list(INIT_FILLS))
@pytest.mark.parametrize("name", NAMES)
def test_hole_pixels_are_never_read(name, init_fill):
    model = tiny(name, init_fill=init_fill).eval()
    randomise_heads(model)
    image, mask = batch()
    scrambled = torch.where(mask.bool(), torch.rand_like(image), image)
    with torch.no_grad():
        torch.testing.assert_close(model(image, mask)["pred"], model(scrambled, mask)["pred"])


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_the_first_layer(name):
    model = tiny(name).train()
    image, mask = batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(2):  # step 1 moves the zero-initialised head; step 2's gradient reaches the stem
        opt.zero_grad()
        (model(image, mask)["pred"] - image).abs().mul(mask).mean().backward()
        opt.step()
    grad = first_conv(model).weight.grad
    assert grad is not None and grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("hole", [0.0, 1.0])
def test_hole_free_and_all_hole_masks(name, hole):
    model = tiny(name).eval()
    randomise_heads(model)
    image, _ = batch()
    mask = torch.full_like(image[:, :1], hole)
    with torch.no_grad():
        pred = model(image, mask)["pred"]
        untrained = tiny(name).eval()(image, mask)["pred"]
    assert torch.isfinite(pred).all() and pred.min() >= 0 and pred.max() <= 1
    # nothing to fill: the start is the image itself; nothing known: the start is grey
    expected = image if hole == 0.0 else torch.full_like(image, 0.5)
    torch.testing.assert_close(untrained, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_overfits_a_single_batch(name):
    model = tiny(name).train()
    image, mask = batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = (model(image, mask)["pred"] - image).abs().mul(mask).sum() / mask.sum()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses[::8]


@pytest.mark.parametrize("name", ["lama", "autoencoder", "vae"])
@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_every_norm_builds_trains_and_runs(name, norm):
    model = tiny(name, norm=norm).train()
    randomise_heads(model)
    image, mask = batch()
    model(image, mask)["pred"].mean().backward()
    with torch.no_grad():
        assert torch.isfinite(model.eval()(image, mask)["pred"]).all()


@pytest.mark.parametrize("name", ["deepfill", "lama", "autoencoder"])
def test_default_models_compute_the_same_in_train_and_eval_mode(name):
    # no running statistics: what validation and inference see is what training optimised
    model = tiny(name)
    randomise_heads(model)
    image, mask = batch()
    with torch.no_grad():
        torch.testing.assert_close(model.train()(image, mask)["pred"], model.eval()(image, mask)["pred"])


@pytest.mark.parametrize("name", NAMES)
def test_channels_last_gives_the_same_output(name):
    model = tiny(name).eval()
    randomise_heads(model)
    image, mask = batch()
    with torch.no_grad():
        ref = model(image, mask)["pred"]
        model = model.to(memory_format=torch.channels_last)
        out = model(image.contiguous(memory_format=torch.channels_last), mask.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out["pred"], ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_forward_and_backward_under_bf16_autocast(name):
    # the training loop runs generators under autocast on CUDA; CPU autocast exercises the same casts
    model = tiny(name).train()
    randomise_heads(model)
    image, mask = batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pred = model(image, mask)["pred"]
    pred.float().mean().backward()
    assert torch.isfinite(pred.float()).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_fill_holes_pads_any_size_and_composites():
    model = tiny("lama").eval()
    randomise_heads(model)
    image, mask = batch(size=32)
    image, mask = image[..., :30, :27], mask[..., :30, :27]
    out = fill_holes(model, image, mask)
    assert out.shape == image.shape
    assert torch.equal(out * (1 - mask), image * (1 - mask))


def test_pad_to_multiple_keeps_hole_pixels_out_of_the_padding():
    image = torch.rand(1, 3, 6, 5)
    mask = torch.zeros(1, 1, 6, 5)
    mask[..., -1, :] = 1  # bottom row is a hole
    padded_image, padded_mask = pad_to_multiple(image, mask, 4)
    assert padded_image.shape[-2:] == (8, 8) and padded_mask.shape[-2:] == (8, 8)
    # every padded pixel whose value came from a hole pixel is itself a hole
    hole_values = image[0, :, -1, :]
    for r in range(6, 8):
        for c in range(8):
            if any(torch.equal(padded_image[0, :, r, c], hole_values[:, k]) for k in range(5)):
                assert padded_mask[0, 0, r, c] == 1


# ---------------------------------------------------------------------------------------------
# VAE sampling


def test_vae_samples_are_diverse_composited_and_reproducible():
    model = tiny("vae").eval()
    randomise_heads(model)
    image, mask = batch()
    with torch.no_grad():
        a = model.sample(image, mask, 3, generator=torch.Generator().manual_seed(5))
        b = model.sample(image, mask, 3, generator=torch.Generator().manual_seed(5))
        det1, det2 = model(image, mask)["pred"], model(image, mask)["pred"]
    assert a.shape == (3, *image.shape)
    assert torch.equal(a, b)  # same seed, same fills
    assert (a[0] - a[1]).abs().mul(mask).sum() > 0  # different draws, different holes
    assert torch.equal(a[1] * (1 - mask), (image * (1 - mask)).expand_as(a[1]))  # known region kept
    assert torch.equal(det1, det2)  # eval forward uses the prior mean


def test_a_vae_on_a_lama_decoder_starts_as_that_lama_and_samples_in_regions():
    from inpaint.models import start_target

    backbone = TINY["lama"]
    torch.manual_seed(0)
    model = build_generator("vae", decoder="lama", backbone=backbone, latent_channels=2, latent_pool=2)
    lama = tiny("lama")
    model.backbone.load_state_dict(lama.state_dict())
    image, mask = batch()
    assert model.size_multiple == 2 * lama.size_multiple and model.init_fill == lama.init_fill
    with torch.no_grad():
        for mode in (True, False):  # training (posterior z) and eval (prior mean): z's conv starts at zero
            model.train(mode), lama.train(mode)
            assert torch.allclose(model(image, mask)["pred"], lama(image, mask)["pred"], atol=1e-6)
        randomise_heads(model)
        nn.init.normal_(model.inject.weight, std=0.5)
        a = model.eval().sample(image, mask, 2, generator=torch.Generator().manual_seed(1))
    z = model.prior(F.avg_pool2d(model.backbone.encode(image, mask)[0], 2))[:, :2]
    assert z.shape[-1] == 32 // lama.size_multiple // 2  # z is coarser than the bottleneck
    assert (a[0] - a[1]).abs().mul(mask).sum() > 0
    assert start_target("vae", {"decoder": "lama", "backbone": backbone}, "lama", backbone) == "backbone"
    assert start_target("vae", {"decoder": "lama", "backbone": backbone}, "lama", {**backbone, "width": 4}) is None
    assert start_target("lama", backbone, "lama", backbone) == ""
    with pytest.raises(ValueError, match="decoder='unet2' is unknown"):
        build_generator("vae", decoder="unet2")
    with pytest.raises(ValueError, match="backbone .* needs decoder: lama"):
        tiny("vae", backbone=backbone)
    with pytest.raises(ValueError, match=r"\['n_down', 'width'\] belong to the unet decoder; .*backbone"):
        build_generator("vae", decoder="lama", width=8, n_down=2)


def test_vae_prior_starts_at_standard_normal_and_kl_at_zero():
    model = tiny("vae").train()
    image, mask = batch()
    out = model(image, mask)
    for key in ("mu", "logvar", "prior_mu", "prior_logvar"):
        assert torch.equal(out[key], torch.zeros_like(out[key]))


# ---------------------------------------------------------------------------------------------
# Contextual attention


def test_contextual_attention_copies_the_matching_known_patch():
    torch.manual_seed(0)
    bg = torch.randn(1, 8, 16, 16)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 0:8, 0:8] = 1  # hole in the top-left quadrant
    fg = bg.clone()
    fg[..., 0:8, 0:8] = bg[..., 8:16, 6:14]  # the hole's features equal the known block at (8, 6)
    out, best = contextual_attention(fg, bg, mask, ksize=3, rate=2, softmax_scale=100.0)
    # interior query (1, 1) at 1/2 res (full-res pixels 2-3) must pick key (1 + 4, 1 + 3)
    assert best[0, 1, 1, 1].item() == (1 + 4) * 8 + (1 + 3) and best[0, 0, 1, 1] > 0.5
    # full-res pixels 3-4 are pasted only from interior queries (1..2 at 1/2 res, whose 3x3 patches
    # lie inside the copied block), so they are the known block's features shifted by (8, 6)
    torch.testing.assert_close(out[..., 3:5, 3:5], bg[..., 11:13, 9:11], atol=1e-3, rtol=1e-3)
    assert torch.equal(out[..., 8:, :], fg[..., 8:, :]) and torch.equal(out[..., :, 8:], fg[..., :, 8:])  # known: kept
    assert (best[0, 0, 4:, :] == 0).all() and (best[0, 0, :, 4:] == 0).all()  # and never queried


def test_contextual_attention_never_copies_from_the_hole():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 16, 16)
    mask = torch.zeros(2, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    _, best = contextual_attention(x, x, mask, rate=2)
    hole_keys = torch.nn.functional.max_pool2d(
        torch.nn.functional.max_pool2d(mask, 2), 3, stride=1, padding=1
    ).flatten(1).bool()  # (N, L) keys touching the hole
    queried = best[:, 0].flatten(1) > 0  # (N, L)
    assert torch.equal(queried, torch.nn.functional.max_pool2d(mask, 2).flatten(1).bool())  # the hole locations
    chosen = best[:, 1].flatten(1).long()
    assert not hole_keys.gather(1, chosen)[queried].any()


@pytest.mark.parametrize("rate", [1, 2])
def test_contextual_attention_exported_queries_every_location_and_fills_the_same(monkeypatch, rate):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 16, 16)
    mask = torch.zeros(2, 1, 16, 16)
    mask[0, :, 4:12, 2:9] = 1
    mask[1, :, 9:15, 5:14] = 1
    out, best = contextual_attention(x, x, mask, rate=rate)
    monkeypatch.setattr(torch.compiler, "is_exporting", lambda: True)  # the dense path an exported program holds
    dense_out, dense_best = contextual_attention(x, x, mask, rate=rate)
    torch.testing.assert_close(dense_out, out)
    torch.testing.assert_close(dense_best[:, 0], best[:, 0])
    chosen = best[:, 0] > 0
    assert torch.equal(dense_best[:, 1][chosen], best[:, 1][chosen])


def test_contextual_attention_gives_invalid_keys_no_weight_at_all():
    # rate 1: a key's value is the background at its location. Huge values at every key touching the hole
    # would show in the fill if any weight leaked onto them; the valid keys' values are small
    torch.manual_seed(0)
    bg = torch.randn(1, 4, 16, 16)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 5:10, 4:11] = 1
    touching = torch.nn.functional.max_pool2d(mask, 3, stride=1, padding=1) > 0
    bg = torch.where(touching, bg + 1e3, bg)
    out, _ = contextual_attention(bg, bg, mask, ksize=3, rate=1)
    assert out[mask.expand_as(out) > 0].abs().max() < 10


def test_a_traced_deepfill_holds_the_dense_attention_not_the_hole_locations_of_its_example():
    model = build_generator("deepfill", width=4, n_down=2, max_width=8, dilations=[2]).eval()
    example = (torch.rand(1, 3, 32, 32), (torch.rand(1, 1, 32, 32) > 0.7).float())
    with torch.no_grad():
        traced = torch.jit.trace(model, example, check_trace=False, strict=False)
    graph = str(traced.inlined_graph)
    assert "aten::nonzero" not in graph and "aten::bmm" in graph


def test_contextual_attention_all_hole_is_finite():
    x = torch.randn(1, 4, 8, 8)
    out, best = contextual_attention(x, x, torch.ones(1, 1, 8, 8), rate=1)
    assert torch.isfinite(out).all() and best[:, 0].abs().sum() == 0


# ---------------------------------------------------------------------------------------------
# FFC (LaMa)


def test_fourier_unit_runs_at_a_resolution_other_than_training():
    torch.manual_seed(0)
    fu = FourierUnit(4)
    for size in [(16, 16), (24, 20), (9, 13)]:
        out = fu(torch.randn(2, 4, *size))
        assert out.shape == (2, 4, *size) and torch.isfinite(out).all()


def test_lama_trained_at_32_runs_at_48():
    model = tiny("lama").train()
    image, mask = batch(size=32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        opt.zero_grad()
        (model(image, mask)["pred"] - image).abs().mean().backward()
        opt.step()
    model.eval()
    big_image, big_mask = batch(size=48)
    with torch.no_grad():
        pred = model(big_image, big_mask)["pred"]
    assert pred.shape == (2, 3, 48, 48) and torch.isfinite(pred).all()


def test_ffc_block_sees_the_whole_image():
    # two 3x3 local convs reach 2 pixels; only the spectral branch links opposite corners
    torch.manual_seed(0)
    block = FFCResBlock(8, 0.5).eval()
    x = torch.randn(1, 8, 16, 16)
    x2 = x.clone()
    x2[:, 4:, 0, 0] += 5.0  # perturb the global channels at one corner
    with torch.no_grad():
        y, y2 = block(x), block(x2)
    assert (y2[:, :4, 8:, 8:] - y[:, :4, 8:, 8:]).abs().max() > 1e-4  # local outputs far away react


# ---------------------------------------------------------------------------------------------
# Initial fill


@pytest.mark.parametrize("kind", INIT_FILLS)
def test_prepare_builds_masked_input_with_fills(kind):
    image, mask = batch()
    x, base, fills = network_inputs(image, mask, kind)
    assert x.shape == (2, input_channels(kind), 32, 32) and len(fills) == n_fills_shown(kind)
    if fills:
        assert torch.equal(x[:, 4:], torch.cat(fills, dim=1))
    assert torch.equal(x[:, :3], image * (1 - mask)) and torch.equal(x[:, 3:4], mask)
    assert torch.equal(base * (1 - mask), image * (1 - mask))
    if kind == "none":
        assert torch.equal(base * mask, (0.5 * mask).expand_as(base))


def test_patch_fill_is_the_patch_match_baseline_hybrid_patch_shows_it_patch_starts_from_it():
    image, mask = batch()
    out = patch_fill(image, mask)
    for b in range(len(image)):
        ref = patch_match(image[b].permute(1, 2, 0).numpy(), mask[b, 0].numpy())
        torch.testing.assert_close(out[b], torch.from_numpy(ref).permute(2, 0, 1))
    base, fills = initial_fills(image * (1 - mask), mask, "hybrid_patch")
    torch.testing.assert_close(base, initial_fills(image * (1 - mask), mask, "hybrid")[0])
    torch.testing.assert_close(fills[2], out)
    base, fills = initial_fills(image * (1 - mask), mask, "patch")  # PatchMatch is the base itself
    torch.testing.assert_close(base, out)
    torch.testing.assert_close(fills[2], out)


@pytest.mark.parametrize("shuffle", [True, False])
def test_fill_head_gates_blend_the_fills_and_the_residual_adds(shuffle):
    head = FillHead(4, 2, shuffle=shuffle)
    g = torch.Generator().manual_seed(0)
    base, f1, f2 = (torch.rand(1, 3, 8, 8, generator=g) * 0.5 + 0.25 for _ in range(3))
    h = torch.rand(1, 4, 4 if shuffle else 8, 4 if shuffle else 8, generator=g)
    assert torch.equal(head(h, base, [f1, f2]), base)  # zero-initialised: the base fill
    with torch.no_grad():  # gate 1 fully open, gate 2 shut, residual 0.1: bias only
        head.conv.bias.view(-1, 4 if shuffle else 1)[3] = 1.0
        head.conv.bias.view(-1, 4 if shuffle else 1)[:3] = 0.1
    torch.testing.assert_close(head(h, base, [f1, f2]), f1 + 0.1)
    with pytest.raises(ValueError, match="built for 2 fills"):
        head(h, base, [f1])


# ---------------------------------------------------------------------------------------------
# Nearest-known-pixel fill (jump flooding)


# ---------------------------------------------------------------------------------------------
# Discriminator


@pytest.mark.parametrize("name", sorted(DISCRIMINATORS))
def test_discriminator_logits_and_two_forwards_before_backward(name):
    torch.manual_seed(0)
    disc = build_discriminator(name, width=4, depth=3, max_width=8)
    image, mask = batch(size=32)
    fake = image.flip(-1)
    real_logits, fake_logits = disc(image, mask), disc(fake, mask)
    assert real_logits.shape == (2, 1, 4, 4)
    (torch.relu(1 - real_logits).mean() + torch.relu(1 + fake_logits).mean()).backward()  # spectral norm twice
    assert all(p.grad is not None for p in disc.parameters())


def test_discriminator_spectral_norm_bounds_each_layer():
    torch.manual_seed(0)
    disc = build_discriminator("patchgan", width=4, depth=2, max_width=8).train()
    image, mask = batch(size=16)
    for _ in range(30):  # power iterations converge during forwards
        disc(image, mask)
    for layer in list(disc.layers) + [disc.head]:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert sigma < 1.05
    plain = build_discriminator("patchgan", width=4, depth=2, max_width=8, spectral_norm=False)
    assert not any(hasattr(m, "parametrizations") for m in plain.modules())
    assert all(hasattr(m, "parametrizations") for m in list(disc.layers) + [disc.head])


def test_default_discriminator_gives_patch_logits_at_128():
    disc = build_discriminator("patchgan")
    with torch.no_grad():
        logits = disc(torch.rand(1, 3, 128, 128), torch.zeros(1, 1, 128, 128))
    assert logits.shape == (1, 1, 4, 4)


# ---------------------------------------------------------------------------------------------
# Pretrained features and upsampling

@pytest.mark.parametrize("pretrained", ["alexnet", "vgg16"])
def test_lama_with_pretrained_features_starts_at_its_fill_never_reads_holes_and_learns_the_projection(pretrained):
    model = tiny("lama", pretrained=pretrained).eval()
    plain = tiny("lama").eval()
    image, mask = batch(size=48)
    with torch.no_grad():
        torch.testing.assert_close(model(image, mask)["pred"], plain(image, mask)["pred"])  # both the start fill
    assert not any(k.startswith("pretrained.") and "proj" not in k for k in model.state_dict())  # trunk not saved
    randomise_heads(model)
    scrambled = torch.where(mask.bool(), torch.rand_like(image), image)
    with torch.no_grad():
        torch.testing.assert_close(model(image, mask)["pred"], model(scrambled, mask)["pred"])
    model.train()
    (model(image, mask)["pred"] - image).abs().mul(mask).mean().backward()
    proj = model.pretrained.proj[0].weight.grad
    assert proj is not None and proj.abs().sum() > 0
    small = tiny("lama", pretrained=pretrained).eval()  # below the trunk's minimum side: upsampled first
    assert small(*batch(size=16))["pred"].shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="pretrained"):
        tiny("lama", pretrained="resnet")


def test_resize_upsampling_has_no_checkerboard_and_bad_modes_are_named():
    from inpaint.models.common import up_block

    torch.manual_seed(0)
    x = torch.ones(1, 4, 8, 8)  # a constant map: any output pattern comes from the upsampling itself
    for mode, flat in [("resize", True), ("transposed", False)]:
        block = up_block(4, 4, norm="none", mode=mode)
        with torch.no_grad():
            y = block(x)[..., 2:-2, 2:-2]  # away from the borders
        assert y.shape[-1] == 12 and (y.std(dim=(-2, -1)).max() < 1e-5) == flat, mode
    assert isinstance(tiny("vae").up[0][0], nn.Upsample) and tiny("vae", upsample="transposed").up[0][0].stride == (2, 2)
    assert isinstance(tiny("autoencoder", upsample="resize").up[0][0], nn.Upsample)
    assert tiny("autoencoder").up[0][0].stride == (2, 2)  # the autoencoder's default stays transposed
    for name in ("vae", "autoencoder", "lama"):
        with pytest.raises(ValueError, match="upsample"):
            tiny(name, upsample="bicubic")


def test_the_autoencoders_full_resolution_head_draws_no_sub_pixel_checkerboard():
    # constant 1/2-resolution features: the sub-pixel head's four filters per 2x2 block draw a period-2
    # pattern from them; the full-resolution head (resize up-block, one 3x3 conv) cannot
    for head, upsample, flat in [("full", "resize", True), ("full", "transposed", True), ("shuffle", "resize", False)]:
        model = tiny("autoencoder", head=head, upsample=upsample, norm="none").eval()
        randomise_heads(model)
        cin = model.head.conv.in_channels if head == "shuffle" else model.full[1][0].in_channels
        h = torch.ones(1, cin, 8, 8)  # the last up-block's output
        with torch.no_grad():
            y = model.head.up(model.head.conv(model.full(h)))[..., 4:-4, 4:-4]  # away from the borders
        assert y.shape[-1] == 8 and (y.std(dim=(-2, -1)).max() < 1e-5) == flat, (head, upsample)
    image, mask = batch()
    model = tiny("autoencoder", head="full").eval()
    with torch.no_grad():  # untrained, it returns its start fill, as the sub-pixel head's does
        torch.testing.assert_close(model(image, mask)["pred"], tiny("autoencoder").eval()(image, mask)["pred"])
        randomise_heads(model)
        scrambled = torch.where(mask.bool(), torch.rand_like(image), image)
        torch.testing.assert_close(model(image, mask)["pred"], model(scrambled, mask)["pred"])  # holes never read
    with pytest.raises(ValueError, match="head"):
        tiny("autoencoder", head="pixel")


@pytest.mark.parametrize("side, size", [(512, (64, 64)), (128, (16, 16)), (200, (26, 24))])
def test_pretrained_features_project_tap_by_tap_as_the_concatenated_projection_would(side, size):
    import torch.nn.functional as F

    from inpaint.models.common import PretrainedFeatures
    from inpaint.perceptual import features

    torch.manual_seed(0)
    pf = PretrainedFeatures("alexnet", 16, norm="none").eval()  # norm none: the conv keeps its bias
    with torch.no_grad():
        pf.proj[0].weight.normal_()
        pf.proj[0].bias.normal_()
        base = torch.rand(2, 3, side, side)
        taps = features(pf.net, pf.layers, "cpu")(base)
        concatenated = torch.cat([F.interpolate(t, size=size, mode="bilinear", align_corners=False) for t in taps.values()], 1)
        reference = pf.proj(concatenated)  # the textbook order: resize every tap, concatenate, project
        out = pf(base, size)
    assert out.shape == reference.shape == (2, 16, *size)
    assert torch.allclose(out, reference, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(out, pf.proj(concatenated.roll(1, dims=1)), atol=1e-3)  # the check can fail


def test_a_lama_grown_with_attention_starts_as_the_plain_lama_and_its_block_copies_only_into_the_hole():
    from inpaint.models import grown_layers, start_target
    from inpaint.models.deepfill import ContextualAttention

    plain = tiny("lama")
    randomise_heads(plain)
    grown = tiny("lama", attention=True)
    assert isinstance(grown.attention, ContextualAttention) and grown.scale == grown.size_multiple
    missing = grown.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["attention_merge.bias", "attention_merge.weight"]
    image, mask = batch()
    with torch.no_grad():
        assert torch.equal(grown.eval()(image, mask)["pred"], plain.eval()(image, mask)["pred"])  # zero start
        # merge weights [-I, I]: the bottleneck's hole cells become their copies, every other cell keeps its features
        c = grown.channels
        grown.attention_merge.weight.copy_(torch.cat([-torch.eye(c), torch.eye(c)], 1)[..., None, None])
        h, (base, fills, m) = grown.encode(image, mask)
        h = grown.blocks(h)
        merged = h + grown.attention_merge(torch.cat([h, grown.attention(h, m)], 1))
        assert torch.equal(grown(image, mask)["pred"], grown.head(grown.up(merged), base, fills))  # what decode runs
    hole = F.interpolate(mask, size=h.shape[-2:], mode="area").gt(0).expand_as(h)
    assert torch.equal(merged[~hole], h[~hole]) and not torch.allclose(merged[hole], h[hole])
    kw = TINY["lama"]
    assert grown_layers("lama", {**kw, "attention": True}, kw) == ("attention_merge.",)
    assert start_target("lama", {**kw, "attention": True}, "lama", kw) == ""  # a plain checkpoint starts it
    assert grown_layers("lama", {**kw, "attention": True, "width": 4}, kw) == ()  # anything else differs: no fit
    assert start_target("lama", {**kw, "attention": True, "width": 4}, "lama", kw) is None
    assert start_target("lama", kw, "lama", {**kw, "attention": True}) is None  # dropping it loses trained layers
    assert grown_layers("deepfill", {"attention": True}, {"attention": False}) == ()  # only lama says it grows


def test_a_lama_grown_deeper_starts_as_the_checkpoint_and_its_new_blocks_learn():
    from inpaint.models import build_generator, grown_layers, start_target

    plain = tiny("lama")
    randomise_heads(plain)
    deeper = tiny("lama", extra_blocks=2)
    missing = deeper.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith(("extra_blocks.0.", "extra_blocks.1.")) for k in missing)
    assert sum(p.numel() for p in deeper.parameters()) > 1.5 * sum(p.numel() for p in plain.parameters())
    image, mask = batch()
    with torch.no_grad():
        assert torch.equal(deeper.eval()(image, mask)["pred"], plain.eval()(image, mask)["pred"])  # identity start
    loss = (deeper.train()(image, mask)["pred"] - image).abs().mean()
    loss.backward()
    gains = [b.gain.grad for b in deeper.extra_blocks]
    assert all(g is not None and g.abs().sum() > 0 for g in gains)  # the zero gains get a gradient: the blocks can learn
    with torch.no_grad():
        deeper.extra_blocks[0].gain.fill_(0.5 / deeper.extra_blocks[0].GAIN_RATE)
        assert not torch.allclose(deeper.eval()(image, mask)["pred"], plain.eval()(image, mask)["pred"])
    kw = TINY["lama"]
    assert grown_layers("lama", {**kw, "extra_blocks": 2}, kw) == ("extra_blocks.0.", "extra_blocks.1.")
    assert grown_layers("lama", {**kw, "extra_blocks": 3}, {**kw, "extra_blocks": 1}) == ("extra_blocks.1.", "extra_blocks.2.")
    assert grown_layers("lama", {**kw, "extra_blocks": 1, "attention": True}, kw) == ("attention_merge.", "extra_blocks.0.")
    assert start_target("lama", {**kw, "extra_blocks": 2}, "lama", kw) == ""  # a plain checkpoint starts it
    assert start_target("lama", kw, "lama", {**kw, "extra_blocks": 2}) is None  # dropping blocks loses trained layers
    assert start_target("lama", {**kw, "extra_blocks": 2, "width": 4}, "lama", kw) is None  # anything else differs
    with pytest.raises(ValueError, match=r"extra_blocks=-1: a count of blocks is 0 or more"):
        build_generator("lama", **{**kw, "extra_blocks": -1})
    attn = {**kw, "attention": True}  # a trained merge does not start as itself at another softmax scale
    assert start_target("lama", {**attn, "extra_blocks": 1, "softmax_scale": 2.0}, "lama", attn) is None
    assert grown_layers("lama", {**attn, "extra_blocks": 1}, attn) == ("extra_blocks.0.",)


@pytest.mark.parametrize("name", ["lama", "autoencoder", "deepfill"])
def test_a_checkpoint_starts_its_generator_on_another_base_fill_that_shows_the_same_fills(name):
    from inpaint.models import base_fill_of, rebased, start_target

    kw = {k: v for k, v in TINY[name].items() if k != "init_fill"}  # the default: hybrid
    assert base_fill_of(name, kw) == "hybrid" and base_fill_of(name, {**kw, "init_fill": "fade"}) == "fade"
    assert base_fill_of(name, {**kw, "init_fill": "none"}) is None
    lama_vae = {"decoder": "lama", "backbone": {**TINY["lama"], "init_fill": "fade"}}  # the backbone's fill is the start
    assert base_fill_of("vae", lama_vae) == "fade" and base_fill_of("vae", {}) == "hybrid"
    with pytest.raises(ValueError, match="unknown generator 'nope'"):
        base_fill_of("nope", {})
    hybrid, fade = tiny(name), tiny(name, init_fill="fade")
    assert {k: v.shape for k, v in hybrid.state_dict().items()} == {k: v.shape for k, v in fade.state_dict().items()}
    fade.load_state_dict(hybrid.state_dict())
    image, mask = batch()
    with torch.no_grad():  # same weights, another base: the fills differ only where fade's base does
        a, b = hybrid.eval()(image, mask)["pred"], fade.eval()(image, mask)["pred"]
    assert not torch.allclose(a, b) and torch.equal(a * (1 - mask), b * (1 - mask))
    assert rebased(name, {**kw, "init_fill": "fade"}, kw) and start_target(name, {**kw, "init_fill": "fade"}, name, kw) == ""
    assert rebased(name, kw, {**kw, "init_fill": "fade"})  # and back
    assert rebased(name, {**kw, "init_fill": "fade_smooth"}, kw)  # other fills in the same two input slots
    assert not rebased(name, {**kw, "init_fill": "pyramid"}, kw)  # one fill shown, not two: other weights
    assert start_target(name, {**kw, "init_fill": "pyramid"}, name, kw) is None
    assert not rebased(name, {**kw, "init_fill": "fade", "norm": "none"}, kw)  # anything else differs: no fit
    assert not rebased(name, kw, kw) and not rebased(name, {**kw, "init_fill": "nope"}, kw)


@pytest.mark.parametrize("name", ["lama", "autoencoder", "deepfill", "vae"])
def test_a_checkpoint_starts_its_generator_shown_patch_match_too_and_the_new_gate_learns(name):
    from types import SimpleNamespace

    from inpaint.models import shows_more_fills, start_target
    from inpaint.training.start import load_start

    kw = {k: v for k, v in TINY[name].items() if k != "init_fill"}  # the default: hybrid
    assert shows_more_fills(name, {**kw, "init_fill": "hybrid_patch"}, kw)
    assert start_target(name, {**kw, "init_fill": "hybrid_patch"}, name, kw) == ""
    assert not shows_more_fills(name, kw, {**kw, "init_fill": "hybrid_patch"})  # fewer fills: trained gates lost
    assert not shows_more_fills(name, {**kw, "init_fill": "patch"}, kw)  # another base fill
    assert not shows_more_fills(name, {**kw, "init_fill": "hybrid_patch", "norm": "none"}, kw)  # anything else differs
    assert not shows_more_fills(name, kw, kw) and not shows_more_fills("nope", {"init_fill": "hybrid_patch"}, {})
    hybrid = tiny(name)
    randomise_heads(hybrid)
    wide = lambda: tiny(name, init_fill="hybrid_patch")  # noqa: E731
    nets = SimpleNamespace(gen=wide(), ema=wide(), disc=None)
    with pytest.raises(RuntimeError, match="size mismatch"):  # the plain load cannot take it
        nets.gen.load_state_dict(hybrid.state_dict())
    load_start(nets, {"path": "hybrid.pt", "into": "", "grown": (), "more_fills": True, "gen": hybrid.state_dict(), "disc": {}})
    image, mask = batch()
    with torch.no_grad():
        for net in (nets.gen, nets.ema):
            assert torch.equal(net.eval()(image, mask)["pred"], hybrid.eval()(image, mask)["pred"])  # zero start
    head = [m for m in nets.gen.modules() if isinstance(m, FillHead)][0]
    assert head.n_fills == 3
    loss = (nets.gen.train()(image, mask)["pred"] - image).abs().mean()
    loss.backward()
    step = 4 if head.up.__class__ is nn.PixelShuffle else 1
    assert head.conv.weight.grad[5 * step:].abs().sum() > 0  # the patch fill's gate gets a gradient: it can learn
    state = hybrid.state_dict()
    key = next(k for k, v in state.items() if v.dim() == 4)
    for bad in ({**state, key: torch.zeros(state[key].shape[0] + 1, *state[key].shape[1:])},  # wider than the model
                {k: v for k, v in state.items() if k != key}):  # a layer missing
        with pytest.raises(ValueError, match=r"hybrid.pt: .*does not fit.*; leave init_fill out of train\.\w+\.kwargs"):
            load_start(SimpleNamespace(gen=wide(), ema=wide(), disc=None),
                       {"path": "hybrid.pt", "arch": name, "into": "", "grown": (), "more_fills": True, "gen": bad,
                        "disc": {}})


def test_a_fine_tune_grows_only_the_layers_its_kwargs_add_and_refuses_a_checkpoint_that_does_not_fit(tmp_path):
    from types import SimpleNamespace

    from inpaint.training.start import load_start

    plain = tiny("lama")
    randomise_heads(plain)
    nets = SimpleNamespace(gen=tiny("lama", attention=True), ema=tiny("lama", attention=True), disc=None)
    init = {"path": "plain.pt", "into": "", "grown": ("attention_merge.",), "gen": plain.state_dict(), "disc": {}}
    load_start(nets, init)
    image, mask = batch()
    with torch.no_grad():
        for net in (nets.gen, nets.ema):
            assert torch.equal(net.eval()(image, mask)["pred"], plain.eval()(image, mask)["pred"])
    stray = {**plain.state_dict(), "extra.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match="plain.pt: its generator does not fit"):
        load_start(nets, {**init, "gen": stray})
    short = {k: v for k, v in plain.state_dict().items() if not k.startswith("head.")}
    with pytest.raises(ValueError, match="plain.pt: its generator does not fit"):
        load_start(nets, {**init, "gen": short})
    # a lama with 1 extra block grown to 11: blocks 1-10 start as the identity, block 0 keeps its weights
    one = tiny("lama", extra_blocks=1)
    with torch.no_grad():
        one.extra_blocks[0].gain.fill_(0.01)
    nets = SimpleNamespace(gen=tiny("lama", extra_blocks=11), ema=tiny("lama", extra_blocks=11), disc=None)
    grown = tuple(f"extra_blocks.{i}." for i in range(1, 11))
    load_start(nets, {"path": "one.pt", "into": "", "grown": grown, "gen": one.state_dict(), "disc": {}})
    with torch.no_grad():
        assert torch.equal(nets.gen.eval()(image, mask)["pred"], one.eval()(image, mask)["pred"])
    with pytest.raises(ValueError, match="one.pt: its generator does not fit"):  # block 1 is neither loaded nor grown
        load_start(nets, {"path": "one.pt", "into": "", "grown": grown[1:], "gen": one.state_dict(), "disc": {}})


def test_a_model_on_fade_smooth_is_never_shown_the_nearest_fill():
    from inpaint.models.common import network_inputs
    from inpaint.start_fills import fade_fill, nearest_fill, pyramid_fill

    image, mask = batch()
    x, base, fills = network_inputs(image, mask, "fade_smooth")
    masked = image * (1 - mask)
    torch.testing.assert_close(base, fade_fill(masked, mask))
    torch.testing.assert_close(x[:, 4:7], fade_fill(masked, mask))
    torch.testing.assert_close(x[:, 7:], pyramid_fill(masked, mask))
    assert not any(torch.allclose(x[:, i : i + 3], nearest_fill(masked, mask)) for i in (4, 7))
    assert torch.equal(network_inputs(image, mask, "fade")[0][:, 4:7], nearest_fill(masked, mask))  # fade shows it
