"""The reports/ folder of one evaluation: metrics.json (the headline DVC metrics), breakdown.json (every
mean by mask kind and hole size), summary.md, plots, comparison grids, and timings.json (a DVC-cached
file outside git: wall-clock figures change on every run, the rest does not)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from inpaint.atomic import write_csv, write_text
from inpaint.evaluation import Results
from inpaint.grids import comparison_grid, diverse_rows, example_rows, show_hole
from inpaint.io import file_stem
from inpaint.metrics import LARGE_HOLES, LARGE_HOLES_LABEL, LARGE_HOLES_SUFFIX, descriptions, directions
from inpaint.plots import plot_data_csv, plot_metric_vs_hole_ratio
from inpaint.stats import aggregate, paired_differences
from inpaint.summary import breakdown_json, headline_json, plain_number, summary_markdown

CI = 0.95
# The hole ranges "what training adds" is shown for: every pair, and the large holes where fills differ.
HOLE_RANGES = {"all": 0.0, LARGE_HOLES_LABEL: LARGE_HOLES}
# The metrics it is shown for, when evaluated (a perceptual and a pixel metric).
PAIRED_METRICS = ("lpips", "psnr")
RANKING_METRIC = "lpips"  # picks "the best non-learned method"
# The diversity (mean pairwise LPIPS of the samples, in the hole) from which a sampler's grid is called
# "diverse fills"; below it the samples are told apart by noise, not by content.
DIVERSE_AT_LEAST = 0.02
FEW_PHOTOS = 10  # below this many test photos the report warns that its photo-bootstrap intervals are rough


def report_order(results: Results) -> Results:
    """The methods in the report's order, each model beside what it is measured against: the pretrained
    checkpoints, the trained models, the fills they start from, then the other baselines.

    Raises a ValueError naming the params key to extend when a model's start fill, or the pretrained
    checkpoint it was fine-tuned from, was not evaluated (a model is never reported without them)."""
    names = {m.name for m in results.methods}
    for m in results.methods:
        if m.start and m.start not in names:
            raise ValueError(f"evaluate.baselines lacks {m.start}, the fill {m.name} starts from; add it "
                             f"(-S 'evaluate.baselines=[{m.start},...]'): a model is reported beside its start fill")
        if m.origin and m.origin not in names and m.origin.startswith("pretrained/"):
            short = m.origin.removeprefix("pretrained/")
            raise ValueError(f"evaluate.pretrained lacks {short}, the checkpoint {m.name} was fine-tuned from; add it "
                             f"(-S 'evaluate.pretrained=[...,{short}]'): a fine-tune is reported beside its checkpoint")
        if m.origin and m.origin not in names:  # a file the pipeline cannot list as a method
            print(f"report: warning: {m.name} was fine-tuned from {m.origin}, which is not evaluated, so the report "
                  "cannot show what fine-tuning added; ship it (python -m inpaint.pretrained ship) and list it in "
                  "evaluate.pretrained")
    starts = {m.start for m in results.methods if m.learned}
    rank = {m.name: (0 if m.learned and m.name.startswith("pretrained/") else 1 if m.learned
                     else 2 if m.name in starts else 3) for m in results.methods}
    methods = sorted(results.methods, key=lambda m: rank[m.name])  # stable: params order within a group
    order = {m.name: i for i, m in enumerate(methods)}
    per_image = results.per_image.sort_values("method", key=lambda c: c.map(order), kind="stable")
    return replace(results, per_image=per_image.reset_index(drop=True), methods=methods)


def comparisons(results: Results, agg: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(model, versus, role) for every learned model: the checkpoint it was fine-tuned from (if any), its
    start fill, and the best non-learned method."""
    learned = [m for m in results.methods if m.learned]
    others = [m.name for m in results.methods if not m.learned]
    overall = agg[(agg.group_type == "all") & (agg.metric == RANKING_METRIC) & agg.method.isin(others)]
    higher = directions([RANKING_METRIC])[RANKING_METRIC]
    best = overall.sort_values("mean", ascending=not higher).method.iloc[0] if len(overall) else None
    out = []
    for m in learned:
        if m.origin is not None:
            out.append((m.name, m.origin, "the checkpoint it was fine-tuned from"))
        if m.start is not None:
            out.append((m.name, m.start, "its start" + (", the best non-learned" if m.start == best else "")))
        if best is not None and best != m.start:
            out.append((m.name, best, "best classical"))
    return out


