"""inpaint.detail_transfer: the photo's fine detail laid into a fill, and `inpaint fill --detail` where a
context was shrunk."""
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from testkit import save_mask, save_photo

from inpaint.cli import main
from inpaint.crops import paste, work_crop
from inpaint.detail_transfer import detail_transfer, restore_detail


def grain_and_flat(h: int = 96, w: int = 128) -> np.ndarray:
    """Left half: a fine grain (gravel, foliage) on a dark colour; right half: a flat light one."""
    rng = np.random.default_rng(0)
    photo = np.empty((h, w, 3), np.float32)
    photo[:, : w // 2] = 0.35 + 0.12 * rng.standard_normal((h, w // 2, 1))
    photo[:, w // 2 :] = 0.75
    return np.clip(photo, 0, 1)


def box(h: int = 96, w: int = 128) -> np.ndarray:
    mask = np.zeros((h, w), np.float32)
    mask[30:66, 34:94] = 1  # across both halves
    return mask


def fine(a: np.ndarray) -> np.ndarray:
    grey = a.mean(-1)
    return grey - cv2.GaussianBlur(grey, (0, 0), 1.5)


def test_the_grain_comes_back_where_the_photo_has_it_and_not_where_it_is_flat():
    photo, mask = grain_and_flat(), box()
    soft = cv2.GaussianBlur(photo, (0, 0), 3.0)  # an upsampled fill: the layout and colours, no fine detail
    out = detail_transfer(photo, mask, soft)
    hole = mask > 0
    left, right = hole.copy(), hole.copy()
    left[:, 58:], right[:, :70] = False, False  # the hole's two halves, away from where they meet
    ring = fine(photo)[:, :50][~hole[:, :50]].std()  # the grain's own strength, known pixels of the left half
    assert fine(soft)[left].std() < 0.3 * ring  # what the fill lacked
    assert 0.7 * ring < fine(out)[left].std() < 1.3 * ring  # the grain is back at its strength
    assert fine(out)[right].std() < 0.1 * ring  # and the flat half stays flat
    assert np.abs(out - soft).mean(axis=-1)[right].max() < 0.05
    assert np.array_equal(out[~hole], photo[~hole])  # known pixels bit for bit


def test_flat_areas_stay_flat_and_a_blurred_edge_gets_its_sharpness_back():
    photo = np.full((64, 80, 3), 0.5, np.float32)
    photo[:, :40] = 0.3  # two flat halves and a sharp edge between them
    mask = np.zeros((64, 80), np.float32)
    mask[20:44, 30:50] = 1
    fill = cv2.GaussianBlur(photo, (0, 0), 3)
    out = detail_transfer(photo, mask, fill)
    hole = mask > 0
    flat = hole.copy()
    flat[:, 34:46] = False
    assert np.abs(out - fill)[flat].max() < 0.005  # nothing to copy where the photo is flat
    edge = hole.copy()
    edge[:, :34], edge[:, 46:] = False, False
    assert np.abs(out - photo)[edge].mean() < 0.7 * np.abs(fill - photo)[edge].mean()  # nearer the sharp edge
    assert np.array_equal(out[~hole], photo[~hole])


def test_a_fill_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match="the fill is"):
        detail_transfer(grain_and_flat(), box(), grain_and_flat()[:50])


def test_restore_detail_runs_only_where_the_context_was_shrunk():
    photo = (grain_and_flat(192, 256) * 255).astype(np.uint8)
    mask = np.zeros((192, 256), bool)
    mask[70:120, 60:190] = True
    for max_side, runs in ((1024, False), (96, True)):
        work = work_crop(photo, mask.astype(np.float32), max_side)
        assert work.shrunk == runs
        soft = cv2.GaussianBlur(work.image, (0, 0), 1.0)
        pasted = paste(photo, mask.astype(np.float32), work, soft)
        before = pasted.copy()
        assert restore_detail(pasted, mask, work) == runs
        assert np.array_equal(pasted[~mask], photo[~mask])
        if runs:  # the grain's strength back in the hole's left part
            left = mask.copy()
            left[:, 110:] = False
            strength = lambda a: fine(a.astype(np.float32) / 255)[left].std()  # noqa: E731
            assert strength(pasted) > 2 * strength(before), (strength(before), strength(pasted))
        else:
            assert np.array_equal(pasted, before)
    work = work_crop(photo, mask.astype(np.float32), 96)
    pasted = paste(photo, mask.astype(np.float32), work, work.image)
    assert not restore_detail(pasted, mask, work, max_pixels=1000)  # over the limit: left as it is


def fills_with_and_without_detail(tmp_path) -> tuple[dict, Path]:
    """`inpaint fill --method telea` of a 160x120 photo at --max-side 48 (so its context is shrunk), with and
    without --detail: {flag: output}, and the mask file."""
    photo = save_photo(tmp_path / "photo.png", size=(160, 120))
    hole = save_mask(tmp_path / "hole.png", box=(40, 80, 50, 110), size=(160, 120))
    outs = {}
    for flag in ("--detail", "--no-detail"):
        out = tmp_path / f"out{flag}.png"
        assert main(["fill", "--method", "telea", "--image", str(photo), "--mask", str(hole), "--out", str(out),
                     "--max-side", "48", "-q", flag]) == 0
        outs[flag] = np.asarray(Image.open(out))
    return outs, hole


def test_fill_with_detail_changes_only_the_hole_of_a_shrunk_context(tmp_path):
    outs, hole = fills_with_and_without_detail(tmp_path)
    m = np.asarray(Image.open(hole)) > 127
    assert np.array_equal(outs["--detail"][~m], outs["--no-detail"][~m])
    assert not np.array_equal(outs["--detail"][m], outs["--no-detail"][m])


def test_a_hole_on_the_photo_s_edge_gets_the_grain_up_to_the_edge():
    photo = grain_and_flat()
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[30:66, :24] = 1  # touches the left edge
    soft = cv2.GaussianBlur(photo, (0, 0), 3.0)
    out = detail_transfer(photo, mask, soft)
    ring = fine(photo)[:, :50][mask[:, :50] == 0].std()
    strip = (slice(34, 62), slice(0, 3))  # the 3 px a 7x7 patch cannot centre on without the mirrored edge
    assert fine(out)[strip].std() > 0.6 * ring and fine(soft)[strip].std() < 0.3 * ring


def test_an_8_bit_fill_is_refused_rather_than_read_as_white():
    photo = grain_and_flat()
    with pytest.raises(ValueError, match="give a float fill"):
        detail_transfer(photo, box(), (photo * 255).astype(np.uint8))


def test_over_the_size_limit_the_fill_is_left_as_it_is_and_said(tmp_path, capsys, monkeypatch):
    """Above io.LARGE_PIXELS the photo is handled as a huge one (a packed mask, pasted in strips) and its context
    is over the limit: the output is the one without --detail, and a warning says why."""
    from inpaint import io

    monkeypatch.setattr(io, "LARGE_PIXELS", 5000)
    outs, _ = fills_with_and_without_detail(tmp_path)
    assert np.array_equal(outs["--detail"], outs["--no-detail"])
    assert "photo.png: its holes' surroundings are over 0 MP, so the photo's own detail (--detail) was not laid" \
        in capsys.readouterr().err


def test_a_packed_mask_of_a_huge_photo_gives_the_same_detail():
    from inpaint.crops import PackedMask

    photo = (grain_and_flat(192, 256) * 255).astype(np.uint8)
    mask = np.zeros((192, 256), bool)
    mask[70:120, 60:190] = True
    work = work_crop(photo, mask.astype(np.float32), 96)
    pasted = paste(photo, mask.astype(np.float32), work, cv2.GaussianBlur(work.image, (0, 0), 1.0))
    plain, packed = pasted.copy(), pasted.copy()
    assert restore_detail(plain, mask, work) and restore_detail(packed, PackedMask(mask), work)
    assert np.array_equal(plain, packed) and not np.array_equal(plain, pasted)
