"""Throughput of the classical baselines and of the metrics; prints JSON figures.

Baselines: images/s on built-in photos at 128 and 256 px with ~30 % holes made of a few thick
random strokes (LaMa-like), one image at a time as evaluation calls them, after one warm-up call
(numba compiles or loads its cache then). Metrics: images/s for a batch of 16 at 128 px.

    .venv/bin/python bench/methods.py [--images 3] [--sizes 128 256] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import cv2
import numpy as np
import torch

from inpaint.arrays import to_nchw
from inpaint.baselines import BASELINES
from inpaint.metrics import METRICS, compute

PHOTOS = ["astronaut", "chelsea", "coffee", "rocket"]


def photo(name: str, size: int) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]  # centre square
    return (cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) / 255.0).astype(np.float32)


def strokes(size: int, rng: np.random.Generator, ratio: float = 0.3) -> np.ndarray:
    """Thick random lines until about `ratio` of the image is hole (1 = hole)."""
    m = np.zeros((size, size), np.uint8)
    while m.mean() < ratio:
        x0, y0, x1, y1 = (int(v) for v in rng.integers(0, size, 4))
        cv2.line(m, (x0, y0), (x1, y1), 1, int(rng.integers(size // 16, size // 7)))
    return m.astype(np.float32)


def bench_baselines(sizes: list[int], n_images: int, seed: int) -> dict:
    out = {}
    for size in sizes:
        rng = np.random.default_rng(seed)
        pairs = [(photo(PHOTOS[i % len(PHOTOS)], size), strokes(size, rng)) for i in range(n_images)]
        for name, fill in BASELINES.items():
            fill(*pairs[0])  # warm-up: numba compile / cache load, lazy imports
            t0 = time.perf_counter()
            preds = [fill(img, m) for img, m in pairs]
            dt = time.perf_counter() - t0
            masks = torch.from_numpy(np.stack([m for _, m in pairs]))[:, None]  # (N, 1, S, S)
            hole_psnr = compute(["hole_psnr"], to_nchw(preds), to_nchw(np.stack([img for img, _ in pairs])), masks)["hole_psnr"]
            out.setdefault(name, {})[str(size)] = {
                "images_per_s": round(n_images / dt, 2),
                "s_per_image": round(dt / n_images, 4),
                "hole_ratio": round(float(np.mean([m.mean() for _, m in pairs])), 3),
                "hole_psnr_db": round(float(hole_psnr.mean()), 2),
            }
    return out


def bench_metrics(device: str, batch: int, size: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    target = to_nchw(np.stack([photo(PHOTOS[i % len(PHOTOS)], size) for i in range(batch)]))
    mask = torch.from_numpy(np.stack([strokes(size, rng) for _ in range(batch)]))[:, None]  # (B, 1, S, S)
    g = torch.Generator().manual_seed(seed)
    pred = (target + 0.1 * torch.randn(target.shape, generator=g)).clamp(0, 1)
    out = {}
    for name in METRICS:
        try:
            compute([name], pred, target, mask, device)  # warm-up: builds and caches the scorer
        except (ImportError, RuntimeError) as e:  # e.g. LPIPS weights not provisioned: report it
            out[name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0]}"}
            continue
        reps = 3
        t0 = time.perf_counter()
        for _ in range(reps):
            compute([name], pred, target, mask, device)
        dt = (time.perf_counter() - t0) / reps
        out[name] = {"images_per_s": round(batch / dt, 1), "ms_per_batch": round(1000 * dt, 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=3, help="images per size and baseline")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    report = {
        "machine": {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                    "device": args.device},
        "baselines": bench_baselines(args.sizes, args.images, args.seed),
        f"metrics_batch{args.batch}_128px": bench_metrics(args.device, args.batch, 128, args.seed),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
