"""Training-recipe ablation: one variant of a model's training, a fixed CPU budget, photos it never saw.

Trains `--model` (default lama) with params.yaml's config plus `-S key=value` overrides (dotted keys
of params.yaml, e.g. `-S train.lama.loss.l1_hole=0`) on the BSDS500 train split for `--minutes` of
training time (validation excluded), choosing its best.pt on the first half of BSDS500 val (50 photos),
then scores it on the other half (`--score-on val`, the default: recipes are chosen there) with NVIDIA
irregular masks of 30-60% holes, beside its own starting fill and the classical methods.
`--score-on test` scores on BSDS500 test instead: once, for the recipe already chosen on val. Prints JSON: steps, images seen, LPIPS / PSNR means, and paired differences to
the starting fill and to the best non-learned method with 95% CIs over photos. Writes the run
folder (checkpoints, val.csv with val LPIPS against images seen) under --out/<name>.
`--summarize` prints the table of every finished variant and plots their validation curves.

  python bench/recipe.py --name lamaloss --minutes 15 -S train.lama.loss.l1_hole=0 -S train.lama.loss.adv=0.1

Variants learn from scratch, in the architecture of the checkpoint the model fine-tunes: its
`init_from` (and any `lr_g`, `lr_d` of its own section) is dropped, so train.common's rates apply,
unless `-S train.<model>.init_from=...` asks for a start.

The scoring pairs (photo, crop, mask) depend only on --score-on, --seed and --pairs-per-photo, so every
variant is scored on the same pixels; the baselines' scores are cached in --out.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from inpaint.atomic import write_text
from inpaint.baselines import BASELINES
from inpaint.checkpoints import generator_from_checkpoint, predict
from inpaint.data import MaskMix, make_val_set
from inpaint.evaluation import diverse_samples, diversity, evaluate
from inpaint.grids import comparison_grid, show_hole
from inpaint.heldout import heldout_pairs, nvidia_files
from inpaint.lattice import lattice
from inpaint.metrics import directions, mean_scores
from inpaint.models import start_fill
from inpaint.stats import paired_differences
from inpaint.training.config import FINE_TUNING, model_config, set_param
from inpaint.training.loop import train
from inpaint.training.start import start_kwargs

ROOT = Path(__file__).resolve().parents[1]
BSDS = ROOT.parent / "shared" / "datasets" / "bsds500"
NVIDIA = ROOT.parent / "shared" / "datasets" / "irregular_masks" / "testing_mask_dataset"
CLASSICAL = ["telea", "navier_stokes", "biharmonic", "patch_match"]
METRICS = ["lpips", "psnr", "lpips_vgg"]


def photos(split: str) -> list[str]:
    """BSDS500 photos of a split, sorted; "val-choose" / "val-score": the first / second half of val (50 each)."""
    if split.startswith("val-"):
        val = photos("val")
        return val[:len(val) // 2] if split == "val-choose" else val[len(val) // 2:]
    return sorted(str(p) for p in (BSDS / split).glob("*.jpg"))


def scoring_pairs(size: int, per_photo: int, seed: int, on: str = "val") -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Crops of the scoring photos (`on`: "val", the half of BSDS500 val no checkpoint was chosen on, or
    "test") with NVIDIA masks whose hole ratio at `size` is within 30-60%."""
    return heldout_pairs(photos("val-score" if on == "val" else "test"), nvidia_files(NVIDIA, 3, 5), size, per_photo,
                         seed, ratio=(0.3, 0.6))


