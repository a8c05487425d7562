"""Evaluation: every method, learned or classical, on the same test pairs; long-format scores.

Methods are named and loaded by `inpaint.methods` (as `inpaint fill` loads them); a learned model's
start fill and the checkpoint it was fine-tuned from are scored beside it, so the report shows what
training added.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from inpaint.arrays import masks_to_nchw, to_nchw
from inpaint.checkpoints import pick_device
from inpaint.methods import FillFn, Method, is_itself, method_source, resolve_method
from inpaint.metrics import compute, get_metric
from inpaint.models import can_sample


def check_names(methods: list[str], metrics: list[str], checkpoints: str | Path, device: str = "auto") -> None:
    """Fail on any unknown method, metric or device before the first method runs."""
    if not methods:
        raise ValueError("no method to evaluate; name at least one (e.g. telea)")
    for m in metrics:
        get_metric(m)
    for name in methods:
        method_source(name, checkpoints)
    pick_device(device)


def resolve_all(names: list[str], checkpoints: str | Path, device: str = "auto", batch_size: int = 16) -> list[Method]:
    """Resolve every method; a learned model's start fill is added after it when not listed, since a
    learned model is always reported beside the fill it starts from."""
    methods = [resolve_method(n, checkpoints, device, batch_size) for n in names]
    listed = set(names)
    for m in list(methods):
        for extra in (m.origin, m.start):  # the checkpoint it was fine-tuned from, its start fill
            if extra is not None and extra not in listed:
                methods.append(resolve_method(extra, checkpoints, device, batch_size))
                listed.add(extra)
    return methods


def checkpoint_note(method: Method) -> str | None:
    """Which training step a model's checkpoint holds, out of how many, and its validation score;
    None for a baseline. Step 0 is the untrained model, i.e. its starting fill: training never beat it."""
    if method.checkpoint is None:
        return None
    ckpt = method.info or {}
    params, val = ckpt.get("params") or {}, ckpt.get("val") or {}
    scores = ", ".join(f"{k} {v:.4f}" + (f" ± {val[k + '_se']:.4f} (s.e.)" if f"{k}_se" in val else "")
                       for k, v in val.items() if not k.endswith("_se"))
    if ckpt.get("pretrained"):
        best = ckpt.get("best_step")  # the step the export holds, when validation chose an earlier one than the last
        at = f", the generator of step {best}" if best is not None and best != ckpt.get("step") else ""
        init = params.get("init_from")
        if init:  # a pretrained fine-tune: of another model, or of the earlier file of its own name it replaced
            at += f" fine-tuning the earlier {init} it replaced" if is_itself(init, method.checkpoint) else f" fine-tuning {init}"
        return (f"{method.name}: pretrained, {ckpt.get('step')} steps{at} "
                f"(see its model card {method.checkpoint.with_suffix('.json')})")
    origin = method.origin
    note = f"{method.name}: {method.checkpoint.name} from step {ckpt.get('step')} of {params.get('max_steps', '?')}"
    note += f", fine-tuned from {origin}" if origin else ""
    note += f" (validation {scores})" if scores else ""
    if ckpt.get("step") == 0:
        note += f" = {origin} unchanged" if origin else " = the untrained starting fill"
    return note


def run_method(fill: FillFn, images: np.ndarray, masks: np.ndarray, name: str = "", chunk: int = 64) -> np.ndarray:
    """Fill every pair, `chunk` pairs per call (a progress bar with ETA per method; every fill treats
    each pair on its own, so chunking changes no prediction)."""
    preds = []
    with tqdm(total=len(images), desc=f"fill {name}", unit="pair", dynamic_ncols=True, mininterval=1) as bar:
        for i in range(0, len(images), chunk):
            out = fill(images[i:i + chunk], masks[i:i + chunk])
            if out.shape != images[i:i + chunk].shape:
                raise ValueError(f"method {name} returned shape {out.shape} for inputs {images[i:i + chunk].shape}")
            preds.append(out.astype(np.float32))
            bar.update(len(out))
    return np.concatenate(preds)


def timing_pass(methods: list["Method"], images: np.ndarray, masks: np.ndarray, batch_size: int, device: str,
                pairs: int = 32, repeats: int = 2) -> dict:
    """Seconds per pair of each method, measured apart from the evaluation: on the first `pairs` test
    pairs, after a warm-up call (model loading, allocator, oneDNN kernels), the best of `repeats` timed
    calls; with the batch size, thread count and device stated beside the figures."""
    n = min(pairs, len(images))
    x, m = images[:n], masks[:n]
    seconds = {}
    for method in tqdm(methods, desc="timing", unit="method", dynamic_ncols=True):
        method.fill(x, m)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            method.fill(x, m)
            times.append(time.perf_counter() - t0)
        seconds[method.name] = round(min(times) / n, 6)
    return {"pairs": n, "repeats": repeats, "batch_size": batch_size, "threads": torch.get_num_threads(),
            "device": str(pick_device(device)), "image_size": int(images.shape[1]), "seconds_per_pair": seconds}


def score(method: str, preds: np.ndarray, images: np.ndarray, masks: np.ndarray, pairs: pd.DataFrame,
          metrics: list[str], device: str = "auto", batch_size: int = 32) -> pd.DataFrame:
    """Long-format per-image scores: method, image_id, mask_id, mask_kind, hole_ratio, bucket, metric, value."""
    dev = pick_device(device)
    values = {m: [] for m in metrics}
    for i in tqdm(range(0, len(images), batch_size), desc=f"score {method}", unit="batch",
                  dynamic_ncols=True, mininterval=1):
        sl = slice(i, i + batch_size)
        out = compute(metrics, to_nchw(preds[sl]), to_nchw(images[sl]), masks_to_nchw(masks[sl]), device=dev)
        for m in metrics:
            values[m].append(np.asarray(out[m], dtype=np.float64))
    base = pairs[["image_id", "mask_id", "mask_kind", "hole_ratio", "bucket"]].reset_index(drop=True)
    frames = [base.assign(method=method, metric=m, value=np.concatenate(values[m])) for m in metrics]
    cols = ["method", "image_id", "mask_id", "mask_kind", "hole_ratio", "bucket", "metric", "value"]
    return pd.concat(frames, ignore_index=True)[cols]


@dataclass
class Scored:
    """A method as the report sees it: whether it learned, the fill it starts from, the checkpoint it was
    fine-tuned from, and the note on its checkpoint (what `predictions/<name>/method.json` holds)."""

    name: str
    learned: bool = False
    start: str | None = None
    origin: str | None = None
    note: str | None = None

    @classmethod
    def of(cls, method: Method) -> "Scored":
        return cls(method.name, method.checkpoint is not None, method.start, method.origin, checkpoint_note(method))


@dataclass
class MethodResult:
    """One method on the test pairs: long-format scores, its fills, its timing (`timing_pass`, or None),
    and for a model that samples, each pair's diversity (`diversity`) and the samples of the pairs a
    diverse-fill grid shows (`grids.diverse_rows`: (rows, n, S, S, 3)); for a model with contextual attention,
    the pictures of where its hole locations drew from (`attention.source_picture`) for those same pairs
    (rows, S, S, 3)."""

    method: Scored
    scores: pd.DataFrame
    preds: np.ndarray
    timing: dict | None = None
    diversity: pd.DataFrame | None = None
    samples: np.ndarray | None = None
    sources: np.ndarray | None = None


@dataclass
class Results:
    """What one evaluation produced, every method together: scores, predictions, the methods, `timings`
    (seconds per pair from the separate warm passes, or None), and the samplers' diversity and samples."""

    per_image: pd.DataFrame
    preds: dict[str, np.ndarray]
    methods: list[Scored]
    timings: dict | None = None
    diversity: dict[str, pd.DataFrame] = field(default_factory=dict)
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    sources: dict[str, np.ndarray] = field(default_factory=dict)


