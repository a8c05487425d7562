"""inpaint.crops: a fill works on its holes' context, shrunk, and only the hole comes back."""
import numpy as np

from inpaint.crops import hole_crop, paste, work_crop


def test_high_resolution_fill_works_on_the_holes_context_only():
    rng = np.random.default_rng(0)
    image = rng.random((3000, 2000, 3)).astype(np.float32)
    mask = np.zeros((3000, 2000), np.float32)
    mask[1000:1040, 500:1500] = 1  # a long scratch: its context is 1000+ px wide
    seen = {}

    def fill(images, masks):
        seen["shape"] = images.shape
        return np.full_like(images, 0.5)

    work = work_crop(image, mask, max_side=512)
    out = paste(image, mask, work, fill(work.image[None], work.mask[None])[0])
    assert max(seen["shape"][1:3]) <= 512  # worked on a downscaled crop
    assert np.array_equal(out[mask == 0], image[mask == 0])
    assert np.allclose(out[mask == 1], 0.5, atol=1e-6)
    ys, xs = hole_crop(mask)
    assert ys.start < 1000 and ys.stop > 1040 and xs.start < 500 and xs.stop > 1500


def test_the_work_size_is_the_grid_a_fill_runs_in():
    from inpaint.crops import work_size

    assert work_size(300, 200, 512) is None  # fits: filled at its own size
    assert work_size(2000, 1000, 512) == (256, 512)  # (width, height), the longer side at max_side
    assert work_size(10, 5000, 512) == (512, 1)  # never below a pixel
    mask = np.zeros((1200, 900), np.float32)
    mask[100:1100, 100:800] = 1
    work = work_crop(np.zeros((1200, 900, 3), np.float32), mask, max_side=400)
    ys, xs = hole_crop(mask)
    assert work.image.shape[1::-1] == work_size(ys.stop - ys.start, xs.stop - xs.start, 400)
