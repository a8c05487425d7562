"""Stage `masks`: generate seeded hole masks of every kind (and import external ones)."""
import argparse

import pandas as pd

from inpaint.atomic import atomic_dir
from inpaint.io import check_apart
from inpaint.masks import generate_set, import_external, params_checker, write_table
from inpaint.params import BASE, load
from inpaint.stage import run_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", required=True, help="folder for the mask PNGs (white = hole) and masks.csv")
    args = ap.parse_args()
    params = load(args.params, {"base": BASE, "masks": params_checker()})  # checked before anything runs
    base, p = params["base"], params["masks"]
    ext = p.get("external") or {}
    if ext.get("path"):
        check_apart(ext["path"], args.out, "masks.external.path")
    with atomic_dir(args.out) as tmp:
        tables = [generate_set(tmp, p.get("kinds") or {}, p["per_kind"], base["image_size"], base["seed"],
                               p["min_ratio"], p["max_ratio"])]
        if ext.get("path"):
            tables.append(import_external(tmp, ext["path"], ext.get("polarity", "white_hole"), base["image_size"],
                                          ext.get("kind", "external"), ext.get("limit"), p["min_ratio"], p["max_ratio"]))
        table = pd.concat(tables, ignore_index=True)
        write_table(tmp, table)
    print(f"masks: {len(table)} masks")
    print(table.groupby(["kind", "bucket"]).size().unstack(fill_value=0).to_string())


if __name__ == "__main__":
    run_stage("masks", main)
