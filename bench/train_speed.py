"""Training and inference speed of every generator on this machine's CPU; prints JSON.

For each generator at each size: the real training step of `dvc repro` (`inpaint.training.step.train_step`
with that model's config from params.yaml: D on real vs. composite, G content + perceptual (the
provisioned VGG16) + adversarial losses, Adam steps, EMA), timed over a few iterations, with its
multiply-accumulates counted by torch's FlopCounterMode (convs, matmuls, bmm; forward and backward). Next to it, the same machine's dense-convolution throughput
measured in the same run (a stack of 64-channel 3x3 convs at 128 px, forward + backward), so the
efficiency figure (step GMAC/s over dense GMAC/s) does not depend on how busy the shared machine is.
Also: inference latency per 512x512 image (batch 1, eval, no grad; pad + forward + composite, as
`inpaint fill` runs it) of every generator with params.yaml's kwargs and of every shipped
pretrained model, and the cost of a VGG16 perceptual-loss pass (random weights: only the cost matters).

On a GPU (`--device cuda`): the same figures with the training step's bf16 autocast and channels_last,
the dense reference under the same autocast, and every timing after a CUDA synchronise.

Usage: python bench/train_speed.py [--iters 3] [--sizes 128 256] [--generators lama deepfill] [--params params.yaml]
       [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

import yaml

from inpaint.models import GENERATORS, build_generator, fill_holes
from inpaint.pretrained import SHIPPED, load_generator
from inpaint.training.config import model_config
from inpaint.training.step import build_nets, train_step

DEFAULT_GAN = "lama"  # the generator whose efficiency is held against the target


def to_format(x, channels_last: bool):
    return x.to(memory_format=torch.channels_last) if channels_last else x


DEVICE = torch.device("cpu")  # --device


def make_batch(n: int, size: int, channels_last: bool, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images and box masks covering ~40% (the hole size the mission cares about)."""
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, size, size, generator=g)
    mask = torch.zeros(n, 1, size, size)
    lo, hi = size * 2 // 10, size * 83 // 100
    mask[..., lo:hi, lo:hi] = 1.0
    return to_format(image.to(DEVICE), channels_last), to_format(mask.to(DEVICE), channels_last)


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def timed(fn, iters: int) -> list[float]:
    fn()  # warm-up: oneDNN primitive creation, allocator, cuDNN autotuning
    sync()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def counted_macs(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 2.0


def dense_conv_reference(iters: int, channels_last: bool) -> dict:
    """GMAC/s of a 4-layer 64-channel 3x3 conv stack at 128 px, batch 8, forward + backward."""
    torch.manual_seed(0)
    net = to_format(nn.Sequential(*[nn.Conv2d(64, 64, 3, padding=1) for _ in range(4)]).to(DEVICE), channels_last)
    x = to_format(torch.randn(8, 64, 128, 128, device=DEVICE), channels_last).requires_grad_(True)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=DEVICE.type == "cuda")  # as train_step runs

    def step():
        net.zero_grad(set_to_none=True)
        with autocast:
            y = net(x)
        y.float().square().mean().backward()

    macs = counted_macs(step)
    times = timed(step, iters)
    return {"gmac_s": macs / min(times) / 1e9, "gmac_s_median": macs / statistics.median(times) / 1e9}


def train_step_figures(params: dict, name: str, size: int, batch: int, iters: int, channels_last: bool) -> dict:
    """The real training step for `name` as params.yaml configures it (its loss weights, its
    discriminator or none), on one batch of `batch` images at `size` px."""
    cfg = {**model_config(params, name), "batch_size": batch, "image_size": size, "device": str(DEVICE)}
    nets = build_nets(cfg, DEVICE)
    for net in (nets.gen, nets.disc, nets.features):
        if net is not None:
            to_format(net, channels_last)
    gen = nets.gen.train()
    image, mask = make_batch(batch, size, channels_last)
    counter = iter(range(cfg["warmup_steps"], 1 << 30))  # past the warm-up: full learning rates

    def step():
        train_step(nets, image, mask, next(counter), cfg)

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
def inference_latency(gen: nn.Module, size: int, iters: int, channels_last: bool) -> float:
    """Seconds per image (min over iters) of what `inpaint fill` runs: pad, forward, composite."""
    gen = to_format(gen.eval(), channels_last)
    image, mask = make_batch(1, size, channels_last)
    return min(timed(lambda: fill_holes(gen, image, mask), iters))


def vgg_perceptual_cost(size: int, batch: int, iters: int, channels_last: bool) -> dict:
    """Cost of a VGG16 (to relu5_3) perceptual pass: target without grad, pred forward + backward."""
    from torchvision.models import vgg16

    feats = to_format(vgg16(weights=None).features[:30].requires_grad_(False).to(DEVICE), channels_last)
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
    parser.add_argument("--params", default="params.yaml", help="the train section the steps are configured from")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    if DEVICE.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    channels_last = not args.contiguous
    params = yaml.safe_load(open(args.params))

    dense = {fmt: dense_conv_reference(args.iters, cl) for fmt, cl in (("nchw", False), ("channels_last", True))}
    dense_best = max(d["gmac_s"] for d in dense.values())
    report = {
        "machine": {"threads": torch.get_num_threads(), "torch": torch.__version__, "device": str(DEVICE),
                    **({"gpu": torch.cuda.get_device_name(DEVICE)} if DEVICE.type == "cuda" else {})},
        "memory_format": "channels_last" if channels_last else "nchw",
        "batch": args.batch,
        "dense_conv_gmac_s": dense,
        "generators": {},
    }
    for name in args.generators:
        entry = {"params": sum(p.numel() for p in build_generator(name).parameters() if p.requires_grad)}
        for size in args.sizes:
            figures = train_step_figures(params, name, size, args.batch, args.iters, channels_last)
            figures["efficiency_vs_dense"] = figures["gmac_s"] / dense_best
            entry[f"train_{size}px"] = figures
        torch.manual_seed(0)
        gen = build_generator(name, **model_config(params, name)["kwargs"]).to(DEVICE)  # params.yaml's kwargs
        entry[f"latency_s_{args.latency_size}px"] = inference_latency(gen, args.latency_size, args.iters, channels_last)
        report["generators"][name] = entry
    shipped = {}
    for weights in sorted(SHIPPED.glob("*.safetensors")):
        gen, _ = load_generator(weights)
        gen = gen.to(DEVICE)
        shipped[f"pretrained/{weights.stem}"] = {
            # NCHW whatever --contiguous says: `inpaint fill` hands the model contiguous tensors from numpy
            f"latency_s_{args.latency_size}px": inference_latency(gen, args.latency_size, max(args.iters, 5), False)}
    report["shipped"] = shipped
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
    if f"pretrained/{DEFAULT_GAN}" in shipped:
        latency = shipped[f"pretrained/{DEFAULT_GAN}"][f"latency_s_{args.latency_size}px"]
        report.setdefault("targets", {})["shipped_latency_512px_at_most_0.25s"] = {"value": latency, "met": latency <= 0.25}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