def evaluate_method(method: Method, images: np.ndarray, masks: np.ndarray, pairs: pd.DataFrame, metrics: list[str],
                    device: str = "auto", batch_size: int = 16, samples: int = 4, seed: int = 0,
                    timing: bool = True) -> MethodResult:
    """Fill and score every pair with one resolved method; time it in a separate warm pass (unless
    `timing` is False); for a model that samples, score `samples` fills per pair for diversity; for a model
    with contextual attention, draw where it copied from in the pairs of `grids.diverse_rows`."""
    from inpaint.attention import attention_pictures, has_attention
    from inpaint.grids import diverse_rows

    preds = run_method(method.fill, images, masks, method.name)
    scores = score(method.name, preds, images, masks, pairs, metrics, device)
    timed = timing_pass([method], images, masks, batch_size, device) if timing else None
    div = drawn = sources = None
    rows = diverse_rows(pairs)
    if can_sample(method.model):
        div = diversity(method.model, images, masks, pairs, samples, seed)
        drawn = diverse_samples(method.model, images[rows], masks[rows], samples, seed) if rows else None
    if has_attention(method.model) and rows:
        sources = attention_pictures(method.model, images[rows], masks[rows])
    return MethodResult(Scored.of(method), scores, preds, timed, div, drawn, sources)


def combine(parts: list[MethodResult]) -> Results:
    """The methods' results as one evaluation (timings merged into one seconds_per_pair table)."""
    timed = [p.timing for p in parts if p.timing]
    timings = None
    if timed:  # the conditions (batch, threads, device, ...) once when every method shares them, else per method
        conditions = [{k: v for k, v in t.items() if k != "seconds_per_pair"} for t in timed]
        same = all(c == conditions[0] for c in conditions)
        timings = dict(conditions[0]) if same else {}
        timings["seconds_per_pair"] = {k: v for t in timed for k, v in t["seconds_per_pair"].items()}
        if not same:  # timed by predict stages that ran apart (another machine, device or batch size)
            timings["conditions"] = {m: c for t, c in zip(timed, conditions) for m in t["seconds_per_pair"]}
    return Results(pd.concat([p.scores for p in parts], ignore_index=True), {p.method.name: p.preds for p in parts},
                   [p.method for p in parts], timings,
                   {p.method.name: p.diversity for p in parts if p.diversity is not None},
                   {p.method.name: p.samples for p in parts if p.samples is not None},
                   {p.method.name: p.sources for p in parts if p.sources is not None})


