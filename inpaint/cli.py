"""The `inpaint` command: fill holes in your own photos, or score fills against ground truth.

  inpaint fill  --method pretrained/lama --image photo.jpg --mask hole.png --out filled.png   (shipped, no training)
  inpaint fill  --method models/lama/best.pt --image photo.jpg --mask hole.png --out filled.png
  inpaint fill  --method lama --image photo.jpg --mask hole.png --out filled.png   (models/lama/best.pt)
  inpaint fill  --method telea --image photos/ --mask masks/ --out filled/
  inpaint score GT PRED [--masks M] [--csv scores.csv]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from inpaint.io import IMAGE_EXTENSIONS, ImageError, read_image, read_mask, write_csv, write_png


def _pairs(first: Path, second: Path, what: str) -> list[tuple[Path, Path]]:
    """Match files of two folders by stem (or two single files)."""
    if first.is_file() and second.is_file():
        return [(first, second)]
    if not (first.is_dir() and second.is_dir()):
        raise ValueError(f"{first} and {second} must both be files or both be folders")
    listed = lambda d: {p.stem: p for p in sorted(d.rglob("*")) if p.suffix.lower() in IMAGE_EXTENSIONS}  # noqa: E731
    a, b = listed(first), listed(second)
    if not a:
        raise ValueError(f"{first}: no images found")
    missing = sorted(set(a) - set(b))
    if missing:
        raise ValueError(f"{second}: no {what} for {missing[:5]} (files are matched by name without extension)")
    return [(a[k], b[k]) for k in sorted(a)]


def hole_crop(mask: np.ndarray, margin: float = 0.5, min_margin: int = 32) -> tuple[slice, slice]:
    """The bounding box of all holes (1 = hole) grown by `margin` of its size: the context a fill needs."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    if len(ys) == 0:
        return slice(0, h), slice(0, w)
    my = max(min_margin, int((ys.max() - ys.min() + 1) * margin))
    mx = max(min_margin, int((xs.max() - xs.min() + 1) * margin))
    return slice(max(0, ys.min() - my), min(h, ys.max() + my + 1)), slice(max(0, xs.min() - mx), min(w, xs.max() + mx + 1))


def fill_any_size(fill, image: np.ndarray, mask: np.ndarray, max_side: int) -> np.ndarray:
    """Fill a photo of any size: crop to the holes' context, work at most `max_side` px, paste back.

    Known pixels keep their full resolution; only the hole's content is upsampled when the context
    had to be shrunk to `max_side`. Mask: 1 = hole.
    """
    ys, xs = hole_crop(mask)
    crop, cmask = image[ys, xs], mask[ys, xs]
    h, w = cmask.shape
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        smask = (cv2.resize(cmask, size, interpolation=cv2.INTER_AREA) > 0).astype(np.float32)
        filled = cv2.resize(fill(small[None], smask[None])[0], (w, h), interpolation=cv2.INTER_CUBIC)
    else:
        filled = fill(crop[None], cmask[None])[0]
    out = image.copy()
    out[ys, xs] = cmask[..., None] * np.clip(filled, 0, 1) + (1 - cmask[..., None]) * crop
    return out


def cmd_fill(args) -> None:
    from inpaint.evaluation import resolve_method

    fill = resolve_method(args.method, args.checkpoints, args.device).fill
    pairs = _pairs(Path(args.image), Path(args.mask), "mask")
    single = Path(args.image).is_file()
    for img_path, mask_path in pairs:
        image = read_image(img_path)
        mask = read_mask(mask_path, args.polarity)
        if mask.shape != image.shape[:2]:
            raise ValueError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but {img_path} is "
                             f"{image.shape[1]}x{image.shape[0]}; give a mask of the photo's size")
        if mask.all():
            raise ValueError(f"{mask_path}: the whole image is a hole; nothing is left to fill from")
        out = fill_any_size(fill, image, mask, args.max_side)
        dest = Path(args.out) if single else Path(args.out) / img_path.relative_to(args.image).with_suffix(".png")
        write_png(dest, out)
        print(f"{img_path} -> {dest}")


def cmd_score(args) -> None:
    from inpaint.arrays import masks_to_nchw, to_nchw
    from inpaint.metrics import METRICS, compute

    names = args.metrics.split(",")
    for n in names:
        if n not in METRICS:
            raise ValueError(f"unknown metric {n!r}; known: {sorted(METRICS)}")
    pairs = _pairs(Path(args.gt), Path(args.pred), "prediction")
    masks = dict(_pairs(Path(args.gt), Path(args.masks), "mask")) if args.masks else {}
    rows = []
    for gt_path, pred_path in pairs:
        gt, pred = read_image(gt_path), read_image(pred_path)
        if gt.shape != pred.shape:
            raise ValueError(f"{pred_path}: size {pred.shape[1]}x{pred.shape[0]} differs from {gt_path} "
                             f"{gt.shape[1]}x{gt.shape[0]}; predictions must keep the ground truth's size")
        mask = read_mask(masks[gt_path], args.polarity, size=gt.shape[:2]) if masks else np.zeros(gt.shape[:2], np.float32)
        values = compute(names, to_nchw(pred), to_nchw(gt), masks_to_nchw(mask))
        rows.append({"image": gt_path.name, **{n: float(values[n][0]) for n in names}})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print("mean  " + "  ".join(f"{n}={table[n].mean():.4f}" for n in names))
    if args.csv:
        write_csv(args.csv, table)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="inpaint", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fill", help="fill the holes of your own photos (any size)")
    f.add_argument("--method", required=True,
                   help="a shipped pretrained model (pretrained/lama), a checkpoint path (models/lama/last.pt), a "
                        "trained model's name (lama: <checkpoints>/lama/best.pt) or a baseline name (telea, hybrid, ...)")
    f.add_argument("--checkpoints", default="models", help="folder of trained models <name>/best.pt (default: models)")
    f.add_argument("--image", required=True, help="a photo, or a folder of photos")
    f.add_argument("--mask", required=True, help="its mask, or a folder of masks with the same file names")
    f.add_argument("--out", required=True, help="output PNG, or output folder")
    f.add_argument("--polarity", default="white_hole", choices=["white_hole", "black_hole"],
                   help="which mask pixels mark the hole (default: white)")
    f.add_argument("--max-side", type=int, default=1024, help="longest side the method works at (default 1024)")
    f.add_argument("--device", default="auto")
    f.set_defaults(run=cmd_fill)
    s = sub.add_parser("score", help="PSNR/SSIM/LPIPS/hole metrics of predictions against ground truth")
    s.add_argument("gt", help="ground-truth image or folder")
    s.add_argument("pred", help="prediction image or folder (matched by file name)")
    s.add_argument("--masks", help="mask image or folder (1 = hole) for the hole-only metrics")
    s.add_argument("--polarity", default="white_hole", choices=["white_hole", "black_hole"])
    s.add_argument("--metrics", default="psnr,ssim,lpips,hole_psnr,hole_l1")
    s.add_argument("--csv", help="also write the table to this CSV")
    s.set_defaults(run=cmd_score)
    args = ap.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, ImageError) as e:
        print(f"inpaint {args.command}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
