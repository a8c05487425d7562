"""Load on a real `inpaint serve` process: N concurrent fills on loopback; prints JSON.

Starts `python -m inpaint.cli serve` on a free loopback port (its TMPDIR a fresh folder, so its private
folder can be inspected), fills one photo to warm it up, then sends --clients requests at once from
as many threads (each a 768x512 built-in photo at native content, an object-sized hole of its own),
and checks every answer: 200, the photo's size, identical outside the hole, changed inside. Reports the
latencies, the throughput, the server's peak resident memory (its VmHWM) after the warm-up fill and
after the burst, and whether its private folder was left empty. Bounded: one burst, a timeout per
request, and the server is stopped at the end.

  python bench/serve_load.py [--clients 20] [--method pretrained/lama] [--size 768x512]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np
from PIL import Image

from inpaint.io import read_image
from inpaint.sources import builtin_files


def vm_hwm_gb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 2**20


def encode(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def requests(n: int, size: tuple[int, int], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """n (photo uint8, hole bool) pairs: the built-in photos resized to size (width, height) in turn, each
    with an elliptical object-sized hole (5-20 % of the photo) at a random place."""
    rng = np.random.default_rng(seed)
    photos = [(read_image(p) * 255).round().astype(np.uint8) for p, _ in builtin_files()[:8]]
    w, h = size
    out = []
    for k in range(n):
        photo = cv2.resize(photos[k % len(photos)], (w, h), interpolation=cv2.INTER_AREA)
        hole = np.zeros((h, w), np.uint8)
        axes = (int(w * rng.uniform(0.12, 0.22)), int(h * rng.uniform(0.15, 0.3)))
        centre = (int(rng.uniform(0.3, 0.7) * w), int(rng.uniform(0.3, 0.7) * h))
        cv2.ellipse(hole, centre, axes, rng.uniform(0, 180), 0, 360, 255, -1)
        out.append((photo, hole > 0))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--method", default="pretrained/lama")
    ap.add_argument("--size", default="768x512", help="WIDTHxHEIGHT of the photos")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per request at most")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    tmp = Path(tempfile.mkdtemp(prefix="serve-load-"))
    log = open(tmp / "server.log", "w+")
    server = subprocess.Popen([sys.executable, "-m", "inpaint.cli", "serve", "--port", str(port), "-q",
                               "--max-queue", str(max(32, args.clients + 1))],
                              env={**os.environ, "TMPDIR": str(tmp)}, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            try:
                httpx.get(f"{url}/api/methods", timeout=2)
                break
            except httpx.TransportError:
                if server.poll() is not None:
                    log.seek(0)
                    raise SystemExit(f"the server exited:\n{log.read()}")
                time.sleep(0.2)
        work = requests(args.clients + 1, size)

        def one(item):
            photo, hole = item
            t0 = time.perf_counter()
            r = httpx.post(f"{url}/api/fill", files={"photo": ("photo.png", encode(photo)),
                                                     "mask": ("mask.png", encode(hole.astype(np.uint8) * 255))},
                           data={"method": args.method}, timeout=args.timeout)
            seconds = time.perf_counter() - t0
            if r.status_code != 200:
                return seconds, f"HTTP {r.status_code}: {r.text[:200]}"
            out = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
            if out.shape != photo.shape:
                return seconds, f"size {out.shape} != {photo.shape}"
            if not np.array_equal(out[~hole], photo[~hole]):
                return seconds, "known pixels changed"
            if np.array_equal(out[hole], photo[hole]):
                return seconds, "hole not filled"
            return seconds, None

        warm_seconds, warm_error = one(work[0])
        warm_peak = vm_hwm_gb(server.pid)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(one, work[1:]))
        wall = time.perf_counter() - t0
        peak = vm_hwm_gb(server.pid)
        latencies = sorted(s for s, _ in results)
        errors = [e for _, e in results if e] + ([f"warm-up: {warm_error}"] if warm_error else [])
        private = next(tmp.glob("inpaint-serve-*"))
        left = [p.name for p in private.iterdir() if not p.name.startswith("torchinductor")]
        server.send_signal(signal.SIGINT)
        code = server.wait(60)
        print(json.dumps({
            "method": args.method, "photo": args.size, "clients": args.clients,
            "answered_ok": sum(e is None for _, e in results), "errors": errors[:5],
            "warm_up_fill_s": round(warm_seconds, 2),
            "burst_wall_s": round(wall, 2), "fills_per_s": round(args.clients / wall, 2),
            "latency_s": {"min": round(latencies[0], 2), "median": round(latencies[len(latencies) // 2], 2),
                          "max": round(latencies[-1], 2)},
            "server_peak_gb": {"after_one_fill": round(warm_peak, 3), "after_burst": round(peak, 3)},
            "private_folder_left": left, "private_folder_removed_at_exit": not private.exists(), "exit_code": code,
        }, indent=1))
    finally:
        if server.poll() is None:
            server.kill()
        log.close()


if __name__ == "__main__":
    main()
