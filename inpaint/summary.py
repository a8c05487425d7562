"""The report's text: metrics.json for DVC and summary.md for people.

Everything here takes an aggregate() frame (see `inpaint.stats`) and plain dicts, and knows nothing
about the metric registry (only the headline's names): directions and descriptions arrive as arguments.
"""

from __future__ import annotations

import math

import pandas as pd

from inpaint.metrics import HEADLINE_METRICS, LARGE_HOLES, LARGE_HOLES_SUFFIX
from inpaint.stats import check_agg, infer_ci_level, sorted_buckets


# --------------------------------------------------------------------------- metrics.json, breakdown.json

def plain_number(x, decimals: int):
    x = float(x)
    return None if not math.isfinite(x) else round(x, decimals)


def headline_json(per_image: pd.DataFrame, test_set: dict, decimals: int = 4) -> dict:
    """The DVC metrics file people compare: `{"test_set": {...}, method: {lpips, lpips_30, psnr, ...}}`.

    Per method the overall mean and the mean over holes >= 30% of LPIPS, PSNR and SSIM (those
    evaluated); `test_set` says what was scored (pairs, photos, image size, a fingerprint of
    test_pairs.csv), so two experiments show at a glance whether their numbers are comparable. The
    breakdown by mask kind and hole size is in breakdown.json (`breakdown_json`).
    """
    out = {"test_set": test_set}
    scored = per_image[per_image.metric.isin(HEADLINE_METRICS)]
    large = scored[scored.hole_ratio >= LARGE_HOLES]
    overall = scored.groupby(["method", "metric"], sort=False).value.mean()
    big = large.groupby(["method", "metric"], sort=False).value.mean()
    for method in pd.unique(per_image.method):
        cell = out.setdefault(str(method), {})
        for metric in HEADLINE_METRICS:
            if (method, metric) in overall.index:
                cell[metric] = plain_number(overall[(method, metric)], decimals)
                cell[f"{metric}{LARGE_HOLES_SUFFIX}"] = plain_number(big.get((method, metric), float("nan")), decimals)
    return out


def breakdown_json(agg: pd.DataFrame, decimals: int = 5) -> dict:
    """Every mean of the report `{method: {metric: {"all": mean, <kind>: mean, <bucket>: mean}}}`.

    Values are plain floats rounded to `decimals`; NaN (no finite value in a group) becomes None.
    """
    check_agg(agg)
    out: dict = {}
    for row in agg.itertuples(index=False):
        group = "all" if row.group_type == "all" else str(row.group)
        cell = out.setdefault(str(row.method), {}).setdefault(str(row.metric), {})
        if group in cell:
            raise ValueError(
                f"group name {group!r} of method {row.method!r}, metric {row.metric!r} is used twice "
                "(a mask kind named like a bucket or 'all'?); rename the mask kind"
            )
        cell[group] = plain_number(row.mean, decimals)
    return out


# --------------------------------------------------------------------------- summary.md


def _decimals_for(values) -> int:
    """Decimals that give ~3 significant digits for the largest magnitude: 25.1 -> 2, 0.81 -> 3, 0.031 -> 4."""
    finite = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    if not finite:
        return 3
    return int(min(6, max(2, 2 - math.floor(math.log10(max(finite))))))


def _md_escape(text) -> str:
    return str(text).replace("|", "\\|")


def _fmt(x: float, d: int) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{d}f}"


def _signed(x: float, d: int) -> str:
    """A difference with its sign; "–" when not finite (+ 0.0 turns a rounded -0 into 0)."""
    return "–" if x is None or not math.isfinite(x) else f"{round(x, d) + 0.0:+.{d}f}"


def _best(means: dict, higher_is_better: bool, d: int) -> set:
    """Keys whose mean, as displayed with `d` decimals, equals the best one (ties all bold)."""
    shown = {k: round(v, d) for k, v in means.items() if v is not None and math.isfinite(v)}
    if len(shown) < 2:  # bold needs something to beat
        return set()
    best = max(shown.values()) if higher_is_better else min(shown.values())
    return {k for k, v in shown.items() if v == best}


