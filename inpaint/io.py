"""Safe image/mask reading (writing, always atomic, is `inpaint.atomic`).

Reading normalises every photo the same way: EXIF orientation applied, greyscale / palette / CMYK
converted to RGB, alpha dropped (the colour channels are kept as stored, not composited on a
background), 16-bit samples scaled to 8-bit. Bad files raise `ImageError` naming the file and why.
"""
from __future__ import annotations

import os
import stat
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".avif")
# Larger than any camera photo (a 200 MP phone sensor is 200e6), far below a decompression bomb.
MAX_PIXELS = 250_000_000
POLARITIES = ("white_hole", "black_hole")

# We enforce our own pixel limit before decoding; Pillow's warning/error would fire first otherwise.
Image.MAX_IMAGE_PIXELS = None


class ImageError(ValueError):
    """An image or mask file that cannot be used; the message names the file and the reason."""


def error_text(e: BaseException) -> str:
    """A user's error in one line: a ValueError's own message; for an OSError (a folder that is read-only
    or full, a path that is missing), the file, the system's reason and the fix."""
    if isinstance(e, OSError) and e.strerror:
        name = e.filename2 or e.filename  # a rename names its destination second
        where = f"{name}: " if name else ""
        return f"{where}{e.strerror}; check that the path exists and its folder is writable and has space"
    return " ".join(str(e).split())


# Above this many pixels an 8-bit PNG or JPEG photo is decoded by OpenCV straight into the (H, W, 3) array:
# Pillow holds RGB at 4 bytes a pixel and the array is a second copy (1.75 GB at 250 MP against 0.75).
LARGE_PIXELS = 16_000_000


def check_regular(path: str | Path) -> None:
    """An ImageError unless `path` is a regular file (a FIFO or device would block or never end a read)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise ImageError(f"{path}: cannot read ({e.strerror}); check the path exists") from e
    if not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, device or socket)"
        raise ImageError(f"{path}: {what}; give an image file")


def file_stem(name: str) -> str:
    """A method or model name as one plain file-name part: anything but letters, digits, _ and - becomes _,
    so a name that is a path (models/vae/best.pt, ../x.pt) never leaves the folder it is written in."""
    import re

    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "_"


def check_apart(source: str | Path, out: str | Path, key: str) -> None:
    """A ValueError when an input folder `source` (named by the params key `key`) is the output folder
    `out`, lies inside it, or holds it: a run would replace its own input, or read its own output."""
    a, b = Path(source).resolve(), Path(out).resolve()
    if a == b or b in a.parents or a in b.parents:
        relation = "is" if a == b else "is inside" if b in a.parents else "holds"
        raise ValueError(f"{key}={str(source)!r} {relation} this stage's output folder {out}; give a folder apart "
                         "from it (outputs never replace inputs)")


def list_images(root: Path, warn=None) -> list[Path]:
    """Every image file below `root` (recursive, by extension, hidden entries skipped), sorted.

    Symbolic links are followed, but a folder is listed once (a link loop, or a second link to a
    folder already listed, is skipped), and only regular files are images (a FIFO or device named
    like a photo would block a read). Each skip is reported through `warn(message)` (default: one
    line on stderr).
    """
    warn = warn or (lambda message: print(f"warning: {message}", file=sys.stderr))
    found, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            warn(f"{dirpath}: a folder already listed (a symbolic-link loop, or a second link to it); skipped")
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in filenames:
            if not f.lower().endswith(IMAGE_EXTENSIONS) or f.startswith("."):
                continue
            p = Path(dirpath) / f
            try:
                regular = stat.S_ISREG(os.stat(p).st_mode)
            except OSError:  # a broken link
                warn(f"{p}: a broken symbolic link; skipped")
                continue
            if not regular:
                warn(f"{p}: not a regular file (a FIFO, device or socket); skipped")
                continue
            found.append(p)
    return sorted(found)


def read_rgb8(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode a photo to uint8 RGB (H, W, 3), normalised as the module docstring says."""
    path = Path(path)
    check_regular(path)
    large = _read_large(path, max_pixels)
    return large if large is not None else _to_rgb8(_decode(path, max_pixels), path)


