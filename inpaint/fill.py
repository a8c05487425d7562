"""Filling a user's own photos of any size: which files, which method, and the loop `inpaint fill` runs.

Plan first, fill second: `plan_jobs` pairs photos with masks and output files and checks every
name, size and format from the files' headers, so bad input fails before anything is written;
`fill_photos` then fills them, each photo's work done on its holes' context (`hole_crop`, at most
`max_side` px), photos whose context comes out the same size batched per forward pass for a
network, decoding and encoding overlapped with the fill, every output written atomically.
Masks: 1 (white, 255 in PNG) = hole, unless read with polarity "black_hole".
"""
from __future__ import annotations

import os
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from inpaint import io
from inpaint.io import (IMAGE_EXTENSIONS, MAX_PIXELS, atomic_path, read_mask, read_rgb8, swap_red_blue,
                        to_uint8)

# --out extension -> format. PNG goes through OpenCV at zlib level 1 with the run-length strategy:
# 4-6x faster to encode than Pillow's default (11 ms against 49 ms per BSDS500 photo, 22 against 129 ms at
# 768x512) for files 3 % larger on real photos; still lossless.
OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
FORMAT_NAMES = {"png": ".png", "jpg": ".jpg", "webp": ".webp"}


def hole_crop(mask: np.ndarray, margin: float = 0.5, min_margin: int = 32) -> tuple[slice, slice]:
    """The bounding box of all holes (1 = hole) grown by `margin` of its size: the context a fill needs."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))  # not np.nonzero: 4 GB at 250 MP
    h, w = mask.shape
    if len(rows) == 0:
        return slice(0, h), slice(0, w)
    y0, y1, x0, x1 = rows[0], rows[-1], cols[0], cols[-1]
    my = max(min_margin, int((y1 - y0 + 1) * margin))
    mx = max(min_margin, int((x1 - x0 + 1) * margin))
    return slice(max(0, y0 - my), min(h, y1 + my + 1)), slice(max(0, x0 - mx), min(w, x1 + mx + 1))


def any_pool(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Shrink a bool mask (h, w) to size (width, height) where a cell is a hole when any pixel under its
    footprint is (the pixels INTER_AREA averages over): `(INTER_AREA resize > 0)` without a float copy of a
    huge mask. Never a hole cell fewer than that; a few more, where a footprint only grazes a hole pixel."""
    def along_rows(a: np.ndarray, n: int) -> np.ndarray:
        edges = np.arange(n + 1) * (a.shape[0] / n)
        lo, hi = np.floor(edges[:-1]).astype(int), np.ceil(edges[1:]).astype(int)  # cell i covers rows [lo, hi)
        out = np.logical_or.reduceat(a, lo, axis=0)  # rows [lo_i, lo_i+1)
        spill = np.flatnonzero(hi[:-1] > lo[1:])  # a cell ending mid-row also covers the next cell's first row
        out[spill] |= a[lo[1:][spill]]
        return out

    return along_rows(along_rows(mask, size[1]).T, size[0]).T


@dataclass
class Work:
    """One photo's fill input: its holes' context, shrunk to at most max_side (1 = hole)."""

    crop: tuple[slice, slice]
    image: np.ndarray  # (h, w, 3) float32 in [0, 1]: what the method sees
    mask: np.ndarray  # (h, w)


