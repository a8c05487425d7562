"""Seconds the report's photo-level bootstrap takes on a large evaluation; prints JSON.

`inpaint.stats.aggregate` resamples photos `n_boot` times for every method, metric, mask kind and hole
bucket; it must stay vectorised (a Python loop of pandas resamples takes minutes at this size).
Synthetic long frame: `--images` test pairs, 2 methods, 2 metrics, 2 mask kinds, 3 hole buckets.

    .venv/bin/python bench/aggregate.py [--images 3000] [--boot 1000]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from inpaint.stats import PER_IMAGE_COLUMNS, aggregate


def frame(n_images: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        hr = (0.05, 0.15, 0.35)[i % 3]
        bucket = f"{int(hr * 10) * 10}-{int(hr * 10) * 10 + 10}"
        kind = ("boxes", "strokes")[i % 2]
        noise = rng.normal()
        for k, method in enumerate(("a", "b")):
            rows.append((method, f"img{i}", "m0", kind, hr, bucket, "psnr", 30 - 20 * hr + noise - k))
            rows.append((method, f"img{i}", "m0", kind, hr, bucket, "lpips", 0.05 + 0.3 * hr + 0.01 * noise))
    return pd.DataFrame(rows, columns=PER_IMAGE_COLUMNS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--boot", type=int, default=1000)
    args = ap.parse_args()
    df = frame(args.images)
    t0 = time.perf_counter()
    agg = aggregate(df, n_boot=args.boot)
    seconds = time.perf_counter() - t0
    print(json.dumps({"rows": len(df), "images": args.images, "resamples": args.boot, "groups": len(agg),
                      "seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main()
