"""The training loop: budget by steps and minutes, EMA generator, validation, resume, NaN guard.

Files written (each atomically) to the run folder:
  last.pt     everything needed to resume (G, D, EMA, optimisers, RNG, step, log); also loads as a
              generator (its EMA), like best.pt
  best.pt     the self-describing EMA generator with the best validation score (for evaluation)
  samples/    a sample grid per validation (input with hole | EMA prediction | ground truth)
and to the log folder (kept apart so DVC can draw them as plots):
  log.csv     losses per logged step;  val.csv  validation metrics per validation, each beside the
              first validation's (step 0: the untrained model, i.e. its starting fill); both with the
              training images seen, the x axis of their DVC plots
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from tqdm import tqdm

from inpaint import distributed, losses
from inpaint.arrays import masks_to_nchw, to_nchw
from inpaint.checkpoints import CHECKPOINT_FORMAT, load_checkpoint, pick_device, predict, save_checkpoint
from inpaint.data import MaskMix, StepSampler, TrainSet
from inpaint.io import remove_stale_temps, write_csv
from inpaint.metrics import METRICS
from inpaint.models import build_discriminator, build_generator, start_target
from inpaint.models.common import FillHead


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def _fingerprint(cfg: dict, paths: list[str], init_sha: str | None = None) -> str:
    # the process count is not in it: N processes train on the same global batches as one
    cfg = {k: v for k, v in cfg.items() if k != "distributed"}
    blob = json.dumps({"cfg": cfg, "paths": paths, "format": CHECKPOINT_FORMAT, **({"init": init_sha} if init_sha else {})},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _check_finite(step: int, logs: dict, device: torch.device) -> None:
    """Raise TrainingDiverged on every process when a loss is not finite on any (before any update)."""
    bad = {k: v for k, v in logs.items() if not math.isfinite(v)}
    if distributed.any_process(bool(bad), device):
        name, value = next(iter(bad.items())) if bad else ("on another process", "not finite")
        raise TrainingDiverged(f"step {step}: loss {name} is {value}")


def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, step: int, decay: float) -> None:
    # Warm-up: early on the average follows the model closely, or a short run would score its init.
    d = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.lerp_(p, 1 - d)
        for e, b in zip(ema.buffers(), model.buffers()):
            e.copy_(b)


def _warm_up(opt: torch.optim.Optimizer, lr: float, step: int, warmup_steps: int) -> None:
    """Linear learning-rate warm-up over the first `warmup_steps` steps (a function of the step, so a
    resumed run gets the same rates). Adam's first updates move every weight by about the learning
    rate whatever its gradient; on the zero-initialised heads that is a jump of the whole output
    (hole L1 0.12 -> 0.29 after one step at 1e-3), which a short run spends its budget undoing."""
    scale = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    for group in opt.param_groups:
        group["lr"] = lr * scale


def generator_losses(out: dict, image, mask, cfg: dict, vgg, disc) -> tuple[torch.Tensor, dict]:
    """Weighted sum of the generator's losses and their logs (each loss returns value, logs)."""
    w = cfg["loss"]
    pred = out["pred"]
    comp = mask * pred + (1 - mask) * image
    terms = [losses.l1_loss(pred, image, mask, w["l1_hole"], w["l1_valid"])]
    if "coarse" in out:  # a coarse-to-fine generator's first stage gets the same content loss
        value, logs = losses.l1_loss(out["coarse"], image, mask, w["l1_hole"], w["l1_valid"])
        terms.append((value, {f"coarse_{k}": v for k, v in logs.items()}))
    if vgg is not None:
        terms.append(losses.perceptual_style_loss(pred, image, vgg, w["perceptual"], w["style"]))
    if disc is not None and w["adv"] > 0:
        value, logs = losses.g_adv_loss(disc(comp, mask), w["adv_kind"])
        terms.append((w["adv"] * value, logs))
    if "samples" in out:  # two fills from the prior (see train_step)
        value, logs = losses.diversity_loss(out["samples"], mask, w["diversity_margin"], w.get("diversity_pool", 1))
        terms.append((w["diversity"] * value, logs))
        if vgg is not None and w.get("sample_perceptual", 0) > 0:  # each prior sample must look like a photo too
            photo = losses.features(image, vgg, grad=False)  # once for both samples
            value = sum(losses.perceptual_from_features(losses.features(s, vgg), photo)[0]
                        for s in out["samples"]) / len(out["samples"])
            terms.append((w["sample_perceptual"] * value, {"sample_perceptual": float(value.detach())}))
    if "mu" in out and w.get("kl", 0) > 0:
        value, logs = losses.kl_loss(out["mu"], out["logvar"], out.get("prior_mu"), out.get("prior_logvar"))
        terms.append((w["kl"] * value, logs))
    total = sum(t[0] for t in terms)
    logs = {k: v for _, lg in terms for k, v in lg.items()}
    logs["g_total"] = float(total.detach())
    return total, logs


