"""A model's training config: params.yaml's train.common overlaid by train.<model>, `-S` overrides, and the
checker of the `train` section (the model names, metrics, mask kinds, perceptual taps and each
generator's kwargs come from their registries)."""
from __future__ import annotations

import yaml

from inpaint import distributed
from inpaint.metrics import METRICS
from inpaint.training.start import start_kwargs


# train.<model> keys that set up fine-tuning: a run from scratch (pretraining, a recipe variant) drops them
# and learns with train.common's rates
FINE_TUNING = ("init_from", "init_optimizers", "lr_g", "lr_d")


def model_config(params: dict, model: str) -> dict:
    """The plain config `train` takes for one model: `train.common` overlaid by `train.<model>`
    (nested dicts merged key by key), plus `base.image_size` and `base.seed`. A model that starts from a
    checkpoint (`init_from`) learns at the `fine_tune` rates (unless its own section sets lr_g / lr_d)
    and takes its architecture from that checkpoint where its `kwargs` leave it out (`start_kwargs`).

    Raises ValueError naming the dotted params key for an unknown best_metric.
    """
    t = params["train"]
    own = t.get(model) or {}
    cfg = merge(t["common"], own)
    fine_tune = cfg.pop("fine_tune", None) or {}
    cfg.setdefault("kwargs", {})
    if cfg.get("init_from"):
        cfg.update({k: v for k, v in fine_tune.items() if k not in own})
        cfg["kwargs"] = start_kwargs(model, cfg["kwargs"], cfg["init_from"])
    cfg.update(model=model, image_size=params["base"]["image_size"], seed=params["base"]["seed"])
    if cfg["best_metric"] not in METRICS:
        raise ValueError(f"train.common.best_metric (or train.{model}.best_metric) is {cfg['best_metric']!r}, "
                         f"not a known metric; use one of {sorted(METRICS)}")
    if cfg["best_metric"] not in cfg["val_metrics"]:
        raise ValueError(f"train.common.best_metric {cfg['best_metric']!r} is not among train.common.val_metrics "
                         f"{cfg['val_metrics']}, so no checkpoint could ever be judged by it; add it there")
    cfg["best_higher"] = METRICS[cfg["best_metric"]].higher_is_better
    cur = cfg.get("curriculum") or {}
    if cur.get("steps", 0) and not (isinstance(cur.get("size"), int) and 32 <= cur["size"] and cur["size"] % 16 == 0):
        raise ValueError(f"train.common.curriculum.size (or train.{model}.curriculum.size) is {cur.get('size')!r}; "
                         "use a multiple of 16 of at least 32 (e.g. 64), or curriculum.steps: 0 to train at image_size only")
    return cfg


def set_param(params: dict, item: str, file: str = "params.yaml", new_keys_under: tuple[str, ...] = ()) -> None:
    """Apply one `-S dotted.key=yaml-value` override in place. A key that is not in `file` is a
    ValueError naming it, except below the top-level sections in `new_keys_under` (where a new key is
    meant: pretrain's `train` overrides any key of params.yaml's train.common; "*" = everywhere)."""
    key, sep, value = item.partition("=")
    *parents, leaf = key.split(".")
    node = params
    for k in parents:
        node = node.get(k) if isinstance(node, dict) else None
    new_ok = "*" in new_keys_under or (parents and parents[0] in new_keys_under)
    if not sep or not isinstance(node, dict) or (leaf not in node and not new_ok):
        raise ValueError(f"-S {item}: {key} is not a key of {file}" if sep else f"-S {item}: use key=value")
    node[leaf] = yaml.safe_load(value)


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def params_checker():
    """The checker of params.yaml's `train` section (inpaint.params): `common` must have every key, a
    model's own section any of them; the model names, metrics, mask kinds, perceptual taps and each
    generator's kwargs come from their registries."""
    from inpaint.masks import MASKS
    from inpaint.models import DISCRIMINATORS, GENERATORS
    from inpaint.params import (ParamsError, boolean, choice, integer, items, kwargs_of, mapping, nullable, number,
                                positive, ratio, section, text, weight)
    from inpaint.perceptual import ALEXNET_LAYERS, VGG16_LAYERS

    metric = choice(*METRICS)

    def fields(model: str | None) -> dict:
        part = model is not None  # a model's own section may set any subset
        out = {
            "device": text, "init_from": nullable(text), "init_optimizers": boolean,
            "batch_size": integer(1, 4096), "max_steps": integer(1), "max_minutes": number(0, lo_open=True),
            "workers": integer(0),
            "distributed": section({"nproc_per_node": integer(1), "nnodes": integer(1),
                                    "backend": choice(*distributed.BACKENDS)}, partial=part),
            "lr_g": positive, "lr_d": positive, "fine_tune": section({"lr_g": positive, "lr_d": positive}, partial=part),
            "warmup_steps": integer(0),
            "betas": items(number(0, 1, hi_open=True), length=2), "ema_decay": number(0, 1, hi_open=True),
            "log_every": integer(1), "val_every": integer(1), "ckpt_every": integer(1), "val_size": integer(1),
            "val_metrics": items(metric, min_len=1), "best_metric": metric,
            "discriminator": section({"name": choice(*DISCRIMINATORS), "kwargs": mapping()}, partial=part),
            "masks": section({"kinds": mapping(weight, keys=choice(*MASKS)), "min_ratio": ratio, "max_ratio": ratio},
                             partial=part),
            "augment": section({"min_scale": number(0, 1, lo_open=True), "color": weight}, partial=part),
            "curriculum": section({"size": integer(32, multiple=16), "steps": integer(0)}, partial=part),
            "loss": section({
                "l1_hole": weight, "l1_valid": weight, "perceptual": weight, "style": weight,
                "perceptual_net": choice("alexnet", "vgg16"),
                "perceptual_layers": items(choice(*ALEXNET_LAYERS, *VGG16_LAYERS), min_len=1), "adv": weight,
                "adv_kind": choice("hinge", "nonsaturating"), "adv_start": integer(0), "kl": weight, "r1": weight,
                "diversity": weight, "diversity_margin": weight, "diversity_pool": integer(1),
                "sample_perceptual": weight, "lattice": weight,
            }, partial=part),
        }
        if part:
            out["kwargs"] = kwargs_of(GENERATORS[model], f"the {model} generator")
        return out

    def check(v, key):
        if not isinstance(v, dict) or "models" not in v or "common" not in v:
            raise ParamsError(f"{key} needs models, common and a section per model; see the project's params.yaml")
        items(choice(*GENERATORS), min_len=1)(v["models"], f"{key}.models")
        section(fields(None))(v["common"], f"{key}.common")
        for name, own in v.items():
            if name in ("models", "common"):
                continue
            if name not in GENERATORS:
                raise ParamsError(f"{key}.{name} is not a generator; the sections of {key} are models, common and "
                                  f"one per generator: {sorted(GENERATORS)}")
            section(fields(name), partial=True)(own if own is not None else {}, f"{key}.{name}")
        for name in ["common", *(m for m in v if m not in ("models", "common"))]:
            ratios = merge(v["common"]["masks"], ((v.get(name) or {}).get("masks") or {}))
            if ratios["min_ratio"] >= ratios["max_ratio"]:
                raise ParamsError(f"{key}.{name}.masks.min_ratio {ratios['min_ratio']} is not below its max_ratio "
                                  f"{ratios['max_ratio']}; make min_ratio the smaller")
    return check
