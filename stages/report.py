"""Stage `report`: every method's predictions (predictions/<method>, one predict stage each) as the reports:
metrics.json, breakdown.json, summary.md, plots, comparison grids, per_image.csv and timings.json.

Every trained model (train.models) is reported beside the fill it starts from and the checkpoint it was
fine-tuned from; both must be among the methods evaluated (evaluate.baselines, evaluate.pretrained).
"""
import argparse

import pandas as pd

from inpaint.atomic import staged_into
from inpaint.data import load_pairs
from inpaint.evaluation import params_checker
from inpaint.params import BASE, ParamsError, items, load, text
from inpaint.predictions import read_predictions
from inpaint.report import report_order, test_set_info, write_report
from inpaint.stage import run_stage


def train_models(value, key: str) -> None:
    """The part of the train section the report reads (train.models); the train stages check the rest."""
    if not isinstance(value, dict) or "models" not in value:
        raise ParamsError(f"{key}.models is missing; add it (see the project's params.yaml for its default)")
    items(text)(value["models"], f"{key}.models")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--pairs", required=True, help="test_pairs.csv of the split stage")
    ap.add_argument("--masks", required=True, help="folder of mask PNGs")
    ap.add_argument("--predictions", required=True, help="folder with one predictions folder per method")
    ap.add_argument("--out", required=True, help="reports folder")
    args = ap.parse_args()
    params = load(args.params, {"base": BASE, "train": train_models, "evaluate": params_checker()})
    p = params["evaluate"]
    pairs = pd.read_csv(args.pairs, dtype={"pair_id": str})
    names = [*(f"pretrained/{n}" for n in p["pretrained"]), *params["train"]["models"], *p["baselines"]]
    results = read_predictions(args.predictions, names, pairs)
    results = report_order(results)  # checks each model's start fill and checkpoint were evaluated
    images, masks = load_pairs(pairs, args.masks, params["base"]["image_size"])
    test_set = test_set_info(pairs, args.pairs, params["base"]["image_size"])
    with staged_into(args.out) as tmp:  # the last good reports stay in place until the new ones are complete
        write_report(tmp, results, images, masks, pairs, p["bootstrap"], params["base"]["seed"], p["samples"], test_set)
    print(f"report: {len(results.per_image)} measurements of {len(names)} methods -> {args.out}")


if __name__ == "__main__":
    run_stage("report", main,
              interrupted="interrupted; reports/ still holds the last complete report (the new one is written "
                          "aside and moved in only when complete); rerun `dvc repro` to finish")
