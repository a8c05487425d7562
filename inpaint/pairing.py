"""Which files go together: a user's photos with their masks, outputs or predictions, by relative name
without extension (`inpaint fill` and `inpaint score` pair files the same way)."""
from __future__ import annotations

from pathlib import Path

from inpaint.io import list_images


def images_by_name(folder: Path, skip: Path | None = None) -> dict[Path, Path]:
    """{path relative to `folder` without extension: file} for the images under `folder` (not under `skip`).
    Two files that differ only by extension are an error: their outputs would collide."""
    found: dict[Path, Path] = {}
    skip = skip.resolve() if skip is not None else None
    for p in list_images(folder):  # the pipeline's walk: by extension, hidden entries skipped
        if skip is not None and skip in p.resolve().parents:
            continue  # earlier outputs inside the photo folder are not photos
        key = p.relative_to(folder).with_suffix("")
        if key in found:
            raise ValueError(f"{found[key]} and {p} share the name {key}; rename one (outputs and masks are "
                             "matched by name without extension)")
        found[key] = p
    return found


def match_by_name(found: dict[Path, Path], other: Path, what: str, where: str, fix: str = "") -> dict[Path, Path]:
    """For each name of `found` (see `images_by_name`), the file of the folder `other` with that name, or
    `other` itself when it is one file (one mask for a whole folder); a missing one is an error."""
    if other.is_file():
        return dict.fromkeys(found, other)
    theirs = images_by_name(other)
    missing = [str(k) for k in found if k not in theirs]
    if missing:
        raise ValueError(f"{where}: no {what} for {missing[:5]}{' ...' if len(missing) > 5 else ''} "
                         f"(files are matched by name without extension){fix}")
    return {k: theirs[k] for k in found}
