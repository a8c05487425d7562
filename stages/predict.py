"""Stage `predict@<model>`, `predict_pretrained@<name>`, `predict_baseline@<name>`: fill every test pair with
one method, score the fills, time the method, and keep all of it in predictions/<method> (inpaint.predictions).

One stage per method, so DVC reruns only the methods an experiment changed (a retrained model, not the
classical methods whose fills cannot change); the `report` stage reads them all.
"""
import argparse

import pandas as pd

from inpaint.atomic import atomic_dir
from inpaint.data import load_pairs
from inpaint.distributed import pin_gpus
from inpaint.evaluation import check_names, evaluate_method, params_checker
from inpaint.methods import resolve_method
from inpaint.params import BASE, CUDA_VISIBLE_DEVICES, load
from inpaint.predictions import write_prediction
from inpaint.stage import run_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--method", required=True, help="a trained model's name, pretrained/<name>, or a baseline")
    ap.add_argument("--pairs", required=True, help="test_pairs.csv of the split stage")
    ap.add_argument("--masks", required=True, help="folder of mask PNGs")
    ap.add_argument("--checkpoints", required=True, help="folder with <model>/best.pt")
    ap.add_argument("--out", required=True, help="the method's predictions folder (replaced whole on success)")
    args = ap.parse_args()
    sections = {"base": BASE, "cuda_visible_devices": CUDA_VISIBLE_DEVICES, "evaluate": params_checker()}
    params = load(args.params, sections)  # checked before anything runs
    pin_gpus(params.get("cuda_visible_devices"))
    p = params["evaluate"]
    check_names([args.method], p["metrics"], args.checkpoints, p["device"])  # before the data are read
    pairs = pd.read_csv(args.pairs, dtype={"pair_id": str})
    images, masks = load_pairs(pairs, args.masks, params["base"]["image_size"])
    method = resolve_method(args.method, args.checkpoints, p["device"], p["batch_size"])
    print(f"predict {args.method}: {len(pairs)} test pairs ({pairs.image_id.nunique()} photos)", flush=True)
    result = evaluate_method(method, images, masks, pairs, p["metrics"], p["device"], p["batch_size"], p["samples"],
                             params["base"]["seed"])
    with atomic_dir(args.out) as tmp:  # whole or not at all
        write_prediction(tmp, result, pairs)
    print(f"predict {args.method}: {len(result.scores)} scores -> {args.out}")


if __name__ == "__main__":
    run_stage("predict", main, interrupted="interrupted before its predictions were complete (none were written); rerun `dvc repro`")
