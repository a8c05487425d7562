"""Stage `evaluate`: fill every test pair with every method, score, and write the reports."""
import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

from inpaint import reports
from inpaint.data import load_pairs
from inpaint.evaluation import checkpoint_note, diverse_samples, example_rows, load_method, run_method, score
from inpaint.io import write_csv, write_text
from inpaint.metrics import METRICS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--pairs", required=True, help="test_pairs.csv of the split stage")
    ap.add_argument("--masks", required=True, help="folder of mask PNGs")
    ap.add_argument("--checkpoints", required=True, help="folder with <model>/best.pt")
    ap.add_argument("--out", required=True, help="reports folder")
    args = ap.parse_args()
    params = yaml.safe_load(open(args.params))
    p, size, out = params["evaluate"], params["base"]["image_size"], Path(args.out)
    pairs = pd.read_csv(args.pairs, dtype={"pair_id": str})
    images, masks = load_pairs(pairs, args.masks, size)
    metrics, frames, timings, preds, samplers = p["metrics"], [], {}, {}, {}
    for name in p["methods"]:
        fill, model = load_method(name, args.checkpoints, p["device"], p["batch_size"])
        preds[name], timings[name] = run_method(fill, images, masks)
        frames.append(score(name, preds[name], images, masks, pairs, metrics, p["device"]))
        if hasattr(model, "sample"):
            samplers[name] = model
        print(f"evaluate: {name}: {timings[name] * 1000:.1f} ms/image")
    per_image = pd.concat(frames, ignore_index=True)
    agg = reports.aggregate(per_image, n_boot=p["bootstrap"], seed=params["base"]["seed"])
    directions = {m: METRICS[m].higher_is_better for m in metrics}
    plots, figures = {}, {}
    for m in metrics:
        reports.plot_metric_vs_hole_ratio(agg, m, out / "plots" / f"{m}.png", directions[m])
        reports.plot_data_csv(agg, out / "plots" / f"{m}.csv", metric=m)
        plots[m] = f"plots/{m}.png"
    columns = ["input"] + list(p["methods"]) + ["ground truth"]
    for kind, rows in example_rows(pairs).items():
        grid = [[reports.show_hole(images[i], masks[i])] + [preds[n][i] for n in p["methods"]] + [images[i]] for i in rows]
        labels = [f"{pairs.bucket[i]}% ({pairs.image_id[i]})" for i in rows]
        reports.comparison_grid(grid, columns, out / "grids" / f"{kind}.png", row_labels=labels, title=f"mask kind: {kind}")
        figures[f"mask kind {kind}"] = f"grids/{kind}.png"
    big = [i for i in pairs.index if pairs.hole_ratio[i] >= 0.3][:: max(1, len(pairs) // 40)][:6]
    for name, model in samplers.items():
        fills = diverse_samples(model, images[big], masks[big], p["samples"], params["base"]["seed"])
        grid = [[reports.show_hole(images[i], masks[i]), *f, images[i]] for i, f in zip(big, fills)]
        cols = ["input"] + [f"sample {k + 1}" for k in range(p["samples"])] + ["ground truth"]
        reports.comparison_grid(grid, cols, out / "grids" / f"{name}_samples.png", title=f"{name}: diverse fills")
        figures[f"{name}: {p['samples']} samples per hole"] = f"grids/{name}_samples.png"
    notes = [f"{len(pairs)} test pairs ({pairs.image_id.nunique()} photos) at {size}x{size}; "
             f"means with {round(100 * 0.95)}% bootstrap CIs ({p['bootstrap']} resamples)."]
    trained = [n for n in (checkpoint_note(m, args.checkpoints) for m in p["methods"]) if n]
    if trained:
        notes.append("Checkpoints (the best on the validation crops): " + "; ".join(trained) + ".")
    md = reports.summary_markdown(agg, directions, {m: METRICS[m].description for m in metrics}, timings,
                                  notes=notes, plots=plots, figures=figures)
    write_csv(out / "per_image.csv", per_image)
    write_text(out / "metrics.json", json.dumps(reports.metrics_json(agg), indent=1))
    write_text(out / "summary.md", md)
    print(f"evaluate: {len(per_image)} measurements -> {out}")


if __name__ == "__main__":
    try:
        main()
    except ValueError as e:
        sys.exit(f"evaluate: {e}")
