"""Stage `split`: leakage-free train/val/test manifests and the fixed evaluation pairs."""
import argparse
from pathlib import Path

import pandas as pd

from inpaint.atomic import atomic_dir, write_csv
from inpaint.params import BASE, SPLIT, load
from inpaint.split import assign_splits, make_test_pairs
from inpaint.stage import run_stage

FEW_TEST_PHOTOS = 10


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--masks", required=True, help="masks.csv of the masks stage")
    ap.add_argument("--out", required=True, help="folder for train.csv, val.csv, test.csv, test_pairs.csv")
    args = ap.parse_args()
    params = load(args.params, {"base": BASE, "split": SPLIT})  # checked before anything runs
    p = params["split"]
    manifest = assign_splits(pd.read_csv(args.manifest, keep_default_na=False), p["val"], p["test"], params["base"]["seed"])
    pairs = make_test_pairs(manifest[manifest.split == "test"], pd.read_csv(args.masks), p["pairs_per_cell"],
                            params["base"]["seed"], p["min_crop_scale"])
    with atomic_dir(args.out) as tmp:
        for name in ("train", "val", "test"):
            write_csv(Path(tmp) / f"{name}.csv", manifest[manifest.split == name])
        write_csv(Path(tmp) / "test_pairs.csv", pairs)
    counts = manifest.split.value_counts().to_dict()
    print(f"split: {counts}, {len(pairs)} test pairs")
    photos = int((manifest.split == "test").sum())
    if photos < FEW_TEST_PHOTOS:
        print(f"split: warning: {photos} test photo(s); the report's intervals resample photos, so below "
              f"{FEW_TEST_PHOTOS} they resolve little: for a folder of your own, give split.test (and split.val) as a "
              "ratio, e.g. -S split.test=0.2 -S split.val=0.1")


if __name__ == "__main__":
    run_stage("split", main)
