"""Shared fixtures: tiny photo folders made on the fly (no test data is shipped)."""
import pytest
from testkit import save_photo


@pytest.fixture
def photo_folder(tmp_path):
    """Six distinct small photos in nested folders, mixed formats."""
    root = tmp_path / "photos"
    for i, name in enumerate(["a.jpg", "b.png", "sub/c.png", "sub/d.bmp", "sub/deep/e.tif", "f.webp"]):
        save_photo(root / name, size=(48 + 4 * i, 40 + 2 * i), seed=i)
    return root
