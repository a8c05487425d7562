"""One training step: the networks it updates, the generator's and discriminator's losses, warm-up and EMA.

Every model gets the same content, perceptual and adversarial terms; a model's own terms (a coarse
stage, a prior's samples and KL) come from `inpaint.training.terms`, so nothing here names a model.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch

from inpaint import distributed, losses
from inpaint.models import build_discriminator, build_generator, can_sample
from inpaint.models.common import head_logs
from inpaint.training.terms import MODEL_TERMS, ModelTerms


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


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


def generator_losses(out: dict, image, mask, cfg: dict, feature_net, disc) -> tuple[torch.Tensor, dict]:
    """Weighted sum of the generator's losses and their logs (each loss returns value, logs): content,
    perceptual and adversarial terms for every model, and the model's own (`inpaint.training.terms`)."""
    w = cfg["loss"]
    pred = out["pred"]
    comp = mask * pred + (1 - mask) * image
    own = MODEL_TERMS.get(cfg["model"], ModelTerms())
    terms = [losses.l1_loss(pred, image, mask, w["l1_hole"], w["l1_valid"])]
    if own.content is not None:
        terms += own.content(out, image, mask, w, feature_net)
    if feature_net is not None:
        terms.append(losses.perceptual_style_loss(pred, image, feature_net, w["perceptual"], w["style"]))
    if w.get("lattice", 0) > 0:
        value, logs = losses.lattice_loss(pred, image, mask)
        terms.append((w["lattice"] * value, logs))
    if disc is not None and w["adv"] > 0:
        value, logs = losses.g_adv_loss(disc(comp, mask), w["adv_kind"])
        terms.append((w["adv"] * value, logs))
    if own.extra is not None:
        terms += own.extra(out, image, mask, w, feature_net)
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


@dataclass
class Nets:
    """What one training step updates: generator, its EMA copy, discriminator, optimisers, and the
    frozen feature network of the perceptual loss (`features`: VGG16 or AlexNet, loss.perceptual_net).
    `train_gen` and `train_disc` are what the step calls forward: the networks themselves, or their
    DistributedDataParallel wrappers (ddp_gen, ddp_disc) when several processes train."""

    gen: torch.nn.Module
    ema: torch.nn.Module
    opt_g: torch.optim.Optimizer
    disc: torch.nn.Module | None = None
    opt_d: torch.optim.Optimizer | None = None
    features: torch.nn.Module | None = None
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

        nets.features = features(cfg["loss"]["perceptual_net"], cfg["loss"]["perceptual_layers"], device=device)
    return nets


def wrap_nets(nets: Nets, ranks: distributed.Ranks, device: torch.device) -> None:
    """Data-parallel wrappers for the step's forwards (after any starting weights are loaded; DDP
    copies rank 0's weights to every process when it wraps)."""
    if ranks.world_size > 1:
        nets.ddp_gen = distributed.wrap(nets.gen, ranks, device)
        nets.ddp_disc = distributed.wrap(nets.disc, ranks, device) if nets.disc is not None else None


def train_step(nets: Nets, image: torch.Tensor, mask: torch.Tensor, step: int, cfg: dict) -> dict:
    """One optimisation step (D on real vs. composite, then G, then EMA) at training step `step`;
    returns the losses' logs. Raises TrainingDiverged before any update from a non-finite loss."""
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=image.device.type == "cuda")
    _warm_up(nets.opt_g, cfg["lr_g"], step, cfg["warmup_steps"])
    if nets.disc is not None:
        _warm_up(nets.opt_d, cfg["lr_d"], step, cfg["warmup_steps"])
    sampling = cfg["loss"].get("diversity", 0) > 0 and can_sample(nets.gen)
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
            total, g_logs = generator_losses(out_g, image, mask, cfg, nets.features, disc)
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
