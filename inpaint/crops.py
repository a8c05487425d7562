"""Where a fill works: the holes' context of a photo, shrunk to at most `max_side`, and the way back.

`work_crop` crops a photo (any size) to its holes' bounding box grown by a margin and shrinks that to
the size a method fills at; `paste` puts the filled crop back, only the hole's content upsampled,
known pixels kept bit for bit. Huge photos (over `io.LARGE_PIXELS`) are handled in strips and with
packed masks, so no float copy of the whole photo is made. Masks: 1 = hole.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inpaint import io
from inpaint.io import to_uint8


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

    @property
    def shrunk(self) -> bool:
        """Whether the context was shrunk to be filled (its fill is upsampled when pasted)."""
        ys, xs = self.crop
        return self.mask.shape != (ys.stop - ys.start, xs.stop - xs.start)


def work_size(height: int, width: int, max_side: int) -> tuple[int, int] | None:
    """The (width, height) a context of height x width px is shrunk to so that its longer side is at most
    `max_side`, or None when it already fits (the rule `work_crop` fills by, for anyone measuring in its grid)."""
    scale = min(1.0, max_side / max(height, width))
    return None if scale == 1.0 else (max(1, round(width * scale)), max(1, round(height * scale)))


def work_crop(image: np.ndarray, mask: np.ndarray, max_side: int) -> Work:
    """Crop a photo (uint8, or float in [0, 1]) to its holes' context and shrink that to at most `max_side`
    px, as float32 in [0, 1]; mask 1 = hole."""
    import cv2

    ys, xs = hole_crop(mask)
    crop, cmask = image[ys, xs], mask[ys, xs]  # views; the mask may be bool (a huge photo's)
    h, w = cmask.shape
    size = work_size(h, w, max_side)
    if size is not None and h * w > io.LARGE_PIXELS and crop.dtype == np.uint8:
        # a huge context is shrunk as it is stored (a float copy of 250 MP is 3 GB) and only then made float
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        hole = cmask if cmask.dtype == bool else cmask > 0.5
        return Work((ys, xs), crop, any_pool(hole, size).astype(np.float32))
    cmask = cmask.astype(np.float32)
    crop = crop.astype(np.float32) / 255.0 if crop.dtype == np.uint8 else crop  # only the crop becomes float
    if size is not None:
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


# ---------------------------------------------------------------------------------------------
# Methods