def discriminator_step(disc, opt_d, image, comp, mask, cfg) -> dict:
    """One D update on real images vs. detached composites (+ optional R1 on reals)."""
    w = cfg["loss"]
    real = image.requires_grad_(w.get("r1", 0) > 0)
    real_logits, fake_logits = disc(real, mask), disc(comp.detach(), mask)
    value, logs = losses.d_loss(real_logits, fake_logits, w["adv_kind"])
    if w.get("r1", 0) > 0:
        r1, r1_logs = losses.r1_penalty(real_logits, real)
        value, logs = value + w["r1"] * r1, {**logs, **r1_logs}
    opt_d.zero_grad(set_to_none=True)
    value.backward()
    opt_d.step()
    image.requires_grad_(False)
    return logs


# train.<model> keys that set up fine-tuning: a run from scratch (pretraining, a recipe variant) drops them
# and learns with train.common's rates
FINE_TUNING = ("init_from", "init_optimizers", "lr_g", "lr_d")


def model_config(params: dict, model: str) -> dict:
    """The plain config `train` takes for one model: `train.common` overlaid by `train.<model>`
    (nested dicts merged key by key), plus `base.image_size` and `base.seed`.

    Raises ValueError naming the dotted params key for an unknown best_metric.
    """
    t = params["train"]
    cfg = merge(t["common"], t.get(model) or {})
    cfg.setdefault("kwargs", {})
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


def phases(cfg: dict) -> list[tuple[int, int]]:
    """(crop size, last step) of each training phase: `curriculum.steps` steps at `curriculum.size`
    (small crops: ~4x the images per second at half the side), then `image_size` to max_steps."""
    cur = cfg.get("curriculum") or {}
    first = min(int(cur.get("steps", 0)), cfg["max_steps"])
    return ([(int(cur["size"]), first)] if first > 0 else []) + [(cfg["image_size"], cfg["max_steps"])]


def batches(cfg: dict, train_paths: list[str], step: int, pin_memory: bool = False,
            ranks: distributed.Ranks = distributed.Ranks()):
    """The (image, mask) batches of steps `step`, step+1, ... through every phase. Sample k is the same
    photo, crop and mask whatever the phase (only its size differs), and a resumed run continues the
    same stream. With several processes each gets its slice of every global batch (batch_size)."""
    mix = MaskMix(cfg["masks"]["kinds"], cfg["masks"]["min_ratio"], cfg["masks"]["max_ratio"])
    bs = cfg["batch_size"]
    for size, last in phases(cfg):
        if step >= last:
            continue
        data = TrainSet(train_paths, size, mix, cfg["seed"], **cfg["augment"])
        yield from torch.utils.data.DataLoader(
            data, batch_size=bs // ranks.world_size,
            sampler=StepSampler(step * bs, last * bs, bs, ranks.rank, ranks.world_size),
            # its own generator: a loader's start draws a seed, which from the global one would shift the
            # training noise of a resumed run (a VAE's) against an uninterrupted one
            generator=torch.Generator().manual_seed(cfg["seed"]),
            num_workers=cfg["workers"], pin_memory=pin_memory, drop_last=True,
        )
        step = last


def starting_point(cfg: dict) -> dict | None:
    """The checkpoint `init_from` names (see inpaint.pretrained.init_state), checked against the model
    this config builds; None to train from scratch."""
    source = cfg.get("init_from")
    if not source:
        return None
    from inpaint.pretrained import init_state

    model = cfg["model"]
    init = init_state(source)
    init["into"] = start_target(model, cfg["kwargs"], init["arch"], init["kwargs"])
    if init["into"] and cfg.get("init_optimizers"):
        raise ValueError(f"train.{model}.init_optimizers is true but init_from {source} starts only the "
                         f"{init['into']} of {model}, whose optimiser state cannot carry over; set it to false")
    if init["into"] is None:
        raise ValueError(f"train.{model}.init_from {source} holds {init['arch']} with kwargs {init['kwargs']}, but "
                         f"train.{model} builds {model} with kwargs {cfg['kwargs']}: set train.{model}.kwargs to the "
                         "checkpoint's (a vae: decoder: lama, backbone: the lama's kwargs), or init_from: null to "
                         "train from scratch")
    return init


