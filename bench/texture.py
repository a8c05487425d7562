"""Texture benchmark: where copying known texture is the way to fill a hole, PatchMatch is the method to beat.

Two sets of pairs at --size px (default 128, the size the shipped models were trained at), holes from the
NVIDIA irregular test masks with ratios in --holes (default 10-60%):
  texture   BSDS500 test, drawn as the model card draws its held-out pairs (pretrain/params.yaml heldout:
            photos, masks, per_photo, seed; here with holes of --holes, so not the card's very pairs), of
            which the --share (default 0.25) whose known region is busiest by
            inpaint.textures.texture_measure: chosen from the photos and masks alone, before any method runs;
  patterns  synthetic repeated patterns (inpaint.textures.PATTERNS: bricks, tiles, stripes, dots, plaid, a
            tiled motif; --per-kind of each, seed 0), one mask each.
Every method (--methods; default every shipped model and the classical methods) fills both. Prints, per
set: mean LPIPS and PSNR, each method's paired difference to patch_match (95% CIs over photos / patterns),
the lattice score of each learned model (inpaint.lattice; beside the ground truth's own, since patterns
with 8-pixel periods have real energy there), and for a model with contextual attention its copy error
(inpaint.attention.copy_error: grey error of the pixels its strongest sources copy) against copying from a
random and from the nearest valid key. Writes grids with the attention pictures and summary.json to --out
(outside the repository: BSDS500 photos are not ours to commit).

  .venv/bin/python bench/texture.py [--out /tmp/inpaint-texture] [--size 128] [--per-kind 20] [--methods ...]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from inpaint.atomic import write_text
from inpaint.attention import attention_cell, copy_error, has_attention, source_picture, sources_of
from inpaint.evaluation import evaluate
from inpaint.grids import comparison_grid, show_hole
from inpaint.heldout import draw_mask, heldout_pairs, nvidia_files
from inpaint.lattice import lattice
from inpaint.masks import bucket
from inpaint.methods import resolve_method
from inpaint.metrics import directions
from inpaint.pretrained import pins
from inpaint.sources import list_images
from inpaint.stats import paired_differences
from inpaint.textures import PATTERNS, busiest, pattern_set

ROOT = Path(__file__).resolve().parents[1]
CLASSICAL = ["patch_match", "hybrid", "telea", "navier_stokes", "biharmonic"]
METRICS = ["lpips", "psnr"]
GRID_ROWS = 6


def texture_pairs(held: dict, size: int, holes: tuple[float, float], share: float):
    """The busiest `share` of the model card's held-out pairs (BSDS500 test with the NVIDIA masks)."""
    photos = sorted(str(p) for p in list_images(ROOT / held["photos"]))
    if not photos:
        sys.exit(f"no photos in {held['photos']} (relative to the repository root): this benchmark needs ../shared/datasets")
    masks_dir = ROOT / held["masks"]
    images, masks, pairs = heldout_pairs(photos, nvidia_files(masks_dir), size, held["per_photo"], held["seed"], holes)
    keep = np.sort(busiest(images, masks, share))
    return images[keep], masks[keep], pairs.iloc[keep].reset_index(drop=True)


def pattern_pairs(held: dict, size: int, holes: tuple[float, float], per_kind: int, seed: int = 0):
    """Synthetic repeated patterns, each with one NVIDIA mask of `holes`."""
    images, ids = pattern_set(per_kind, size, seed)
    files = nvidia_files(ROOT / held["masks"])
    rng = np.random.default_rng([seed, 24])
    masks, rows = [], []
    for image_id in ids:
        f, mask = draw_mask(rng, files, size, holes)
        masks.append(mask)
        rows.append({"image_id": image_id, "mask_id": f.stem, "mask_kind": "nvidia", "hole_ratio": float(mask.mean()),
                     "bucket": bucket(float(mask.mean()))})
    return images, np.stack(masks), pd.DataFrame(rows)


def attention_check(name: str, images: np.ndarray, masks: np.ndarray, device: str):
    """Copy errors (attention against a random and the nearest valid key; means over the pairs with a
    valid source), and the attention pictures; (None, None) for a model without attention."""
    with tempfile.TemporaryDirectory() as tmp:
        model = resolve_method(name, tmp, device).model
    if not has_attention(model):
        return None, None
    rng, cell = np.random.default_rng(0), attention_cell(model)
    sources = sources_of(model, images, masks)
    errors = [copy_error(i, m, s, cell, rng, model.attention.ksize) for i, m, s in zip(images, masks, sources)]
    pictures = [source_picture(s, m) for s, m in zip(sources, masks)]
    e = pd.DataFrame(errors).dropna()
    return {**e.mean().round(4).to_dict(), "pairs_with_a_source": len(e)}, np.stack(pictures)


