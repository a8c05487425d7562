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

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from inpaint import distributed
from inpaint.arrays import masks_to_nchw, to_nchw
from inpaint.atomic import remove_stale_temps, write_csv
from inpaint.checkpoints import CHECKPOINT_FORMAT, load_checkpoint, pick_device, predict, save_checkpoint
from inpaint.data import MaskMix, StepSampler, TrainSet
from inpaint.metrics import PER_CROP
from inpaint.training.start import load_start, starting_point
from inpaint.training.step import Nets, TrainingDiverged, build_nets, train_step, wrap_nets


def _fingerprint(cfg: dict, paths: list[str], init_sha: str | None = None) -> str:
    # the process count is not in it (N processes train on the same global batches as one), nor max_minutes: a run
    # stopped by the clock continues under a raised one (its warning says to raise it). max_steps stays in: a run
    # of other steps validates at other steps, so it could choose another best.pt
    cfg = {k: v for k, v in cfg.items() if k not in ("distributed", "max_minutes")}
    blob = json.dumps({"cfg": cfg, "paths": paths, "format": CHECKPOINT_FORMAT, **({"init": init_sha} if init_sha else {})},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


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


@dataclass
class State:
    """What a run carries from step to step and last.pt keeps to resume it: the step, the training images
    seen, the training seconds spent, the log and validation rows, and the best validation score."""

    step: int = 0
    images: int = 0
    elapsed: float = 0.0
    log: list = field(default_factory=list)
    vals: list = field(default_factory=list)
    best: float | None = None
    best_crops: list | None = None  # best.pt's score on each validation crop (the paired comparison's reference)


@dataclass
class Run:
    """What stays fixed through a run: its config, networks, folders, processes, and validation set."""

    cfg: dict
    nets: Nets
    out: Path
    log_dir: Path
    ranks: distributed.Ranks
    device: torch.device
    fingerprint: str
    init_record: dict | None
    val_images: np.ndarray
    val_masks: np.ndarray
    validate: object = None
    sample_grid: object = None
    val_photos: np.ndarray | None = None  # the validation photo of each crop (`data.val_photos`), or None

    @property
    def last(self) -> Path:
        return self.out / "last.pt"


def resume(run: Run) -> State | None:
    """The state of the run's last.pt, its weights, optimisers and random state loaded, when it was written
    for this very config, data and start (rank 0 decides and hands it to every process); None to start."""
    ranks, nets, cfg = run.ranks, run.nets, run.cfg
    saved = None
    if ranks.main and run.last.exists():
        saved = load_checkpoint(run.last, "cpu")
        if saved.get("fingerprint") != run.fingerprint:
            print(f"{run.last}: written for other params, data or starting checkpoint; training from the start")
            saved = None
    saved = distributed.from_rank_0(saved, ranks)
    if saved is None:
        return None
    nets.gen.load_state_dict(saved["gen"])
    nets.ema.load_state_dict(saved["ema"])
    nets.opt_g.load_state_dict(saved["opt_g"])
    if nets.disc is not None:
        nets.disc.load_state_dict(saved["disc"])
        nets.opt_d.load_state_dict(saved["opt_d"])
    # one {cpu, cuda} per process; an older last.pt holds CPU states only
    rngs = [r if isinstance(r, dict) else {"cpu": r} for r in saved.get("rngs") or [saved["rng"]]]
    if ranks.rank < len(rngs):
        torch.set_rng_state(rngs[ranks.rank]["cpu"])
        if run.device.type == "cuda" and rngs[ranks.rank].get("cuda") is not None:
            torch.cuda.set_rng_state(rngs[ranks.rank]["cuda"], run.device)
    state = State(saved["step"], saved.get("images", saved["step"] * cfg["batch_size"]),  # older last.pt: constant batches
                  saved["elapsed"], saved["log"], saved["vals"], saved["best"], saved.get("best_crops"))
    if ranks.main:
        print(f"resuming {cfg['model']} from step {state.step} ({state.elapsed / 60:.1f} min already spent)")
        if len(rngs) != ranks.world_size:
            print(f"{run.last} was written by {len(rngs)} process(es), this run has {ranks.world_size}: the same "
                  "batches, but the processes without a saved random state draw fresh noise")
    return state


def save_last(run: Run, state: State) -> None:
    """Write last.pt (everything to resume, and the EMA generator as `inpaint fill` reads it) and the logs."""
    nets, device = run.nets, run.device
    rng = {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}
    rngs = distributed.gather(rng, run.ranks)  # every process takes part
    if not run.ranks.main:
        return
    adv = nets.disc is not None
    save_checkpoint(run.last, {
        "format": CHECKPOINT_FORMAT, "fingerprint": run.fingerprint, "step": state.step, "images": state.images,
        "elapsed": state.elapsed, "gen": nets.gen.state_dict(), "ema": nets.ema.state_dict(),
        "opt_g": nets.opt_g.state_dict(), "disc": nets.disc.state_dict() if adv else {},
        "opt_d": nets.opt_d.state_dict() if adv else {}, "rng": rngs[0]["cpu"], "rngs": rngs, "log": state.log,
        "vals": state.vals, "best": state.best, "best_crops": state.best_crops,
        # what generator_from_checkpoint reads, so `inpaint fill --method .../last.pt` runs the latest EMA
        "arch": run.cfg["model"], "kwargs": run.cfg["kwargs"], "state": nets.ema.state_dict(), "params": run.cfg,
        "init": run.init_record,
    })
    write_csv(run.log_dir / "log.csv", pd.DataFrame(state.log))
    write_csv(run.log_dir / "val.csv", pd.DataFrame(state.vals))


def beats(crops: list | None, best_crops: list | None, score: float | None, best: float | None,
          higher: bool, photos: np.ndarray | None = None) -> tuple[bool, dict]:
    """Whether a checkpoint beats the best one so far on the validation crops, and the comparison's figures.

    With each crop's scores (a validation function that gives PER_CROP), the paired difference
    candidate - best must beat zero by more than its standard error, and when `photos` says which
    validation photo each crop shows, that standard error is the photos' (crops of one photo are not
    independent evidence) and the candidate must be no worse on any photo. So a step wins only by more
    than the validation set's noise and without trading one kind of photo for another, and the first
    candidate (step 0, the checkpoint a fine-tune starts from) stays unless training measurably improved
    on it. Without per-crop scores, any better mean wins."""
    if score is None:
        return False, {}
    if best is None:
        return True, {}
    if crops is None or best_crops is None or len(crops) != len(best_crops) or len(crops) < 2:
        return (score > best if higher else score < best), {}
    sign = 1.0 if higher else -1.0
    gain = sign * (np.asarray(crops, dtype=np.float64) - np.asarray(best_crops, dtype=np.float64))  # > 0: better
    keep = np.isfinite(gain)
    units = [gain[keep]]
    if photos is not None and len(photos) == len(gain):
        labels = np.asarray(photos)[keep]
        units = [gain[keep][labels == p] for p in np.unique(labels)]
    if len(units) >= 2:  # one value per photo
        per = np.array([u.mean() for u in units])
        mean, se, worst = float(per.mean()), float(per.std(ddof=1) / len(per) ** 0.5), float(per.min())
        figures = {"vs_best": sign * mean, "vs_best_se": se, "vs_best_worst_photo": sign * worst}
        return mean > se and worst >= 0, figures
    g = units[0]  # one photo, or photos unknown: crop by crop
    if len(g) < 2:
        return False, {}
    mean, se = float(g.mean()), float(g.std(ddof=1) / len(g) ** 0.5)
    return mean > se, {"vs_best": sign * mean, "vs_best_se": se}


def run_validation(run: Run, state: State) -> None:
    """Score the EMA generator on the validation set (rank 0 only), add a row to the validation log, draw
    the sample grid, and write best.pt when this step beats the best so far by more than the noise
    (`beats`), or when there is none yet."""
    if not run.ranks.main:  # the others go on to the next step and wait for rank 0 in its gradient exchange
        return
    cfg, ema = run.cfg, run.nets.ema
    preds = predict(ema, run.val_images, run.val_masks, run.device, cfg["batch_size"])
    scores = run.validate(to_nchw(preds), to_nchw(run.val_images), masks_to_nchw(run.val_masks)) if run.validate else {}
    scores = dict(scores)
    crops = (scores.pop(PER_CROP, None) or {}).get(cfg["best_metric"])
    # the first validation scores the untrained model, i.e. its starting fill: every row carries
    # that reference, which the val_curve plot draws as a line
    start = {f"{k}_start_fill": v for k, v in (state.vals[0] if state.vals else scores).items()
             if k in scores and not k.endswith("_se")}
    if run.sample_grid:
        run.sample_grid(run.out / "samples" / f"step_{state.step:06d}.png", run.val_images[:4], run.val_masks[:4],
                        preds[:4])
    score = scores.get(cfg["best_metric"])
    better, versus = beats(crops, state.best_crops, score, state.best, cfg["best_higher"], run.val_photos)
    first = not (run.out / "best.pt").exists()
    state.vals.append({"step": state.step, "images": state.images, **scores, **start,
                       **{f"{cfg['best_metric']}_{k}": v for k, v in versus.items()}, "chosen": int(better or first)})
    if better or first:
        state.best = score if score is not None else state.best
        state.best_crops = crops
        save_checkpoint(run.out / "best.pt", {
            "format": CHECKPOINT_FORMAT, "arch": cfg["model"], "kwargs": cfg["kwargs"],
            "state": ema.state_dict(), "step": state.step, "params": cfg, "val": scores, "init": run.init_record,
        })


def train(cfg: dict, train_paths: list[str], val_images: np.ndarray, val_masks: np.ndarray, out_dir: str | Path,
          log_dir: str | Path, validate=None, sample_grid=None, on_step=None, val_photos=None) -> dict:
    """Train one generator as `cfg` says; resumable from `out_dir/last.pt`. Returns a summary dict.

    Args:
        cfg: plain values (see `model_config`): model, kwargs, discriminator {name, kwargs}, image_size,
            seed, batch_size, max_steps, max_minutes, lr_g, lr_d, warmup_steps, betas, ema_decay, log_every,
            val_every, ckpt_every, best_metric, best_higher, workers, device, curriculum {size, steps}
            (optional), distributed {nproc_per_node, nnodes, backend} (optional: under torchrun this process
            trains as one of WORLD_SIZE data-parallel processes, see inpaint.distributed), init_from (optional: a checkpoint to fine-tune, see `starting_point`), masks {kinds, min_ratio, max_ratio}, augment {min_scale, color}, loss {l1_hole,
            l1_valid, perceptual, style, perceptual_net, perceptual_layers, adv, adv_kind, adv_start, kl,
            r1, diversity, diversity_margin, diversity_pool, sample_perceptual, lattice (absent: 0)}.
        val_images, val_masks: fixed validation set, (N, S, S, 3) and (N, S, S) float32, 1 = hole.
        validate: fn(pred, target, mask) -> {metric: mean} on NCHW tensors (composited preds).
        sample_grid: fn(path, images, masks, preds) writing a PNG, or None.
        on_step: fn(step) called after each step's checkpointing, or None (tests stop a run there).
        val_photos: which validation photo each crop shows (`inpaint.data.val_photos`), or None: best.pt
            then compares checkpoints photo by photo (`beats`).
    Only rank 0 validates and writes; every process returns the summary.
    """
    ranks = distributed.ranks()
    dist_cfg = distributed.settings(cfg)
    distributed.check_world(dist_cfg, ranks)
    device = distributed.device_for(ranks, pick_device(cfg["device"]))
    created = distributed.start(ranks, dist_cfg["backend"], device)
    try:
        return _train(cfg, train_paths, val_images, val_masks, Path(out_dir), Path(log_dir), validate, sample_grid,
                      on_step, ranks, device, val_photos)
    finally:
        distributed.stop(created)


def _train(cfg, train_paths, val_images, val_masks, out: Path, log_dir: Path, validate_fn, sample_grid, on_step,
           ranks: distributed.Ranks, device: torch.device, val_photos=None) -> dict:
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
    nets = build_nets(cfg, device, ranks)
    for net in (nets.gen, nets.ema, nets.disc):
        if net is not None:
            net.to(memory_format=fmt)
    if ranks.rank > 0:  # same weights everywhere, but each process's random draws (a VAE's noise) its own
        torch.manual_seed(cfg["seed"] * 1000 + ranks.rank)
    run = Run(cfg, nets, out, log_dir, ranks, device, _fingerprint(cfg, train_paths, init and init["sha256"]),
              init_record, val_images, val_masks, validate_fn, sample_grid, val_photos)
    state = resume(run) or State()
    if init is not None and state.step == 0:
        load_start(nets, init, cfg.get("init_optimizers", False))
        if main:
            print(f"fine-tuning {cfg['model']} from {init['path']} (sha256 {init['sha256'][:12]})")
    wrap_nets(nets, ranks, device)

    bs = cfg["batch_size"]
    loader = batches(cfg, train_paths, state.step, pin_memory=device.type == "cuda", ranks=ranks)
    budget = cfg["max_minutes"] * 60
    nets.gen.train()
    bar = tqdm(total=cfg["max_steps"], initial=state.step, desc=f"train {cfg['model']}", dynamic_ncols=True,
               mininterval=2, disable=not main)
    if state.step == 0 and not state.vals:
        run_validation(run, state)  # the starting point (the model's initial fill): best.pt is never worse on val
    t_last = time.perf_counter()
    stopped_by = "steps"
    for image, mask in loader:
        if distributed.agree(state.elapsed >= budget, ranks, device):  # rank 0's clock ends every process
            stopped_by = "minutes"
            break
        image = image.to(device, non_blocking=True, memory_format=fmt)
        mask = mask.to(device, non_blocking=True, memory_format=fmt)
        try:
            logs = train_step(nets, image, mask, state.step, cfg)
        except TrainingDiverged as e:
            raise TrainingDiverged(
                f"{e}; stopped, the last good checkpoint {run.last} is kept. "
                "Lower the learning rate or that loss's weight, then rerun (it resumes from that checkpoint)."
            ) from None
        state.step += 1
        state.images += bs
        now = time.perf_counter()
        state.elapsed += now - t_last
        t_last = now
        step = state.step
        if step % cfg["log_every"] == 0 or step == cfg["max_steps"]:
            logs = distributed.mean(logs, ranks, device)  # the global batch's losses
            state.log.append({"step": step, "images": state.images, "minutes": round(state.elapsed / 60, 4),
                              **{k: round(v, 6) for k, v in logs.items()}})
            bar.set_postfix({k: f"{logs[k]:.3g}" for k in ("g_total", "d_loss") if k in logs}
                            | {"img/s": f"{step * bs / max(state.elapsed, 1e-9):.1f}"})
        bar.update(1)
        if step % cfg["val_every"] == 0 or step == cfg["max_steps"]:
            run_validation(run, state)
            t_last = time.perf_counter()  # validation time is not training time
        if step % cfg["ckpt_every"] == 0 or step == cfg["max_steps"]:
            save_last(run, state)
        if on_step is not None:
            on_step(step)
    bar.close()
    if not state.vals or state.vals[-1]["step"] != state.step:
        run_validation(run, state)
    save_last(run, state)
    summary = {"model": cfg["model"], "steps": state.step, "minutes": round(state.elapsed / 60, 3),
               "stopped_by": stopped_by, "params": sum(p.numel() for p in nets.gen.parameters()),
               "best": {cfg["best_metric"]: state.best},
               "images_per_second": round(state.step * bs / max(state.elapsed, 1e-9), 2), "processes": ranks.world_size}
    if stopped_by == "minutes" and main:
        print(f"warning: {cfg['model']} hit train.max_minutes at step {state.step} of {cfg['max_steps']}; "
              "results now depend on this machine's speed (raise max_minutes or lower max_steps)")
    return summary