def _read_large(path: Path, max_pixels: int, grey: bool = False) -> np.ndarray | None:
    """A large, whole, upright 8-bit PNG or JPEG decoded by OpenCV (one copy of the pixels), or None for
    every other file (Pillow reads it, and names what is wrong with it). `grey`: a one-channel file only,
    read as (H, W) (a mask's level)."""
    try:
        with warnings.catch_warnings(), Image.open(path) as im:
            warnings.simplefilter("ignore")
            w, h = im.size
            if not LARGE_PIXELS < w * h <= max_pixels or im.format not in ("PNG", "JPEG") \
                    or im.mode not in (("L",) if grey else ("L", "LA", "RGB", "RGBA")):
                return None
            if im.format == "JPEG" and im.getexif().get(0x0112, 1) != 1:  # (a PNG's getexif would decode it all)
                return None
        if im.format == "PNG" and _png_chunk(path, b"eXIf") is not None:  # anywhere: it may rotate the photo, OpenCV would not
            return None
        # truncated or corrupt: OpenCV would fill a JPEG's rest grey and say nothing, and print libpng's complaint
        if not is_whole(path, im.format):
            return None
    except Exception:  # noqa: BLE001 - anything odd: the careful reader decides, with its own message
        return None
    import cv2

    shape = (h, w) if grey else (h, w, 3)  # grey expanded to RGB, alpha dropped, as the rule says
    try:  # OpenCV >= 4.11 decodes straight into it (without `dst` it decodes to a copy first: twice the memory)
        flag = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR_RGB
        a = cv2.imread(str(path), np.empty(shape, np.uint8), flag | cv2.IMREAD_IGNORE_ORIENTATION)
    except (AttributeError, TypeError, cv2.error):  # an older OpenCV: a copy first, and BGR swapped in place
        a = cv2.imread(str(path), (cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR) | cv2.IMREAD_IGNORE_ORIENTATION)
        if a is not None and not grey:
            swap_red_blue(a)
    return a if a is not None and a.shape == shape else None


def is_whole(path: Path, fmt: str) -> bool:
    """Whether an encoded file is complete, without decoding it: not empty, a PNG's chunk checksums good
    through IEND (Pillow's verify, streamed), a JPEG ending in its EOI marker. Other formats: not empty."""
    try:
        if path.stat().st_size == 0:
            return False
        if fmt == "PNG":
            with Image.open(path) as im:
                im.verify()
        elif fmt == "JPEG":
            with open(path, "rb") as f:
                f.seek(-2, os.SEEK_END)
                return f.read() == b"\xff\xd9"
        return True
    except Exception:  # noqa: BLE001 - unreadable as it stands: not whole
        return False


def _png_chunk(path: Path, kind: bytes) -> bytes | None:
    """The data of a PNG file's first chunk of this type (None: it has none), found by walking the chunk
    headers (no decoding)."""
    with open(path, "rb") as f:
        f.seek(8)  # the signature
        while header := f.read(8):
            if len(header) < 8:
                return None
            length, found = int.from_bytes(header[:4], "big"), header[4:]
            if found == kind:
                return f.read(length)
            if found == b"IEND":
                return None
            f.seek(length + 4, os.SEEK_CUR)  # data and CRC
    return None


def orientation(path: str | Path, im: Image.Image) -> int:
    """The EXIF orientation (1-8) `read_rgb8` applies to an opened image, read without decoding pixels: a
    PNG's eXIf chunk counts wherever it lies (Pillow sees one after the pixels only once they are decoded)."""
    if im.format == "PNG" and "exif" not in im.info:
        data = _png_chunk(Path(path), b"eXIf")
        if data is not None:
            exif = Image.Exif()
            exif.load(data)  # with or without the "Exif" header
            if 0x0112 in exif:
                return exif[0x0112]
        # what Pillow also reads from the chunks before the pixels (a raw EXIF profile, XMP's tiff:Orientation),
        # through the base method: PNG's own getexif would decode every pixel first
        return Image.Image.getexif(im).get(0x0112, 1)
    return im.getexif().get(0x0112, 1)


