"""Seconds per photo of `inpaint fill` on this machine, through the command's own code; prints JSON.

For each method and size, a temporary folder of generated photos (scikit-image's bundled photos resized,
so texture is real) with LaMa "thick" masks covering 20-40 % of each photo is filled by
`inpaint.cli.main(["fill", ...])`, the function the `inpaint` console script runs, in this process:
  per_photo_s      (T(n photos) - T(1 photo)) / (n - 1): what one more photo of a folder costs
  call_overhead_s  T(1 photo) - per_photo_s: each call's own cost (resolving and loading the method)
after one untimed call at that size (first-call work: lazy imports, kernel selection); each the fastest of
--repeats runs.
  forward_s        (network methods) the method's own call on one photo's work crop, read and prepared
                   beforehand (in this process, so with the command's allocator setting): the model's share of
                   per_photo_s; the rest is decoding, cropping, pasting, encoding
  startup_s        a fresh `python -m inpaint.cli fill` of one 512x512 photo, minus its per_photo_s:
                   the one-off cost of a new process (imports, first calls), paid once per command.

A method given as NAME+refine runs `inpaint fill --method NAME --refine` (inpaint.refine); NAME+raw runs it with
--no-delattice (a network's own fill, without the lattice removal `inpaint fill` does by default: inpaint.delattice);
NAME+detail with --detail (where the hole's context is over 1024 px: the fill's fine detail from the photo,
inpaint.detail_transfer).

Usage: python bench/fill_speed.py [--photos 4] [--methods pretrained/lama telea patch_match]
                                  [--sizes 512x512 768x512 2048x1365] [--device cpu] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage import data

from inpaint.atomic import write_png
from inpaint.cli import main
from inpaint.crops import work_crop
from inpaint.io import read_image, read_mask
from inpaint.masks import sample_mask
from inpaint.delattice import as_filled
from inpaint.methods import resolve_method

SOURCES = ("astronaut", "chelsea", "coffee", "rocket")
OPTIONS = {"+refine": ["--refine"], "+raw": ["--no-delattice"], "+detail": ["--detail"]}  # a spec's suffix -> inpaint fill options


def split_spec(method: str) -> tuple[str, list[str]]:
    """A method spec's name and the `inpaint fill` options its suffix adds."""
    for suffix, options in OPTIONS.items():
        if method.endswith(suffix):
            return method.removesuffix(suffix), options
    return method, []


def fill_args(method: str) -> list[str]:
    """inpaint fill's --method (and the suffix's options) for a method spec."""
    name, options = split_spec(method)
    return ["--method", name, *options]


def make_folder(root: Path, width: int, height: int, n: int, seed: int = 0) -> list[float]:
    """n photos + masks (white = hole) under root/photos, root/masks; returns the hole ratios."""
    ratios = []
    for i in range(n):
        photo = cv2.resize(getattr(data, SOURCES[i % len(SOURCES)])(), (width, height), interpolation=cv2.INTER_CUBIC)
        mask = sample_mask("thick", np.random.default_rng(seed + i), height, width, min_ratio=0.2, max_ratio=0.4)
        write_png(root / "photos" / f"{i}.png", photo)
        write_png(root / "masks" / f"{i}.png", mask.astype(np.float32))
        ratios.append(float(mask.mean()))
    return ratios


def timed_fill(method: str, folder: Path, out: Path, device: str) -> float:
    t0 = time.perf_counter()
    code = main(["fill", *fill_args(method), "--image", str(folder / "photos"), "--mask", str(folder / "masks"),
                 "--out", str(out), "--device", device, "-q", "--overwrite"])
    if code != 0:
        raise SystemExit(f"fill_speed: inpaint fill --method {method} failed (exit {code})")
    return time.perf_counter() - t0


def forward_time(method: str, folder: Path, device: str, repeats: int = 3) -> float | None:
    """Best-of-`repeats` seconds of the resolved method's fill on one prepared work crop; None for classical ones."""
    name, options = split_spec(method)
    m = resolve_method(name, "models", device, fallback_pretrained=True)
    if m.model is None:
        return None
    if "--refine" in options:
        from inpaint.refine import refined

        m = refined(m)
    m = as_filled(m, False if "--no-delattice" in options else None)  # as inpaint fill runs it
    work = work_crop(read_image(folder / "photos" / "0.png"), read_mask(folder / "masks" / "0.png"), 1024)
    m.fill(work.image[None], work.mask[None])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        m.fill(work.image[None], work.mask[None])
        times.append(time.perf_counter() - t0)
    return min(times)


def cold_single(method: str, folder: Path, out: Path, device: str) -> float:
    """Wall time of a fresh process filling one photo (the user's `inpaint fill` on one file)."""
    cmd = [sys.executable, "-m", "inpaint.cli", "fill", *fill_args(method), "--image", str(folder / "photos" / "0.png"),
           "--mask", str(folder / "masks" / "0.png"), "--out", str(out), "--device", device, "-q", "--overwrite"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def main_bench() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=4)
    ap.add_argument("--methods", nargs="+", default=["pretrained/lama", "telea", "patch_match"])
    ap.add_argument("--sizes", nargs="+", default=["512x512", "768x512", "2048x1365"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per figure, the fastest kept (a shared "
                                                            "machine only ever slows a run down)")
    args = ap.parse_args()
    if args.photos < 2:
        raise SystemExit("fill_speed: --photos must be at least 2 (per photo = difference of two runs)")
    results = {"device": args.device, "torch_threads": torch.get_num_threads(), "photos_per_size": args.photos,
               "masks": "thick, 20-40 % hole", "methods": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folders, ratios = {}, {}
        for size in args.sizes:
            w, h = map(int, size.split("x"))
            ratios[size] = make_folder(tmp / size / "all", w, h, args.photos)
            make_folder(tmp / size / "one", w, h, 1)
            folders[size] = tmp / size
        results["hole_ratios"] = {s: [round(r, 3) for r in v] for s, v in ratios.items()}
        for method in args.methods:
            row = {}
            for size in args.sizes:
                f = folders[size]
                timed_fill(method, f / "one", tmp / "out", args.device)  # untimed: first calls at this size
                t1 = min(timed_fill(method, f / "one", tmp / "out", args.device) for _ in range(args.repeats))
                tn = min(timed_fill(method, f / "all", tmp / "out", args.device) for _ in range(args.repeats))
                per = (tn - t1) / (args.photos - 1)
                row[size] = {"per_photo_s": round(per, 3), "call_overhead_s": round(max(t1 - per, 0.0), 3)}
                forward = forward_time(method, f / "one", args.device)
                if forward is not None:
                    row[size]["forward_s"] = round(forward, 3)
                print(f"fill_speed: {method} {size}: {per:.3f} s/photo", file=sys.stderr)
            first = args.sizes[0]
            cold = cold_single(method, folders[first] / "one", tmp / "cold.png", args.device)
            results["methods"][method] = {"startup_s": round(cold - row[first]["per_photo_s"], 2),
                                          "cold_single_photo_s": round(cold, 2), "sizes": row}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main_bench()