def _n_text(ns: list[int]) -> str:
    ns = [int(x) for x in ns]
    if not ns:
        return "–"
    lo, hi = min(ns), max(ns)
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def _metric_table(sub: pd.DataFrame, methods: list, columns: list[tuple[str, str, str]], higher: bool) -> list[str]:
    """Markdown table methods x columns; columns are (group_type, group, header)."""
    cells = {(r.method, r.group_type, str(r.group)): r for r in sub.itertuples(index=False)}
    d = _decimals_for(list(sub["mean"]) + list(sub["ci_low"]) + list(sub["ci_high"]))
    lines = [
        "| method | " + " | ".join(h for _, _, h in columns) + " |",
        "|:--|" + "--:|" * len(columns),
    ]
    bold = {}
    for gt, g, _ in columns:
        means = {m: cells[(m, gt, g)].mean for m in methods if (m, gt, g) in cells}
        bold[(gt, g)] = _best(means, higher, d)
    for m in methods:
        row = []
        for gt, g, _ in columns:
            r = cells.get((m, gt, g))
            if r is None or not math.isfinite(r.mean):
                row.append("–")
                continue
            mean = _fmt(r.mean, d)
            if m in bold[(gt, g)]:
                mean = f"**{mean}**"
            row.append(f"{mean} [{_fmt(r.ci_low, d)}, {_fmt(r.ci_high, d)}]")
        lines.append(f"| {_md_escape(m)} | " + " | ".join(row) + " |")
    ns = [_n_text([cells[(m, gt, g)].n for m in methods if (m, gt, g) in cells]) for gt, g, _ in columns]
    lines.append("| *n* | " + " | ".join(ns) + " |")
    return lines


def _arrow(higher: bool) -> str:
    return "↑" if higher else "↓"


def summary_markdown(
    agg: pd.DataFrame,
    directions: dict[str, bool],
    descriptions: dict[str, str] | None = None,
    title: str = "Inpainting results",
    notes: str | list[str] | None = None,
    lead: str | list[str] | None = None,
    plots: dict[str, str] | None = None,
    figures: dict[str, str] | None = None,
    paired: pd.DataFrame | None = None,
    diverse: pd.DataFrame | None = None,
) -> str:
    """GitHub-flavoured markdown report: overview, per-metric tables by hole ratio and mask kind.

    Nothing in it changes when the same pipeline runs again (timings live in reports/timings.json).

    Args:
        agg: the frame returned by aggregate().
        directions: metric -> True if higher is better (every metric in agg must be present).
        descriptions: metric -> one-line description shown under its heading (optional per metric).
        title: the H1 heading.
        notes: paragraph(s) of caveats and details, in a Notes section after the tables.
        lead: paragraph(s) under the title: what was scored, and the verdict (`inpaint.report.verdict`).
        plots: metric -> relative path of its PNG, embedded under that metric's heading.
        figures: caption -> relative path of an image (e.g. a comparison grid), in a Figures section.
        paired: the frame of `inpaint.stats.paired_differences` (learned models against their start
            fill and the best classical method), shown first as "What training adds".
        diverse: per sampling model and hole range (columns method, holes, pairs, samples, diversity,
            sample_lpips, lpips), shown as "Diverse fills".
    """
    check_agg(agg)
    descriptions = descriptions or {}
    methods = list(pd.unique(agg["method"]))
    metrics = list(pd.unique(agg["metric"]))
    unknown = [m for m in metrics if m not in directions]
    if unknown:
        raise ValueError(
            f"directions lack metrics {unknown} (known: {sorted(directions)}); pass "
            "{metric: higher_is_better} for every metric in agg"
        )
    kinds = sorted(set(agg.loc[agg["group_type"] == "kind", "group"].astype(str)))
    buckets = sorted_buckets(agg.loc[agg["group_type"] == "bucket", "group"])
    pct = round(infer_ci_level(agg) * 100)

    out = [f"# {title}", ""]
    for para in [lead] if isinstance(lead, str) else lead or []:
        out += [para, ""]
    out += ["## Overview", ""]

    # Overview: methods x metrics, "all" group
    overall = agg[agg["group_type"] == "all"]
    header = [f"{_md_escape(m)} {_arrow(directions[m])}" for m in metrics]
    out.append("| method | " + " | ".join(header) + " |")
    out.append("|:--|" + "--:|" * len(metrics))
    cells = {(r.method, r.metric): r for r in overall.itertuples(index=False)}
    decs = {m: _decimals_for(overall.loc[overall["metric"] == m, "mean"]) for m in metrics}
    bold = {
        m: _best({me: cells[(me, m)].mean for me in methods if (me, m) in cells}, directions[m], decs[m])
        for m in metrics
    }
    for me in methods:
        row = []
        for m in metrics:
            r = cells.get((me, m))
            v = _fmt(r.mean if r is not None else None, decs[m])
            row.append(f"**{v}**" if me in bold[m] else v)
        out.append(f"| {_md_escape(me)} | " + " | ".join(row) + " |")
    out += ["", ("Means over test (image, mask) pairs; **bold** marks the best method per column (ties at the "
                 "shown precision are all bold)" + (", and the verdict above says whether the test set resolves it."
                                                    if lead else "; overlapping intervals below mean it is not resolved.")),
            ""]
    if paired is not None and not paired.empty:
        out += paired_markdown(paired, directions, pct)
    if diverse is not None and not diverse.empty:
        out += diversity_markdown(diverse)

    for metric in metrics:
        higher = bool(directions[metric])
        sub = agg[agg["metric"] == metric]
        better = "higher is better" if higher else "lower is better"
        out += [
            f"## {metric} {_arrow(higher)}",
            "",
            f"*{better}*" + (f" — {descriptions[metric]}" if descriptions.get(metric) else ""),
            "",
        ]
        if plots and metric in plots:
            out += [f"![{metric} vs hole ratio]({plots[metric]})", ""]
        cols = [("all", "all", "all")] + [("bucket", b, f"{b}%") for b in buckets]
        out += ["**By hole ratio** (% of the image inside the hole)", ""]
        out += _metric_table(sub, methods, cols, higher) + [""]
        if kinds:
            cols = [("kind", k, _md_escape(k)) for k in kinds]
            out += ["**By mask kind**", ""]
            out += _metric_table(sub, methods, cols, higher) + [""]

    out += ["## Notes", "", (
        f"The tables give means with {pct}% percentile-bootstrap confidence intervals in brackets. The "
        "bootstrap resamples photos, not pairs (many crops and masks of one photo are not independent "
        "evidence), so with few test photos the intervals are wide, and with one photo there is none (–); "
        "overlapping intervals mean the difference is not resolved by this test set. *n* counts the scored pairs."), ""]
    for note in [notes] if isinstance(notes, str) else notes or []:
        out += [note, ""]

    if figures:
        out += ["## Figures", ""]
        for caption, path in figures.items():
            out += [f"**{caption}**", "", f"![{caption}]({path})", ""]

    return "\n".join(out).rstrip() + "\n"