def load_start(nets: "Nets", init: dict, optimizers: bool = False) -> None:
    """Generator and EMA from the starting checkpoint, and its discriminator when both have one (a
    different discriminator, or none in the checkpoint, starts fresh). Optimisers start fresh unless
    `optimizers` (`init_optimizers: true`), which needs a training checkpoint's last.pt."""
    into = init.get("into") or ""  # "" the whole generator, or the sub-module a lama starts (a VAE's backbone)
    nets.gen.get_submodule(into).load_state_dict(init["gen"])
    nets.ema.get_submodule(into).load_state_dict(init["gen"])
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


@dataclass
class Nets:
    """What one training step updates: generator, its EMA copy, discriminator, optimisers, and the
    frozen feature network of the perceptual loss (`vgg`: VGG16 or AlexNet, loss.perceptual_net).
    `train_gen` and `train_disc` are what the step calls forward: the networks themselves, or their
    DistributedDataParallel wrappers (ddp_gen, ddp_disc) when several processes train."""

    gen: torch.nn.Module
    ema: torch.nn.Module
    opt_g: torch.optim.Optimizer
    disc: torch.nn.Module | None = None
    opt_d: torch.optim.Optimizer | None = None
    vgg: torch.nn.Module | None = None
    ddp_gen: torch.nn.Module | None = None
    ddp_disc: torch.nn.Module | None = None

    @property
    def train_gen(self) -> torch.nn.Module:
        return self.gen if self.ddp_gen is None else self.ddp_gen

    @property
    def train_disc(self) -> torch.nn.Module | None:
        return self.disc if self.ddp_disc is None else self.ddp_disc


def build_nets(cfg: dict, device: torch.device, ranks: distributed.Ranks = distributed.Ranks()) -> Nets:
    """Seeded networks and optimisers for `cfg` (no discriminator when loss.adv is 0), identical on
    every process; each process's random draws in training then follow a stream of its own."""
    torch.manual_seed(cfg["seed"])
    gen = distributed.sync_norms(build_generator(cfg["model"], **cfg["kwargs"]), ranks, device, f"train.{cfg['model']}")
    gen = gen.to(device)
    ema = copy.deepcopy(gen).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg["lr_g"], betas=tuple(cfg["betas"]))
    nets = Nets(gen, ema, opt_g)
    if cfg["loss"]["adv"] > 0:
        disc = build_discriminator(cfg["discriminator"]["name"], **cfg["discriminator"]["kwargs"])
        nets.disc = distributed.sync_norms(disc, ranks, device, f"train.{cfg['model']}.discriminator").to(device)
        nets.opt_d = torch.optim.Adam(nets.disc.parameters(), lr=cfg["lr_d"], betas=tuple(cfg["betas"]))
    if cfg["loss"]["perceptual"] > 0 or cfg["loss"]["style"] > 0:
        from inpaint.perceptual import features

        nets.vgg = features(cfg["loss"]["perceptual_net"], cfg["loss"]["perceptual_layers"], device=device)
    return nets


def wrap_nets(nets: Nets, ranks: distributed.Ranks, device: torch.device) -> None:
    """Data-parallel wrappers for the step's forwards (after any starting weights are loaded; DDP
    copies rank 0's weights to every process when it wraps)."""
    if ranks.world_size > 1:
        nets.ddp_gen = distributed.wrap(nets.gen, ranks, device)
        nets.ddp_disc = distributed.wrap(nets.disc, ranks, device) if nets.disc is not None else None


