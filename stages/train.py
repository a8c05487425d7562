"""Stage `train@<model>`: train one generator of params.yaml's train.models, resumably."""
import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

from inpaint.data import MaskMix, make_val_set
from inpaint.grids import sample_grid
from inpaint.io import write_text
from inpaint.metrics import mean_scores
from inpaint.training import TrainingDiverged, model_config, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--model", required=True, help="a name listed in train.models")
    ap.add_argument("--split", required=True, help="folder with train.csv and val.csv")
    ap.add_argument("--out", required=True, help="run folder (checkpoints, sample grids)")
    ap.add_argument("--logs", required=True, help="folder for log.csv and val.csv (DVC plots)")
    args = ap.parse_args()
    cfg = model_config(yaml.safe_load(open(args.params)), args.model)
    train_paths = pd.read_csv(Path(args.split) / "train.csv").path.tolist()
    val_paths = pd.read_csv(Path(args.split) / "val.csv").path.tolist()
    mix = MaskMix(cfg["masks"]["kinds"], cfg["masks"]["min_ratio"], cfg["masks"]["max_ratio"])
    val_images, val_masks = make_val_set(val_paths, cfg["image_size"], mix, cfg.pop("val_size"), cfg["seed"])
    validate = mean_scores(cfg["val_metrics"])
    grid = sample_grid(args.model)
    summary = train(cfg, train_paths, val_images, val_masks, args.out, args.logs, validate, grid)
    write_text(Path(args.out) / "summary.json", json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    try:
        main()
    except (TrainingDiverged, ValueError) as e:
        sys.exit(f"train: {e}")