def swap_red_blue(a: np.ndarray, rows: int = 256) -> np.ndarray:
    """RGB <-> BGR in place, `rows` rows at a time (cvtColor in place copies the whole image first)."""
    for y in range(0, a.shape[0], rows):
        a[y : y + rows] = a[y : y + rows, :, ::-1]
    return a


def _decode(path: Path, max_pixels: int) -> Image.Image:
    """The decoded, EXIF-rotated image; every failure is an ImageError naming the file and the fix."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise ImageError(f"{path}: cannot read ({e.strerror}); check the path exists") from e
    if size == 0:
        raise ImageError(f"{path}: zero bytes; remove the empty file or re-export it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. corrupt EXIF or TIFF tags: the pixels still decode, or fail below
            return _open_checked(path, max_pixels)
    except ImageError:
        raise
    except UnidentifiedImageError as e:
        raise ImageError(f"{path}: not an image Pillow can read; remove it or convert it to PNG/JPEG") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: corrupt or truncated image ({e}); re-export or remove it") from e


def _open_checked(path: Path, max_pixels: int) -> Image.Image:
    with Image.open(path) as im:
        w, h = im.size
        if w * h > max_pixels:
            raise ImageError(
                f"{path}: {w}x{h} = {w * h / 1e6:.0f} MP exceeds the {max_pixels / 1e6:.0f} MP limit "
                "(possible decompression bomb); downscale it or raise the limit"
            )
        im.load()
        ImageOps.exif_transpose(im, in_place=True)  # not a copy of an upright image (250 MB for a 250 MP mask)
        return im


def _to_rgb8(im: Image.Image, path: Path) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = 255.0 if a.max(initial=0) <= 255 and im.mode in ("I", "F") else 65535.0
        a = np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(a[:, :, None], 3, axis=2)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode != "RGB":
        im = im.convert("RGB")  # drops alpha, expands L/LA/P/1/CMYK/YCbCr
    a = np.array(im)  # writable (np.asarray's view of Pillow's bytes is read-only): a fill can paste in place
    if a.ndim != 3 or a.shape[2] != 3:
        raise ImageError(f"{path}: unsupported pixel layout {im.mode} {a.shape}; convert it to RGB")
    return np.ascontiguousarray(a)


# --------------------------------------------------------------------------- what a filled output keeps

ORIENT = {  # EXIF orientation -> the numpy view ImageOps.exif_transpose makes of an (H, W, C) array
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


def has_alpha(im: Image.Image) -> bool:
    """Whether an opened image has transparency (an alpha channel, or a transparent palette or colour)."""
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info


def is_16bit(path: str | Path, im: Image.Image) -> bool:
    """Whether an opened image stores 16-bit samples that `read_rgb8` scales to 8 bits: a PNG of bit depth
    16 (from its header; Pillow opens an RGB one as 8-bit) or a 16-bit grey image."""
    if im.mode.startswith("I;16"):
        return True
    if im.format == "PNG":
        with open(path, "rb") as f:
            header = f.read(25)
        return len(header) == 25 and header[24] == 16  # IHDR's bit depth
    return False


def read_exact(path: str | Path, sixteen: bool = True) -> np.ndarray:
    """A photo's pixels for an output that keeps them: RGB, or RGBA when it has transparency; uint8, or
    uint16 when it stores 16-bit samples (`is_16bit`; grey expanded to RGB) and `sixteen`. EXIF orientation
    applied, as `read_rgb8` does; its RGB at 8 bits is `read_rgb8`'s pixel for pixel."""
    import cv2

    path = Path(path)
    check_regular(path)
    with Image.open(path) as im:
        turn, deep, alpha = orientation(path, im), is_16bit(path, im) and sixteen, has_alpha(im)
        if not deep:
            im.load()
            return np.ascontiguousarray(ORIENT.get(turn, lambda a: a)(np.array(im.convert("RGBA" if alpha else "RGB"))))
    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if a is None or a.dtype != np.uint16:
        raise ImageError(f"{path}: OpenCV could not read its 16-bit samples; convert it to an 8-bit PNG")
    a = np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a[..., [2, 1, 0, 3]] if a.shape[2] == 4 else a[..., ::-1]
    return np.ascontiguousarray(ORIENT.get(turn, lambda x: x)(a))


