"""Peak memory of `inpaint fill` on one huge photo, through the real command; prints JSON.

Writes a --megapixels photo (a smooth gradient with texture, so it decodes and encodes like a scan, not
like a flat file) in each --kinds format, and a mask with three holes far apart (two boxes in opposite
corners and a stroke through the middle, 4 % of the photo), so the holes' context is the whole photo: the
worst case for memory. Then runs `python -m inpaint.cli fill` once per method and kind in a fresh
process and reads that process's peak resident memory from the kernel (its VmHWM), beside a process
that only imports the command and loads the method (`floor_gb`: Python, torch, OpenCV, the weights).

  python bench/fill_memory.py [--megapixels 250] [--methods telea lama] [--kinds grey_png rgb_png rgb_jpg]

Target (issue 14): peak under ~2 GB for a 250 MP photo.
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

KINDS = {"grey_png": (".png", 1), "rgb_png": (".png", 3), "rgb_jpg": (".jpg", 3)}


def make_photo(path: Path, height: int, width: int, channels: int) -> None:
    """A gradient with a sine texture, written row band by band into one array (no float copy)."""
    photo = np.empty((height, width, channels), np.uint8)
    x = np.arange(width, dtype=np.float32)
    for y0 in range(0, height, 1024):
        y = np.arange(y0, min(height, y0 + 1024), dtype=np.float32)[:, None]
        for c in range(channels):
            band = 128 + 60 * np.sin(x / (37 + 11 * c) + y / 53) + 50 * (x / width - y / height)
            photo[y0 : y0 + len(y), :, c] = np.clip(band, 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(path.suffix, photo[..., ::-1] if channels == 3 else photo[..., 0],
                            [cv2.IMWRITE_PNG_COMPRESSION, 1] if path.suffix == ".png" else [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok, path
    path.write_bytes(data)


def make_mask(path: Path, height: int, width: int) -> float:
    mask = np.zeros((height, width), np.uint8)
    bh, bw = height // 10, width // 10
    mask[bh // 2 : bh // 2 + bh, bw // 2 : bw // 2 + bw] = 255  # top left
    mask[-bh // 2 - bh : -bh // 2, -bw // 2 - bw : -bw // 2] = 255  # bottom right
    cv2.line(mask, (width // 4, height // 2), (3 * width // 4, height // 2 + height // 8), 255, max(2, height // 100))
    cv2.imwrite(str(path), mask)
    return float((mask > 0).mean())


# Runs a Python snippet or module and prints the process's peak resident memory (VmHWM, KiB) as it exits.
# VmHWM belongs to the address space execve made, so the memory of this process, which forked the child,
# is not counted (wait4's ru_maxrss would count it: it is kept across execve).
WRAP = """import atexit, runpy, sys
atexit.register(lambda: print("VmHWM", open("/proc/self/status").read().split("VmHWM:")[1].split()[0], file=sys.stderr))
if sys.argv[1] == "-c":
    exec(sys.argv[2])
else:
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def peak(argv: list[str]) -> tuple[float, float, int]:
    """(peak resident GB, seconds, exit code) of a fresh `python -m module args` or `python -c code`."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAP, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - t0
    err = proc.stderr.decode(errors="replace").strip()
    if proc.returncode != 0:
        print(f"fill_memory: {' '.join(argv)} failed (exit {proc.returncode}): {err[-500:]}", file=sys.stderr)
    hwm = [line.split()[1] for line in err.splitlines() if line.startswith("VmHWM ")]
    return (int(hwm[-1]) / 2**20 if hwm else float("nan")), seconds, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--megapixels", type=float, default=250.0)
    ap.add_argument("--methods", nargs="+", default=["telea", "lama"])
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    height = int((args.megapixels * 1e6 / 1.5) ** 0.5)  # 3:2
    width = int(args.megapixels * 1e6 / height)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hole = make_mask(root / "mask.png", height, width)
        for method in args.methods:
            floor = (f"from inpaint.methods import resolve_method; resolve_method({method!r}, 'models', {args.device!r}, "
                     "fallback_pretrained=True)")
            floor_gb, _, _ = peak(["-c", floor])
            for kind in args.kinds:
                suffix, channels = KINDS[kind]
                photo = root / f"{kind}{suffix}"
                if not photo.exists():
                    make_photo(photo, height, width, channels)
                out = root / f"out_{method}_{kind}{suffix}"
                gb, seconds, code = peak(["inpaint.cli", "fill", "--method", method, "--image",
                                          str(photo), "--mask", str(root / "mask.png"), "--out", str(out), "--device",
                                          args.device, "-q"])
                results.append({"method": method, "kind": kind, "peak_gb": round(gb, 2), "floor_gb": round(floor_gb, 2),
                                "seconds": round(seconds, 1), "exit": code, "file_mb": round(photo.stat().st_size / 1e6, 1)})
                out.unlink(missing_ok=True)
    print(json.dumps({"megapixels": round(height * width / 1e6, 1), "size": f"{width}x{height}",
                      "hole_ratio": round(hole, 3), "runs": results}, indent=1))
    if any(r["exit"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
