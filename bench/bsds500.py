"""Benchmark run: the whole pipeline on BSDS500 with the NVIDIA irregular test masks.

Copies the project into a scratch folder (the repository's own dvc.lock and outputs are left alone),
points data.source at BSDS500 (its train/val/test split is kept) and masks.external at the NVIDIA
masks (white = hole), runs the real `dvc repro`, and prints the LPIPS and PSNR tables by hole-ratio
bucket, plus where the full report lies. Needs ../shared/datasets beside the project.

  python bench/bsds500.py [--out /tmp/inpaint-bsds500] [--masks 600] [-S key=value ...]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from inpaint.training.config import set_param

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/inpaint-bsds500")
    ap.add_argument("--masks", type=int, default=600, help="NVIDIA masks imported (spread over the 6 bins)")
    ap.add_argument("-S", dest="overrides", action="append", default=[], help="extra params, key.path=value")
    args = ap.parse_args()
    if not (DATASETS / "bsds500").is_dir():
        sys.exit(f"{DATASETS / 'bsds500'} not found: this benchmark needs the shared datasets beside the project")
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    for name in ["dvc.yaml", "params.yaml", "stages", "inpaint", "pretrained", ".dvc/config", ".dvc/plots", ".dvcignore"]:
        src, dst = ROOT / name, out / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["source"] = str(DATASETS / "bsds500")
    params["masks"]["kinds"] = {}
    params["masks"]["external"].update(path=str(DATASETS / "irregular_masks" / "testing_mask_dataset"),
                                       polarity="white_hole", kind="nvidia", limit=args.masks)
    params["split"]["pairs_per_cell"] = 1
    for item in args.overrides:
        set_param(params, item, new_keys_under=("*",))
    (out / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for cmd in (["git", "init", "-q"], ["dvc", "repro"]):
        subprocess.run(cmd, cwd=out, env=env, check=True)
    per_image = pd.read_csv(out / "reports/per_image.csv")
    for metric in ("lpips", "psnr"):
        table = per_image[per_image.metric == metric].pivot_table(index="method", columns="bucket", values="value")
        table["all"] = per_image[per_image.metric == metric].groupby("method").value.mean()
        print(f"\n{metric} (mean over {per_image.image_id.nunique()} photos x {per_image.mask_id.nunique()} masks)")
        print(table.round(4 if metric == "lpips" else 2).to_markdown())
    print(json.dumps({"report": str(out / "reports/summary.md")}))


if __name__ == "__main__":
    main()
