"""Methods by name: which method a name stands for, loaded ready to fill, and what names this machine has.

A method is named by a registered baseline (`inpaint.baselines.BASELINES`: telea, hybrid, ...), by
a pretrained model (`pretrained/lama`, or a `.safetensors` path: see inpaint.pretrained) or by a
checkpoint: a path to a `.pt` file, or the name of a trained model whose checkpoint is
`<checkpoints>/<name>/best.pt`. `resolve_method` decides which, in one place, for the pipeline
(`inpaint.evaluation`) and the `inpaint` command (`inpaint.fill`, `inpaint serve`) alike. A learned
model is rebuilt from its checkpoint (not from today's params) and remembers the registered fill it
starts from, so the report can show what training added. Every method is called alike:
`fill(images (N, H, W, 3), masks (N, H, W)) -> composited images`, 1 = hole.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from inpaint import pretrained
from inpaint.names import BASELINE_NAMES, GENERATOR_NAMES
from inpaint.pretrained import SUFFIX, is_pretrained_name, load_generator, sha256
from inpaint.pretrained import candidates as pretrained_candidates
from inpaint.pretrained import resolve as resolve_pretrained

if TYPE_CHECKING:  # torch, the registries and the models load when a method is resolved, not when it is named
    import torch

FillFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
PROJECT_MODELS = pretrained.ROOT / "models"  # the trained models of the checkout inpaint runs from


@dataclass
class Method:
    """A resolved method: its name, batched fill, and for a learned one its model, checkpoint and start fill."""

    name: str
    fill: FillFn
    model: torch.nn.Module | None = None
    checkpoint: Path | None = None
    start: str | None = None  # the registered fill an untrained copy of the model returns
    info: dict | None = None  # the checkpoint's step, params and validation scores
    origin: str | None = None  # the checkpoint it was fine-tuned from, checked to be that very file


def model_folders(checkpoints: str | Path | None) -> list[Path]:
    """Where a bare model name is looked for (`<folder>/<name>/best.pt`): the `checkpoints` folder when one
    is given; by default (None) ./models and the project's models/ (of the checkout inpaint runs from), so
    a name means the same from any folder."""
    if checkpoints is not None:
        return [Path(checkpoints)]
    found: list[Path] = []
    for folder in (Path("models"), PROJECT_MODELS):
        if folder.is_dir() and all(folder.resolve() != f.resolve() for f in found):
            found.append(folder)
    return found or [Path("models")]


def method_source(name: str, checkpoints: str | Path | None, fallback_pretrained: bool = False) -> Path | None:
    """The checkpoint a method name stands for, or None for a registered baseline.

    A path ending in `.pt` (or any existing file) is a checkpoint, whatever folder it lies in; a
    bare name is a baseline when registered, else `<folder>/<name>/best.pt` of `model_folders`, else
    (with `fallback_pretrained`, as the `inpaint` command asks) the shipped `pretrained/<name>`. Raises
    a ValueError naming the known baselines, and the paths tried, when it is none of these, and naming
    both files when two folders hold a model of that name.
    """
    path = Path(name)
    if is_pretrained_name(name):
        return resolve_pretrained(name)
    if path.suffix == ".pt":
        if not path.is_file():
            raise ValueError(f"checkpoint {path} not found; train one with `dvc repro` or give a baseline name")
        return path
    if name in BASELINE_NAMES:
        return None
    if path.is_file():
        return path
    tried = [folder / name / "best.pt" for folder in model_folders(checkpoints)]
    trained = [p for p in tried if p.is_file()]
    if len(trained) > 1:
        raise ValueError(f"method {name!r} names two trained models, {trained[0]} and {trained[1]}; give the path "
                         f"of the one you mean (e.g. {trained[1]}) or --checkpoints")
    if trained:
        return trained[0]
    baselines = ", ".join(sorted(BASELINE_NAMES))
    looked = " and ".join(str(p) for p in tried)
    if not fallback_pretrained:
        raise ValueError(f"method {name!r} is neither a baseline ({baselines}) nor a checkpoint: "
                         f"give a checkpoint path such as models/lama/best.pt ({looked} does not exist)")
    shipped = pretrained_candidates(f"pretrained/{name}")
    found = next((p for p in shipped if p.is_file()), None)
    if found is None:
        where = f" (--checkpoints {checkpoints})" if checkpoints is not None else ""
        raise ValueError(f"method {name!r} is neither a baseline ({baselines}) nor a trained or pretrained model: "
                         f"tried {looked}{where}, {shipped[0]} and {shipped[1]}; give a "
                         "checkpoint path such as models/lama/best.pt, or pretrained/lama")
    return found


def resolve_method(name: str, checkpoints: str | Path | None, device: str = "auto", batch_size: int = 16,
                   fallback_pretrained: bool = False) -> Method:
    """Load the method `name` stands for (see `method_source`), ready to fill."""
    ckpt = method_source(name, checkpoints, fallback_pretrained)
    if ckpt is None:  # a baseline: torch loads only if it is one of the start fills
        from inpaint.baselines import BASELINES

        fn = BASELINES[name]
        return Method(name, lambda images, masks: np.stack([fn(i, m) for i, m in zip(images, masks)]))
    from inpaint.checkpoints import generator_from_checkpoint, pick_device, predict
    from inpaint.models import start_fill

    dev = pick_device(device)
    if ckpt.suffix == ".safetensors":  # a pretrained model: its card says how it was trained
        model, meta = load_generator(ckpt, dev)
        card = meta["card"]
        info = {"step": card.get("steps"), "best_step": card.get("best_step"), "params": card.get("params"), "val": None,
                "pretrained": True}
    else:
        model, meta = generator_from_checkpoint(ckpt, dev)
        info = {k: meta.get(k) for k in ("step", "params", "val", "init")}
    start = start_fill(getattr(model, "init_fill", "none"))
    fill = lambda images, masks: predict(model, images, masks, dev, batch_size)  # noqa: E731
    return Method(name, fill, model, ckpt, start, info, checked_origin(name, info, ckpt))


def init_file(source: str) -> Path | None:
    """The file an `init_from` (a pretrained/<name> or a path) names, or None when it is not there."""
    try:
        path = resolve_pretrained(source) if is_pretrained_name(source) else Path(source)
    except ValueError:
        return None
    return path if path.is_file() else None


def is_itself(source: str, checkpoint: Path) -> bool:
    """Whether an `init_from` is the very file `checkpoint`: a model shipped over the one it fine-tuned."""
    path = init_file(source)
    return path is not None and path.resolve() == Path(checkpoint).resolve()


def checked_origin(name: str, info: dict, checkpoint: Path | None = None) -> str | None:
    """The `init_from` in a checkpoint's params, or None; also None, with a warning, when that file is
    gone or is no longer the one it started from (re-shipped, retrained), since scoring it beside the
    model would then mislead; and None, silently, when it names the checkpoint itself (a pretrained
    model shipped over the one it fine-tuned, whose card says so). Checked once, when the method is resolved."""
    source = (info.get("params") or {}).get("init_from")
    if not source:
        return None
    record = info.get("init") or {}
    if checkpoint is not None and is_itself(source, checkpoint):
        return None
    path = init_file(source)
    current = sha256(path) if path is not None else None
    if current is None or (record.get("sha256") and record["sha256"] != current):
        what = "is missing" if current is None else "is no longer the file it started from"
        print(f"note: {name} was fine-tuned from {source}, which {what}; "
              f"not scored beside it (retrain {name} to compare them)")
        return None
    return source


def available_methods(checkpoints: str | Path | None = None, samples: bool = True) -> list[dict]:
    """What `--method` can name on this machine: [{"name", "kind" (baseline, pretrained, trained), "samples"
    (whether the model draws different fills; read from its file's architecture, unless `samples` is False:
    then None, and nothing is imported or read beyond the folders' listings)}], baselines last."""
    check = _samples if samples else lambda weights: None
    shipped = {p.stem: p for d in (pretrained.SHIPPED, Path("pretrained")) for p in sorted(d.glob(f"*{SUFFIX}"))}
    trained: dict[str, Path] = {}
    for folder in model_folders(checkpoints):
        for p in sorted(folder.glob("*/best.pt")):
            trained.setdefault(p.parent.name, p)
    return ([{"name": f"pretrained/{s}", "kind": "pretrained", "samples": check(p)} for s, p in sorted(shipped.items())]
            + [{"name": t, "kind": "trained", "samples": check(p)} for t, p in trained.items()]
            + [{"name": b, "kind": "baseline", "samples": False} for b in sorted(BASELINE_NAMES)])


_SAMPLES: dict = {}  # (path, mtime, size) -> whether it samples: a server lists its methods often


def _samples(weights: Path) -> bool:
    """Whether the generator stored in a .safetensors or .pt file can sample (by its architecture's class);
    False for a file that cannot be read (resolving it names the problem)."""
    try:
        st = weights.stat()
    except OSError:
        return False
    key = (str(weights.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _SAMPLES:
        _SAMPLES[key] = _read_samples(weights)
    return _SAMPLES[key]


def _read_samples(weights: Path) -> bool:
    from inpaint.checkpoints import load_checkpoint
    from inpaint.models import GENERATORS, can_sample

    try:
        arch = load_checkpoint(weights).get("arch") if weights.suffix == ".pt" else pretrained.architecture(weights)[0]
    except (OSError, ValueError, RuntimeError, AttributeError):
        return False
    return can_sample(GENERATORS.get(arch))


def methods_help(checkpoints: str | Path | None = None) -> str:
    """What `--method` can name on this machine, for --help (without importing torch)."""
    found = available_methods(checkpoints, samples=False)
    names = lambda kind: ", ".join(m["name"] for m in found if m["kind"] == kind)  # noqa: E731
    return "\n".join([
        "methods (--method):",
        f"  baselines:   {names('baseline')}",
        f"  pretrained:  {names('pretrained') or '(none found in pretrained/)'}",
        (f"  trained:     {names('trained') or '(none)'} in {' and '.join(f'{f}/' for f in model_folders(checkpoints))} "
         "(<name>/best.pt; a bare name falls back to pretrained/<name>)"),
        ("  checkpoint:  any path to a .pt (models/lama/last.pt) or .safetensors file; architectures: "
         f"{', '.join(sorted(GENERATOR_NAMES))}"),
    ])
