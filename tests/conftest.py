"""Shared fixtures: tiny photo folders made on the fly (no test data is shipped)."""
import numpy as np
import pytest
from testkit import save_photo


@pytest.fixture(autouse=True)
def no_project_models(monkeypatch, tmp_path_factory):
    """A bare model name never finds this checkout's own models/ (what a `dvc repro` here left) in a test:
    each test sees only the models it makes (tests/unit/test_methods.py covers the project's folder)."""
    from inpaint import methods

    monkeypatch.setattr(methods, "PROJECT_MODELS", tmp_path_factory.getbasetemp() / "no-project-models")


@pytest.fixture
def photo_folder(tmp_path):
    """Six distinct small photos in nested folders, mixed formats."""
    root = tmp_path / "photos"
    for i, name in enumerate(["a.jpg", "b.png", "sub/c.png", "sub/d.bmp", "sub/deep/e.tif", "f.webp"]):
        save_photo(root / name, size=(48 + 4 * i, 40 + 2 * i), seed=i)
    return root


@pytest.fixture
def setup(tmp_path):
    """A training run's inputs: three photo paths, and two 32 px validation crops with a box hole each."""
    paths = [str(save_photo(tmp_path / f"p{i}.png", size=(48, 40), seed=i)) for i in range(3)]
    rng = np.random.default_rng(0)
    images = rng.random((2, 32, 32, 3)).astype(np.float32)
    masks = np.zeros((2, 32, 32), np.float32)
    masks[:, 8:20, 8:20] = 1
    return paths, images, masks
