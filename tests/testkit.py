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


def stripes(size: int = 32, n: int = 2, seed: int = 0):
    """Images of vertical stripes (period 8 px, random colours) and a centred box hole of a quarter.

    The stripes are what a smooth fill cannot reproduce, so a model that learns shows it.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    stripes = 0.5 + 0.4 * torch.sin(torch.arange(size) * (2 * torch.pi / 8))  # (W,)
    colour = 0.5 + 0.5 * torch.rand(n, 3, 1, 1, generator=g)
    image = (colour * stripes.expand(size, size)).clamp(0, 1)  # (N, 3, H, W)
    mask = torch.zeros(n, 1, size, size)
    mask[:, :, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1.0
    return image.contiguous(), mask


def holed_images(n: int = 4, size: int = 32):
    """`n` random float32 images (n, size, size, 3) and masks (n, size, size) with one box hole each (1 = hole)."""
    rng = np.random.default_rng(0)
    images = rng.random((n, size, size, 3)).astype(np.float32)
    masks = np.zeros((n, size, size), np.float32)
    masks[:, 8:20, 6:22] = 1
    return images, masks


TINY_KWARGS = {"autoencoder": {"width": 8, "n_down": 2, "max_width": 16, "n_mid": 1},
               "deepfill": {"width": 4, "n_down": 2, "max_width": 8, "dilations": [2]}}


def tiny_checkpoint(folder, name: str = "tiny", arch: str = "autoencoder"):
    """A seeded tiny generator (an autoencoder, or a deepfill with contextual attention) saved as
    `<folder>/<name>/best.pt`, as training writes one; returns the model."""
    import torch

    from inpaint.checkpoints import CHECKPOINT_FORMAT, save_checkpoint
    from inpaint.models import build_generator

    torch.manual_seed(0)
    kwargs = TINY_KWARGS[arch]
    model = build_generator(arch, **kwargs)
    save_checkpoint(Path(folder) / name / "best.pt",
                    {"format": CHECKPOINT_FORMAT, "arch": arch, "kwargs": kwargs, "state": model.state_dict()})
    return model


# A tiny training config (an autoencoder on 32 px crops, six steps) for the training tests
TRAIN_CFG = {
    "model": "autoencoder", "kwargs": {"width": 8, "n_down": 2, "max_width": 16, "n_mid": 1},
    "discriminator": {"name": "patchgan", "kwargs": {"width": 8, "depth": 2, "kernel": 3}},
    "image_size": 32, "seed": 0, "batch_size": 2, "max_steps": 6, "max_minutes": 10, "workers": 0,
    "lr_g": 1e-3, "lr_d": 1e-3, "warmup_steps": 3, "betas": [0.5, 0.99], "ema_decay": 0.99, "log_every": 1, "val_every": 3,
    "ckpt_every": 2, "best_metric": "hole_l1", "best_higher": False, "device": "cpu",
    "masks": {"kinds": {"thick": 1, "box": 1}, "min_ratio": 0.05, "max_ratio": 0.6},
    "augment": {"min_scale": 0.3, "color": 0.1},
    "loss": {"l1_hole": 1.0, "l1_valid": 0.5, "perceptual": 0.0, "style": 0.0, "perceptual_net": "vgg16", "perceptual_layers": ["relu1_2"],
             "adv": 0.1, "adv_kind": "hinge", "kl": 0.0, "r1": 0.0},
}


# ... and the shorter run the fine-tuning and pretrained-file tests use
SHORT_TRAIN_CFG = {**TRAIN_CFG, "max_steps": 4, "warmup_steps": 1, "ema_decay": 0.9, "val_every": 2,
                   "augment": {"min_scale": 0.5, "color": 0.0}}


def hole_l1(pred, target, mask):
    """A validation function as training takes one: the mean L1 in the hole."""
    return {"hole_l1": float(((pred - target).abs() * mask).sum() / mask.sum() / 3)}


def train_run(cfg, setup, out, **kw):
    """Train `cfg` on the `setup` fixture's photos and validation crops into `out` (logs in out/logs)."""
    from inpaint.training.loop import train

    paths, images, masks = setup
    return train(cfg, paths, images, masks, out, out / "logs", validate=kw.pop("validate", hole_l1), **kw)


