"""Held-out pairs from foreign folders: fixed by the seed, masks kept only within the hole-ratio range."""
import numpy as np
import pytest
from PIL import Image

from inpaint.heldout import bucket, heldout_pairs, nvidia_files
from testkit import save_photo


def _mask(path, ratio, size=64):
    a = np.zeros((size, size), np.uint8)
    a[: int(round(ratio * size)), :] = 255  # white = hole
    Image.fromarray(a).save(path)
    return path


@pytest.fixture
def folders(tmp_path):
    photos = [str(save_photo(tmp_path / "photos" / f"{i}.png", size=(80, 60), seed=i)) for i in range(3)]
    (tmp_path / "masks").mkdir()
    masks = [_mask(tmp_path / "masks" / f"{i:05d}.png", r) for i, r in enumerate([0.05, 0.25, 0.45, 0.55, 0.9])]
    return photos, masks


def test_pairs_are_fixed_by_the_seed_and_respect_the_ratio_range(folders):
    photos, masks = folders
    images, holes, pairs = heldout_pairs(photos, masks, 32, 2, seed=0, ratio=(0.3, 0.6))
    assert images.shape == (6, 32, 32, 3) and holes.shape == (6, 32, 32) and len(pairs) == 6
    assert pairs.hole_ratio.between(0.3, 0.6).all() and set(pairs.mask_id) <= {"00002", "00003"}
    assert list(pairs.columns) == ["image_id", "mask_id", "mask_kind", "hole_ratio", "bucket"]
    assert np.allclose(holes.mean(axis=(1, 2)), pairs.hole_ratio)
    again = heldout_pairs(photos, masks, 32, 2, seed=0, ratio=(0.3, 0.6))
    assert np.array_equal(images, again[0]) and pairs.equals(again[2])
    other = heldout_pairs(photos, masks, 32, 2, seed=1, ratio=(0.3, 0.6))
    assert not np.array_equal(images, other[0])  # another seed, other crops


def test_an_impossible_ratio_range_and_no_photos_are_clear_errors(folders):
    photos, masks = folders
    with pytest.raises(ValueError, match=r"no mask of 5 has a hole ratio within \(0.95, 1.0\)"):
        heldout_pairs(photos, masks, 32, 1, seed=0, ratio=(0.95, 1.0))
    with pytest.raises(ValueError, match="no photos"):
        heldout_pairs([], masks, 32, 1, seed=0)


def test_nvidia_files_checks_the_folder_and_picks_bins(tmp_path):
    for i in range(12000):
        (tmp_path / f"{i:05d}.png").touch()
    assert [f.name for f in nvidia_files(tmp_path, 3, 5)][:: 2000] == ["06000.png", "08000.png", "10000.png"]
    assert len(nvidia_files(tmp_path)) == 12000
    (tmp_path / "11999.png").unlink()
    with pytest.raises(ValueError, match="expected the 12000 NVIDIA irregular test masks, found 11999"):
        nvidia_files(tmp_path)
    assert bucket(0.349) == "30-40" and bucket(0.05) == "0-10"
