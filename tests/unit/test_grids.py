"""inpaint.grids: comparison grids of fills, crisp pixels, labels."""


import numpy as np
import pytest
from PIL import Image

from inpaint import grids



def _img(h, w, seed=0):
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def test_show_hole_paints_only_the_hole():
    img = _img(8, 8)
    mask = np.zeros((8, 8), np.float32)
    mask[2:4, 3:6] = 1
    out = grids.show_hole(img, mask)
    assert out.dtype == np.float32 and out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out[2:4, 3:6], np.broadcast_to([1, 0, 1], (2, 3, 3)))
    np.testing.assert_array_equal(out[mask == 0], img[mask == 0])
    half = grids.show_hole(img, mask[..., None], color=(0, 0, 0), alpha=0.5)
    np.testing.assert_allclose(half[2, 3], img[2, 3] * 0.5, rtol=1e-6)
    with pytest.raises(ValueError, match="mask shape"):
        grids.show_hole(img, np.zeros((4, 4), np.float32))


def test_comparison_grid_size_and_crisp_pixels(tmp_path):
    imgs = [_img(64, 64, s) for s in range(6)]
    path = tmp_path / "grid.png"
    size = grids.comparison_grid([imgs[:3], imgs[3:]], ["input", "telea", "ground truth"], path)
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    gap, cell = 4, 256  # 64 px is enlarged x4 to reach min_cell=256
    assert size == (arr.shape[1], arr.shape[0])
    assert arr.shape[1] == 3 * (cell + gap) + gap
    # The last row ends `gap` px above the bottom: its last image must be the exact nearest-neighbour x4.
    top, left = arr.shape[0] - gap - cell, 2 * (cell + gap) + gap
    expected = np.round(np.repeat(np.repeat(imgs[5], 4, 0), 4, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(arr[top : top + cell, left : left + cell], expected)


def test_comparison_grid_row_labels_title_and_blank_cells(tmp_path):
    rows = [[_img(32, 48), None], [_img(32, 48, 1), _img(16, 24, 2)]]
    plain = grids.comparison_grid(rows, ["input", "sample"], tmp_path / "plain.png")
    labelled = grids.comparison_grid(
        rows,
        ["input", "sample"],
        tmp_path / "labelled.png",
        row_labels=["thick 40-50", "boxes\n10-20"],
        title="VAE samples",
    )
    assert labelled[0] > plain[0] and labelled[1] > plain[1]  # room for row labels and the title
    with Image.open(tmp_path / "labelled.png") as im:
        im.load()
        assert im.size == labelled


@pytest.mark.parametrize(
    "rows, labels, match",
    [
        ([[_img(8, 8)]], ["a", "b"], "row 0 has 1"),
        ([[_img(8, 8) * 255]], ["a"], "divide"),
        ([[np.zeros((8, 8, 3), np.uint8)]], ["a"], "dtype"),
        ([], ["a"], "empty"),
    ],
)
def test_comparison_grid_rejects_bad_input_without_writing(tmp_path, rows, labels, match):
    path = tmp_path / "grid.png"
    with pytest.raises(ValueError, match=match):
        grids.comparison_grid(rows, labels, path)
    assert not path.exists() and list(tmp_path.iterdir()) == []
