"""Training and inference speed of every generator on this machine's CPU; prints JSON.

For each generator at each size: one GAN train step on a batch (G forward, D on the composite, G adv +
L1 backward and Adam step; then D hinge on real and detached fake, backward and Adam step), timed
over a few iterations, with its multiply-accumulates counted by torch's FlopCounterMode (convs,
matmuls, bmm; forward and backward). Next to it, the same machine's dense-convolution throughput
measured in the same run (a stack of 64-channel 3x3 convs at 128 px, forward + backward), so the
efficiency figure (step GMAC/s over dense GMAC/s) does not depend on how busy the shared machine is.
Also: inference latency per 512x512 image (batch 1, eval, no grad) and the cost of a VGG16
perceptual-loss pass (random weights: only the cost matters).

Usage: python bench/train_speed.py [--iters 3] [--sizes 128 256] [--generators lama deepfill]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from inpaint.losses import d_loss, g_adv_loss, kl_loss, l1_loss
from inpaint.models import GENERATORS, build_discriminator, build_generator, count_parameters

DEFAULT_GAN = "lama"  # the generator whose efficiency is held against the target


def to_format(x, channels_last: bool):
    return x.to(memory_format=torch.channels_last) if channels_last else x


def make_batch(n: int, size: int, channels_last: bool, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images and box masks covering ~40% (the hole size the mission cares about)."""
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, size, size, generator=g)
    mask = torch.zeros(n, 1, size, size)
    lo, hi = size * 2 // 10, size * 83 // 100
    mask[..., lo:hi, lo:hi] = 1.0
    return to_format(image, channels_last), to_format(mask, channels_last)


def timed(fn, iters: int) -> list[float]:
    fn()  # warm-up: oneDNN primitive creation, allocator
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def counted_macs(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 2.0


def dense_conv_reference(iters: int, channels_last: bool) -> dict:
    """GMAC/s of a 4-layer 64-channel 3x3 conv stack at 128 px, batch 8, forward + backward."""
    torch.manual_seed(0)
    net = to_format(nn.Sequential(*[nn.Conv2d(64, 64, 3, padding=1) for _ in range(4)]), channels_last)
    x = to_format(torch.randn(8, 64, 128, 128), channels_last).requires_grad_(True)

    def step():
        net.zero_grad(set_to_none=True)
        net(x).square().mean().backward()

    macs = counted_macs(step)
    times = timed(step, iters)
    return {"gmac_s": macs / min(times) / 1e9, "gmac_s_median": macs / statistics.median(times) / 1e9}


def train_step_figures(name: str, size: int, batch: int, iters: int, channels_last: bool) -> dict:
    torch.manual_seed(0)
    gen = to_format(build_generator(name).train(), channels_last)
    disc = to_format(build_discriminator("patchgan").train(), channels_last)
    opt_g = torch.optim.Adam(gen.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(disc.parameters(), lr=4e-4, betas=(0.5, 0.9))
    image, mask = make_batch(batch, size, channels_last)

    def step():
        out = gen(image, mask)
        comp = mask * out["pred"] + (1 - mask) * image
        loss = l1_loss(out["pred"], image, mask)[0] + 0.1 * g_adv_loss(disc(comp, mask))[0]
        if "mu" in out:
            loss = loss + 0.01 * kl_loss(out["mu"], out["logvar"], out["prior_mu"], out["prior_logvar"])[0]
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        d_value = d_loss(disc(image, mask), disc(comp.detach(), mask))[0]
        opt_d.zero_grad(set_to_none=True)
        d_value.backward()
        opt_d.step()

    with torch.no_grad():
        g_macs = counted_macs(lambda: gen(image, mask))
    step_macs = counted_macs(step)
    times = timed(step, iters)
    best, median = min(times), statistics.median(times)
    return {
        "images_s": batch / median,
        "images_s_best": batch / best,
        "gmac_per_image_g_forward": g_macs / batch / 1e9,
        "gmac_per_image_step": step_macs / batch / 1e9,
        "gmac_s": step_macs / best / 1e9,
        "gmac_s_median": step_macs / median / 1e9,
    }


@torch.no_grad()
def inference_latency(name: str, size: int, iters: int, channels_last: bool) -> float:
    torch.manual_seed(0)
    gen = to_format(build_generator(name).eval(), channels_last)
    image, mask = make_batch(1, size, channels_last)
    return min(timed(lambda: gen(image, mask), iters))


def vgg_perceptual_cost(size: int, batch: int, iters: int, channels_last: bool) -> dict:
    """Cost of a VGG16 (to relu5_3) perceptual pass: target without grad, pred forward + backward."""
    from torchvision.models import vgg16

    feats = to_format(vgg16(weights=None).features[:30].requires_grad_(False), channels_last)
    target, _ = make_batch(batch, size, channels_last, seed=1)
    pred, _ = make_batch(batch, size, channels_last, seed=2)
    pred.requires_grad_(True)

    def step():
        with torch.no_grad():
            t = feats(target)
        (feats(pred) - t).abs().mean().backward()

    macs = counted_macs(step)
    times = timed(step, iters)
    return {"images_s": batch / statistics.median(times), "gmac_per_image": macs / batch / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generators", nargs="+", default=sorted(GENERATORS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 256])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--latency-size", type=int, default=512)
    parser.add_argument("--contiguous", action="store_true", help="NCHW instead of channels_last")
    parser.add_argument("--skip-vgg", action="store_true")
    args = parser.parse_args()
    channels_last = not args.contiguous

    dense = {fmt: dense_conv_reference(args.iters, cl) for fmt, cl in (("nchw", False), ("channels_last", True))}
    dense_best = max(d["gmac_s"] for d in dense.values())
    report = {
        "machine": {"threads": torch.get_num_threads(), "torch": torch.__version__},
        "memory_format": "channels_last" if channels_last else "nchw",
        "batch": args.batch,
        "dense_conv_gmac_s": dense,
        "generators": {},
    }
    for name in args.generators:
        entry = {"params": count_parameters(build_generator(name))}
        for size in args.sizes:
            figures = train_step_figures(name, size, args.batch, args.iters, channels_last)
            figures["efficiency_vs_dense"] = figures["gmac_s"] / dense_best
            entry[f"train_{size}px"] = figures
        entry[f"latency_s_{args.latency_size}px"] = inference_latency(name, args.latency_size, args.iters, channels_last)
        report["generators"][name] = entry
    if not args.skip_vgg:
        report["vgg16_perceptual_128px"] = vgg_perceptual_cost(128, args.batch, args.iters, channels_last)
    if DEFAULT_GAN in report["generators"]:
        gan = report["generators"][DEFAULT_GAN]
        effs = [v["efficiency_vs_dense"] for k, v in gan.items() if k.startswith("train_")]
        latency = gan[f"latency_s_{args.latency_size}px"]
        report["targets"] = {
            "default_generator": DEFAULT_GAN,
            "efficiency_at_least_0.5": {"value": min(effs), "met": min(effs) >= 0.5},
            "latency_512px_at_most_0.2s": {"value": latency, "met": latency <= 0.2},
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
