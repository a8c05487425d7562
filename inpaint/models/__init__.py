"""Model registries, builders and the padding / filling helpers every caller shares.

A generator's `forward(image, mask)` takes image (N, 3, H, W) in [0, 1] and mask (N, 1, H, W) with
1 = hole (white, 255 in PNG), H and W multiples of its int attribute `size_multiple`, and returns a
dict with "pred" (N, 3, H, W) in [0, 1], not composited, plus model-specific extras ("coarse" for
deepfill; "mu", "logvar", "prior_mu", "prior_logvar" for the vae). A discriminator's
`forward(image, mask)` returns patch logits (N, 1, h, w). Constructors take only JSON-able kwargs, so
a checkpoint `{"arch": name, "kwargs": kwargs, "state": state_dict}` rebuilds its model.
"""
from __future__ import annotations

import inspect

import torch
import torch.nn as nn
import torch.nn.functional as F

from inpaint.models.autoencoder import AutoEncoder
from inpaint.models.common import INIT_FILLS, NORMS, initial_fills, start_fill
from inpaint.models.deepfill import DeepFill
from inpaint.models.discriminator import PatchGAN
from inpaint.models.lama import LaMa
from inpaint.models.vae import VAE

GENERATORS: dict[str, type[nn.Module]] = {
    "deepfill": DeepFill,
    "lama": LaMa,
    "autoencoder": AutoEncoder,
    "vae": VAE,
}
DISCRIMINATORS: dict[str, type[nn.Module]] = {"patchgan": PatchGAN}

__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "INIT_FILLS",
    "NORMS",
    "base_fill_of",
    "build_discriminator",
    "build_generator",
    "fill_holes",
    "grown_layers",
    "initial_fills",
    "pad_to_multiple",
    "rebased",
    "shows_more_fills",
    "start_fill",
    "start_target",
]


def _build(registry: dict[str, type[nn.Module]], kind: str, name: str, kwargs: dict) -> nn.Module:
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; known: {sorted(registry)}")
    try:
        return registry[name](**kwargs)
    except TypeError as err:  # a misspelt kwarg: name the model and the bad call
        raise ValueError(f"{kind} {name!r} rejected kwargs {kwargs}: {err}") from err


def build_generator(name: str, **kwargs) -> nn.Module:
    """Build a generator from GENERATORS by name; kwargs are plain JSON-able values."""
    return _build(GENERATORS, "generator", name, kwargs)


def build_discriminator(name: str, **kwargs) -> nn.Module:
    """Build a discriminator from DISCRIMINATORS by name; kwargs are plain JSON-able values."""
    return _build(DISCRIMINATORS, "discriminator", name, kwargs)


def start_target(name: str, kwargs: dict, init_arch: str, init_kwargs: dict) -> str | None:
    """Where a starting checkpoint's generator (init_arch, init_kwargs) goes in generator `name` built with
    `kwargs`: "" for the whole model (same arch and kwargs, kwargs that only add layers that start as nothing
    (zero-initialised, or zero-gained): `grown_layers`, or that only change its base fill: `rebased`, or that show
    it more fills on the same base: `shows_more_fills`),
    "backbone" when the generator's class says (its `backbone_of(kwargs)`) that its `backbone` is exactly that
    generator (a VAE on a lama decoder), None when it does not fit."""
    if init_arch == name and (init_kwargs == kwargs or grown_layers(name, kwargs, init_kwargs)
                              or rebased(name, kwargs, init_kwargs) or shows_more_fills(name, kwargs, init_kwargs)):
        return ""
    backbone_of = getattr(GENERATORS.get(name), "backbone_of", None)
    if backbone_of is not None and backbone_of(kwargs) == (init_arch, init_kwargs):
        return "backbone"
    return None


def grown_layers(name: str, kwargs: dict, init_kwargs: dict) -> tuple[str, ...]:
    """The state-dict prefixes generator `name` built with `kwargs` adds to one built with `init_kwargs`, as its
    class says (`grown_from`: a lama with its attention block switched on, or with more `extra_blocks`); () when it
    adds none."""
    grown_from = getattr(GENERATORS.get(name), "grown_from", None)
    return (grown_from(kwargs, init_kwargs) or ()) if grown_from is not None else ()


def base_fill_of(name: str, kwargs: dict) -> str | None:
    """The registered fill generator `name` built with `kwargs` starts from (what it returns untrained, see
    `start_fill`): its own init_fill's, or its backbone's for a generator built around one (a VAE on a lama
    decoder); None for grey holes (init_fill "none")."""
    if name not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; known: {sorted(GENERATORS)}")
    backbone_of = getattr(GENERATORS[name], "backbone_of", None)
    inner = backbone_of(kwargs) if backbone_of is not None else None
    if inner is not None:
        return base_fill_of(*inner)
    param = inspect.signature(GENERATORS[name]).parameters["init_fill"]
    return start_fill(kwargs.get("init_fill", param.default))