def head_logs(gen: torch.nn.Module, mask: torch.Tensor) -> dict:
    """How much the generator changes its starting fill inside the hole (mean |pred - base|, from the
    last forward) and the gradient norm of its output head(s): a head that never learns shows as a
    change stuck at 0 with a gradient of 0."""
    heads = [m for m in gen.modules() if isinstance(m, FillHead) and getattr(m, "last_change", None) is not None]
    if not heads:
        return {}
    change = heads[-1].last_change.abs().mean(1, keepdim=True)  # (N, 1, H, W) the final head's
    area = mask.sum().clamp_min(1.0)
    grads = [m.conv.weight.grad for m in heads if m.conv.weight.grad is not None]
    return {"change_hole": float((change * mask).sum() / area),
            "head_grad": float(torch.sqrt(sum(g.float().pow(2).sum() for g in grads))) if grads else 0.0}


def train_step(nets: Nets, image: torch.Tensor, mask: torch.Tensor, step: int, cfg: dict) -> dict:
    """One optimisation step (D on real vs. composite, then G, then EMA) at training step `step`;
    returns the losses' logs. Raises TrainingDiverged before any update from a non-finite loss."""
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=image.device.type == "cuda")
    _warm_up(nets.opt_g, cfg["lr_g"], step, cfg["warmup_steps"])
    if nets.disc is not None:
        _warm_up(nets.opt_d, cfg["lr_d"], step, cfg["warmup_steps"])
    sampling = cfg["loss"].get("diversity", 0) > 0 and hasattr(nets.gen, "sample")
    with autocast:  # the samples (2, N, 3, H, W) come from the same forward (one DDP forward per backward)
        out_g = nets.train_gen(image, mask, **({"n_samples": 2} if sampling else {}))
    comp = mask * out_g["pred"] + (1 - mask) * image
    logs = discriminator_step(nets.train_disc, nets.opt_d, image, comp, mask, cfg) if nets.disc is not None else {}
    with autocast:
        # "NoGAN": before loss.adv_start the discriminator learns but the generator ignores it
        disc = nets.disc if step >= cfg["loss"].get("adv_start", 0) else None
        if disc is not None:  # D's weights enter G's graph as constants: no D gradients computed or synced
            disc.requires_grad_(False)
        try:
            total, g_logs = generator_losses(out_g, image, mask, cfg, nets.vgg, disc)
        finally:
            if disc is not None:
                disc.requires_grad_(True)
    logs.update(g_logs)
    _check_finite(step, logs, image.device)
    nets.opt_g.zero_grad(set_to_none=True)
    total.backward()
    logs.update(head_logs(nets.gen, mask))
    nets.opt_g.step()
    _ema_update(nets.ema, nets.gen, step, cfg["ema_decay"])
    return logs


def train(cfg: dict, train_paths: list[str], val_images: np.ndarray, val_masks: np.ndarray, out_dir: str | Path,
          log_dir: str | Path, validate=None, sample_grid=None, on_step=None) -> dict:
    """Train one generator as `cfg` says; resumable from `out_dir/last.pt`. Returns a summary dict.

    Args:
        cfg: plain values (see `model_config`): model, kwargs, discriminator {name, kwargs}, image_size,
            seed, batch_size, max_steps, max_minutes, lr_g, lr_d, warmup_steps, betas, ema_decay, log_every,
            val_every, ckpt_every, best_metric, best_higher, workers, device, curriculum {size, steps}
            (optional), distributed {nproc_per_node, nnodes, backend} (optional: under torchrun this process
            trains as one of WORLD_SIZE data-parallel processes, see inpaint.distributed), init_from (optional: a checkpoint to fine-tune, see `starting_point`), masks {kinds, min_ratio, max_ratio}, augment {min_scale, color}, loss {l1_hole,
            l1_valid, perceptual, style, perceptual_net, perceptual_layers, adv, adv_kind, adv_start, kl,
            r1, diversity, diversity_margin, diversity_pool, sample_perceptual}.
        val_images, val_masks: fixed validation set, (N, S, S, 3) and (N, S, S) float32, 1 = hole.
        validate: fn(pred, target, mask) -> {metric: mean} on NCHW tensors (composited preds).
        sample_grid: fn(path, images, masks, preds) writing a PNG, or None.
        on_step: fn(step) called after each step's checkpointing, or None (tests stop a run there).
    Only rank 0 validates and writes; every process returns the summary.
    """
    ranks = distributed.ranks()
    dist_cfg = distributed.settings(cfg)
    distributed.check_world(dist_cfg, ranks)
    device = distributed.device_for(ranks, pick_device(cfg["device"]))
    created = distributed.start(ranks, dist_cfg["backend"], device)
    try:
        return _train(cfg, train_paths, val_images, val_masks, Path(out_dir), Path(log_dir), validate, sample_grid,
                      on_step, ranks, device)
    finally:
        distributed.stop(created)


