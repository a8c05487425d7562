"""The training loop: budget by steps and minutes, EMA generator, validation, resume, NaN guard.

Files written (each atomically) to the run folder:
  last.pt     everything needed to resume (G, D, EMA, optimisers, RNG, step, log)
  best.pt     the self-describing EMA generator with the best validation score (for evaluation)
  samples/    a sample grid per validation (input with hole | EMA prediction | ground truth)
and to the log folder (kept apart so DVC can draw them as plots):
  log.csv     losses per logged step;  val.csv  validation metrics per validation
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from inpaint import losses
from inpaint.data import MaskMix, StepSampler, TrainSet
from inpaint.io import atomic_path, remove_stale_temps, write_csv
from inpaint.models import build_discriminator, build_generator, fill_holes

# Bumped whenever a checkpoint's meaning changes (format 2: every generator ends in a FillHead, whose
# gates blend the fills it is shown; format-1 heads only added a residual).
CHECKPOINT_FORMAT = 2


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def pick_device(name: str = "auto") -> torch.device:
    """`auto` takes CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Atomically save a checkpoint (plain tensors and containers only, loadable with weights_only)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """Load a checkpoint without unpickling code (`weights_only=True`)."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # a truncated or foreign file
        raise ValueError(f"{path}: not a readable inpaint checkpoint ({e}); retrain or re-download it") from e


def generator_from_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild the generator a checkpoint describes (architecture + kwargs + weights), in eval mode."""
    ckpt = load_checkpoint(path, device)
    for key in ("arch", "kwargs", "state"):
        if key not in ckpt:
            raise ValueError(f"{path}: checkpoint lacks {key!r}; it was not written by inpaint's trainer")
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path}: checkpoint format {ckpt.get('format')}, this inpaint reads format {CHECKPOINT_FORMAT}; "
            f"retrain it (`dvc repro -f train@{ckpt['arch']}`) or use the inpaint version that wrote it"
        )
    model = build_generator(ckpt["arch"], **ckpt["kwargs"])
    model.load_state_dict(ckpt["state"])
    return model.to(device).eval(), ckpt


