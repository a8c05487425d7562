"""Atomic writes: a file or folder appears whole, or the old one stays; a killed run's temporaries are swept.

Every output of the package is written through here (`atomic_path` for a file, `atomic_dir` and
`staged_into` for a folder), so no reader ever sees half an image, CSV or checkpoint.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from inpaint.io import to_uint8

# mkstemp/mkdtemp create private (0600/0700) entries; outputs get the usual umask-based modes instead.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def remove_temps_of(path: str | Path) -> list[Path]:
    """Delete the temporary files `atomic_path(path)` left beside `path` when its process was killed
    (`.<name>.<8 characters>.tmp<suffix>`): a rerun that writes `path` leaves no such leftover."""
    import glob

    path = Path(path)
    pattern = f".{glob.escape(path.name)}.{'?' * 8}.tmp{glob.escape(path.suffix)}"
    stale = [p for p in path.parent.glob(pattern) if p.is_file()] if path.parent.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete temporary files that `atomic_path` left behind when its process was killed."""
    stale = [p for p in Path(folder).glob(".*.tmp*") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Atomically write a float [0, 1] or uint8 image/mask (H, W) or (H, W, 3) as PNG."""
    a = image if image.dtype == np.uint8 else to_uint8(image)
    with atomic_path(path) as tmp:
        Image.fromarray(a).save(tmp, format="PNG")


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes atomically (the old file, if any, stays whole until the new one is complete)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_figure(path: str | Path, fig, dpi: int) -> None:
    """Atomically write a matplotlib figure as PNG."""
    import io as _io

    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    write_bytes(path, buf.getvalue())


def write_text(path: str | Path, text: str) -> None:
    """Atomically write a text file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv(path: str | Path, frame) -> None:
    """Atomically write a pandas DataFrame as CSV without the index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


@contextlib.contextmanager
def atomic_dir(path: str | Path):
    """Yield a fresh temporary folder beside `path`; it replaces `path` whole only on success.

    Temporary folders of an earlier run that was killed (`.<name>.*` beside `path`) are removed first:
    a stage's outputs are written by one process at a time (DVC locks the repository)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*"):
        if stale.is_dir():
            _rmtree(stale)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        _swap_in(tmp, path)
    finally:
        if tmp.exists():
            _rmtree(tmp)


@contextlib.contextmanager
def staged_into(folder: str | Path):
    """Yield a temporary folder inside `folder`; on success each thing written there replaces its
    namesake in `folder` (files and whole subfolders, each atomically); on failure nothing in `folder`
    changes. Other entries of `folder` are left alone. Staging folders of a killed run are removed first."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".*"):  # a killed run's staging folder, or a folder it had set aside (.plots.old.*)
        if stale.is_dir() and (stale.name.startswith(".staging.") or ".old." in stale.name):
            _rmtree(stale)
    tmp = Path(tempfile.mkdtemp(prefix=".staging.", dir=folder))
    try:
        yield tmp
        for entry in sorted(tmp.iterdir()):
            os.chmod(entry, (0o777 if entry.is_dir() else 0o666) & ~_UMASK)
            _swap_in(entry, folder / entry.name)
    finally:
        _rmtree(tmp)


def _swap_in(new: Path, path: Path) -> None:
    """Put `new` (a file or folder) where `path` is, replacing it; a folder goes aside first, so
    `path` is always either the old or the new one."""
    if path.is_dir() and not path.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
        os.replace(path, old / "x")
        os.replace(new, path)
        _rmtree(old)
    else:
        os.replace(new, path)


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
