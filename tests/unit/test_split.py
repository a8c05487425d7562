import numpy as np
import pandas as pd
import pytest

from inpaint.split import assign_splits, make_test_pairs


def _manifest(n=20, groups=None):
    ids = [f"p{i:02d}" for i in range(n)]
    return pd.DataFrame({"id": ids, "path": [f"/x/{i}.png" for i in ids], "width": 300, "height": 200,
                         "sha256": ids, "split": "", "group": groups or ids})


def test_ratios_and_counts_are_honoured_and_seeded():
    m = assign_splits(_manifest(20), val=0.1, test=0.25, seed=0)
    assert m.split.value_counts().to_dict() == {"train": 13, "test": 5, "val": 2}
    assert m.equals(assign_splits(_manifest(20), 0.1, 0.25, seed=0))
    assert not m.split.equals(assign_splits(_manifest(20), 0.1, 0.25, seed=1).split)
    counts = assign_splits(_manifest(20), val=3, test=4, seed=0).split.value_counts().to_dict()
    assert counts == {"train": 13, "test": 4, "val": 3}


def test_groups_never_straddle_splits():
    groups = [f"g{i // 3}" for i in range(30)]  # 10 scenes of 3 photos each
    m = assign_splits(_manifest(30, groups), val=0.2, test=0.2, seed=5)
    assert (m.groupby("group").split.nunique() == 1).all()
    assert set(m.split) == {"train", "val", "test"}


def test_small_nonzero_ratio_still_gets_one_group():
    m = assign_splits(_manifest(5), val=0.01, test=0.01, seed=0)
    assert m.split.value_counts().to_dict() == {"train": 3, "val": 1, "test": 1}


def test_presplit_manifest_is_kept():
    m = _manifest(4)
    m["split"] = ["train", "val", "test", "train"]
    assert assign_splits(m, 0.5, 0.5, seed=0).split.tolist() == ["train", "val", "test", "train"]
    m.loc[0, "split"] = ""
    with pytest.raises(ValueError, match="partly pre-split"):
        assign_splits(m, 0.1, 0.1, 0)


@pytest.mark.parametrize("val,test,match", [(2, 3, "cannot give"), (-1, 1, ">= 0"), (1.5, 1, "whole numbers")])
def test_bad_split_params(val, test, match):
    with pytest.raises(ValueError, match=match):
        assign_splits(_manifest(5), val, test, 0)


def _masks():
    rows = []
    for kind in ["thin", "box"]:
        for b, r in [("0-10", 0.05), ("30-40", 0.35)]:
            for i in range(3):
                rows.append({"id": f"{kind}_{b}_{i}", "file": f"{kind}_{b}_{i}.png", "kind": kind,
                             "hole_ratio": r, "bucket": b, "touches_border": False})
    return pd.DataFrame(rows)


def test_pairs_cover_every_photo_kind_and_bucket_deterministically():
    test = assign_splits(_manifest(10), 0.1, 0.3, 0).query("split == 'test'")
    pairs = make_test_pairs(test, _masks(), per_cell=2, seed=0)
    assert len(pairs) == len(test) * 2 * 2 * 2
    assert (pairs.groupby(["image_id", "mask_kind", "bucket"]).size() == 2).all()
    pd.testing.assert_frame_equal(pairs, make_test_pairs(test, _masks(), 2, 0))
    assert pairs.pair_id.is_unique
    # crops lie inside the photo and are squares of at least half the shorter side
    assert (pairs.crop_x + pairs.crop_size <= 300).all() and (pairs.crop_y + pairs.crop_size <= 200).all()
    assert (pairs.crop_size >= 100).all()


def test_pairs_need_test_photos_and_a_positive_count():
    with pytest.raises(ValueError, match="test set empty"):
        make_test_pairs(_manifest(3).iloc[:0], _masks(), 1, 0)
    with pytest.raises(ValueError, match="pairs_per_cell"):
        make_test_pairs(_manifest(3), _masks(), 0, 0)


def test_no_training_photo_is_in_the_test_pairs():
    m = assign_splits(_manifest(12, [f"g{i // 2}" for i in range(12)]), 0.2, 0.3, 3)
    pairs = make_test_pairs(m[m.split == "test"], _masks(), 1, 0)
    train_groups = set(m[m.split == "train"].group)
    pair_groups = set(m.set_index("id").loc[pairs.image_id, "group"])
    assert pair_groups and not pair_groups & train_groups
    assert np.isin(pairs.image_id, m[m.split == "test"].id).all()


@pytest.mark.parametrize("test, warned", [(2, True), (0.5, False)])
def test_the_stage_warns_when_the_test_set_is_too_small_to_resolve_much(tmp_path, test, warned):
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["split"].update(test=test, val=1)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    _manifest(24).to_csv(tmp_path / "manifest.csv", index=False)
    _masks().to_csv(tmp_path / "masks.csv", index=False)
    proc = subprocess.run([sys.executable, str(root / "stages" / "split.py"), "--params", "params.yaml",
                           "--manifest", "manifest.csv", "--masks", "masks.csv", "--out", "split"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    warning = "split: warning: 2 test photo(s); the report's intervals resample photos, so below 10"
    assert (warning in proc.stdout) == warned and (tmp_path / "split" / "test_pairs.csv").is_file()