def _fingerprint(cfg: dict, paths: list[str]) -> str:
    blob = json.dumps({"cfg": cfg, "paths": paths, "format": CHECKPOINT_FORMAT}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _check_finite(step: int, logs: dict, ckpt: Path) -> None:
    bad = {k: v for k, v in logs.items() if not math.isfinite(v)}
    if bad:
        name, value = next(iter(bad.items()))
        raise TrainingDiverged(
            f"step {step}: loss {name} is {value}; stopped, the last good checkpoint {ckpt} is kept. "
            "Lower the learning rate or that loss's weight, then rerun (it resumes from that checkpoint)."
        )


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


def train(cfg: dict, train_paths: list[str], val_images: np.ndarray, val_masks: np.ndarray, out_dir: str | Path,
          log_dir: str | Path, validate=None, sample_grid=None) -> dict:
    """Train one generator as `cfg` says; resumable from `out_dir/last.pt`. Returns a summary dict.

    Args:
        cfg: plain values: model, kwargs, discriminator {name, kwargs}, image_size, seed, batch_size,
            max_steps, max_minutes, lr_g, lr_d, warmup_steps, betas, ema_decay, log_every, val_every, ckpt_every,
            best_metric, best_higher, workers, device, masks {kinds, min_ratio, max_ratio},
            augment {min_scale, color}, loss {l1_hole, l1_valid, perceptual, style, vgg_layers, adv, adv_kind, kl, r1}.
        val_images, val_masks: fixed validation set, (N, S, S, 3) and (N, S, S) float32, 1 = hole.
        validate: fn(pred, target, mask) -> {metric: mean} on NCHW tensors (composited preds).
        sample_grid: fn(path, images, masks, preds) writing a PNG, or None.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # a run killed mid-write leaves its temporary file; last.pt itself is whole
    device = pick_device(cfg["device"])
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    fingerprint = _fingerprint(cfg, train_paths)

    torch.manual_seed(cfg["seed"])
    gen = build_generator(cfg["model"], **cfg["kwargs"]).to(device)
    use_adv = cfg["loss"]["adv"] > 0
    disc = build_discriminator(cfg["discriminator"]["name"], **cfg["discriminator"]["kwargs"]).to(device) if use_adv else None
    ema = copy.deepcopy(gen).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg["lr_g"], betas=tuple(cfg["betas"]))
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg["lr_d"], betas=tuple(cfg["betas"])) if use_adv else None
    vgg = None
    if cfg["loss"]["perceptual"] > 0 or cfg["loss"]["style"] > 0:
        from inpaint.perceptual import vgg16_features

        vgg = vgg16_features(tuple(cfg["loss"]["vgg_layers"]), device=device)

    step, elapsed, log, vals, best = 0, 0.0, [], [], None
    last = out / "last.pt"
    if last.exists():
        state = load_checkpoint(last, device)
        if state.get("fingerprint") == fingerprint:
            gen.load_state_dict(state["gen"])
            ema.load_state_dict(state["ema"])
            opt_g.load_state_dict(state["opt_g"])
            if use_adv:
                disc.load_state_dict(state["disc"])
                opt_d.load_state_dict(state["opt_d"])
            torch.set_rng_state(state["rng"])
            step, elapsed, log, vals, best = state["step"], state["elapsed"], state["log"], state["vals"], state["best"]
            print(f"resuming {cfg['model']} from step {step} ({elapsed / 60:.1f} min already spent)")
        else:
            print(f"{last}: written for other params or data; training from scratch")

    def checkpoint() -> None:
        save_checkpoint(last, {
            "format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "step": step, "elapsed": elapsed,
            "gen": gen.state_dict(), "ema": ema.state_dict(), "opt_g": opt_g.state_dict(),
            "disc": disc.state_dict() if use_adv else {}, "opt_d": opt_d.state_dict() if use_adv else {},
            "rng": torch.get_rng_state(), "log": log, "vals": vals, "best": best,
        })
        write_csv(Path(log_dir) / "log.csv", pd.DataFrame(log))
        write_csv(Path(log_dir) / "val.csv", pd.DataFrame(vals))

    def run_validation() -> None:
        nonlocal best
        preds = predict(ema, val_images, val_masks, device, cfg["batch_size"])
        scores = validate(*_nchw(preds, val_images, val_masks)) if validate else {}
        vals.append({"step": step, **scores})
        if sample_grid:
            sample_grid(out / "samples" / f"step_{step:06d}.png", val_images[:4], val_masks[:4], preds[:4])
        score = scores.get(cfg["best_metric"])
        better = score is not None and (best is None or (score > best if cfg["best_higher"] else score < best))
        if better or not (out / "best.pt").exists():
            best = score if score is not None else best
            save_checkpoint(out / "best.pt", {
                "format": CHECKPOINT_FORMAT, "arch": cfg["model"], "kwargs": cfg["kwargs"],
                "state": ema.state_dict(), "step": step, "params": cfg, "val": scores,
            })

    mix = MaskMix(cfg["masks"]["kinds"], cfg["masks"]["min_ratio"], cfg["masks"]["max_ratio"])
    data = TrainSet(train_paths, cfg["image_size"], mix, cfg["seed"], **cfg["augment"])
    bs = cfg["batch_size"]
    loader = torch.utils.data.DataLoader(
        data, batch_size=bs, sampler=StepSampler(step * bs, cfg["max_steps"] * bs),
        num_workers=cfg["workers"], pin_memory=device.type == "cuda", drop_last=True,
    )
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    budget = cfg["max_minutes"] * 60
    gen.train()
    bar = tqdm(total=cfg["max_steps"], initial=step, desc=f"train {cfg['model']}", dynamic_ncols=True, mininterval=2)
    if step == 0 and not vals:
        run_validation()  # the starting point (the model's initial fill): best.pt is never worse on val
    t_last = time.perf_counter()
    stopped_by = "steps"
    for image, mask in loader:
        if elapsed >= budget:
            stopped_by = "minutes"
            break
        image, mask = image.to(device, non_blocking=True), mask.to(device, non_blocking=True)
        _warm_up(opt_g, cfg["lr_g"], step, cfg["warmup_steps"])
        if use_adv:
            _warm_up(opt_d, cfg["lr_d"], step, cfg["warmup_steps"])
        with autocast:
            out_g = gen(image, mask)
        comp = mask * out_g["pred"] + (1 - mask) * image
        logs = discriminator_step(disc, opt_d, image, comp, mask, cfg) if use_adv else {}
        with autocast:
            total, g_logs = generator_losses(out_g, image, mask, cfg, vgg, disc)
        logs.update(g_logs)
        _check_finite(step, logs, last)
        opt_g.zero_grad(set_to_none=True)
        total.backward()
        opt_g.step()
        _ema_update(ema, gen, step, cfg["ema_decay"])
        step += 1
        now = time.perf_counter()
        elapsed += now - t_last
        t_last = now
        if step % cfg["log_every"] == 0 or step == cfg["max_steps"]:
            log.append({"step": step, "minutes": round(elapsed / 60, 4), **{k: round(v, 6) for k, v in logs.items()}})
            bar.set_postfix({k: f"{logs[k]:.3g}" for k in ("g_total", "d_loss") if k in logs}
                            | {"img/s": f"{step * bs / max(elapsed, 1e-9):.1f}"})
        bar.update(1)
        if step % cfg["val_every"] == 0 or step == cfg["max_steps"]:
            run_validation()
            t_last = time.perf_counter()  # validation time is not training time
        if step % cfg["ckpt_every"] == 0 or step == cfg["max_steps"]:
            checkpoint()
    bar.close()
    if not vals or vals[-1]["step"] != step:
        run_validation()
    checkpoint()
    summary = {"model": cfg["model"], "steps": step, "minutes": round(elapsed / 60, 3), "stopped_by": stopped_by,
               "params": sum(p.numel() for p in gen.parameters()), "best": {cfg["best_metric"]: best},
               "images_per_second": round(step * bs / max(elapsed, 1e-9), 2)}
    if stopped_by == "minutes":
        print(f"warning: {cfg['model']} hit train.max_minutes at step {step} of {cfg['max_steps']}; "
              "results now depend on this machine's speed (raise max_minutes or lower max_steps)")
    return summary


def _nchw(preds, images, masks):
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float()  # noqa: E731
    return t(preds), t(images), torch.from_numpy(masks).float()[:, None]


@torch.no_grad()
def predict(model: torch.nn.Module, images: np.ndarray, masks: np.ndarray, device, batch_size: int = 16) -> np.ndarray:
    """Composited predictions of a generator: (N, S, S, 3) float32 for images (N, S, S, 3), masks (N, S, S) (1 = hole)."""
    model.eval()
    outs = []
    for i in range(0, len(images), batch_size):
        x, _, m = _nchw(images[i : i + batch_size], images[i : i + batch_size], masks[i : i + batch_size])
        comp = fill_holes(model, x.to(device), m.to(device)).float().clamp(0, 1)
        outs.append(comp.permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(outs).astype(np.float32)
