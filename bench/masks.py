"""Masks per second for every kind at 256 and 512 px, on one core (prints JSON).

Target from the foundation issue: at least 1,000 masks/s at 256 px for every kind.
"""
import json
import os
import time

import cv2
import numpy as np

from inpaint.masks import MASKS


def rate(kind: str, size: int, seconds: float = 1.0) -> float:
    rng = np.random.default_rng(0)
    MASKS[kind](rng, size, size)  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        MASKS[kind](rng, size, size)
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    cv2.setNumThreads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    results = {kind: {str(s): round(rate(kind, s)) for s in (256, 512)} for kind in MASKS}
    worst = min(r["256"] for r in results.values())
    print(json.dumps({"bench": "masks_per_second", "threads": 1, "results": results,
                      "target_256": 1000, "worst_256": worst, "target_met": worst >= 1000}, indent=1))


if __name__ == "__main__":
    main()
