"""Filling a user's own photos of any size: which files, which method, and the loop `inpaint fill` runs.

Plan first, fill second: `plan_jobs` pairs photos with masks and output files and checks every
name, size and format from the files' headers, so bad input fails before anything is written;
`fill_photos` then fills them, each photo's work done on its holes' context (`inpaint.crops`, at most
`max_side` px), photos whose context comes out the same size batched per forward pass for a
network, decoding and encoding overlapped with the fill, every output written atomically.
Masks: 1 (white, 255 in PNG) = hole, unless read with polarity "black_hole".
"""
from __future__ import annotations

import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from inpaint import atomic, io
from inpaint.crops import PackedMask, Work, paste, work_crop
from inpaint.encode import FORMAT_NAMES, OUTPUT_FORMATS, Keep, check_output, what_to_keep, write_image, write_kept
from inpaint.io import IMAGE_EXTENSIONS, MAX_PIXELS, read_mask, read_rgb8
from inpaint.pairing import images_by_name, match_by_name

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
        photos = images_by_name(image, skip=out)
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


# ---------------------------------------------------------------------------------------------
# The loop


def keep_freed_memory() -> None:
    """Make glibc's malloc keep large freed blocks for reuse instead of handing them back to the OS.

    A forward pass allocates and frees the same few hundred MB for every photo; with glibc's defaults
    each large block is a fresh mmap whose every page costs a page fault on first touch. The process
    keeps its peak memory until it exits, which a command can afford. A no-op without glibc.
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
    image = read_rgb8(job.image)  # uint8: only the work crop is made float (work_crop)
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
    work = work_crop(image, mask, max_side) if mask.any() else None
    if work is not None and job.pixels > io.LARGE_PIXELS:
        mask = PackedMask(mask)  # only paste reads it again, a strip at a time
    return Loaded(job, image, mask, work)


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
                quality: int = 95, quiet: bool = False, detail: bool = False) -> dict:
    """Fill every job with a resolved method (`inpaint.methods.resolve_method`) and write the outputs; what `inpaint fill` runs.

    A network method gets up to `batch_size` photos per call whose work crops have the same size;
    a classical one gets one photo per call. Outputs keep the photo's transparency, 16 bits and colour
    profile where their format can (`what_to_keep`); the rest is said in a warning. `detail`: where a context was
    shrunk to be filled, its fill's fine detail is taken from the photo at its own size
    (`inpaint.detail_transfer.restore_detail`). Returns {"photos",
    "seconds", "no_hole": [mask files], "notes": [the warnings]}.
    """
    from tqdm import tqdm

    # huge photos one at a time: none decoded ahead, batched or queued for writing (see LARGE_PIXELS)
    huge = any(j.pixels > io.LARGE_PIXELS for j in jobs)
    batch_size = batch_size if method.model is not None and not huge else 1
    t0 = time.perf_counter()
    no_hole: list[Path] = []
    bar = tqdm(total=len(jobs), unit="photo", disable=quiet, file=sys.stderr, dynamic_ncols=True, leave=False)
    if detail:
        from inpaint.detail_transfer import restore_detail  # numba: imported only when used
    pending: dict[tuple[int, int], list[Loaded]] = {}
    writes: deque = deque()

    def write(item: Loaded, result: np.ndarray) -> None:
        keep = item.job.keep
        if keep is None:
            writes.append(io_pool.submit(write_image, item.job.dest, result, quality, consume=True))
        else:
            hole = None if item.work is None else item.mask > 0.5
            writes.append(io_pool.submit(write_kept, item.job.image, item.job.dest, keep, result, hole, quality))
        while writes and (writes[0].done() or len(writes) > (0 if huge else 4)):
            writes.popleft().result()  # surface a write error now; bound the outputs held in memory
        bar.update(1)

    def flush(size: tuple[int, int]) -> None:
        group = pending.pop(size)
        filled = method.fill(np.stack([g.work.image for g in group]), np.stack([g.work.mask for g in group]))
        for item, f in zip(group, filled):
            result = paste(item.image, item.mask, item.work, f, in_place=True)
            if detail and item.work.shrunk and not restore_detail(result, item.mask, item.work):
                note = (f"{item.job.image.name}: its holes' surroundings are over {io.LARGE_PIXELS // 10**6} MP, so the "
                        "photo's own detail (--detail) was not laid into the upsampled fill")
                item.job.notes.append(note)
                bar.write(f"inpaint fill: warning: {note}", file=sys.stderr)
            write(item, result)

    for job in jobs:
        atomic.remove_temps_of(job.dest)  # a killed earlier run's hidden temporary files of these very outputs
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
