"""Helpers for tests: tiny images made on the fly (no test data is shipped)."""
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def save_photo(path: Path, size=(48, 40), seed=0, mode="RGB", fmt=None) -> Path:
    """A smooth random colour photo (width, height) saved at `path`."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    a = np.stack([np.sin(6 * xx + rng.uniform(0, 6)), np.cos(5 * yy + rng.uniform(0, 6)), xx * yy], axis=2)
    a = ((a - a.min()) / (np.ptp(a) + 1e-9) * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).convert(mode).save(path, format=fmt)
    return path


def bomb_png(path: Path, width=40000, height=40000) -> Path:
    """A valid 1x1 PNG whose header claims `width` x `height` pixels (a decompression-bomb probe)."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then chunk length + type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


def randomise_heads(model) -> None:
    """Give a generator's zero-initialised residual heads random weights, so the network's output matters."""
    import torch
    from torch import nn

    torch.manual_seed(1)
    for name, module in model.named_modules():
        if "head" in name and isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, std=0.05)