def verdict(per_image: pd.DataFrame, agg: pd.DataFrame, n_boot: int, seed: int) -> str:
    """One paragraph: the best method by the headline metric (RANKING_METRIC, over every pair), and which
    methods the test set cannot tell apart from it (a paired difference whose CI, over photos, holds 0)."""
    overall = agg[(agg.group_type == "all") & (agg.metric == RANKING_METRIC)].set_index("method")["mean"]
    if overall.empty:
        return f"**Verdict:** none ({RANKING_METRIC} was not evaluated)."
    higher = directions([RANKING_METRIC])[RANKING_METRIC]
    ranked = overall.sort_values(ascending=not higher)
    best, others = ranked.index[0], list(ranked.index[1:])
    photos = per_image.image_id.nunique()
    text = f"**Verdict:** by mean {RANKING_METRIC} over every test pair, **{best}** is best ({ranked.iloc[0]:.4f})."
    if not others:
        return text
    paired = paired_differences(per_image, [(o, best) for o in others], {RANKING_METRIC: higher}, None, n_boot, seed, CI)
    close = [r for r in paired.itertuples() if not (r.ci_low > 0 or r.ci_high < 0)]  # NaN (one photo): not resolved
    if not close:
        return text + f" Every other method is worse, resolved by these {photos} test photos (paired {round(100 * CI)}% CIs)."
    shown = "; ".join(f"{r.method} {r.diff:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}]" for r in close)
    more = " For claims, score a larger test set (bench/bsds500.py: 200 photos)." if photos < FEW_PHOTOS else ""
    return (text + f" These {photos} test photos do not tell it apart from: {shown} (paired difference to {best}, "
            f"{round(100 * CI)}% CI over photos).{more}")


def diversity_rows(name: str, per_pair: pd.DataFrame, per_image: pd.DataFrame, samples: int) -> list[dict]:
    """Mean diversity and sample LPIPS of one sampling model per hole range, beside its single fill's LPIPS."""
    single = per_image[(per_image.method == name) & (per_image.metric == "lpips")]
    rows = []
    for label, lo in HOLE_RANGES.items():
        sel = per_pair[per_pair.hole_ratio >= lo]
        rows.append({"method": name, "holes": label, "pairs": len(sel), "samples": samples,
                     "diversity": sel.diversity.mean(), "sample_lpips": sel.sample_lpips.mean(),
                     "lpips": single[single.hole_ratio >= lo].value.mean() if len(single) else float("nan")})
    return rows


def test_set_info(pairs: pd.DataFrame, pairs_file: str | Path, image_size: int) -> dict:
    """What was scored, for metrics.json: pair and photo counts, the crop size, and a fingerprint of
    test_pairs.csv and that size (two experiments with equal fingerprints scored the same test set)."""
    digest = hashlib.sha256(Path(pairs_file).read_bytes() + f"|{image_size}".encode()).hexdigest()[:12]
    return {"pairs": int(len(pairs)), "photos": int(pairs.image_id.nunique()), "image_size": int(image_size),
            "fingerprint": digest}