def _train(cfg, train_paths, val_images, val_masks, out: Path, log_dir: Path, validate, sample_grid, on_step,
           ranks: distributed.Ranks, device: torch.device) -> dict:
    main = ranks.main
    if main:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out)  # a run killed mid-write leaves its temporary file; last.pt itself is whole
    fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format  # NHWC: tensor cores' layout
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    init = starting_point(cfg)  # fine-tuning: its hash is part of the fingerprint, so another start retrains
    init_record = {"source": cfg["init_from"], "sha256": init["sha256"]} if init else None  # what evaluation checks
    fingerprint = _fingerprint(cfg, train_paths, init and init["sha256"])
    nets = build_nets(cfg, device, ranks)
    for net in (nets.gen, nets.ema, nets.disc):
        if net is not None:
            net.to(memory_format=fmt)
    gen, ema, use_adv = nets.gen, nets.ema, nets.disc is not None
    if ranks.rank > 0:  # same weights everywhere, but each process's random draws (a VAE's noise) its own
        torch.manual_seed(cfg["seed"] * 1000 + ranks.rank)

    step, images, elapsed, log, vals, best = 0, 0, 0.0, [], [], None
    last = out / "last.pt"
    state = None  # rank 0 decides whether to resume, and hands its last.pt to every process
    if main and last.exists():
        state = load_checkpoint(last, "cpu")
        if state.get("fingerprint") != fingerprint:
            print(f"{last}: written for other params, data or starting checkpoint; training from the start")
            state = None
    state = distributed.from_rank_0(state, ranks)
    if state is not None:
        gen.load_state_dict(state["gen"])
        ema.load_state_dict(state["ema"])
        nets.opt_g.load_state_dict(state["opt_g"])
        if use_adv:
            nets.disc.load_state_dict(state["disc"])
            nets.opt_d.load_state_dict(state["opt_d"])
        # one {cpu, cuda} per process; an older last.pt holds CPU states only
        rngs = [r if isinstance(r, dict) else {"cpu": r} for r in state.get("rngs") or [state["rng"]]]
        if ranks.rank < len(rngs):
            torch.set_rng_state(rngs[ranks.rank]["cpu"])
            if device.type == "cuda" and rngs[ranks.rank].get("cuda") is not None:
                torch.cuda.set_rng_state(rngs[ranks.rank]["cuda"], device)
        step, elapsed, log, vals, best = state["step"], state["elapsed"], state["log"], state["vals"], state["best"]
        images = state.get("images", step * cfg["batch_size"])  # older last.pt: constant batches
        if main:
            print(f"resuming {cfg['model']} from step {step} ({elapsed / 60:.1f} min already spent)")
            if len(rngs) != ranks.world_size:
                print(f"{last} was written by {len(rngs)} process(es), this run has {ranks.world_size}: the same "
                      "batches, but the processes without a saved random state draw fresh noise")
        del state
    if init is not None and step == 0:
        load_start(nets, init, cfg.get("init_optimizers", False))
        if main:
            print(f"fine-tuning {cfg['model']} from {init['path']} (sha256 {init['sha256'][:12]})")
    wrap_nets(nets, ranks, device)

    def checkpoint() -> None:
        rng = {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}
        rngs = distributed.gather(rng, ranks)  # every process takes part
        if not main:
            return
        save_checkpoint(last, {
            "format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "step": step, "images": images, "elapsed": elapsed,
            "gen": gen.state_dict(), "ema": ema.state_dict(), "opt_g": nets.opt_g.state_dict(),
            "disc": nets.disc.state_dict() if use_adv else {}, "opt_d": nets.opt_d.state_dict() if use_adv else {},
            "rng": rngs[0]["cpu"], "rngs": rngs, "log": log, "vals": vals, "best": best,
            # what generator_from_checkpoint reads, so `inpaint fill --method .../last.pt` runs the latest EMA
            "arch": cfg["model"], "kwargs": cfg["kwargs"], "state": ema.state_dict(), "params": cfg, "init": init_record,
        })
        write_csv(log_dir / "log.csv", pd.DataFrame(log))
        write_csv(log_dir / "val.csv", pd.DataFrame(vals))

    def run_validation() -> None:
        nonlocal best
        if not main:  # the others go on to the next step and wait for rank 0 in its gradient exchange
            return
        preds = predict(ema, val_images, val_masks, device, cfg["batch_size"])
        scores = validate(to_nchw(preds), to_nchw(val_images), masks_to_nchw(val_masks)) if validate else {}
        # the first validation scores the untrained model, i.e. its starting fill: every row carries
        # that reference, which the val_curve plot draws as a line
        start = {f"{k}_start_fill": v for k, v in (vals[0] if vals else scores).items()
                 if k in scores and not k.endswith("_se")}
        vals.append({"step": step, "images": images, **scores, **start})
        if sample_grid:
            sample_grid(out / "samples" / f"step_{step:06d}.png", val_images[:4], val_masks[:4], preds[:4])
        score = scores.get(cfg["best_metric"])
        better = score is not None and (best is None or (score > best if cfg["best_higher"] else score < best))
        if better or not (out / "best.pt").exists():
            best = score if score is not None else best
            save_checkpoint(out / "best.pt", {
                "format": CHECKPOINT_FORMAT, "arch": cfg["model"], "kwargs": cfg["kwargs"],
                "state": ema.state_dict(), "step": step, "params": cfg, "val": scores, "init": init_record,
            })

    bs = cfg["batch_size"]
    loader = batches(cfg, train_paths, step, pin_memory=device.type == "cuda", ranks=ranks)
    budget = cfg["max_minutes"] * 60
    gen.train()
    bar = tqdm(total=cfg["max_steps"], initial=step, desc=f"train {cfg['model']}", dynamic_ncols=True, mininterval=2,
               disable=not main)
    if step == 0 and not vals:
        run_validation()  # the starting point (the model's initial fill): best.pt is never worse on val
    t_last = time.perf_counter()
    stopped_by = "steps"
    for image, mask in loader:
        if distributed.agree(elapsed >= budget, ranks, device):  # rank 0's clock ends every process
            stopped_by = "minutes"
            break
        image, mask = image.to(device, non_blocking=True, memory_format=fmt), mask.to(device, non_blocking=True, memory_format=fmt)
        try:
            logs = train_step(nets, image, mask, step, cfg)
        except TrainingDiverged as e:
            raise TrainingDiverged(
                f"{e}; stopped, the last good checkpoint {last} is kept. "
                "Lower the learning rate or that loss's weight, then rerun (it resumes from that checkpoint)."
            ) from None
        step += 1
        images += bs
        now = time.perf_counter()
        elapsed += now - t_last
        t_last = now
        if step % cfg["log_every"] == 0 or step == cfg["max_steps"]:
            logs = distributed.mean(logs, ranks, device)  # the global batch's losses
            log.append({"step": step, "images": images, "minutes": round(elapsed / 60, 4), **{k: round(v, 6) for k, v in logs.items()}})
            bar.set_postfix({k: f"{logs[k]:.3g}" for k in ("g_total", "d_loss") if k in logs}
                            | {"img/s": f"{step * bs / max(elapsed, 1e-9):.1f}"})
        bar.update(1)
        if step % cfg["val_every"] == 0 or step == cfg["max_steps"]:
            run_validation()
            t_last = time.perf_counter()  # validation time is not training time
        if step % cfg["ckpt_every"] == 0 or step == cfg["max_steps"]:
            checkpoint()
        if on_step is not None:
            on_step(step)
    bar.close()
    if not vals or vals[-1]["step"] != step:
        run_validation()
    checkpoint()
    summary = {"model": cfg["model"], "steps": step, "minutes": round(elapsed / 60, 3), "stopped_by": stopped_by,
               "params": sum(p.numel() for p in gen.parameters()), "best": {cfg["best_metric"]: best},
               "images_per_second": round(step * bs / max(elapsed, 1e-9), 2), "processes": ranks.world_size}
    if stopped_by == "minutes" and main:
        print(f"warning: {cfg['model']} hit train.max_minutes at step {step} of {cfg['max_steps']}; "
              "results now depend on this machine's speed (raise max_minutes or lower max_steps)")
    return summary


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
            "lr_g": positive, "lr_d": positive, "warmup_steps": integer(0),
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
                "sample_perceptual": weight,
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