def diversity_markdown(diverse: pd.DataFrame) -> list[str]:
    """The "Diverse fills" section: how different a sampling model's fills are, beside how good."""
    lines = [
        "## Diverse fills",
        "",
        "For models that sample: *diversity* is the mean LPIPS between every two of its samples, averaged "
        "inside the hole (Pluralistic Image Completion's score; 0 = the samples are identical); *sample "
        "LPIPS* is the samples' mean LPIPS to the ground truth, beside the LPIPS of the model's single "
        "(prior-mean) fill scored above. Diversity bought with quality shows as a sample LPIPS well above it.",
        "",
        "| model | holes | pairs | samples | diversity ↑ | sample LPIPS ↓ | single-fill LPIPS ↓ |",
        "|:--|:--|--:|--:|--:|--:|--:|",
    ]
    for r in diverse.itertuples(index=False):
        lines.append(f"| {_md_escape(r.method)} | {_md_escape(r.holes)} | {r.pairs} | {r.samples} | "
                     f"{_fmt(r.diversity, 4)} | {_fmt(r.sample_lpips, 4)} | {_fmt(r.lpips, 4)} |")
    return lines + [""]


def paired_markdown(paired: pd.DataFrame, directions: dict[str, bool], pct: int = 95) -> list[str]:
    """The "What training adds" section: one row per (model, comparison, hole range), one column
    pair (difference [CI], share of pairs the model wins) per metric."""
    metrics = list(pd.unique(paired["metric"]))
    photos = int(paired["photos"].max())
    lines = [
        "## What training adds",
        "",
        f"Paired differences *model − comparison* on the same test pairs, with {pct}% bootstrap CIs whose "
        f"resampling unit is the photo ({photos} test photo{'s' if photos != 1 else ''}: with few photos the "
        "intervals are wide). Each model is compared with the fill it starts from (what an untrained copy "
        "returns), with the best non-learned method by mean LPIPS, and a fine-tuned model with the pretrained "
        "checkpoint it started from (what fine-tuning added). "
        + " ".join(f"{m}: {'positive' if directions[m] else 'negative'} = the model is better." for m in metrics)
        + " *wins*: share of pairs where the model is better by more than float32 rounding (ties, e.g. an untrained model, are not)."
        + " A dash for a CI: all pairs come from one photo, so no interval can be given.",
        "",
        "| model | versus | holes | pairs | " + " | ".join(f"Δ {_md_escape(m)} | wins" for m in metrics) + " |",
        "|:--|:--|:--|--:|" + "--:|--:|" * len(metrics),
    ]
    cells = {(r.method, r.versus, r.holes, r.metric): r for r in paired.itertuples(index=False)}
    keys = list(dict.fromkeys((r.method, r.versus, r.holes, getattr(r, "role", "")) for r in paired.itertuples(index=False)))
    for method, versus, holes, role in keys:
        row, n = [], 0
        for m in metrics:
            r = cells.get((method, versus, holes, m))
            if r is None:
                row += ["–", "–"]
                continue
            d = min(4, _decimals_for([r.diff, r.ci_low, r.ci_high]) + 1)  # differences: one more digit, at most 4
            row += [f"{_signed(r.diff, d)} [{_signed(r.ci_low, d)}, {_signed(r.ci_high, d)}]", f"{100 * r.better:.0f}%"]
            n = r.n
        versus_text = _md_escape(versus) + (f" ({role})" if role else "")
        lines.append(f"| {_md_escape(method)} | {versus_text} | {holes} | {n} | " + " | ".join(row) + " |")
    return lines + [""]