def write_report(out: str | Path, results: Results, images: np.ndarray, masks: np.ndarray, pairs: pd.DataFrame,
                 n_boot: int, seed: int, samples: int, test_set: dict | None = None) -> None:
    """Write per_image.csv, metrics.json, breakdown.json, summary.md, plots/, grids/ and timings.json
    (when `results` has timings) under `out`. `test_set`: `test_set_info`'s dict for metrics.json."""
    out = Path(out)
    per_image, preds = results.per_image, results.preds
    metrics = list(pd.unique(per_image.metric))
    names = [m.name for m in results.methods]
    higher = directions(metrics)
    print(f"report: bootstrap, {n_boot} resamples of {pairs.image_id.nunique()} test photos", flush=True)
    agg = aggregate(per_image, n_boot=n_boot, seed=seed, ci=CI)

    plots, figures = {}, {}
    for m in metrics:
        plot_metric_vs_hole_ratio(agg, m, out / "plots" / f"{m}.png", higher[m])
        plot_data_csv(agg, out / "plots" / f"{m}.csv", metric=m)
        plots[m] = f"plots/{m}.png"
    columns = ["input", *names, "ground truth"]
    print("report: comparison grids", flush=True)
    for kind, rows in example_rows(pairs).items():
        grid = [[show_hole(images[i], masks[i]), *(preds[n][i] for n in names), images[i]] for i in rows]
        labels = [f"{pairs.bucket[i]}% ({pairs.image_id[i]})" for i in rows]
        comparison_grid(grid, columns, out / "grids" / f"{kind}.png", row_labels=labels, title=f"mask kind: {kind}")
        figures[f"mask kind {kind}"] = f"grids/{kind}.png"
    big, diverse = diverse_rows(pairs), []
    for name, per_pair in results.diversity.items():
        rows = diversity_rows(name, per_pair, per_image, samples)
        diverse += rows
        if not big or name not in results.samples:
            continue
        fills = results.samples[name]
        n = fills.shape[1]
        grid = [[show_hole(images[i], masks[i]), *f, images[i]] for i, f in zip(big, fills)]
        cols = ["input", *(f"sample {k + 1}" for k in range(n)), "ground truth"]
        score = rows[0]["diversity"]  # every pair's
        what = "diverse fills" if score >= DIVERSE_AT_LEAST else "samples that barely differ"
        title = f"{name}: {what} (diversity {score:.3f})"
        grid_file = f"grids/{file_stem(name)}_samples.png"  # a method named by a path stays in grids/
        comparison_grid(grid, cols, out / grid_file, title=title)
        figures[f"{name}: {n} samples per hole, {what} (diversity {score:.3f})"] = grid_file

    for name, pictures in results.sources.items():  # attention models: where each hole location copied from
        grid = [[show_hole(images[i], masks[i]), preds[name][i], p, images[i]] for i, p in zip(big, pictures)]
        grid_file = f"grids/{file_stem(name)}_attention.png"
        what = "where each hole location drew from (its attention's strongest source)"
        comparison_grid(grid, ["input", name, "drew from", "ground truth"], out / grid_file, title=f"{name}: {what}")
        figures[f"{name}: {what}; in 'drew from' every place of the photo has its own colour (dimmed outside the "
                "hole) and a hole pixel shows the colour of the place it copied"] = grid_file

    triples = comparisons(results, agg)
    shown = {m: higher[m] for m in PAIRED_METRICS if m in higher}
    paired = paired_differences(per_image, [(a, b) for a, b, _ in triples], shown, HOLE_RANGES, n_boot, seed, CI)
    roles = {(a, b): role for a, b, role in triples}
    paired["role"] = [roles[(a, b)] for a, b in zip(paired.method, paired.versus)]

    photos = pairs.image_id.nunique()
    lead = [f"{len(pairs)} test pairs ({photos} photos) at {images.shape[1]}x{images.shape[2]}; "
            f"means with {round(100 * CI)}% bootstrap CIs ({n_boot} resamples of the photos).",
            verdict(per_image, agg, n_boot, seed)]
    notes = []
    if photos < FEW_PHOTOS:
        notes.append(f"**Only {photos} test photos.** A bootstrap over so few photos can draw only a handful of "
                     "distinct resamples, so its intervals are rough and can be narrower than the real uncertainty; "
                     "judge close differences on a larger test set (e.g. bench/bsds500.py: 200 test photos).")
    trained = [m.note for m in results.methods if m.note]
    if trained:
        notes.append("Checkpoints (chosen on the validation photos: a step replaces step 0 only when it beats it by "
                     "more than the noise and on every validation photo): " + "; ".join(trained) + ".")
    if results.timings:
        notes.append("Timings (seconds per pair, from a separate warm pass, with its batch size, threads and "
                     "device) are in timings.json, which DVC caches outside git: nothing here changes from run to run.")
    md = summary_markdown(agg, higher, descriptions(metrics), notes=notes, lead=lead, plots=plots,
                          figures=figures, paired=paired, diverse=pd.DataFrame(diverse))
    write_csv(out / "per_image.csv", per_image)
    headline = headline_json(per_image, test_set or {})
    breakdown = breakdown_json(agg)
    for r in diverse:  # dvc exp show can compare a sampler's diversity too
        key = "diversity" if HOLE_RANGES[r["holes"]] == 0 else f"diversity{LARGE_HOLES_SUFFIX}"
        headline[r["method"]][key] = plain_number(r["diversity"], 5)  # None, not NaN, without pairs: valid JSON
        breakdown[r["method"]].setdefault("diversity", {})[r["holes"]] = plain_number(r["diversity"], 5)
    write_text(out / "metrics.json", json.dumps(headline, indent=1))
    write_text(out / "breakdown.json", json.dumps(breakdown, indent=1))
    if results.timings:
        write_text(out / "timings.json", json.dumps(results.timings, indent=1))
    write_text(out / "summary.md", md)
