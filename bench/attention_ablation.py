"""Attention on/off ablation: two deepfill checkpoints trained alike (same data, seed, steps and recipe), one
with contextual attention and one without (`attention: false`: the attention branch keeps its gated convs),
scored paired on validation photos that neither trained on. Both must be at the same step and chosen the same
way (two last.pt, or a snapshot of one run's last.pt at the other's final step): the pretraining's best.pt
is chosen on these very photos.

The photos are the pretraining run's validation photos (the last `data.val_photos` of pretrain/params.yaml's
folders: they chose checkpoints, never trained), each with --per-photo NVIDIA irregular test masks of
--holes (default 10-60%), at 128 px. Prints mean LPIPS and PSNR of both and of their start fill and
patch_match, the paired difference with - without (95% CIs over photos) on all pairs and on the busiest
quarter by inpaint.textures.texture_measure (chosen before scoring), and the attention model's copy error
(inpaint.attention.copy_error) against copying from a random and from the nearest valid key.

  .venv/bin/python bench/attention_ablation.py --with pretrain/runs/deepfill_step750.pt \\
      --without pretrain/runs/ablation/deepfill/last.pt [--per-photo 10]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from inpaint.attention import attention_cell, copy_error, sources_of
from inpaint.checkpoints import generator_from_checkpoint
from inpaint.evaluation import evaluate
from inpaint.heldout import heldout_pairs, nvidia_files
from inpaint.metrics import directions
from inpaint.sources import list_images
from inpaint.stats import paired_differences
from inpaint.textures import busiest

ROOT = Path(__file__).resolve().parents[1]
METRICS = ["lpips", "psnr"]


def validation_photos(pre: dict) -> list[str]:
    """The pretraining run's validation photos: the last data.val_photos of its folders, in its order."""
    photos = [str(p) for folder in pre["data"]["folders"] for p in sorted(list_images(ROOT / folder))]
    return photos[-pre["data"]["val_photos"]:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--with", dest="with_", required=True, help="checkpoint of the deepfill with attention")
    ap.add_argument("--without", required=True, help="checkpoint of the deepfill without it, same steps")
    ap.add_argument("--per-photo", type=int, default=10)
    ap.add_argument("--holes", type=float, nargs=2, default=(0.1, 0.6), metavar=("MIN", "MAX"))
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--bootstrap", type=int, default=2000)
    args = ap.parse_args()
    pre = yaml.safe_load((ROOT / "pretrain" / "params.yaml").read_text())
    steps, models = {}, {}
    for name, path in (("with", args.with_), ("without", args.without)):
        models[name], ckpt = generator_from_checkpoint(path)
        steps[name] = ckpt.get("step")
        print(f"{name} attention: {path} (step {steps[name]}, kwargs {ckpt['kwargs']})")
    if steps["with"] != steps["without"] or steps["with"] is None:
        raise SystemExit(f"the two checkpoints are at steps {steps}: not the same budget; compare two last.pt (or "
                         "snapshots) taken at the same step, neither chosen on these photos")
    photos = validation_photos(pre)
    images, masks, pairs = heldout_pairs(photos, nvidia_files(ROOT / pre["heldout"]["masks"]), args.size,
                                         args.per_photo, seed=1, ratio=tuple(args.holes))
    print(f"{len(pairs)} pairs of {len(photos)} validation photos at {args.size} px, holes {args.holes}")
    names = {args.with_: "with attention", args.without: "without attention"}
    with tempfile.TemporaryDirectory() as tmp:
        results = evaluate([args.with_, args.without, "patch_match"], images, masks, pairs, METRICS, tmp, "cpu",
                           timing=False)
    per_image = results.per_image.replace({"method": names})
    print(per_image.pivot_table(index="method", columns="metric", values="value").round(4).to_markdown())
    busy = set(pairs.index[np.sort(busiest(images, masks, 0.25))])
    summary = {"steps": steps, "pairs": len(pairs), "photos": len(photos)}
    for label, keep in (("all pairs", None), ("busiest quarter", busy)):
        sel = per_image if keep is None else per_image.merge(pairs.loc[sorted(keep), ["image_id", "mask_id"]])
        d = paired_differences(sel, [("with attention", "without attention")], directions(METRICS), {"all": 0.0},
                               n_boot=args.bootstrap)
        print(f"\nwith - without, {label} (95% CI over photos; better = share of pairs where attention wins)")
        print(d[["metric", "diff", "ci_low", "ci_high", "better", "n", "photos"]].round(4).to_markdown(index=False))
        summary[label] = d.round(5).to_dict(orient="records")
    model, rng = models["with"], np.random.default_rng(0)
    sources = sources_of(model, images, masks)
    e = pd.DataFrame([copy_error(i, m, s, attention_cell(model), rng, model.attention.ksize)
                      for i, m, s in zip(images, masks, sources)]).dropna()
    summary["copy_error"] = {**e.mean().round(4).to_dict(), "pairs": len(e)}
    print(f"\ncopy error of the attention model {summary['copy_error']['attention']} (a random valid key: "
          f"{summary['copy_error']['random_key']}, the nearest valid key: {summary['copy_error']['nearest_key']}; "
          f"{len(e)} pairs with a valid source)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