def prepare(image: np.ndarray, mask: np.ndarray, max_side: int) -> Work:
    """Crop a photo (uint8, or float in [0, 1]) to its holes' context and shrink that to at most `max_side`
    px, as float32 in [0, 1]; mask 1 = hole."""
    import cv2

    ys, xs = hole_crop(mask)
    crop, cmask = image[ys, xs], mask[ys, xs]  # views; the mask may be bool (a huge photo's)
    h, w = cmask.shape
    scale = min(1.0, max_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if scale < 1.0 and h * w > io.LARGE_PIXELS and crop.dtype == np.uint8:
        # a huge context is shrunk as it is stored (a float copy of 250 MP is 3 GB) and only then made float
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        hole = cmask if cmask.dtype == bool else cmask > 0.5
        return Work((ys, xs), crop, any_pool(hole, size).astype(np.float32))
    cmask = cmask.astype(np.float32)
    crop = crop.astype(np.float32) / 255.0 if crop.dtype == np.uint8 else crop  # only the crop becomes float
    if scale < 1.0:
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        cmask = (cv2.resize(cmask, size, interpolation=cv2.INTER_AREA) > 0).astype(np.float32)
    return Work((ys, xs), np.ascontiguousarray(crop), cmask)


def paste(image: np.ndarray, mask: np.ndarray, work: Work, filled: np.ndarray, in_place: bool = False) -> np.ndarray:
    """Put a filled work crop (float [0, 1]) back into the photo, in the photo's dtype (uint8 or float):
    the hole's content upsampled where the context was shrunk, known pixels kept at full resolution bit
    for bit. Mask 1 = hole."""
    import cv2

    ys, xs = work.crop
    ch, cw = image[ys, xs].shape[:2]
    # in place: the fill loop's photo, not needed again (no second copy of a huge photo), when numpy lets us
    out = image if in_place and image.flags.writeable else image.copy()
    target = out[ys, xs]
    fh, fw = filled.shape[:2]
    resized = (fh, fw) != (ch, cw)
    strip = max(1, io.LARGE_PIXELS // (4 * cw)) if ch * cw > io.LARGE_PIXELS else ch
    if strip == ch and resized:
        filled = cv2.resize(filled, (cw, ch), interpolation=cv2.INTER_CUBIC)
    for y0 in range(0, ch, strip):  # one pass, or strips of a huge context (its upsampled fill is 3 GB whole)
        rows = slice(ys.start + y0, ys.start + min(ch, y0 + strip))
        hole = mask[rows, xs] > 0.5  # masks here are 0/1: compositing is a copy of the hole pixels
        if not hole.any():
            continue
        part = filled[y0 : y0 + strip] if not resized or strip == ch else _upsampled_rows(filled, (ch, cw), y0, len(hole))
        values = part[hole]
        target[y0 : y0 + strip][hole] = to_uint8(values) if out.dtype == np.uint8 else np.clip(values, 0, 1)
    return out


class PackedMask:
    """A bool mask (H, W) kept 8 pixels a byte (a 250 MP mask in 31 MB instead of 250 while a network
    fills); `mask[rows, cols]` (slices) unpacks only those rows."""

    def __init__(self, mask: np.ndarray):
        self.shape = mask.shape
        self.bits = np.packbits(mask, axis=1)

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        rows, cols = key
        return np.unpackbits(self.bits[rows], axis=1, count=self.shape[1]).view(np.bool_)[:, cols]


def _upsampled_rows(small: np.ndarray, size: tuple[int, int], y0: int, n: int) -> np.ndarray:
    """Rows [y0, y0 + n) of `small` resized to size (height, width) by bicubic interpolation, as
    cv2.resize maps pixels (centres aligned), without the whole resized image."""
    import cv2

    (h, w), (sh, sw) = size, small.shape[:2]
    fx, fy = sw / w, sh / h  # output pixel x samples the input at (x + 0.5) * fx - 0.5
    m = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, (y0 + 0.5) * fy - 0.5]], dtype=np.float64)
    return cv2.warpAffine(small, m, (w, n), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


def fill_any_size(fill, image: np.ndarray, mask: np.ndarray, max_side: int) -> np.ndarray:
    """Fill one photo of any size with a batched `fill(images, masks)`: crop to the holes' context, work
    at most `max_side` px, paste back. Known pixels keep their full resolution; only the hole's content
    is upsampled when the context had to be shrunk. Mask: 1 = hole."""
    work = prepare(image, mask, max_side)
    return paste(image, mask, work, fill(work.image[None], work.mask[None])[0])


# ---------------------------------------------------------------------------------------------
# Methods


def resolve(name: str, checkpoints: str | Path, device: str = "auto", batch_size: int = 16):
    """`inpaint.evaluation.resolve_method`, where a bare model name without `<checkpoints>/<name>/best.pt`
    falls back to the shipped `pretrained/<name>` (the error lists both)."""
    from inpaint.evaluation import resolve_method

    return resolve_method(name, checkpoints, device, batch_size, fallback_pretrained=True)


def available_methods(checkpoints: str | Path = "models") -> list[dict]:
    """What `--method` can name on this machine: [{"name", "kind" (baseline, pretrained, trained), "samples"
    (whether the model draws different fills; read from its file's architecture)}], baselines last."""
    from inpaint.baselines import BASELINES
    from inpaint.pretrained import SHIPPED, SUFFIX

    shipped = {p.stem: p for d in (SHIPPED, Path("pretrained")) for p in sorted(d.glob(f"*{SUFFIX}"))}
    trained = {p.parent.name: p for p in sorted(Path(checkpoints).glob("*/best.pt"))}
    return ([{"name": f"pretrained/{s}", "kind": "pretrained", "samples": _samples(p)} for s, p in sorted(shipped.items())]
            + [{"name": t, "kind": "trained", "samples": _samples(p)} for t, p in trained.items()]
            + [{"name": b, "kind": "baseline", "samples": False} for b in sorted(BASELINES)])


_SAMPLES: dict = {}  # (path, mtime, size) -> whether it samples: a server lists its methods often


def _samples(weights: Path) -> bool:
    """Whether the generator stored in a .safetensors or .pt file can sample (by its architecture's class);
    False for a file that cannot be read (resolving it names the problem)."""
    try:
        st = weights.stat()
    except OSError:
        return False
    key = (str(weights.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _SAMPLES:
        _SAMPLES[key] = _read_samples(weights)
    return _SAMPLES[key]


def _read_samples(weights: Path) -> bool:
    from inpaint.models import GENERATORS
    from inpaint.sampling import can_sample

    try:
        if weights.suffix == ".pt":
            from inpaint.checkpoints import load_checkpoint

            arch = load_checkpoint(weights).get("arch")
        else:
            from safetensors import safe_open

            with safe_open(str(weights), "pt") as f:
                arch = (f.metadata() or {}).get("arch")
    except (OSError, ValueError, RuntimeError, AttributeError):
        return False
    return can_sample(GENERATORS.get(arch))


def methods_help(checkpoints: str | Path = "models") -> str:
    """What `--method` can name on this machine, for --help (imports the registries: slow, so on demand)."""
    from inpaint.models import GENERATORS

    found = available_methods(checkpoints)
    names = lambda kind: ", ".join(m["name"] for m in found if m["kind"] == kind)  # noqa: E731
    return "\n".join([
        "methods (--method):",
        f"  baselines:   {names('baseline')}",
        f"  pretrained:  {names('pretrained') or '(none found in pretrained/)'}",
        (f"  trained:     {names('trained') or '(none)'} in {checkpoints}/ (<name>/best.pt; a bare name falls "
         "back to pretrained/<name>)"),
        ("  checkpoint:  any path to a .pt (models/lama/last.pt) or .safetensors file; architectures: "
         f"{', '.join(sorted(GENERATORS))}"),
    ])


# ---------------------------------------------------------------------------------------------
# Planning: which photo, which mask, which output; every check made before any work


@dataclass
class Job:
    """One photo to fill: its mask and its output file."""

    image: Path
    mask: Path
    dest: Path
    pixels: int = 0  # the photo's, from its header (plan_jobs)
    size: tuple[int, int] = (0, 0)  # (height, width), upright, from its header (plan_jobs)
    keep: Keep | None = None  # what of the photo the output keeps beyond 8-bit RGB (plan_jobs)
    notes: list[str] = field(default_factory=list)  # what it cannot keep, said once as a warning


@dataclass
class Keep:
    """What an output keeps of its photo besides the filled RGB: transparency and 16-bit samples (PNG; WebP
    keeps transparency), and the colour profile (every output format)."""

    alpha: bool = False
    deep: bool = False
    icc: bytes | None = None

    @property
    def exact(self) -> bool:
        """The output is composed on the photo's own pixels (`io.read_exact`), not on its 8-bit RGB."""
        return self.alpha or self.deep


def what_to_keep(photo: Path, dest: Path, pixels: int) -> tuple[Keep | None, list[str]]:
    """What the output `dest` keeps of `photo` (from its header), and a note for each thing it cannot keep:
    transparency in JPEG, 16 bits outside PNG, frames after the first, and all but the RGB of a huge photo
    (its output is written straight from the 8-bit array)."""
    with Image.open(photo) as im:
        alpha, deep, icc = io.has_alpha(im), io.is_16bit(photo, im), im.info.get("icc_profile") or None
        frames, channel = getattr(im, "n_frames", 1), im.mode in ("RGBA", "LA", "PA", "RGBa", "La")
    fmt, notes = OUTPUT_FORMATS[dest.suffix.lower()], []
    if icc and icc[16:20] != b"RGB ":  # the profile's colour space (ICC header bytes 16-19): the output is RGB
        notes.append(f"{photo}: its colour profile is for {icc[16:20].decode('latin-1').strip()} data, not the RGB "
                     f"{dest} holds, so it is not kept")
        icc = None
    if deep and alpha and not channel:
        notes.append(f"{photo}: its transparency is a single transparent colour, which 16-bit output cannot keep; "
                     f"{dest} is opaque")
        alpha = False
    if frames > 1:
        notes.append(f"{photo}: has {frames} frames; only the first is filled and written (a still image)")
    if pixels > io.LARGE_PIXELS and (alpha or deep or icc):
        lost = ", ".join(w for w, on in (("transparency", alpha), ("16-bit samples", deep), ("colour profile", icc)) if on)
        notes.append(f"{photo}: over {io.LARGE_PIXELS // 10**6} MP, its output is written as 8-bit RGB: its {lost} "
                     "is not kept")
        return None, notes
    if alpha and fmt == "JPEG":
        notes.append(f"{photo}: JPEG has no transparency, so {dest} drops it; write .png or .webp to keep it")
        alpha = False
    if deep and fmt != "PNG":
        notes.append(f"{photo}: has 16-bit samples; {fmt} keeps 8, so {dest} is 8-bit; write .png to keep 16 bits")
        deep = False
    keep = Keep(alpha, deep, icc)
    return (keep if keep.exact or keep.icc else None), notes


# The largest side each output format takes (libjpeg: 65500; libwebp: 16383); PNG: 2^31 - 1.
MAX_SIDE = {"JPEG": 65500, "WEBP": 16383, "PNG": 2**31 - 1}


def image_size(path: Path, stored: bool = False) -> tuple[int, int]:
    """(height, width) of a photo as `read_image` will return it (EXIF rotation applied; `stored`: as
    the file stores it), from its header."""
    io.check_regular(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise OSError("over the pixel limit")  # the reader below refuses it from its header, naming the limit
            if not stored and io.orientation(path, im) in (5, 6, 7, 8):
                w, h = h, w  # rotated by 90 degrees on reading
            return h, w
    except (OSError, SyntaxError, ValueError):
        read_rgb8(path)  # raises the ImageError that names the file and the fix
        raise


def list_images(folder: Path, skip: Path | None = None) -> dict[Path, Path]:
    """{path relative to `folder` without extension: file} for the images under `folder` (not under `skip`).
    Two files that differ only by extension are an error: their outputs would collide."""
    from inpaint.io import list_images as walk  # the pipeline's walk: by extension, hidden entries skipped

    found: dict[Path, Path] = {}
    skip = skip.resolve() if skip is not None else None
    for p in walk(folder):
        if skip is not None and skip in p.resolve().parents:
            continue  # earlier outputs inside the photo folder are not photos
        key = p.relative_to(folder).with_suffix("")
        if key in found:
            raise ValueError(f"{found[key]} and {p} share the name {key}; rename one (outputs and masks are "
                             "matched by name without extension)")
        found[key] = p
    return found


def output_suffix(out: Path, fmt: str | None) -> str:
    """The output extension of a single --out file; a clear error for one we cannot write."""
    suffix = out.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        known = ", ".join(OUTPUT_FORMATS)
        raise ValueError(f"--out {out}: cannot tell the image format from {suffix or 'a name without extension'!r}; "
                         f"end it in one of {known} (or give an existing folder)")
    if fmt is not None and OUTPUT_FORMATS[suffix] != OUTPUT_FORMATS[FORMAT_NAMES[fmt]]:
        raise ValueError(f"--out {out} is {OUTPUT_FORMATS[suffix]} but --format is {fmt}; drop --format or change "
                         "the extension")
    return suffix


def match_by_name(found: dict[Path, Path], other: Path, what: str, where: str, fix: str = "") -> dict[Path, Path]:
    """For each name of `found` (see `list_images`), the file of the folder `other` with that name, or
    `other` itself when it is one file (one mask for a whole folder); a missing one is an error."""
    if other.is_file():
        return dict.fromkeys(found, other)
    theirs = list_images(other)
    missing = [str(k) for k in found if k not in theirs]
    if missing:
        raise ValueError(f"{where}: no {what} for {missing[:5]}{' ...' if len(missing) > 5 else ''} "
                         f"(files are matched by name without extension){fix}")
    return {k: theirs[k] for k in found}


def plan_jobs(image: str | Path, mask: str | Path, out: str | Path, fmt: str | None = None,
              overwrite: bool = False) -> list[Job]:
    """Pair photos with masks and outputs, checking names, sizes and formats from file headers only.

    `image` and `mask` are two files, two folders (matched by relative name without extension) or a
    folder and one mask for all of it. `out` is a file for one photo (its extension picks the format;
    an existing folder receives `<photo name>.<fmt>`, PNG by default), else a folder mirroring the
    photo folder. An output that would replace an input is refused unless `overwrite`.
    """
    image, mask, out = Path(image), Path(mask), Path(out)
    for label, p in (("--image", image), ("--mask", mask)):
        if not p.exists():
            raise ValueError(f"{label} {p}: no such file or folder; check the path")
        if not p.is_dir():
            io.check_regular(p)  # a FIFO or device: refused before anything opens it
    if not overwrite:
        for label, p in (("--image", image), ("--mask", mask)):
            if out.resolve() == p.resolve():
                raise ValueError(f"--out {out} is the same as {label}; outputs would replace the inputs: give another "
                                 "--out, or pass --overwrite to replace them")
    suffix = FORMAT_NAMES[fmt or "png"]
    if image.is_file():
        if mask.is_dir():
            raise ValueError(f"--mask {mask} is a folder but --image {image} is one photo; give that photo's mask file")
        if out.is_dir():  # an existing folder receives <photo name>.<fmt>
            dest = out / f"{image.stem}{suffix}"
        else:
            output_suffix(out, fmt)
            dest = out
        jobs = [Job(image, mask, dest)]
    else:
        if out.is_file() or out.suffix.lower() in OUTPUT_FORMATS:
            raise ValueError(f"--out {out}: --image {image} is a folder, so --out must be a folder, not an image file")
        photos = list_images(image, skip=out)
        if not photos:
            raise ValueError(f"--image {image}: no images found ({', '.join(IMAGE_EXTENSIONS)})")
        masks = match_by_name(photos, mask, "mask", f"--mask {mask}",
                              "; add them or give one mask file for all")  # or one mask for every photo
        jobs = [Job(photos[k], masks[k], out / f"{k}{suffix}") for k in photos]
    blocked = next((p for p in out.parents if p.is_file()), None) if not out.is_dir() else None
    if blocked is not None:
        raise ValueError(f"--out {out}: {blocked} is a file, so nothing can be written inside it; give a path in a "
                         "folder")
    if not overwrite:
        inputs = {p.resolve() for j in jobs for p in (j.image, j.mask)}
        for j in jobs:
            if j.dest.resolve() in inputs:
                raise ValueError(f"--out: {j.dest} would replace an input file; give another --out, or pass --overwrite")
    sizes = {}
    for job in jobs:
        h, w = image_size(job.image)
        job.pixels, job.size = h * w, (h, w)
        if job.mask not in sizes:
            sizes[job.mask] = image_size(job.mask)
        mh, mw = sizes[job.mask]
        if (mh, mw) != (h, w):
            turned = "" if image_size(job.image, stored=True) == (h, w) else \
                f" upright (its EXIF orientation turns the stored {h}x{w})"
            raise ValueError(f"{job.mask}: mask is {mw}x{mh} but {job.image} is {w}x{h}{turned}; give a mask of the "
                             "photo's size")
        check_output(job.dest, h, w)
        job.keep, job.notes = what_to_keep(job.image, job.dest, job.pixels)
    return jobs


def sample_jobs(jobs: list[Job], seeds: list[int], overwrite: bool = False) -> list[tuple[int, list[Job]]]:
    """For a model that samples: [(seed, the jobs writing that draw)], each output named
    `<name>-seed<seed><ext>` beside the planned one; names checked as plan_jobs checks them."""
    from dataclasses import replace

    inputs = {p.resolve() for j in jobs for p in (j.image, j.mask)}
    out = []
    for seed in seeds:
        drawn = [replace(j, dest=j.dest.with_name(f"{j.dest.stem}-seed{seed}{j.dest.suffix}")) for j in jobs]
        for j in drawn:
            if not overwrite and j.dest.resolve() in inputs:
                raise ValueError(f"--out: {j.dest} would replace an input file; give another --out, or pass --overwrite")
            check_output(j.dest, *j.size)
        out.append((seed, drawn))
    return out


def check_output(dest: Path, height: int, width: int) -> None:
    """Every limit the writing of one output can hit, checked before any output is written: its format's
    largest side, and its name's length with the temporary suffix an atomic write adds."""
    fmt = OUTPUT_FORMATS[dest.suffix.lower()]
    if max(height, width) > MAX_SIDE[fmt]:
        raise ValueError(f"{dest}: {fmt} takes at most {MAX_SIDE[fmt]} px a side and this photo is {width}x{height}; "
                         "write PNG (.png, or --format png)")
    folder = next((p for p in (dest.parent, *dest.parents) if p.is_dir()), Path("."))
    try:
        longest = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    temporary = f".{dest.name}.12345678.tmp{dest.suffix}"  # atomic_path's temporary name: mkstemp adds 8 characters
    for part, what in ((dest.name, "name"), (temporary, "name with the temporary suffix of an atomic write")):
        if len(os.fsencode(part)) > longest:
            raise ValueError(f"{dest}: its {what} is {len(os.fsencode(part))} bytes, over this file system's "
                             f"{longest}; shorten the photo's name or the output's")


# ---------------------------------------------------------------------------------------------
# Writing


def write_image(path: str | Path, image: np.ndarray, quality: int = 95, consume: bool = False,
                icc: bytes | None = None) -> None:
    """Atomically write an RGB or RGBA image (uint8, uint16 for PNG, or float [0, 1]) in the format its
    extension names (see OUTPUT_FORMATS); `quality` (1-100) for JPEG and WebP; `icc`: a colour profile to
    embed. `consume`: the caller will not read `image` again, so a uint8 one may be turned into OpenCV's
    BGR order in place (no second copy of a huge photo)."""
    import cv2

    path = Path(path)
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown image extension; use one of {', '.join(OUTPUT_FORMATS)}")
    pixels = image if image.dtype in (np.uint8, np.uint16) else to_uint8(image)
    if pixels.dtype == np.uint16 and fmt != "PNG":
        raise ValueError(f"{path}: {fmt} takes 8-bit samples; write 16 bits as .png")
    large = pixels.shape[0] * pixels.shape[1] > io.LARGE_PIXELS  # Pillow would copy it at 4 bytes a pixel
    try:
        with atomic_path(path) as tmp:
            if fmt == "PNG" or large:  # (a huge photo's output keeps only its RGB: see what_to_keep)
                if pixels.shape[2] == 4:
                    bgr = np.ascontiguousarray(pixels[..., [2, 1, 0, 3]])  # OpenCV wants BGRA
                elif consume and pixels.flags.writeable:
                    bgr = swap_red_blue(pixels)
                else:
                    bgr = np.ascontiguousarray(pixels[..., ::-1])  # OpenCV wants BGR
                params = {"PNG": [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE],
                          "JPEG": [cv2.IMWRITE_JPEG_QUALITY, quality], "WEBP": [cv2.IMWRITE_WEBP_QUALITY, quality]}[fmt]
                if large:  # straight to the file: imencode's growing buffer would cost up to twice the file
                    try:
                        written = cv2.imwrite(str(tmp), bgr, params)  # tmp keeps the extension
                    except cv2.error:
                        written = False
                    if not written or not io.is_whole(tmp, fmt):  # a full disk can leave a short file and say "done"
                        limit = "; WebP takes at most 16383 px a side" if fmt == "WEBP" and max(bgr.shape) > 16383 else ""
                        raise ValueError(f"{path}: OpenCV could not write this {bgr.shape[1]}x{bgr.shape[0]} {fmt}{limit}; "
                                         "check that its folder is writable and has space")
                else:
                    ok, data = cv2.imencode(path.suffix.lower(), bgr, params)
                    if not ok:
                        raise ValueError(f"{path}: OpenCV could not encode a {pixels.shape} image as {fmt}")
                    with open(tmp, "wb") as f:
                        f.write(io.with_icc(data.tobytes(), icc) if icc and fmt == "PNG" else data)  # a full disk raises
            else:
                extra = {"icc_profile": icc} if icc else {}
                Image.fromarray(pixels).save(tmp, format=fmt, quality=quality, **extra)
    except OSError as e:
        raise ValueError(f"{path}: cannot write it ({e.strerror or e}); check that its folder is writable and has "
                         "space") from e


# ---------------------------------------------------------------------------------------------
# The loop


def keep_freed_memory() -> None:
    """Make glibc's malloc keep large freed blocks for reuse instead of handing them back to the OS.

    A forward pass allocates and frees the same few hundred MB for every photo; with glibc's defaults
    each large block is a fresh mmap whose every page costs a fault (40-47 thousand per 768x512 lama
    forward, ~0.1 s of kernel time; ~6 thousand after this, and the forward 10-15 % faster). The
    process keeps its peak memory until it exits, which a command can afford. A no-op without glibc.
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    mallopt(m_mmap_threshold, 1 << 30)  # blocks below 1 GiB come from the heap, so they can be reused
    mallopt(m_trim_threshold, 1 << 30)  # and the heap is not trimmed back after each pass


@dataclass
class Loaded:
    """A job's decoded photo and mask (1 = hole) and its work crop."""

    job: Job
    image: np.ndarray  # (H, W, 3) uint8, as decoded
    mask: np.ndarray | PackedMask  # packed when the photo is huge
    work: Work | None  # None: the mask has no hole, the photo is written as it is


def _load(job: Job, polarity: str, max_side: int, masks: dict) -> Loaded:
    image = read_rgb8(job.image)  # uint8: only the work crop is made float (prepare)
    huge = job.pixels > io.LARGE_PIXELS
    if job.mask not in masks:
        masks.clear()  # keep one: a shared mask stays, per-photo masks are read once each
        mask = read_mask(job.mask, polarity, dtype=bool)  # 1 byte a pixel: only the crop becomes float
        if huge:  # read again for the next photo rather than kept whole
            return _loaded(job, image, mask, max_side)
        masks[job.mask] = mask
    return _loaded(job, image, masks[job.mask], max_side)


def _loaded(job: Job, image: np.ndarray, mask: np.ndarray, max_side: int) -> Loaded:
    if mask.shape != image.shape[:2]:  # the header check passed, so the file changed since
        raise ValueError(f"{job.mask}: mask is {mask.shape[1]}x{mask.shape[0]} but {job.image} is "
                         f"{image.shape[1]}x{image.shape[0]}; give a mask of the photo's size")
    if mask.all():
        raise ValueError(f"{job.mask}: the whole image is a hole; nothing is left to fill from")
    work = prepare(image, mask, max_side) if mask.any() else None
    if work is not None and job.pixels > io.LARGE_PIXELS:
        mask = PackedMask(mask)  # only paste reads it again, a strip at a time
    return Loaded(job, image, mask, work)


def _write_kept(job: Job, result: np.ndarray, hole: np.ndarray | None, quality: int) -> None:
    """Write a fill on the photo's own pixels (`io.read_exact`: transparency, 16 bits) with its colour profile:
    only the hole's RGB comes from the 8-bit `result`."""
    keep = job.keep
    if not keep.exact:
        return write_image(job.dest, result, quality, consume=True, icc=keep.icc)
    exact = io.read_exact(job.image, sixteen=keep.deep)  # 8 bits: the same RGB the fill saw
    if not keep.alpha and exact.shape[2] == 4:
        exact = np.ascontiguousarray(exact[..., :3])
    if hole is not None:
        rgb = exact[..., :3]
        rgb[hole] = result[hole].astype(np.uint16) * 257 if exact.dtype == np.uint16 else result[hole]
    write_image(job.dest, exact, quality, icc=keep.icc)


def _prefetched(pool: ThreadPoolExecutor, items: list, fn, ahead: int = 2):
    """fn(item) for each item in order, computed up to `ahead` items in advance on `pool`."""
    queue: deque = deque()
    for item in items:
        queue.append(pool.submit(fn, item))
        if len(queue) > ahead:
            yield queue.popleft().result()
    while queue:
        yield queue.popleft().result()


def fill_photos(method, jobs: list[Job], *, polarity: str = "white_hole", max_side: int = 1024, batch_size: int = 1,
                quality: int = 95, quiet: bool = False) -> dict:
    """Fill every job with a resolved method (`resolve`) and write the outputs; what `inpaint fill` runs.

    A network method gets up to `batch_size` photos per call whose work crops have the same size;
    a classical one gets one photo per call. Outputs keep the photo's transparency, 16 bits and colour
    profile where their format can (`what_to_keep`); the rest is said in a warning. Returns {"photos",
    "seconds", "no_hole": [mask files], "notes": [the warnings]}.
    """
    from tqdm import tqdm

    # huge photos one at a time: none decoded ahead, batched or queued for writing (see LARGE_PIXELS)
    huge = any(j.pixels > io.LARGE_PIXELS for j in jobs)
    batch_size = batch_size if method.model is not None and not huge else 1
    t0 = time.perf_counter()
    no_hole: list[Path] = []
    bar = tqdm(total=len(jobs), unit="photo", disable=quiet, file=sys.stderr, dynamic_ncols=True, leave=False)
    pending: dict[tuple[int, int], list[Loaded]] = {}
    writes: deque = deque()

    def write(item: Loaded, result: np.ndarray) -> None:
        keep = item.job.keep
        if keep is None:
            writes.append(io_pool.submit(write_image, item.job.dest, result, quality, consume=True))
        else:
            hole = None if item.work is None else item.mask > 0.5
            writes.append(io_pool.submit(_write_kept, item.job, result, hole, quality))
        while writes and (writes[0].done() or len(writes) > (0 if huge else 4)):
            writes.popleft().result()  # surface a write error now; bound the outputs held in memory
        bar.update(1)

    def flush(size: tuple[int, int]) -> None:
        group = pending.pop(size)
        filled = method.fill(np.stack([g.work.image for g in group]), np.stack([g.work.mask for g in group]))
        for item, f in zip(group, filled):
            write(item, paste(item.image, item.mask, item.work, f, in_place=True))

    for job in jobs:
        io.remove_temps_of(job.dest)  # a killed earlier run's hidden temporary files of these very outputs
        for note in job.notes:
            bar.write(f"inpaint fill: warning: {note}", file=sys.stderr)
    masks: dict = {}
    # one thread decodes ahead and encodes behind while the method fills (both release the GIL)
    with ThreadPoolExecutor(1) as io_pool:
        try:
            for item in _prefetched(io_pool, jobs, lambda j: _load(j, polarity, max_side, masks), 0 if huge else 2):
                if item.work is None:
                    no_hole.append(item.job.mask)
                    bar.write(f"inpaint fill: warning: {item.job.mask} has no hole (1 = hole, polarity {polarity}); "
                              f"{item.job.image} is written unchanged", file=sys.stderr)
                    write(item, item.image)
                else:
                    size = item.work.mask.shape
                    pending.setdefault(size, []).append(item)
                    if len(pending[size]) >= batch_size:
                        flush(size)
                    elif sum(map(len, pending.values())) >= 2 * batch_size:  # many sizes: bound memory
                        flush(max(pending, key=lambda s: len(pending[s])))
                item = None  # not held while the next photo decodes
            for size in list(pending):
                flush(size)
            while writes:
                writes.popleft().result()
        finally:
            bar.close()
    return {"photos": len(jobs), "seconds": time.perf_counter() - t0, "no_hole": no_hole,
            "notes": [n for j in jobs for n in j.notes]}
