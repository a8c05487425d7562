import numpy as np
import pandas as pd
import pytest
from PIL import Image

from inpaint.io import read_mask
from inpaint.masks import MASKS, bucket, describe, generate_set, get_generator, import_external, sample_mask

KINDS = sorted(MASKS)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [(64, 64), (96, 160)])
def test_every_kind_is_binary_and_non_empty(kind, size):
    rng = np.random.default_rng(0)
    masks = [MASKS[kind](rng, *size) for _ in range(20)]
    for m in masks:
        assert m.shape == size and m.dtype == np.uint8 and set(np.unique(m)) <= {0, 1}
    assert np.mean([m.mean() for m in masks]) > 0


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_masks_other_seed_other_masks(kind):
    a = [MASKS[kind](np.random.default_rng(3), 64, 64) for _ in range(2)]
    b = MASKS[kind](np.random.default_rng(4), 64, 64)
    assert np.array_equal(a[0], a[1])
    if kind != "box":  # box at one seed may still coincide; centre is checked below
        assert not np.array_equal(a[0], b)


@pytest.mark.parametrize("kind", KINDS)
def test_rejection_sampling_hits_ratio_bounds(kind):
    rng = np.random.default_rng(1)
    lo, hi = {"scratch": (0.01, 0.05), "thin": (0.05, 0.3)}.get(kind, (0.1, 0.4))
    ratios = [sample_mask(kind, rng, 64, 64, lo, hi).mean() for _ in range(10)]
    assert all(lo <= r <= hi for r in ratios)


@pytest.mark.parametrize("kind", KINDS)
def test_resolution_aware_hole_ratio_is_similar_across_sizes(kind):
    def mean_ratio(size):
        rng = np.random.default_rng(0)
        return np.mean([MASKS[kind](rng, size, size).mean() for _ in range(60)])

    small, large = mean_ratio(128), mean_ratio(512)
    assert abs(small - large) < 0.35 * max(small, large) + 0.01


def test_impossible_bounds_raise_a_clear_error():
    with pytest.raises(ValueError, match="scratch.*missed hole ratio"):
        sample_mask("scratch", np.random.default_rng(0), 64, 64, 0.9, 1.0, max_tries=5)
    with pytest.raises(ValueError, match="0 <= min <= max <= 1"):
        sample_mask("box", np.random.default_rng(0), 64, 64, 0.5, 0.2)
    with pytest.raises(ValueError, match="bad kwargs"):
        sample_mask("thick", np.random.default_rng(0), 64, 64, bogus=1)


def test_unknown_kind_lists_known_ones():
    with pytest.raises(ValueError, match="known kinds.*thick"):
        get_generator("blob")


def test_centre_box_is_the_classic_quarter():
    m = MASKS["box"](np.random.default_rng(0), 128, 128, centre=True)
    assert m.mean() == 0.25 and m[64, 64] == 1 and m[0, 0] == 0 and not describe(m)["touches_border"]


def test_border_always_touches_border():
    rng = np.random.default_rng(0)
    assert all(describe(MASKS["border"](rng, 64, 64))["touches_border"] for _ in range(10))


@pytest.mark.parametrize("ratio,label", [(0.0, "0-10"), (0.099, "0-10"), (0.1, "10-20"), (0.35, "30-40"), (1.0, "90-100")])
def test_bucket_labels(ratio, label):
    assert bucket(ratio) == label


def test_generate_set_writes_white_hole_pngs_and_table(tmp_path):
    table = generate_set(tmp_path, {"thick": {}, "scratch": {"max_ratio": 0.2}}, per_kind=3, size=32, seed=0,
                         min_ratio=0.05, max_ratio=0.6)
    assert len(table) == 6 and list(table.kind.unique()) == ["thick", "scratch"]
    for row in table.itertuples():
        png = np.asarray(Image.open(tmp_path / row.file))
        assert set(np.unique(png)) <= {0, 255}
        m = read_mask(tmp_path / row.file)
        assert abs(m.mean() - row.hole_ratio) < 1e-6 and row.bucket == bucket(row.hole_ratio)
    again = generate_set(tmp_path / "again", {"thick": {}, "scratch": {"max_ratio": 0.2}}, 3, 32, 0, 0.05, 0.6)
    pd.testing.assert_frame_equal(table, again)
    # adding a kind leaves the masks of the others unchanged
    more = generate_set(tmp_path / "more", {"box": {}, "thick": {}}, 3, 32, 0, 0.05, 0.6)
    assert more[more.kind == "thick"].hole_ratio.tolist() == table[table.kind == "thick"].hole_ratio.tolist()


def test_import_external_polarity_resize_and_limit(tmp_path):
    src = tmp_path / "ext"
    src.mkdir()
    for i in range(5):
        m = np.full((64, 64), 255, np.uint8)  # black = hole in these files
        m[: 16 * (i + 1) // 2] = 0
        Image.fromarray(m).save(src / f"{i:03d}.png")
    table = import_external(tmp_path / "out", src, "black_hole", size=32, limit=3)
    assert table.id.tolist() == ["external_000", "external_002", "external_004"]
    assert table.hole_ratio.tolist() == pytest.approx([8 / 64, 24 / 64, 40 / 64])
    assert table.touches_border.all()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no mask images"):
        import_external(tmp_path / "o2", tmp_path / "empty", "white_hole", 32)
    with pytest.raises(ValueError, match="not a folder"):
        import_external(tmp_path / "o3", tmp_path / "nope", "white_hole", 32)