def _init_fill_change(name: str, kwargs: dict, init_kwargs: dict) -> tuple[tuple, tuple] | None:
    """(ours, theirs): the INIT_FILLS entries (base fill, fills shown) of generator `name` built with `kwargs` and
    with `init_kwargs`, when the two differ only in a known `init_fill`; else None."""
    param = inspect.signature(GENERATORS[name]).parameters.get("init_fill") if name in GENERATORS else None
    if param is None:
        return None
    ours, theirs = kwargs.get("init_fill", param.default), init_kwargs.get("init_fill", param.default)
    rest = lambda kw: {k: v for k, v in kw.items() if k != "init_fill"}  # noqa: E731
    if ours == theirs or rest(kwargs) != rest(init_kwargs) or ours not in INIT_FILLS or theirs not in INIT_FILLS:
        return None
    return INIT_FILLS[ours], INIT_FILLS[theirs]


def rebased(name: str, kwargs: dict, init_kwargs: dict) -> bool:
    """Whether generator `name` built with `kwargs` differs from one built with `init_kwargs` only in its
    `init_fill`, between two that show it as many fills (`hybrid`, `fade`, `fade_smooth`; `hybrid_patch` and
    `patch`): the same weights on another base fill, and maybe other fills in the same input channels, so the
    checkpoint starts it whole (the fine-tune learns the new inputs)."""
    change = _init_fill_change(name, kwargs, init_kwargs)
    return change is not None and len(change[0][1]) == len(change[1][1])


def shows_more_fills(name: str, kwargs: dict, init_kwargs: dict) -> bool:
    """Whether generator `name` built with `kwargs` differs from one built with `init_kwargs` only in an `init_fill`
    with the same base fill that shows the network the checkpoint's fills and more after them (`hybrid` ->
    `hybrid_patch`: PatchMatch's fill as a third input). Every generator takes the fills last in its input
    (`network_inputs`) and has one gate per fill last in its heads (`FillHead`), so the checkpoint starts it whole
    once the new input channels and gates are zeros (`inpaint.training.start.widened_state`): it returns what the
    checkpoint returns until the fine-tune learns where to use the new fill."""
    change = _init_fill_change(name, kwargs, init_kwargs)
    if change is None:
        return False
    (base, shown), (their_base, their_shown) = change
    return base == their_base and len(shown) > len(their_shown) and shown[: len(their_shown)] == their_shown


def can_sample(model) -> bool:
    """Whether a generator (or its class) draws different fills on demand: it has a `sample` method."""
    return callable(getattr(model, "sample", None))


def pad_to_multiple(image: torch.Tensor, mask: torch.Tensor, multiple: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad bottom/right so H and W become multiples of `multiple`, and at least 2 * multiple (so every
    bottleneck map is at least 2x2 and can be reflect-padded); crop back with [..., :H, :W].

    Image and mask are padded with the same mode (reflect, or replicate where the image is too small
    to reflect), so a padded pixel is a hole exactly when the pixel it copies is: hole pixels can
    never leak into the padding as known ones.

    Args:
        image: (N, 3, H, W) float in [0, 1].
        mask: (N, 1, H, W) float, 1 = hole.
    """
    h, w = image.shape[-2:]
    ph, pw = max(-h % multiple, 2 * multiple - h), max(-w % multiple, 2 * multiple - w)
    if ph == 0 and pw == 0:
        return image, mask
    mode = "reflect" if ph < h and pw < w else "replicate"
    pad = (0, pw, 0, ph)
    return F.pad(image, pad, mode=mode), F.pad(mask, pad, mode=mode)


@torch.no_grad()
def fill_holes(generator: nn.Module, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Run a generator on any H, W (pads, runs, crops) and composite: `mask * pred + (1 - mask) * image`.

    The caller chooses train/eval mode (eval for inference: the VAE's prior mean, BatchNorm statistics if norm="batch").

    Args:
        image: (N, 3, H, W) float in [0, 1].
        mask: (N, 1, H, W) float, 1 = hole.
    Returns:
        (N, 3, H, W) composited image.
    """
    h, w = image.shape[-2:]
    padded_image, padded_mask = pad_to_multiple(image, mask, generator.size_multiple)
    pred = generator(padded_image, padded_mask)["pred"][..., :h, :w]
    return mask * pred + (1.0 - mask) * image
