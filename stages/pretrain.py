"""Stage `pretrain` (pretrain/dvc.yaml): one long training run of a model on folders of photos,
exported to `<out>/<model>.safetensors` (fp16: the best EMA generator and the last discriminator), with
`<run>/<model>/card.json`: how it was trained (stages/model_card.py adds the held-out scores and
writes the model card `<out>/<model>.json`). Shipping it is a separate, deliberate step:
`python -m inpaint.pretrained ship <out>/<model>` copies both into pretrained/ and pins the hash.

The recipe is params.yaml's (train.common, then train.<model> without its fine-tuning keys
`init_from`, `init_optimizers`, `lr_g`, `lr_d`: pretraining starts from scratch at train.common's
rates), overridden key by key by pretrain/params.yaml's train.common and then its train.<model>.
Resumable from `<run>/<model>/last.pt`.

  python stages/pretrain.py --model deepfill --params params.yaml --pretrain pretrain/params.yaml --out pretrain/runs/export --run pretrain/runs
  ... -S train.deepfill.max_minutes=8 -S data.folders='[photos/]'   (dotted keys of pretrain/params.yaml, for one
  run; a model's own train.<model> key wins over train.common's)
"""
import argparse
import hashlib
import json
import platform
import subprocess
import time
from pathlib import Path

import torch

from inpaint.atomic import write_text
from inpaint.checkpoints import load_checkpoint, pick_device
from inpaint.data import MaskMix, make_val_set
from inpaint.grids import sample_grid
from inpaint.io import IMAGE_EXTENSIONS
from inpaint.metrics import mean_scores
from inpaint.params import BASE, PRETRAIN, PRETRAIN_SECTIONS, check, load
from inpaint.pretrained import export
from inpaint.sources import list_images
from inpaint.stage import run_stage
from inpaint.training.config import FINE_TUNING, merge, model_config, params_checker, set_param
from inpaint.training.loop import train
from inpaint.training.step import TrainingDiverged


def pretrain_config(params: dict, pre: dict, model: str, file: str = "pretrain/params.yaml") -> dict:
    """The training config of `model`'s pretraining run: params.yaml's recipe for it from scratch (train.common,
    then train.<model> without its fine-tuning keys, so train.common's rates apply), overridden key by key by
    pretrain's train.common and then its train.<model>, and checked by the train schema (a misspelt key is an
    error naming `file`, not ignored for hours)."""
    if model not in params["train"]:
        raise ValueError(f"{file}: {model!r} has no train.{model} section in params.yaml (train.models' recipes)")
    for key in pre["train"]:
        if key != "common" and (key not in params["train"] or key == "models"):
            raise ValueError(f"{file}: train.{key} is neither `common` nor a model of params.yaml's train section "
                             f"({sorted(k for k in params['train'] if k not in ('models', 'common'))}); a typo?")
    own = {k: v for k, v in (params["train"][model] or {}).items() if k not in FINE_TUNING}
    over = merge(pre["train"].get("common") or {}, pre["train"].get(model) or {})
    size = over.pop("image_size", None)  # the crop side of this run; params.yaml's base.image_size by default
    if size is not None and not (isinstance(size, int) and not isinstance(size, bool) and size >= 32 and size % 16 == 0):
        raise ValueError(f"{file}: train.{model}.image_size (or train.common.image_size) is {size!r}; use a multiple "
                         "of 16 of at least 32 (e.g. 256)")
    params = {**params, "train": {**params["train"], model: merge(own, over)}}
    check(params, {"train": params_checker()}, f"{file} train (merged into params.yaml's train.{model})")
    cfg = model_config(params, model)
    if size is not None:
        cfg["image_size"] = size
    return cfg


def photo_list(folders: list[str]) -> list[Path]:
    """Every photo of the folders, sorted by name within each folder; a missing or empty folder is an error."""
    out = []
    for folder in folders:
        if not Path(folder).is_dir():
            raise ValueError(f"pretrain data.folders: {folder} is not a folder (paths are relative to the repository root)")
        found = sorted(list_images(Path(folder)))
        if not found:
            raise ValueError(f"pretrain data.folders: {folder} holds no photos ({', '.join(IMAGE_EXTENSIONS)})")
        out += found
    return out