def box_mask(path, shape, box):
    """Write a float mask of `shape` (height, width) with 1 (a hole) inside box (y0, y1, x0, x1) as PNG; returns it."""
    from inpaint.atomic import write_png

    m = np.zeros(shape, np.float32)
    y0, y1, x0, x1 = box
    m[y0:y1, x0:x1] = 1
    write_png(path, m)
    return m


# Long-format per-image scores (inpaint.stats.PER_IMAGE_COLUMNS) for the report's tests


def score_frame(rows):
    """A per-image scores frame from rows (method, image_id, mask_id, mask_kind, hole_ratio, bucket, metric, value)."""
    import pandas as pd

    from inpaint.stats import PER_IMAGE_COLUMNS

    return pd.DataFrame(rows, columns=PER_IMAGE_COLUMNS)


def synthetic_scores(n_images=40, methods=("a", "b"), seed=0):
    """Seeded long frame: psnr (higher better) and lpips (lower better); method "a" is the better one."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        kind = ["boxes", "strokes"][i % 2]
        hr = [0.05, 0.15, 0.35][i % 3]
        bucket = f"{int(hr * 10) * 10}-{int(hr * 10) * 10 + 10}"
        noise = rng.normal()
        for k, m in enumerate(methods):
            rows.append((m, f"img{i}", "m0", kind, hr, bucket, "psnr", 30 - 20 * hr + noise - k))
            rows.append((m, f"img{i}", "m0", kind, hr, bucket, "lpips", 0.05 + 0.3 * hr + 0.01 * noise + 0.02 * k))
    return score_frame(rows)


def agg_row(agg, method, metric, group_type, group):
    """The one row of an aggregate() frame for this method, metric and group."""
    sel = agg[(agg.method == method) & (agg.metric == metric) & (agg.group_type == group_type) & (agg.group == group)]
    assert len(sel) == 1, f"expected one row for {method}/{metric}/{group_type}/{group}, got {len(sel)}"
    return sel.iloc[0]


def paired_scores():
    """Two photos of 10 crops each: model "m" beats "s" by 0.1 LPIPS on photo A, loses by 0.1 on B."""
    rows = []
    for photo, delta in (("A", -0.1), ("B", 0.1)):
        for k in range(10):
            ratio = 0.1 if k < 5 else 0.4
            bucket = "10-20" if k < 5 else "40-50"
            base = 0.2 + 0.01 * k
            rows.append(("s", photo, f"k{k}", "box", ratio, bucket, "lpips", base))
            rows.append(("m", photo, f"k{k}", "box", ratio, bucket, "lpips", base + delta))
            rows.append(("s", photo, f"k{k}", "box", ratio, bucket, "psnr", 20.0))
            rows.append(("m", photo, f"k{k}", "box", ratio, bucket, "psnr", 20.0 + (1.0 if photo == "A" else 0.0)))
    return score_frame(rows)


def trained_generator(seed=1):
    """The tiny autoencoder of TRAIN_CFG with non-zero heads, so it differs from its start fill."""
    import torch

    from inpaint.models import build_generator

    torch.manual_seed(seed)
    gen = build_generator("autoencoder", **TRAIN_CFG["kwargs"])
    with torch.no_grad():  # non-zero heads, so the model differs from its start fill
        for p in gen.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return gen


def export_pretrained(folder: Path, name="autoencoder", with_disc=True) -> Path:
    """trained_generator() exported as a pretrained file `<folder>/<name>.safetensors` with its card (and a discriminator)."""
    from inpaint import pretrained
    from inpaint.models import build_discriminator

    disc_spec = TRAIN_CFG["discriminator"]
    gen = trained_generator()
    disc = build_discriminator(disc_spec["name"], **disc_spec["kwargs"]) if with_disc else None
    weights = folder / f"{name}.safetensors"
    digest = pretrained.export(weights, "autoencoder", TRAIN_CFG["kwargs"], gen.state_dict(),
                               disc.state_dict() if disc else None, disc_spec if disc else None)
    pretrained.write_card(weights, {"sha256": digest, "steps": 123, "params": {"max_steps": 123}, "heldout": {}})
    return weights


def one_line_error(capsys, *needles):
    """The captured stderr is one line, no traceback, naming every needle."""
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
