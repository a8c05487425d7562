"""Helpers for tests: tiny images made on the fly (no test data is shipped)."""
import hashlib
import re
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


def snapshot(root: Path) -> dict[str, str]:
    """Every file (its sha256) and folder under root (symbolic links not followed)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
            for p in sorted(root.rglob("*"))}


def changed(before: dict, after: dict) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def cli(root, capsys, argv, code, message=None, new=()):
    """Run `inpaint <argv>` in-process: its exit code, the message (a regex searched in stderr, or in stdout
    for a success), and that exactly the files `new` changed under root. Returns stdout."""
    before = snapshot(root)
    try:
        from inpaint.cli import main

        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's usage errors
        rc = e.code
    out, err = capsys.readouterr()
    assert rc == code, err
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("inpaint ") and len(err.strip().splitlines()) == 1, err  # one line
    if message:
        assert re.search(message, err if code else err + out), err + out
    assert changed(before, snapshot(root)) == set(new)
    return out




def save_mask(path: Path, box=(12, 30, 20, 44), size=(64, 48), mode="L") -> Path:
    """A mask file of `size` (width, height): white (255 = hole) inside box (y0, y1, x0, x1), black elsewhere."""
    m = np.zeros((size[1], size[0]), np.uint8)
    y0, y1, x0, x1 = box
    m[y0:y1, x0:x1] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(m).convert(mode).save(path)
    return path


def user_folder(root: Path, size=(64, 48)) -> Path:
    """A user's folder: photo.png and its mask.png; gt/a.png and pred/a.png (another photo), masks/a.png."""
    save_photo(root / "photo.png", size=size, seed=1)
    save_mask(root / "mask.png", size=size)
    save_photo(root / "gt" / "a.png", size=size, seed=1)
    save_photo(root / "pred" / "a.png", size=size, seed=2)
    save_mask(root / "masks" / "a.png", size=size)
    return root