def run_set(label: str, images, masks, pairs, methods: list[str], device: str, out: Path, n_boot: int) -> dict:
    print(f"\n## {label}: {len(pairs)} pairs of {pairs.image_id.nunique()} images at {images.shape[1]} px", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        results = evaluate(methods, images, masks, pairs, METRICS, tmp, device, timing=False)
    per_image = results.per_image
    means = per_image.pivot_table(index="method", columns="metric", values="value").reindex(list(results.preds))
    print(means.round(4).to_markdown())
    others = [m for m in results.preds if m != "patch_match"]
    paired = paired_differences(per_image, [(m, "patch_match") for m in others], directions(METRICS), {"all": 0.0},
                                n_boot=n_boot)
    lp = paired[paired.metric == "lpips"][["method", "diff", "ci_low", "ci_high", "better"]]
    print("\nLPIPS minus patch_match's (95% CI over images; better = share of pairs below it)")
    print(lp.round(4).to_markdown(index=False))
    summary = {"pairs": len(pairs), "images": int(pairs.image_id.nunique()),
               "means": means.round(4).to_dict(orient="index"), "vs_patch_match": lp.round(5).to_dict(orient="records")}
    learned = [m for m in results.methods if m.learned]
    summary["lattice"] = {m.name: round(lattice(results.preds[m.name], results.preds[m.start], masks), 2) for m in learned}
    starts = {m.start for m in learned}
    summary["lattice"].update({f"ground truth (vs {s})": round(lattice(images, results.preds[s], masks), 2) for s in starts})
    print(f"\nlattice score (about 1: none; the ground truth's own: what the photos or patterns hold at 8 px): "
          f"{summary['lattice']}")
    rows = list(range(0, len(pairs), max(1, len(pairs) // GRID_ROWS)))[:GRID_ROWS]
    for m in learned:
        check, pictures = attention_check(m.name, images, masks, device)
        if check is None:
            continue
        summary.setdefault("attention", {})[m.name] = check
        print(f"{m.name}: copy error {check['attention']} (a random valid key: {check['random_key']}, the nearest "
              f"valid key: {check['nearest_key']}; {check['pairs_with_a_source']} pairs with a valid source)")
        grid = [[show_hole(images[i], masks[i]), results.preds[m.name][i], pictures[i], results.preds["patch_match"][i],
                 images[i]] for i in rows]
        comparison_grid(grid, ["input", m.name, "drew from", "patch_match", "ground truth"],
                        out / f"{label}_{m.name.replace('/', '_')}_attention.png",
                        row_labels=[str(pairs.image_id[i]) for i in rows], title=f"{label}: where {m.name} drew from")
    grid = [[show_hole(images[i], masks[i]), *(results.preds[n][i] for n in results.preds), images[i]] for i in rows]
    comparison_grid(grid, ["input", *results.preds, "ground truth"], out / f"{label}.png",
                    row_labels=[str(pairs.image_id[i]) for i in rows], title=label)
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/inpaint-texture")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--holes", type=float, nargs=2, default=(0.1, 0.6), metavar=("MIN", "MAX"))
    ap.add_argument("--share", type=float, default=0.25, help="of the held-out pairs, the busiest share")
    ap.add_argument("--per-kind", type=int, default=20, help=f"synthetic patterns of each kind {PATTERNS}")
    ap.add_argument("--methods", nargs="+", help="default: every shipped pretrained/<name> and the classical methods")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bootstrap", type=int, default=2000)
    args = ap.parse_args()
    out = Path(args.out)
    if out.resolve().is_relative_to(ROOT):
        sys.exit(f"--out {out} lies inside the repository; its grids show BSDS500 photos: choose a folder outside it")
    out.mkdir(parents=True, exist_ok=True)
    held = yaml.safe_load((ROOT / "pretrain" / "params.yaml").read_text())["heldout"]
    shipped = [f"pretrained/{Path(f).stem}" for f in sorted(pins())]
    methods = args.methods or [*shipped, *CLASSICAL]
    if "patch_match" not in methods:
        methods.append("patch_match")  # the method to beat
    holes = tuple(args.holes)
    summary = {"size": args.size, "holes": holes, "methods": methods}
    summary["texture"] = run_set("texture", *texture_pairs(held, args.size, holes, args.share), methods, args.device,
                                 out, args.bootstrap)
    summary["patterns"] = run_set("patterns", *pattern_pairs(held, args.size, holes, args.per_kind), methods,
                                  args.device, out, args.bootstrap)
    write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    print(json.dumps({"out": str(out)}))


if __name__ == "__main__":
    main()
