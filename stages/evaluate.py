"""Stage `evaluate`: fill every test pair with every method, score, and write the reports."""
import argparse

import pandas as pd

from inpaint.atomic import staged_into
from inpaint.data import load_pairs
from inpaint.distributed import pin_gpus
from inpaint.evaluation import check_names, evaluate, params_checker
from inpaint.params import BASE, CUDA_VISIBLE_DEVICES, load
from inpaint.report import test_set_info, write_report
from inpaint.stage import run_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--pairs", required=True, help="test_pairs.csv of the split stage")
    ap.add_argument("--masks", required=True, help="folder of mask PNGs")
    ap.add_argument("--checkpoints", required=True, help="folder with <model>/best.pt")
    ap.add_argument("--out", required=True, help="reports folder")
    args = ap.parse_args()
    sections = {"base": BASE, "cuda_visible_devices": CUDA_VISIBLE_DEVICES, "evaluate": params_checker()}
    params = load(args.params, sections)  # checked before anything runs
    pin_gpus(params.get("cuda_visible_devices"))
    p = params["evaluate"]
    check_names(p["methods"], p["metrics"], args.checkpoints, p["device"])  # before the data are read
    pairs = pd.read_csv(args.pairs, dtype={"pair_id": str})
    images, masks = load_pairs(pairs, args.masks, params["base"]["image_size"])
    print(f"evaluate: {len(pairs)} test pairs ({pairs.image_id.nunique()} photos); the reports are written at the end",
          flush=True)
    results = evaluate(p["methods"], images, masks, pairs, p["metrics"], args.checkpoints, p["device"], p["batch_size"])
    test_set = test_set_info(pairs, args.pairs, params["base"]["image_size"])
    with staged_into(args.out) as tmp:  # the last good reports stay in place until the new ones are complete
        write_report(tmp, results, images, masks, pairs, p["bootstrap"], params["base"]["seed"], p["samples"], test_set)
    print(f"evaluate: {len(results.per_image)} measurements -> {args.out}")


if __name__ == "__main__":
    run_stage("evaluate", main,
              interrupted="interrupted; reports/ still holds the last complete report (the new one is written "
                          "aside and moved in only when complete); rerun `dvc repro` to finish")
