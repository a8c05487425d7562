"""inpaint.pairing: a user's files paired by relative name without extension."""
import pytest
from testkit import save_photo

from inpaint.pairing import images_by_name, match_by_name


def test_photos_are_named_by_relative_path_without_extension_and_outputs_skipped(tmp_path):
    for name in ("a.jpg", "sub/b.png", "out/a.png"):
        save_photo(tmp_path / "p" / name, size=(8, 8))
    (tmp_path / "p" / "notes.txt").write_text("not a photo")
    found = images_by_name(tmp_path / "p", skip=tmp_path / "p" / "out")
    assert {str(k): v.name for k, v in found.items()} == {"a": "a.jpg", "sub/b": "b.png"}
    save_photo(tmp_path / "p" / "a.png", size=(8, 8))
    with pytest.raises(ValueError, match=r"a\.jpg and .*a\.png share the name a; rename one"):
        images_by_name(tmp_path / "p")


def test_masks_match_by_name_or_one_file_serves_all(tmp_path):
    for name in ("a.jpg", "sub/b.jpg"):
        save_photo(tmp_path / "p" / name, size=(8, 8))
        save_photo(tmp_path / "m" / name.replace(".jpg", ".png"), size=(8, 8))
    photos = images_by_name(tmp_path / "p")
    masks = match_by_name(photos, tmp_path / "m", "mask", "--mask m")
    assert {str(k): v.relative_to(tmp_path / "m").as_posix() for k, v in masks.items()} == {"a": "a.png",
                                                                                           "sub/b": "sub/b.png"}
    one = tmp_path / "m" / "a.png"
    assert set(match_by_name(photos, one, "mask", "--mask").values()) == {one}
    (tmp_path / "m" / "sub" / "b.png").unlink()
    with pytest.raises(ValueError, match=r"--mask m: no mask for \['sub/b'\] \(files are matched by name"):
        match_by_name(photos, tmp_path / "m", "mask", "--mask m")