def summarize(out: Path) -> None:
    """The ablation table (markdown) of every finished variant under `out` as scored on val (result.json; a
    test score, result_test.json, is never mixed in), and their validation curves (val LPIPS against training
    images seen) in out/curves.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = sorted((json.loads(p.read_text()) for p in out.glob("*/result.json")), key=lambda r: r["wall_minutes"])
    rows = ["| variant | steps | images seen | LPIPS 30-60% | PSNR | LPIPS-vgg | x best non-learned | "
            "Δ LPIPS vs start fill [95% CI] | better | Δ PSNR vs start | lattice |", "|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for r in results:
        me, start = r["means"][r["variant"]], r["start_fill"]
        d = {p["metric"]: p for p in r["paired"] if p["versus"] == start}
        rows.append(f"| {r['variant']} | {r['steps']} | {r['images_seen']} | {me['lpips']:.4f} | {me['psnr']:.2f} | "
                    f"{me['lpips_vgg']:.4f} | {r['ratio_to_best_non_learned']:.3f} | {d['lpips']['diff']:+.4f} "
                    f"[{d['lpips']['ci_low']:+.4f}, {d['lpips']['ci_high']:+.4f}] | {100 * d['lpips']['better']:.0f}% | "
                    f"{d['psnr']['diff']:+.2f} | {r.get('lattice') or '–'} |")
        val = pd.read_csv(out / r["variant"] / "val.csv")
        ax.plot(val["images"], val["lpips"], marker=".", label=r["variant"])
    if results:
        ax.axhline(results[0]["val_lpips_start"], color="k", ls="--", lw=1, label="starting fill")
    ax.set(xlabel="training images seen", ylabel="val LPIPS (BSDS500 val, lower is better)",
           title="Validation LPIPS against images seen, 15 CPU-minutes per variant")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "curves.png")
    print("\n".join(rows))
    print(json.dumps({"curves": str(out / "curves.png")}))


def grid(out: Path, variants: list[str], on: str = "val", rows: int = 6, seed: int = 0) -> None:
    """Before/after grid on scoring pairs with 40-60% holes: input, the starting fill, the best
    classical method, each variant's best.pt (and three samples of a model that samples), ground truth
    (out/grid.png)."""
    images, masks, pairs = scoring_pairs(128, 2, seed, on)
    big = np.flatnonzero((pairs.hole_ratio >= 0.4).to_numpy())
    pick = big[np.linspace(0, len(big) - 1, rows).round().astype(int)]
    images, masks = images[pick], masks[pick]
    cols = {name: np.stack([BASELINES[name](im, m) for im, m in zip(images, masks)])
            for name in ("hybrid", "navier_stokes")}
    for v in variants:
        model, _ = generator_from_checkpoint(out / v / "best.pt")
        cols[v] = predict(model, images, masks, "cpu")
        if hasattr(model, "sample"):  # a model that samples: three of its fills beside its mean
            fills = diverse_samples(model, images, masks, 3, seed)
            cols.update({f"{v} sample {k + 1}": fills[:, k] for k in range(3)})
    cells = [[show_hole(images[i], masks[i]), *(c[i] for c in cols.values()), images[i]] for i in range(len(pick))]
    labels = [f"{100 * pairs.hole_ratio[j]:.0f}% ({pairs.image_id[j]})" for j in pick]
    comparison_grid(cells, ["input", *cols, "ground truth"], out / "grid.png", row_labels=labels,
                    title=f"BSDS500 {on}, NVIDIA masks 40-60%: starting fill (hybrid), best classical, learned")
    print(json.dumps({"grid": str(out / "grid.png")}))


def train_and_score(cfg: dict, run: Path, args) -> tuple[dict, pd.DataFrame, str]:
    """Train one variant (summary saved to run/train.json), then score its best.pt and the baselines
    (cached in --out) on the scoring pairs (saved to run/per_image_<score_on>.csv). A variant already trained
    (run/train.json) is only scored: `--score-on test` after it was chosen on val."""
    size = cfg["image_size"]
    if (run / "train.json").is_file() and (run / "best.pt").is_file():
        summary = json.loads((run / "train.json").read_text())
    else:
        mix = MaskMix(cfg["masks"]["kinds"], cfg["masks"]["min_ratio"], cfg["masks"]["max_ratio"])
        val_images, val_masks = make_val_set(photos("val-choose"), size, mix, args.val_size, cfg["seed"])
        t0 = time.perf_counter()
        summary = train(cfg, photos("train"), val_images, val_masks, run, run, mean_scores(["lpips"]))
        summary["wall_minutes"] = round((time.perf_counter() - t0) / 60, 2)
        write_text(run / "train.json", json.dumps(summary))

    images, masks, pairs = scoring_pairs(size, args.pairs_per_photo, args.seed, args.score_on)
    start = start_fill(cfg["kwargs"].get("init_fill", "hybrid"))
    cache = Path(args.out) / f"baselines_{args.score_on}_{size}_{args.pairs_per_photo}_{args.seed}.csv"
    if cache.exists():
        base = pd.read_csv(cache, dtype={"image_id": str, "mask_id": str})
    else:
        base = evaluate(CLASSICAL + [start], images, masks, pairs, METRICS, run, device="cpu").per_image
        base.to_csv(cache, index=False)
    if start not in set(base.method):
        base = pd.concat([base, evaluate([start], images, masks, pairs, METRICS, run, "cpu").per_image])
    results = evaluate([str(run / "best.pt")], images, masks, pairs, METRICS, run, device="cpu")
    learned = results.per_image[results.per_image.method == str(run / "best.pt")].assign(method=args.name)  # not its start fill
    summary["lattice"] = round(lattice(results.preds[str(run / "best.pt")], results.preds[start], masks), 2)
    model, _ = generator_from_checkpoint(run / "best.pt")
    if hasattr(model, "sample"):  # a model that samples: how different its fills are, how good, any lattice
        div = diversity(model, images, masks, pairs, 4, args.seed)
        first = diverse_samples(model, images, masks, 1, args.seed)[:, 0]
        summary.update(diversity=round(float(div.diversity.mean()), 4), sample_lpips=round(float(div.sample_lpips.mean()), 4),
                       sample_lattice=round(lattice(first, results.preds[start], masks), 2))
    per_image = pd.concat([base, learned], ignore_index=True)
    per_image.to_csv(run / f"per_image_{args.score_on}.csv", index=False)
    return summary, per_image, start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", help="variant name (its run folder)")
    ap.add_argument("--summarize", action="store_true", help="print the table of every finished variant in --out")
    ap.add_argument("--rescore", action="store_true", help="statistics of the finished run --name again, from its saved scores")
    ap.add_argument("--grid", nargs="+", metavar="VARIANT", help="write a before/after grid of these variants")
    ap.add_argument("--model", default="lama")
    ap.add_argument("--minutes", type=float, default=15.0, help="training budget (validation excluded)")
    ap.add_argument("--val-every", type=int, default=100)
    ap.add_argument("--val-size", type=int, default=100)
    ap.add_argument("--pairs-per-photo", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--score-on", choices=["val", "test"], default="val",
                    help="val: the half of BSDS500 val not used to pick checkpoints (choose recipes here); test: "
                         "BSDS500 test, once, for the recipe chosen")
    ap.add_argument("--out", default="/tmp/inpaint-recipe")
    ap.add_argument("-S", dest="overrides", action="append", default=[], help="params.yaml key=value")
    args = ap.parse_args()
    if args.summarize or args.grid:
        return summarize(Path(args.out)) if args.summarize else grid(Path(args.out), args.grid, args.score_on)
    if not args.name:
        ap.error("--name is required (or --summarize)")
    if not BSDS.is_dir():
        sys.exit(f"{BSDS} not found: this benchmark needs the shared datasets beside the project")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    own = params["train"][args.model] = params["train"].get(args.model) or {}
    if not any(o.startswith(f"train.{args.model}.init_from") for o in args.overrides):
        if own.get("init_from"):  # from scratch, in the architecture of the checkpoint it would fine-tune
            own["kwargs"] = start_kwargs(args.model, own.get("kwargs") or {}, own["init_from"])
        for key in FINE_TUNING:  # variants learn from scratch: no fine-tuning start or its rates
            own.pop(key, None)
    try:
        for item in args.overrides:
            set_param(params, item)
    except ValueError as e:
        sys.exit(str(e))
    cfg = model_config(params, args.model)
    cfg.update(max_minutes=args.minutes, max_steps=10**6, val_every=args.val_every, ckpt_every=args.val_every)
    cfg.pop("val_size")
    run = Path(args.out) / args.name
    if args.rescore:  # the statistics of a finished run again, from its saved training summary and scores
        summary = json.loads((run / "train.json").read_text())
        per_image = pd.read_csv(run / f"per_image_{args.score_on}.csv", dtype={"image_id": str, "mask_id": str})
        start = start_fill(cfg["kwargs"].get("init_fill", "hybrid"))
    else:
        summary, per_image, start = train_and_score(cfg, run, args)
    lp = per_image[per_image.metric == "lpips"].groupby("method").value.mean()
    best_classic = lp.drop(args.name).idxmin()
    versus = [start] + [best_classic] * (best_classic != start)
    paired = paired_differences(per_image, [(args.name, v) for v in versus], directions(METRICS), n_boot=2000)
    means = per_image.groupby(["metric", "method"]).value.mean().unstack("metric").round(4)
    val = pd.read_csv(run / "val.csv")
    result = {
        "variant": args.name, "overrides": args.overrides, "steps": summary["steps"],
        "images_seen": int(val["images"].iloc[-1]),
        "train_minutes": summary["minutes"], "wall_minutes": summary["wall_minutes"],
        "best_step": int(val.loc[val.lpips.idxmin(), "step"]),
        "val_lpips_start": round(float(val.lpips.iloc[0]), 4), "val_lpips_best": round(float(val.lpips.min()), 4),
        "scored_on": f"BSDS500 {args.score_on}" + (" (second half)" if args.score_on == "val" else ""),
        "scored_pairs": int(per_image[per_image.method == args.name].mask_id.size // len(METRICS)),
        "scored_photos": int(per_image.image_id.nunique()),
        "means": means.to_dict(orient="index"), "start_fill": start, "best_non_learned": best_classic,
        "ratio_to_best_non_learned": round(float(lp[args.name] / lp.drop(args.name).min()), 4),
        "lattice": summary.get("lattice"),
        **{k: summary[k] for k in ("diversity", "sample_lpips", "sample_lattice") if k in summary},
        "paired": paired.round(5).to_dict(orient="records"),
    }
    write_text(run / ("result.json" if args.score_on == "val" else f"result_{args.score_on}.json"),
               json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
