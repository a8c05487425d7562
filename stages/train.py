"""Stage `train@<model>`: train one generator of params.yaml's train.models, resumably."""
import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

from inpaint.data import MaskMix, make_val_set
from inpaint.io import write_text
from inpaint.metrics import METRICS, compute
from inpaint.reports import comparison_grid, show_hole
from inpaint.training import TrainingDiverged, train


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in (over or {}).items():
        out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--model", required=True, help="a name listed in train.models")
    ap.add_argument("--split", required=True, help="folder with train.csv and val.csv")
    ap.add_argument("--out", required=True, help="run folder (checkpoints, sample grids)")
    ap.add_argument("--logs", required=True, help="folder for log.csv and val.csv (DVC plots)")
    args = ap.parse_args()
    params = yaml.safe_load(open(args.params))
    t = params["train"]
    cfg = merge(t["common"], t.get(args.model) or {})
    cfg.update(model=cfg.pop("arch", args.model), image_size=params["base"]["image_size"], seed=params["base"]["seed"])
    metric = METRICS[cfg["best_metric"]]
    cfg["best_higher"] = metric.higher_is_better
    train_paths = pd.read_csv(Path(args.split) / "train.csv").path.tolist()
    val_paths = pd.read_csv(Path(args.split) / "val.csv").path.tolist()
    mix = MaskMix(cfg["masks"]["kinds"], cfg["masks"]["min_ratio"], cfg["masks"]["max_ratio"])
    val_images, val_masks = make_val_set(val_paths, cfg["image_size"], mix, cfg.pop("val_size"), cfg["seed"])
    names = cfg["val_metrics"]

    def validate(pred, target, mask):
        return {k: float(v.mean()) for k, v in compute(names, pred, target, mask).items()}

    def grid(path, images, masks, preds):
        rows = [[show_hole(i, m), p, i] for i, m, p in zip(images, masks, preds)]
        comparison_grid(rows, ["input", args.model, "ground truth"], path)

    summary = train(cfg, train_paths, val_images, val_masks, args.out, args.logs, validate, grid)
    write_text(Path(args.out) / "summary.json", json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    try:
        main()
    except (TrainingDiverged, ValueError) as e:
        sys.exit(f"train: {e}")
