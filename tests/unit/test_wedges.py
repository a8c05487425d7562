"""The wedge score: edges a fill draws on the nearest fill's seams, against the rest of the hole."""
import numpy as np
import torch
from scipy import ndimage

from inpaint.start_fills import nearest_fill, pyramid_fill
from inpaint.wedges import seams, wedge_score


def _box(size=120, lo=10, hi=110):
    mask = np.zeros((size, size), np.float32)
    mask[lo:hi, lo:hi] = 1
    return mask


def _fill(fn, image, mask):
    return fn(torch.from_numpy(image).permute(2, 0, 1)[None], torch.from_numpy(mask)[None, None])[0].permute(1, 2, 0).numpy()


def test_a_square_holes_seams_are_its_diagonals():
    seam, rest = seams(_box())
    for k in (25, 40, 50):  # on the X, at least 6 px deep
        assert seam[10 + k, 10 + k] and seam[10 + k, 109 - k]
    assert not seam[60, 20] and not seam[20, 60] and rest[60, 20]  # beside an edge, away from the X
    depth = ndimage.distance_transform_edt(_box())  # exact; the seams' seeds are within 1.5 px of it
    assert not (seam & rest).any() and (depth[seam] >= 6 - 1.5).all()  # never shallower than 6 px
    assert seam.sum() < 0.1 * rest.sum()


def test_the_nearest_fill_scores_far_above_one_and_content_that_ignores_the_seams_about_one():
    mask = _box()
    image = np.zeros((120, 120, 3), np.float32)
    image[:10, :, 0], image[110:, :, 1], image[:, :10, 2], image[:, 110:, :2] = 1, 1, 1, 1  # four coloured sides
    assert wedge_score(_fill(nearest_fill, image, mask), mask) > 3
    assert wedge_score(_fill(pyramid_fill, image, mask), mask) < 1.5
    rng = np.random.default_rng(0)  # a "photo" whose content does not know the hole: smooth random blobs
    photo = np.stack([ndimage.gaussian_filter(rng.random((120, 120)), 4) for _ in range(3)], -1).astype(np.float32)
    assert 0.7 < wedge_score(photo, mask) < 1.4


def test_a_hole_with_no_deep_part_scores_nan():
    mask = np.zeros((60, 60), np.float32)
    mask[20:28, 5:55] = 1  # 8 px wide: nothing 6 px from its edge
    assert np.isnan(wedge_score(np.random.default_rng(1).random((60, 60, 3)), mask))