def evaluate(names: list[str], images: np.ndarray, masks: np.ndarray, pairs: pd.DataFrame, metrics: list[str],
             checkpoints: str | Path, device: str = "auto", batch_size: int = 16, timing: bool = True,
             samples: int = 4, seed: int = 0) -> Results:
    """Fill and score every pair with every method (names checked first, start fills added), each timed
    in a separate warm pass (`timing_pass`) unless `timing` is False. The pipeline runs the same per
    method, one DVC stage each (stages/predict.py); benches and the model card run it in one go."""
    check_names(names, metrics, checkpoints, device)
    methods = resolve_all(names, checkpoints, device, batch_size)
    return combine([evaluate_method(m, images, masks, pairs, metrics, device, batch_size, samples, seed, timing)
                    for m in methods])


@torch.no_grad()
def diverse_samples(model, images: np.ndarray, masks: np.ndarray, n: int, seed: int) -> np.ndarray:
    """`n` composited fills per pair from a model that can sample: (N, n, S, S, 3); masks 1 = hole."""
    device = next(model.parameters()).device
    x, m = to_nchw(images).to(device), masks_to_nchw(masks).to(device)  # (N, 3, S, S), (N, 1, S, S)
    gen = torch.Generator(device=device).manual_seed(seed)
    samples = model.sample(x, m, n, generator=gen).float().clamp(0, 1)  # (n, N, 3, S, S)
    comp = m[None] * samples + (1 - m[None]) * x[None]
    return comp.permute(1, 0, 3, 4, 2).cpu().numpy()


@torch.no_grad()
def diversity(model, images: np.ndarray, masks: np.ndarray, pairs: pd.DataFrame, n: int, seed: int,
              batch_size: int = 16) -> pd.DataFrame:
    """How different a sampling model's fills are, and how good, per test pair (masks 1 = hole).

    diversity: mean LPIPS between the n(n-1)/2 pairs of its `n` samples, averaged over the hole only
    (the pairwise-LPIPS score of Pluralistic Image Completion, without the known pixels that every
    sample shares); sample_lpips: mean LPIPS of the samples to the ground truth, as the lpips metric.
    Returns columns image_id, mask_id, hole_ratio, diversity, sample_lpips.
    """
    from inpaint.perceptual import lpips_model

    if n < 2:
        raise ValueError(f"evaluate.samples is {n}; a diversity score needs at least 2 samples per hole")
    device = next(model.parameters()).device
    lp = lpips_model("alex", device)
    div, quality = [], []
    for i in range(0, len(images), batch_size):
        sl = slice(i, i + batch_size)
        fills = diverse_samples(model, images[sl], masks[sl], n, seed + i)  # (B, n, S, S, 3)
        s = torch.from_numpy(fills).to(device).permute(1, 0, 4, 2, 3)  # (n, B, 3, S, S)
        m, gt = masks_to_nchw(masks[sl]).to(device), to_nchw(images[sl]).to(device)
        pairwise = [lp.in_region(s[a], s[b], m) for a in range(n) for b in range(a + 1, n)]
        div.append(torch.stack(pairwise).mean(0).cpu().numpy())
        quality.append(torch.stack([lp(s[a], gt) for a in range(n)]).mean(0).cpu().numpy())
    out = pairs[["image_id", "mask_id", "hole_ratio"]].reset_index(drop=True)
    return out.assign(diversity=np.concatenate(div), sample_lpips=np.concatenate(quality))


def params_checker():
    """The checker of params.yaml's `evaluate` section (inpaint.params): the pretrained checkpoints (by their
    name under pretrained/) and the baselines (by registry name) evaluated beside the trained models
    (train.models); an old `evaluate.methods` is told where its names went."""
    from inpaint.metrics import METRICS
    from inpaint.names import BASELINE_NAMES
    from inpaint.params import ParamsError, choice, integer, items, name, section, text

    checker = section({"pretrained": items(name), "baselines": items(choice(*BASELINE_NAMES)),
                       "metrics": items(choice(*METRICS), min_len=1), "device": text, "batch_size": integer(1, 4096),
                       "bootstrap": integer(1), "samples": integer(2)})  # the diversity score compares samples two by two

    def check(value, key):
        if isinstance(value, dict) and "methods" in value:
            raise ParamsError(f"{key}.methods is gone: every trained model in train.models is evaluated; list shipped "
                              f"checkpoints in {key}.pretrained (e.g. [lama]) and non-learned methods in {key}.baselines "
                              "(e.g. [hybrid, telea]), then remove methods")
        checker(value, key)

    return check
