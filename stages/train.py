"""Stage `train@<model>`: train one generator of params.yaml's train.models, resumably.

With train.common.distributed asking for several processes it starts itself again under torchrun
(inpaint.distributed.launch); each process then trains its slice of every global batch.
"""
import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from inpaint import distributed
from inpaint.atomic import write_text
from inpaint.curves import plot_training_curves
from inpaint.data import MaskMix, make_val_set, val_photos
from inpaint.grids import sample_grid
from inpaint.metrics import mean_scores
from inpaint.params import BASE, CUDA_VISIBLE_DEVICES, load
from inpaint.stage import run_stage
from inpaint.training.config import model_config, params_checker
from inpaint.training.loop import train
from inpaint.training.step import TrainingDiverged


def read_log(path: Path) -> pd.DataFrame:
    """A run's log CSV; empty (no columns) when the run ended before its first logged step."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--model", required=True, help="a name listed in train.models")
    ap.add_argument("--split", required=True, help="folder with train.csv and val.csv")
    ap.add_argument("--out", required=True, help="run folder (checkpoints, sample grids)")
    ap.add_argument("--logs", required=True, help="folder for log.csv and val.csv (DVC plots)")
    args = ap.parse_args()
    sections = {"base": BASE, "cuda_visible_devices": CUDA_VISIBLE_DEVICES, "train": params_checker()}
    params = load(args.params, sections)  # checked before anything runs
    cfg = model_config(params, args.model)
    distributed.pin_gpus(params.get("cuda_visible_devices"))
    code = distributed.launch(cfg, [__file__, *sys.argv[1:]])
    if code is not None:  # trained by torchrun's processes
        if code:
            sys.exit(f"train: torchrun's processes failed (exit code {code}); see their messages above")
        return
    train_paths = pd.read_csv(Path(args.split) / "train.csv").path.tolist()
    val_paths = pd.read_csv(Path(args.split) / "val.csv").path.tolist()
    mix = MaskMix(cfg["masks"]["kinds"], cfg["masks"]["min_ratio"], cfg["masks"]["max_ratio"])
    val_images, val_masks = make_val_set(val_paths, cfg["image_size"], mix, cfg.pop("val_size"), cfg["seed"])
    validate = mean_scores(cfg["val_metrics"])
    grid = sample_grid(args.model)
    photos = val_photos(len(val_images), len(val_paths))  # best.pt is chosen photo by photo
    summary = train(cfg, train_paths, val_images, val_masks, args.out, args.logs, validate, grid, val_photos=photos)
    if distributed.ranks().main:
        write_text(Path(args.out) / "summary.json", json.dumps(summary, indent=1))
        logs = Path(args.logs)
        plot_training_curves(read_log(logs / "log.csv"), read_log(logs / "val.csv"), logs / "curves.png",
                             f"{args.model}: training losses and validation metrics")
        print(json.dumps(summary))


if __name__ == "__main__":
    run_stage("train", main, (TrainingDiverged, ValueError, OSError))
