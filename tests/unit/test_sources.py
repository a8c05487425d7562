import shutil

import numpy as np
import pytest
from testkit import bomb_png, save_photo

from inpaint.io import read_rgb8
from inpaint.sources import BUILTIN, SourceError, build_manifest, builtin_files


def test_builtin_photos_are_colour_photos_plus_grey_textures_and_copied(tmp_path):
    manifest, skipped = build_manifest("builtin", tmp_path, min_size=128)
    assert len(manifest) == len(BUILTIN) and skipped.empty
    assert manifest.group.tolist().count("motorcycle") == 2  # the stereo pair stays together
    grey = {"brick", "grass", "gravel"}
    for row in manifest.itertuples():
        a = read_rgb8(row.path)
        assert a.shape == (row.height, row.width, 3)
        if row.id in grey:  # greyscale texture photos, replicated to RGB
            assert np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2])
        else:
            assert a.std(axis=2).mean() > 2  # real colour, not grey stored as RGB
        assert str(tmp_path) in row.path
    assert grey <= set(manifest.id)


def test_builtin_write_dir_differs_from_recorded_dir(tmp_path):
    manifest, _ = build_manifest("builtin", tmp_path / "final", min_size=128, write_dir=tmp_path / "tmp")
    assert all(p.startswith(str(tmp_path / "final" / "photos")) for p in manifest.path)
    assert len(list((tmp_path / "tmp" / "photos").iterdir())) == len(BUILTIN)
    assert builtin_files()


def test_folder_is_scanned_recursively_without_copying(photo_folder, tmp_path):
    manifest, skipped = build_manifest(str(photo_folder), tmp_path / "out", min_size=32)
    assert sorted(manifest.id) == ["a", "b", "f", "sub/c", "sub/d", "sub/deep/e"]
    assert skipped.empty and not (tmp_path / "out").exists()
    assert all(p.startswith(str(photo_folder)) for p in manifest.path)
    assert (manifest.split == "").all() and (manifest.group == manifest.id).all()


def test_duplicates_by_pixels_are_removed(photo_folder, tmp_path):
    shutil.copy(photo_folder / "b.png", photo_folder / "b_copy.png")
    manifest, skipped = build_manifest(str(photo_folder), tmp_path, min_size=32)
    assert "b_copy" not in set(manifest.id)
    assert skipped.reason.str.contains("duplicate of").all() and len(skipped) == 1


def test_small_photos_rejected_or_kept_for_upscaling(photo_folder, tmp_path):
    save_photo(photo_folder / "tiny.png", size=(20, 20), seed=9)
    manifest, skipped = build_manifest(str(photo_folder), tmp_path, min_size=32, small="reject")
    assert "tiny" not in set(manifest.id) and "smaller than 32" in skipped.reason.iloc[0]
    manifest, skipped = build_manifest(str(photo_folder), tmp_path, min_size=32, small="upscale")
    assert "tiny" in set(manifest.id) and skipped.empty


@pytest.mark.parametrize("name,make,reason", [
    ("zero.jpg", lambda p: p.write_bytes(b""), "zero bytes"),
    ("junk.png", lambda p: p.write_text("hello"), "not an image"),
    ("trunc.jpg", lambda p: p.write_bytes(save_photo(p, (64, 64)).read_bytes()[:300]), "truncated"),
    ("bomb.png", bomb_png, "decompression bomb"),
])
def test_bad_file_fails_by_default_or_is_skipped(photo_folder, tmp_path, name, make, reason):
    make(photo_folder / name)
    with pytest.raises(SourceError, match=reason) as e:
        build_manifest(str(photo_folder), tmp_path, min_size=32)
    assert name in str(e.value) and "on_error: skip" in str(e.value)
    manifest, skipped = build_manifest(str(photo_folder), tmp_path, min_size=32, on_error="skip")
    assert len(manifest) == 6 and skipped.path.str.endswith(name).all() and reason in skipped.reason.iloc[0]


def test_empty_or_missing_source_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(SourceError, match="no images found"):
        build_manifest(str(tmp_path / "empty"), tmp_path, min_size=32)
    with pytest.raises(SourceError, match="not a folder"):
        build_manifest(str(tmp_path / "nope"), tmp_path, min_size=32)
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "x.png").write_bytes(b"")
    with pytest.raises(SourceError, match="no usable images"):
        build_manifest(str(only_bad), tmp_path, min_size=32, on_error="skip")


def test_bad_params_are_rejected(photo_folder, tmp_path):
    with pytest.raises(ValueError, match="on_error"):
        build_manifest(str(photo_folder), tmp_path, 32, on_error="ignore")
    with pytest.raises(ValueError, match="small"):
        build_manifest(str(photo_folder), tmp_path, 32, small="crop")


def test_presplit_folder_keeps_its_split(tmp_path):
    root = tmp_path / "ds"
    for i, split in enumerate(["train", "train", "val", "test", "test"]):
        save_photo(root / split / f"{i}.jpg", seed=i)
    manifest, _ = build_manifest(str(root), tmp_path, min_size=32)
    assert manifest.set_index("id").split.to_dict() == {
        "train/0": "train", "train/1": "train", "val/2": "val", "test/3": "test", "test/4": "test"}
    save_photo(root / "loose.jpg", seed=7)
    with pytest.raises(SourceError, match="outside them"):
        build_manifest(str(root), tmp_path, min_size=32)


def test_parallel_scan_matches_serial(tmp_path):
    from inpaint.sources import scan

    paths = [str(save_photo(tmp_path / f"{i}.png", seed=i)) for i in range(70)]
    serial = scan(paths, workers=1)
    assert scan(paths, workers=2) == serial and len({s.sha256 for s in serial}) == 70
    assert np.all([s.width == 48 for s in serial])
