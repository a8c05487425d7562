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
