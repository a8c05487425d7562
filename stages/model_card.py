"""Stage `model_card` (pretrain/dvc.yaml): score a pretrained model on held-out photos it never saw,
beside its starting fill and the classical methods, and write its model card `<out>/<model>.json`
(the training facts of `<run>/<model>/card.json` plus these scores, with paired differences whose
95% CIs resample photos).

  python stages/model_card.py --pretrain pretrain/params.yaml --weights pretrain/runs/export/lama.safetensors --run pretrain/runs
"""
import argparse
import json
import tempfile
from pathlib import Path

from inpaint.evaluation import evaluate
from inpaint.heldout import heldout_pairs, nvidia_files
from inpaint.lattice import lattice
from inpaint.metrics import HEADLINE_METRICS, LARGE_HOLES, LARGE_HOLES_LABEL, directions
from inpaint.params import PRETRAIN, PRETRAIN_SECTIONS, load
from inpaint.pretrained import card_path, sha256, write_card
from inpaint.sources import list_images
from inpaint.stage import run_stage
from inpaint.stats import paired_differences

METRICS = list(HEADLINE_METRICS)
HOLES = {"all": 0.0, ">= 10%": 0.1, LARGE_HOLES_LABEL: LARGE_HOLES}


def heldout_scores(weights: Path, held: dict, size: int, n_boot: int = 2000, init: str | None = None) -> dict:
    """Means per method and hole bucket, and paired differences of the model against its start fill,
    the best non-learned method (lowest mean LPIPS over pairs with holes >= 30%) and, for a fine-tune, the
    checkpoint it started from (`init`, labelled "start: <init>"), and the lattice score of what the model
    changes in the holes (inpaint.lattice)."""
    photos = sorted(str(p) for p in list_images(Path(held["photos"])))
    if not photos:
        raise ValueError(f"pretrain heldout.photos: {held['photos']} holds no photos")
    images, masks, pairs = heldout_pairs(photos, nvidia_files(held["masks"]), size, held["per_photo"], held["seed"],
                                         ratio=(0.0, 0.6))
    name = f"pretrained/{weights.stem}"
    origin = f"start: {init}" if init else None
    with tempfile.TemporaryDirectory() as tmp:
        results = evaluate([str(weights), *([init] if init else []), *held["methods"]], images, masks, pairs,
                           METRICS, tmp)
    per_image = results.per_image.replace({"method": {str(weights): name, **({init: origin} if init else {})}})
    start = next(m.start for m in results.methods if m.learned)
    lp = per_image[(per_image.metric == "lpips") & (per_image.hole_ratio >= LARGE_HOLES)].groupby("method").value.mean()
    best = lp.drop([name, *([origin] if init else [])]).idxmin()
    versus = [start] + [best] * (best != start) + ([origin] if init else [])
    paired = paired_differences(per_image, [(name, v) for v in versus], directions(METRICS), HOLES, n_boot=n_boot)
    means = per_image.pivot_table(index=["metric", "method"], columns="bucket", values="value")
    return {
        "photos": held["photos"], "photos_n": len(photos), "pairs": len(pairs), "masks": f"NVIDIA irregular test masks "
        f"(all six bins, {held['per_photo']} per photo, seed {held['seed']})", "image_size": size,
        "start_fill": start, "best_non_learned": best,
        "lattice": round(lattice(results.preds[str(weights)], results.preds[start], masks), 2),  # about 1: none
        "means": {m: means.loc[m].round(4).to_dict(orient="index") for m in METRICS},
        "paired": paired.round(5).to_dict(orient="records"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pretrain", default="pretrain/params.yaml")
    ap.add_argument("--weights", required=True, help="the exported .safetensors file")
    ap.add_argument("--run", default="pretrain/runs", help="run folder holding <model>/card.json")
    args = ap.parse_args()
    pre = load(args.pretrain, PRETRAIN, PRETRAIN_SECTIONS)
    weights = Path(args.weights)
    facts = Path(args.run) / weights.stem / "card.json"
    if not weights.is_file() or not facts.is_file():
        raise ValueError(f"needs {weights} and {facts}, which the pretrain stage writes: run `cd pretrain && dvc repro`")
    card = json.loads(facts.read_text())
    if card.get("sha256") != sha256(weights):
        raise ValueError(f"{weights} is not the file {facts} describes; rerun the pretrain stage (cd pretrain && dvc repro)")
    # the export loads only beside a card that names its sha256 (pretrained.read): the training facts vouch for
    # it while it is scored, and are replaced by the whole card, or removed if scoring fails
    write_card(weights, card)
    try:
        card["heldout"] = heldout_scores(weights, pre["heldout"],
                                         pre["heldout"].get("image_size") or card["params"]["image_size"],
                                         init=card["params"].get("init_from"))
    except (KeyError, ValueError) as e:
        card_path(weights).unlink(missing_ok=True)
        raise ValueError(f"{args.pretrain} heldout: {e}") from None
    except BaseException:
        card_path(weights).unlink(missing_ok=True)
        raise
    write_card(weights, card)
    rows = [r for r in card["heldout"]["paired"] if r["metric"] == "lpips"]
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    run_stage("model_card", main)
