"""Image sources: the built-in photos that ship inside installed packages, or a user's folder.

Either way the result is a manifest (one row per usable photo: id, path, width, height, sha256 of the
decoded pixels, split, group) plus a list of skipped files with reasons. A user folder is never
copied: the manifest points at the original files, which are normalised on every read.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from inpaint.atomic import write_png
from inpaint.io import IMAGE_EXTENSIONS, ImageError, list_images, read_rgb8

MANIFEST_COLUMNS = ["id", "path", "width", "height", "sha256", "split", "group"]
SKIPPED_COLUMNS = ["path", "reason"]
SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
ON_ERROR = ("fail", "skip")
SMALL = ("reject", "upscale")

# Photographs only (synthetic and non-photographic sample files are left out): ten colour photos and
# three greyscale texture photos (brick, grass, gravel; read as RGB). Without the textures, the only
# stochastic-texture photos (hubble_deep_field, ihc) could all land in one split, and then a learned
# model is trained on one kind of content and tested on another (seed 0 did exactly that).
# The motorcycle pair is one stereo scene, so it shares a group and can never straddle the split.
BUILTIN = [
    ("skimage", "astronaut.png", "astronaut"),
    ("skimage", "chelsea.png", "chelsea"),
    ("skimage", "coffee.png", "coffee"),
    ("skimage", "rocket.jpg", "rocket"),
    ("skimage", "motorcycle_left.png", "motorcycle"),
    ("skimage", "motorcycle_right.png", "motorcycle"),
    ("skimage", "hubble_deep_field.jpg", "hubble_deep_field"),
    ("skimage", "retina.jpg", "retina"),
    ("skimage", "ihc.png", "ihc"),
    ("matplotlib", "grace_hopper.jpg", "grace_hopper"),
    ("skimage", "brick.png", "brick"),
    ("skimage", "grass.png", "grass"),
    ("skimage", "gravel.png", "gravel"),
]


class SourceError(ValueError):
    """The image source as a whole cannot be used (empty, missing, or a bad file with on_error=fail)."""


@dataclass(frozen=True)
class Scan:
    """One decoded file: its size and pixel hash, or the reason it could not be read."""

    path: str
    width: int = 0
    height: int = 0
    sha256: str = ""
    error: str = ""


def builtin_files() -> list[tuple[Path, str]]:
    """(path, group) of every built-in photo, from the installed scikit-image and matplotlib."""
    import matplotlib
    import skimage.data

    roots = {
        "skimage": Path(skimage.data.__file__).parent,
        "matplotlib": Path(matplotlib.get_data_path()) / "sample_data",
    }
    files = [(roots[pkg] / name, group) for pkg, name, group in BUILTIN]
    missing = [str(p) for p, _ in files if not p.is_file()]
    if missing:
        raise SourceError(f"built-in photos missing from the installed packages: {missing}; run `make setup`")
    return files


def _scan(path: str) -> Scan:
    try:
        a = read_rgb8(path)
    except ImageError as e:
        return Scan(path, error=str(e).removeprefix(f"{path}: "))
    digest = hashlib.sha256(np.asarray(a.shape, dtype=np.int64).tobytes() + a.tobytes()).hexdigest()
    return Scan(path, a.shape[1], a.shape[0], digest)


def scan(paths: list[str], workers: int | None = None) -> list[Scan]:
    """Decode every file (in parallel) to validate it and hash its pixels, with a progress bar; order is kept."""
    workers = workers or min(os.cpu_count() or 1, 8)
    bar = dict(total=len(paths), desc="data: scan", unit="photo", dynamic_ncols=True, mininterval=1)
    if workers <= 1 or len(paths) < 64:
        return [_scan(p) for p in tqdm(paths, **bar)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return list(tqdm(pool.imap(_scan, paths, chunksize=32), **bar))


def build_manifest(
    source: str,
    out_dir: str | Path,
    min_size: int,
    on_error: str = "fail",
    small: str = "reject",
    write_dir: str | Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gather photos from `source` ("builtin" or a folder) and return (manifest, skipped).

    Built-in photos are normalised and written as PNGs under `out_dir/photos` (they are few and live
    inside site-packages); folder images stay where they are. `write_dir` is where the PNGs are
    written when that differs from where they will live (a temporary folder renamed on success).

    Args:
        min_size: shortest side a photo needs (the training size); smaller ones are rejected or,
            with small="upscale", kept and upscaled when read.
        on_error: "fail" stops at the first bad file; "skip" lists it in the skipped table.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"data.on_error={on_error!r} is unknown; use one of {ON_ERROR}")
    if small not in SMALL:
        raise ValueError(f"data.small={small!r} is unknown; use one of {SMALL}")
    out_dir = Path(out_dir)
    if source == "builtin":
        rows = _builtin_rows(Path(write_dir or out_dir) / "photos", out_dir / "photos")
    else:
        rows = _folder_rows(Path(source))
    skipped = []
    scans = scan([r.get("read", r["path"]) for r in rows])
    seen: dict[str, str] = {}
    kept = []
    for row, s in zip(rows, scans):
        path = row["path"]
        if s.error:
            if on_error == "fail":
                raise SourceError(f"{path}: {s.error} (set data.on_error: skip to list bad files and go on)")
            skipped.append((path, s.error))
        elif s.sha256 in seen:
            skipped.append((path, f"duplicate of {seen[s.sha256]} (same pixels)"))
        elif min(s.width, s.height) < min_size and small == "reject":
            skipped.append((path, f"{s.width}x{s.height} is smaller than {min_size} px (set data.small: upscale to keep it)"))
        else:
            seen[s.sha256] = path
            kept.append({**row, "width": s.width, "height": s.height, "sha256": s.sha256})
    if not kept:
        raise SourceError(f"{source}: no usable images ({len(skipped)} skipped); see the reasons above or add photos")
    manifest = pd.DataFrame(kept, columns=MANIFEST_COLUMNS)
    dup_ids = manifest["id"][manifest["id"].duplicated()].tolist()
    if dup_ids:
        raise SourceError(f"{source}: image ids collide {dup_ids[:5]}; rename files that differ only by extension")
    return manifest, pd.DataFrame(skipped, columns=SKIPPED_COLUMNS)


def _builtin_rows(write_dir: Path, photo_dir: Path) -> list[dict]:
    rows = []
    for path, group in builtin_files():
        image_id = path.stem
        write_png(write_dir / f"{image_id}.png", read_rgb8(path))
        rows.append({"id": image_id, "path": (photo_dir / f"{image_id}.png").as_posix(), "split": "", "group": group,
                     "read": (write_dir / f"{image_id}.png").as_posix()})
    return rows


def _folder_rows(root: Path) -> list[dict]:
    if not root.is_dir():
        raise SourceError(f"data.source={str(root)!r} is not a folder; give a folder of images or `builtin`")
    files = list_images(root)
    if not files:
        raise SourceError(f"{root}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)}, recursively)")
    presplit = {d.name for d in root.iterdir() if d.is_dir() and d.name.lower() in SPLIT_FOLDERS}
    rows = []
    for f in files:
        rel = f.relative_to(root)
        top = rel.parts[0] if len(rel.parts) > 1 else ""
        split = SPLIT_FOLDERS[top.lower()] if presplit and top in presplit else ""
        image_id = rel.with_suffix("").as_posix()
        rows.append({"id": image_id, "path": f.as_posix(), "split": split, "group": image_id})
    if presplit and any(not r["split"] for r in rows):
        outside = [r["path"] for r in rows if not r["split"]][:3]
        raise SourceError(
            f"{root}: has {sorted(presplit)} split folders but also images outside them, e.g. {outside}; "
            "move them into train/, val/ or test/"
        )
    return rows