def with_icc(png: bytes, icc: bytes) -> bytes:
    """A PNG file's bytes with an iCCP chunk (the colour profile) right after its header chunk."""
    import zlib

    data = b"icc\x00\x00" + zlib.compress(icc)  # profile name, compression method 0 (zlib)
    chunk = len(data).to_bytes(4, "big") + b"iCCP" + data + zlib.crc32(b"iCCP" + data).to_bytes(4, "big")
    return png[:33] + chunk + png[33:]  # signature (8) + IHDR (25)


def read_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read a photo as float32 RGB (H, W, 3) in [0, 1]."""
    return read_rgb8(path, max_pixels).astype(np.float32) / 255.0


def mask_level(path: str | Path, polarity: str = "white_hole") -> np.ndarray:
    """The level that decides a mask's hole, uint8 (H, W), by one rule for every kind of file:

    - the colour channel farthest towards the hole's colour: the brightest with "white_hole" (a
      pure-red stroke on black is a hole), the darkest with "black_hole" (a red stroke on white is);
      grey and palette files have one level per pixel either way;
    - except when the file has transparency and its colour is one flat value (an "alpha-only" mask,
      as image editors export a selection): then transparency decides, 255 - alpha, so a transparent
      pixel reads as white (the hole with "white_hole"; with "black_hole" the opaque pixels are).
    """
    path = Path(path)
    check_regular(path)
    large = _read_large(path, MAX_PIXELS, grey=True)
    if large is not None:
        return large
    im = _decode(path, MAX_PIXELS)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = np.asarray(im.convert("RGBA"))
        colour, alpha = rgba[..., :3], rgba[..., 3]
        if alpha.min() < 255 and colour.min() == colour.max():
            return (255 - alpha).astype(np.uint8)
    if im.mode in ("1", "L"):  # one channel: no RGB copy (a 250 MP mask is 250 MB, not 750), no second L copy
        return np.asarray(im if im.mode == "L" else im.convert("L"))
    rgb = _to_rgb8(im, path)
    return rgb.max(axis=2) if polarity == "white_hole" else rgb.min(axis=2)


def read_mask(path: str | Path, polarity: str = "white_hole", size: tuple[int, int] | None = None,
              dtype=np.float32) -> np.ndarray:
    """Read a mask as (H, W) with 1 = hole: `mask_level` >= 128 for "white_hole" (our convention),
    < 128 for "black_hole".

    Args:
        polarity: "white_hole" (bright pixels are the hole, our convention) or "black_hole".
        size: optional (height, width) to resize to, nearest-neighbour so the mask stays binary.
        dtype: float32 (what the networks take), or bool for a huge photo's mask (a quarter of the memory).
    """
    if polarity not in POLARITIES:
        raise ValueError(f"mask polarity {polarity!r} is unknown; use one of {POLARITIES}")
    level = mask_level(path, polarity)
    compare = np.greater_equal if polarity == "white_hole" else np.less
    if level.flags.writeable:  # in place: 0/1 bytes are bools (no second copy of a 250 MP mask)
        hole = compare(level, 128, out=level.view(np.bool_))
    else:
        hole = compare(level, 128)
    if size is not None and hole.shape != tuple(size):
        hole = np.asarray(Image.fromarray(hole).resize((size[1], size[0]), Image.NEAREST))
    return hole.astype(dtype, copy=False)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float [0, 1] image or mask to uint8, rounding (not truncating)."""
    return np.clip(np.rint(np.asarray(image, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
