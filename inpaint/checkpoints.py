"""Checkpoints and inference: the format, atomic save, safe load, rebuilding a generator, predicting.

A checkpoint describes itself: `{"format", "arch", "kwargs", "state", "step", "params", "val"}` for
a generator (best.pt), plus optimiser and RNG state for a resumable run (last.pt). Everything here
is what evaluation and the `inpaint` command need, so neither imports the training loop.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inpaint.arrays import masks_to_nchw, to_nchw, to_nhwc
from inpaint.atomic import atomic_path
from inpaint.models import build_generator, fill_holes

# Bumped whenever a checkpoint's meaning changes (format 2: every generator ends in a FillHead, whose
# gates blend the fills it is shown; format-1 heads only added a residual).
CHECKPOINT_FORMAT = 2


def pick_device(name: str = "auto") -> torch.device:
    """`auto` takes CUDA when present, else the CPU; a device that is not there is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device {name!r} is not a device; use auto, cpu, cuda or cuda:N") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: this machine has no CUDA GPU visible to torch; use auto or cpu")
    return device


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Atomically save a checkpoint (plain tensors and containers only, loadable with weights_only)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """Load a checkpoint without unpickling code (`weights_only=True`)."""
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # a truncated or foreign file; PyTorch's own text would suggest unpickling it anyway
        unsafe = "weights_only" in str(e) or "Unpickl" in type(e).__name__
        why = ("it holds Python objects besides tensors, which are never loaded: they could run code" if unsafe
               else "truncated, or not a PyTorch file")
        raise ValueError(f"{path}: not a readable inpaint checkpoint ({why}); retrain or re-download it") from None
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: not an inpaint checkpoint (a {type(ckpt).__name__}, not a dictionary); retrain it")
    return ckpt


def check_finite(state: dict, source) -> None:
    """A ValueError naming the first tensor of a state dict that holds NaN or infinity: such weights fill
    holes with black (or nothing) and must never load quietly."""
    bad = [k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"{source}: {len(bad)} weight tensor(s) hold NaN or infinity (first: {bad[0]}); the training "
                         "that wrote it diverged or the file is damaged: retrain it or restore it")


def build_from(source, arch, kwargs, state: dict) -> torch.nn.Module:
    """The generator `arch` built with `kwargs`, its weights `state` loaded; one line naming `source` for
    anything that does not fit (a wrong label, foreign kwargs, missing or extra tensors, other shapes)."""
    if not isinstance(arch, str) or not isinstance(kwargs, dict):
        raise ValueError(f"{source}: its architecture label {arch!r} and kwargs {kwargs!r} are not a name and a "
                         "mapping; the file was not written by inpaint")
    check_finite(state, source)
    model = build_generator(arch, **kwargs)
    own = model.state_dict()
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or extra or shapes:
        example = (missing or extra or shapes)[0]
        raise ValueError(f"{source}: its weights do not fit a {arch!r} generator with kwargs {kwargs} ({len(missing)} "
                         f"missing, {len(extra)} unexpected, {len(shapes)} of another shape; e.g. {example}); its "
                         "label is wrong or another version wrote it: retrain or re-export it")
    model.load_state_dict(state)
    return model


def read_generator_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """A training checkpoint that describes a generator (arch, kwargs, state) in this inpaint's format; a
    ValueError naming the file and the fix otherwise. What every reader of a .pt uses (its weights are
    checked to be finite by whoever uses them: `build_from`, `pretrained.init_state`)."""
    ckpt = load_checkpoint(path, device)
    for key in ("arch", "kwargs", "state"):
        if key not in ckpt:
            raise ValueError(f"{path}: checkpoint lacks {key!r}; it was not written by inpaint's trainer")
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path}: checkpoint format {ckpt.get('format')}, this inpaint reads format {CHECKPOINT_FORMAT}; "
            f"retrain it (`dvc repro -f train@{ckpt['arch']}`) or use the inpaint version that wrote it"
        )
    return ckpt


def generator_from_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild the generator a checkpoint describes (architecture + kwargs + weights), in eval mode."""
    ckpt = read_generator_checkpoint(path, device)
    model = build_from(path, ckpt["arch"], ckpt["kwargs"], ckpt["state"])
    return model.to(device).eval(), ckpt


@torch.no_grad()
def predict(model: torch.nn.Module, images: np.ndarray, masks: np.ndarray, device, batch_size: int = 16) -> np.ndarray:
    """Composited predictions of a generator: (N, S, S, 3) float32 for images (N, S, S, 3), masks (N, S, S) (1 = hole)."""
    model.eval()
    outs = []
    for i in range(0, len(images), batch_size):
        x, m = to_nchw(images[i : i + batch_size]), masks_to_nchw(masks[i : i + batch_size])
        outs.append(to_nhwc(fill_holes(model, x.to(device), m.to(device)).float().clamp(0, 1)))
    return np.concatenate(outs).astype(np.float32)