def manifest_sha256(paths: list[Path]) -> str:
    """Hash of the photos' names and bytes, in order: the data a card names, pinned."""
    h = hashlib.sha256()
    for p in paths:
        h.update(f"{p.name}\n".encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout
        return out + ("+uncommitted changes" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA, bf16 autocast, channels_last)"
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="the generator to pretrain: one of pretrain/params.yaml's models")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--pretrain", default="pretrain/params.yaml")
    ap.add_argument("--out", default="pretrain/runs/export", help="folder for <model>.safetensors")
    ap.add_argument("--run", default="pretrain/runs", help="run folder (checkpoints, logs); resumable")
    ap.add_argument("--commit", help="the commit the code is at, when this is no git checkout (a copied tree)")
    ap.add_argument("-S", dest="overrides", action="append", default=[], help="dotted key of --pretrain = value")
    args = ap.parse_args()
    pre = load(args.pretrain, PRETRAIN, PRETRAIN_SECTIONS)
    for item in args.overrides:
        set_param(pre, item, args.pretrain, new_keys_under=("train",))  # train: any key of train.common
    check(pre, PRETRAIN, args.pretrain, PRETRAIN_SECTIONS)  # an override checked as the file is
    params = load(args.params, {"base": BASE, "train": params_checker()})
    model = args.model
    if model not in pre["models"]:
        raise ValueError(f"--model {model}: not one of {args.pretrain}'s models {pre['models']}; add it there")
    cfg = pretrain_config(params, pre, model, args.pretrain)

    photos = photo_list(pre["data"]["folders"])
    n_val = pre["data"]["val_photos"]
    if not 0 < n_val < len(photos):
        raise ValueError(f"{args.pretrain} data.val_photos is {n_val}; use 1 .. {len(photos) - 1} of the {len(photos)} photos")
    train_paths, val_paths = [str(p) for p in photos[:-n_val]], [str(p) for p in photos[-n_val:]]
    mix = MaskMix(cfg["masks"]["kinds"], cfg["masks"]["min_ratio"], cfg["masks"]["max_ratio"])
    val_images, val_masks = make_val_set(val_paths, cfg["image_size"], mix, cfg.pop("val_size"), cfg["seed"])
    run = Path(args.run) / model
    code = args.commit or commit()  # the code that trains: taken now, not after hours of edits to the checkout
    t0 = time.perf_counter()
    summary = train(cfg, train_paths, val_images, val_masks, run, run / "logs", mean_scores(cfg["val_metrics"]),
                    sample_grid(model))
    wall = time.perf_counter() - t0

    best, last = load_checkpoint(run / "best.pt"), load_checkpoint(run / "last.pt")
    disc = cfg["discriminator"] if last.get("disc") else None
    weights = Path(args.out) / f"{model}.safetensors"
    digest = export(weights, model, cfg["kwargs"], best["state"], last.get("disc") or None, disc)
    vals = last["vals"]
    card = {
        "model": model, "arch": model, "kwargs": cfg["kwargs"], "sha256": digest,
        "weights": {"file": weights.name, "dtype": "float16", "bytes": weights.stat().st_size,
                    "generator": f"EMA at step {best['step']} (best validation {cfg['best_metric']})",
                    "discriminator": f"step {last['step']} (the run's last)" if disc else None},
        "data": {"name": pre["data"]["name"], "folders": pre["data"]["folders"], "photos": len(photos),
                 "train_photos": len(train_paths), "val_photos": len(val_paths), "manifest_sha256": manifest_sha256(photos)},
        "steps": last["step"], "best_step": best["step"], "images_seen": last.get("images"),
        "training_hours": round(summary["minutes"] / 60, 3), "wall_clock_hours": round(wall / 3600, 3),
        "stopped_by": summary["stopped_by"], "device": device_name(pick_device(cfg["device"])),
        "images_per_second": summary["images_per_second"], "torch": torch.__version__,
        "commit": code, "params": cfg,
        "validation": {"first": vals[0] if vals else None, "best": best.get("val")},
        "chosen_on": {  # what chose this file; the held-out scores of the card choose nothing
            "checkpoint": f"best validation {cfg['best_metric']} of the EMA generator on the {len(val_paths)} held-out "
                          f"photos (the last {len(val_paths)} of data.folders by name: {Path(val_paths[0]).name} .. "
                          f"{Path(val_paths[-1]).name}), {cfg['image_size']}-px crops",
            "not_used": "the held-out photos of stages/model_card.py (BSDS500 test): scored once, for the card"},
    }
    write_text(run / "card.json", json.dumps(card, indent=1) + "\n")
    print(json.dumps({k: card[k] for k in ("steps", "images_seen", "training_hours", "device", "sha256")}))


if __name__ == "__main__":
    run_stage("pretrain", main, (TrainingDiverged, ValueError, OSError))
