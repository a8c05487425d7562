"""Writing a fill: output formats and their limits, what an output keeps of its photo, atomic encoding.

`check_output` and `what_to_keep` run while a fill is planned (nothing written yet); `write_image` and
`write_kept` write an output atomically: 8-bit RGB, or the photo's own transparency, 16 bits and
colour profile where the format can keep them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from inpaint import io
from inpaint.atomic import atomic_path
from inpaint.io import swap_red_blue, to_uint8

# --out extension -> format. PNG goes through OpenCV at zlib level 1 with the run-length strategy: lossless,
# faster to encode than Pillow's default, for slightly larger files
OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
FORMAT_NAMES = {"png": ".png", "jpg": ".jpg", "webp": ".webp"}
# The largest side each output format takes (libjpeg: 65500; libwebp: 16383); PNG: 2^31 - 1.
MAX_SIDE = {"JPEG": 65500, "WEBP": 16383, "PNG": 2**31 - 1}


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


def write_kept(photo: Path, dest: Path, keep: Keep, result: np.ndarray, hole: np.ndarray | None, quality: int) -> None:
    """Write the fill of `photo` to `dest` on the photo's own pixels (`io.read_exact`: transparency, 16 bits)
    with its colour profile, as `keep` says: only the hole's RGB comes from the 8-bit `result`."""
    if not keep.exact:
        return write_image(dest, result, quality, consume=True, icc=keep.icc)
    exact = io.read_exact(photo, sixteen=keep.deep)  # 8 bits: the same RGB the fill saw
    if not keep.alpha and exact.shape[2] == 4:
        exact = np.ascontiguousarray(exact[..., :3])
    if hole is not None:
        rgb = exact[..., :3]
        rgb[hole] = result[hole].astype(np.uint16) * 257 if exact.dtype == np.uint16 else result[hole]
    write_image(dest, exact, quality, icc=keep.icc)
