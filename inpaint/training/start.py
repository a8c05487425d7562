"""The fine-tuning start: the checkpoint `init_from` names (a shipped `pretrained/<model>`, a .safetensors
or a .pt file), checked against the model a config builds, and loaded into its networks."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from inpaint.models import GENERATORS, grown_layers, shows_more_fills, start_target
from inpaint.pretrained import architecture, init_state

if TYPE_CHECKING:
    from inpaint.training.step import Nets


def start_kwargs(model: str, kwargs: dict, source: str) -> dict:
    """The kwargs a fine-tune of `model` builds with: the checkpoint `source`'s architecture where `kwargs`
    leave it out (its kwargs under the given ones for the same generator; the `backbone` of a generator
    built around one, as a VAE on a lama decoder), so params.yaml never keeps a copy of it. A given kwarg
    that differs from the checkpoint's is kept (`starting_point` then says that it does not fit)."""
    arch, theirs = architecture(source)
    if arch == model:
        return {**theirs, **kwargs}
    backbone_of = getattr(GENERATORS.get(model), "backbone_of", None)
    inner = backbone_of(kwargs) if backbone_of is not None else None
    if inner is not None and inner[0] == arch and "backbone" not in kwargs:
        return {**kwargs, "backbone": dict(theirs)}
    return kwargs


def starting_point(cfg: dict) -> dict | None:
    """The checkpoint `init_from` names (see inpaint.pretrained.init_state), checked against the model
    this config builds; None to train from scratch."""
    source = cfg.get("init_from")
    if not source:
        return None
    model = cfg["model"]
    init = init_state(source)
    init["into"] = start_target(model, cfg["kwargs"], init["arch"], init["kwargs"])
    # layers the config adds to the checkpoint's generator (zero-initialised: the start is the checkpoint's)
    init["grown"] = grown_layers(model, cfg["kwargs"], init["kwargs"]) if init["into"] == "" else ()
    # fills shown beyond the checkpoint's (hybrid -> hybrid_patch): their input channels and gates start at zero
    init["more_fills"] = init["into"] == "" and shows_more_fills(model, cfg["kwargs"], init["kwargs"])
    if init["into"] and cfg.get("init_optimizers"):
        raise ValueError(f"train.{model}.init_optimizers is true but init_from {source} starts only the "
                         f"{init['into']} of {model}, whose optimiser state cannot carry over; set it to false")
    if init["grown"] and cfg.get("init_optimizers"):
        raise ValueError(f"train.{model}.init_optimizers is true but train.{model}.kwargs add layers "
                         f"({', '.join(init['grown'])}) to init_from {source}, whose optimiser state has none for "
                         "them; set it to false")
    if init["more_fills"] and cfg.get("init_optimizers"):
        raise ValueError(f"train.{model}.init_optimizers is true but train.{model}.kwargs.init_fill shows more fills "
                         f"than init_from {source}, whose optimiser state does not fit the wider layers; set it to false")
    if init["into"] is None:
        raise ValueError(f"train.{model}.init_from {source} holds {init['arch']} with kwargs {init['kwargs']}, but "
                         f"train.{model} builds {model} with kwargs {cfg['kwargs']}: leave the architecture out of "
                         f"train.{model}.kwargs (it then comes from the checkpoint), or set init_from: null to train "
                         "from scratch")
    return init


def load_start(nets: Nets, init: dict, optimizers: bool = False) -> None:
    """Generator and EMA from the starting checkpoint, and its discriminator when both have one (a
    different discriminator, or none in the checkpoint, starts fresh). Optimisers start fresh unless
    `optimizers` (`init_optimizers: true`), which needs a training checkpoint's last.pt."""
    into = init.get("into") or ""  # "" the whole generator, or the sub-module a lama starts (a VAE's backbone)
    grown = tuple(init.get("grown") or ())  # prefixes of layers the checkpoint lacks, which keep their zero start
    for net in (nets.gen, nets.ema):
        target = net.get_submodule(into)
        if init.get("more_fills"):
            target.load_state_dict(widened_state(target.state_dict(), init["gen"], init["path"], init.get("arch") or "<model>"))
        elif grown:
            missing = set(target.state_dict()) - set(init["gen"])
            stray = set(init["gen"]) - set(target.state_dict())
            if stray or any(not k.startswith(grown) for k in missing):
                raise ValueError(f"{init['path']}: its generator does not fit the one train.{init.get('arch') or '<model>'}.kwargs builds "
                                 f"(missing {sorted(missing)[:3]}, unexpected {sorted(stray)[:3]})")
            target.load_state_dict(init["gen"], strict=False)
        else:
            target.load_state_dict(init["gen"])
    if nets.disc is not None and init["disc"]:
        mine = nets.disc.state_dict()
        fits = mine.keys() == init["disc"].keys() and all(mine[k].shape == v.shape for k, v in init["disc"].items())
        if fits:  # checked first: a failed load_state_dict would leave it half loaded
            nets.disc.load_state_dict(init["disc"])
        else:
            print(f"{init['path']}: its discriminator ({init.get('disc_spec') or 'unknown'}) does not fit "
                  "train.<model>.discriminator; the discriminator starts fresh")
    if optimizers:
        if not init.get("opt_g"):
            raise ValueError(f"init_optimizers is true but {init['path']} holds no optimiser state (only a training "
                             "run's last.pt does); set init_optimizers: false")
        nets.opt_g.load_state_dict(init["opt_g"])
        if nets.opt_d is not None and init.get("opt_d"):
            nets.opt_d.load_state_dict(init["opt_d"])


def widened_state(mine: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor], path: str,
                  model: str = "<model>") -> dict[str, torch.Tensor]:
    """The checkpoint's state `theirs` in the shapes of `mine`, a generator shown more fills (`shows_more_fills`):
    a tensor the wider model holds larger (the first layer's input channels, the heads' gates) is the checkpoint's
    in its leading part and zeros after it, where the new fills' channels and gates sit, so the wider model
    returns what the checkpoint does. Anything else that does not fit raises, naming the checkpoint `path` and
    train.`model`'s keys."""
    fix = (f"leave init_fill out of train.{model}.kwargs to fine-tune on the checkpoint's own fills, or set "
           f"train.{model}.init_from: null to train from scratch")
    if mine.keys() != theirs.keys():
        raise ValueError(f"{path}: its generator does not fit the one train.{model}.kwargs builds (missing "
                         f"{sorted(set(mine) - set(theirs))[:3]}, unexpected {sorted(set(theirs) - set(mine))[:3]}); {fix}")
    out = {}
    for key, want in mine.items():
        have = theirs[key]
        if have.shape == want.shape:
            out[key] = have
            continue
        if have.dim() != want.dim() or any(h > w for h, w in zip(have.shape, want.shape)) or sum(
                h != w for h, w in zip(have.shape, want.shape)) != 1:  # wider along one axis: the fills' channels
            raise ValueError(f"{path}: {key} is {tuple(have.shape)}, which does not fit {tuple(want.shape)} in the "
                             f"generator train.{model}.kwargs builds; {fix}")
        wide = torch.zeros_like(want)
        wide[tuple(slice(0, n) for n in have.shape)] = have.to(want.dtype)
        out[key] = wide
    return out
