"""Parameter-free fills: the start every generator refines, and baselines of their own.

Each fill is `(image (N, C, H, W), mask (N, 1, H, W)) -> filled image` on torch tensors in [0, 1],
mask 1 = hole; hole pixels of the image are never read and known pixels come back bit for bit.
`FILLS` registers them by name; `inpaint.baselines.BASELINES` lists each one as a classical method
too, so the report scores every generator's starting fill beside the generator.

  nearest   the colour of the nearest known pixel (sharp, Voronoi-like)
  pyramid   push-pull over an image pyramid (smooth, local colours)
  hybrid    the mean of nearest and pyramid (the generators' default start)
  fade      nearest at the hole's edge fading into pyramid inside it (no Voronoi wedges or long streaks)
  patch     our PatchMatch completion (texture copied from the known region; CPU: bench/methods.py times it)
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from inpaint.arrays import to_nchw, to_nhwc

StartFill = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (image, mask) NCHW -> filled image


def pyramid_fill(image: torch.Tensor, mask: torch.Tensor, smooth_iters: int = 2) -> torch.Tensor:
    """Fill the hole by push-pull over an image pyramid; known pixels come back unchanged.

    Push: halve the image repeatedly (ceil mode, so any H, W works) down to 1x1, each coarse pixel
    taking the confidence-weighted mean of its 2x2 children and confidence min(1, 4 * mean child
    confidence), so one known child is enough to trust it. Pull: from the coarsest level up, each
    pixel blends its own colour with the bilinear upsampling of the level below by its confidence,
    then `smooth_iters` 3x3 box blurs, weighted by (1 - confidence), soften the seams at that scale.
    A hole pixel thus takes the colour of the finest scale at which known pixels are near: local
    colours, not the image mean. Hole pixels of `image` are never read; an all-hole image is filled with grey (0.5). Every step is a
    convex combination, so the fill stays within the range of the known colours.

    Args:
        image: (N, C, H, W) float in [0, 1].
        mask: (N, 1, H, W) float, 1 = hole.
        smooth_iters: 3x3 blur passes per pyramid level during the pull.
    Returns:
        (N, C, H, W) filled image, equal to `image` wherever mask == 0.
    """
    valid = 1.0 - mask  # (N, 1, H, W)
    colours, confs = [image * valid], [valid]
    while colours[-1].shape[-2] > 1 or colours[-1].shape[-1] > 1:
        # ceil-mode avg_pool divides both sums by the same count, so their ratio is the weighted mean
        weight = F.avg_pool2d(confs[-1], 2, ceil_mode=True)  # (N, 1, h/2, w/2)
        total = F.avg_pool2d(confs[-1] * colours[-1], 2, ceil_mode=True)  # (N, C, h/2, w/2)
        colours.append(total / weight.clamp_min(max(1e-8, torch.finfo(weight.dtype).tiny)))  # 1e-8 is 0 in fp16
        confs.append((4.0 * weight).clamp(max=1.0))
    colour = torch.where(confs[-1] > 0, colours[-1], torch.full_like(colours[-1], 0.5))  # (N, C, 1, 1)
    for own, conf in zip(reversed(colours[:-1]), reversed(confs[:-1])):
        up = F.interpolate(colour, size=own.shape[-2:], mode="bilinear", align_corners=False)
        colour = torch.lerp(up, own, conf)  # (N, C, h, w): own colour where confident
        for _ in range(smooth_iters):
            blurred = F.avg_pool2d(colour, 3, stride=1, padding=1, count_include_pad=False)
            colour = torch.lerp(blurred, colour, conf)
    return mask * colour + valid * image  # known pixels bit-for-bit


def _grid(h: int, w: int, device: torch.device, scale: float = 1.0, offset: float = 0.0) -> torch.Tensor:
    """(1, 2, h, w) float (y, x) pixel coordinates, times scale plus offset."""
    ys = torch.arange(h, device=device, dtype=torch.float32).view(1, 1, h, 1).expand(1, 1, h, w)
    xs = torch.arange(w, device=device, dtype=torch.float32).view(1, 1, 1, w).expand(1, 1, h, w)
    return torch.cat([ys, xs], dim=1) * scale + offset


def _halving_steps(size: int) -> list[int]:
    """Jump-flooding steps: powers of two from below `size` down to 1."""
    step, steps = 1, []
    while step < size:
        step *= 2
    while step > 1:
        step //= 2
        steps.append(step)
    return steps


def _jump_flood(seeds: torch.Tensor, pos: torch.Tensor, steps: list[int], far: float) -> torch.Tensor:
    """Each pixel adopts the closest seed among its own and its 8 neighbours' `step` pixels away.

    Args:
        seeds: (N, 2, h, w) candidate seed coordinates per pixel (`far` = none yet).
        pos: (1, 2, h, w) the pixels' own coordinates, in the seeds' units.
    """
    h, w = seeds.shape[-2:]
    for step in steps:
        padded = F.pad(seeds, (step, step, step, step), value=far)  # (N, 2, h + 2s, w + 2s)
        best, best_d = seeds, (seeds - pos).square().sum(1, keepdim=True)
        for dy in (0, step, 2 * step):
            for dx in (0, step, 2 * step):
                if dy == step and dx == step:
                    continue
                cand = padded[..., dy : dy + h, dx : dx + w]  # the seed of the neighbour at this offset
                d = (cand - pos).square().sum(1, keepdim=True)  # (N, 1, h, w) squared distance
                closer = d < best_d
                best_d, best = torch.where(closer, d, best_d), torch.where(closer, cand, best)
        seeds = best
    return seeds


def nearest_known(mask: torch.Tensor) -> torch.Tensor:
    """Coordinates of a nearest known pixel for every pixel, by jump flooding (Rong & Tan 2006).

    Jump flooding (passes with steps size/2, ..., 1, each pixel adopting the closest seed seen at
    its 8 neighbours `step` away) runs on 2x2 cells, each seeded with one of its known pixels, then
    two full-resolution passes at step 1 settle the last pixel (a quarter of the pixels in the long
    passes). Known pixels are their own seed; every seed is a known pixel, and its distance is
    within 1.5 px of the exact Euclidean nearest one.

    Args:
        mask: (N, 1, H, W) float, 1 = hole.
    Returns:
        (N, 2, H, W) float (y, x) of the seed; negative where the image has no known pixel at all.
    """
    n, _, h, w = mask.shape
    far = -4.0 * (h + w)  # a "seed" farther than any real one
    known = mask < 0.5  # (N, 1, H, W)
    pos = _grid(h, w, mask.device)
    if min(h, w) < 4:  # too small for cells: flood at full resolution
        own = torch.where(known, pos, torch.full((1, 2, 1, 1), far, device=mask.device))
        return _jump_flood(own, pos, _halving_steps(max(h, w)) + [1], far)
    # 2x2 cells (odd sizes padded with hole), each seeded by a known pixel: max_pool's argmax
    valid = F.pad(known.float(), (0, w % 2, 0, h % 2))  # (N, 1, H', W') even
    hit, idx = F.max_pool2d(valid, 2, return_indices=True)  # (N, 1, H'/2, W'/2); idx into the H' x W' plane
    width = valid.shape[-1]
    cell_seed = torch.cat([torch.div(idx, width, rounding_mode="floor"), idx % width], dim=1).float()
    cells = torch.where(hit > 0, cell_seed, torch.full_like(cell_seed, far))  # full-res coordinates
    ch, cw = cells.shape[-2:]
    cells = _jump_flood(cells, _grid(ch, cw, mask.device, 2.0, 0.5), _halving_steps(max(ch, cw)), far)
    up = cells.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)[..., :h, :w]  # (N, 2, H, W)
    return _jump_flood(torch.where(known, pos, up), pos, [1, 1], far)


def nearest_fill(image: torch.Tensor, mask: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
    """Fill each hole pixel with the colour of its (approximately) nearest known pixel.

    Sharp, Voronoi-cell-like extensions of the boundary colours (LPIPS punishes blur far more
    than misplaced edges). An all-hole image is filled with grey (0.5); hole pixels of `image` are never read.

    Args:
        image: (N, C, H, W) float in [0, 1].
        mask: (N, 1, H, W) float, 1 = hole.
        seeds: `nearest_known(mask)` when the caller has it.
    """
    seeds = nearest_known(mask) if seeds is None else seeds  # (N, 2, H, W)
    return mask * _seed_colours(image, seeds) + (1.0 - mask) * image  # known pixels bit-for-bit


def _seed_colours(image: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) the colour of each pixel's seed (`nearest_known`); grey (0.5) where there is none."""
    n, c, h, w = image.shape
    found = seeds[:, :1] >= 0  # (N, 1, H, W)
    idx = seeds[:, 0].clamp(0, h - 1).long() * w + seeds[:, 1].clamp(0, w - 1).long()  # (N, H, W)
    colour = image.reshape(n, c, h * w).gather(2, idx.view(n, 1, h * w).expand(n, c, h * w)).view(n, c, h, w)
    return torch.where(found, colour, torch.full_like(colour, 0.5))


FADE_LENGTH = 16.0  # px: twice the 8-px cell of the models' bottleneck; set before any measurement, not tuned


def fade_fill(image: torch.Tensor, mask: torch.Tensor, length: float = FADE_LENGTH,
              smooth: torch.Tensor | None = None, seeds: torch.Tensor | None = None) -> torch.Tensor:
    """The nearest known colour at the hole's edge, fading into the pyramid fill with the distance from it.

    `hybrid` (the mean of `nearest_fill` and `pyramid_fill`) keeps half of the nearest fill everywhere,
    so deep inside a large hole its Voronoi cells show: X and fan-shaped wedges meeting on the hole's
    medial axis and streaks running from the edge across the hole, which every model that refines it
    carries into its fill. Here the nearest colour's weight is exp(-d / length), d the distance (px)
    to the nearest known pixel: sharp where the hole meets the photo, the smooth local colours of the
    pyramid a few `length`s in, whatever the hole's size.

    Args:
        image: (N, C, H, W) float in [0, 1].
        mask: (N, 1, H, W) float, 1 = hole.
        length: px over which the nearest colour's weight falls by a factor e; > 0.
        smooth, seeds: `pyramid_fill(image, mask)` and `nearest_known(mask)` when the caller has them
            (`compute_fills` shares them with the pyramid and nearest fills).
    """
    if not length > 0:
        raise ValueError(f"fade_fill: length must be > 0 px, got {length}")
    seeds = nearest_known(mask) if seeds is None else seeds  # (N, 2, H, W)
    dist = (seeds - _grid(*mask.shape[-2:], mask.device)).square().sum(1, keepdim=True).sqrt()  # 0 on known pixels
    near = torch.where(seeds[:, :1] >= 0, torch.exp(-dist / length), 0.0).to(image.dtype)  # no seed: all pyramid
    smooth = pyramid_fill(image, mask) if smooth is None else smooth
    colour = torch.lerp(smooth, _seed_colours(image, seeds), near)
    return mask * colour + (1.0 - mask) * image  # known pixels bit-for-bit


def patch_fill(image: torch.Tensor, mask: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Fill each hole by our multi-scale PatchMatch completion (`inpaint.patch.patch_match`).

    Texture copied from the known region: on LPIPS it is the strongest classical fill we have, at
    the price of PSNR. Runs on the CPU (numba, which releases the GIL, so the images of a batch are
    filled in parallel threads), deterministic for a given `seed`; hole pixels are never read.
    No gradient flows through it: it is an input, like the other fills.

    Args:
        image: (N, 3, H, W) float in [0, 1].
        mask: (N, 1, H, W) float, 1 = hole.
    """
    from inpaint.patch import patch_match  # numba: loaded only by the models that start from this fill

    imgs = to_nhwc(image)  # (N, H, W, 3)
    holes = mask.detach().float()[:, 0].cpu().numpy()  # (N, H, W)
    fill = lambda i: patch_match(np.clip(imgs[i], 0.0, 1.0), holes[i], seed=seed)  # noqa: E731
    with ThreadPoolExecutor(max(1, min(len(imgs), torch.get_num_threads()))) as pool:
        out = np.stack(list(pool.map(fill, range(len(imgs)))))
    out = to_nchw(out).to(device=image.device, dtype=image.dtype)
    return mask * out + (1.0 - mask) * image  # known pixels bit-for-bit


def hybrid_fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of `nearest_fill` (edges) and `pyramid_fill` (low frequencies); 1 = hole."""
    return compute_fills(["hybrid"], image, mask)["hybrid"]


FILLS: dict[str, StartFill] = {
    "nearest": nearest_fill,
    "pyramid": pyramid_fill,
    "hybrid": hybrid_fill,
    "patch": patch_fill,
    "fade": fade_fill,
}
# Fills that are the mean of others: computed from their parts, so asking for a fill and its parts
# costs each part once.
MEAN_OF = {"hybrid": ("nearest", "pyramid")}


def get_fill(name: str) -> StartFill:
    """The fill registered as `name`; ValueError lists the known names."""
    if name not in FILLS:
        raise ValueError(f"unknown fill {name!r}; known: {sorted(FILLS)}")
    return FILLS[name]


def compute_fills(names: list[str], image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each named fill of (image, mask) once, parts of a mean fill shared: {name: (N, C, H, W)}; 1 = hole."""
    done: dict[str, torch.Tensor] = {}

    def get(name: str) -> torch.Tensor:
        if name not in done:
            if name in MEAN_OF:
                parts = [get(p) for p in MEAN_OF[name]]
                done[name] = sum(parts) / len(parts)
            elif name == "fade":  # the nearest fill's seeds and the pyramid fill, made once for all three
                seeds = nearest_known(mask)
                if "nearest" not in done and FILLS["nearest"] is nearest_fill:
                    done["nearest"] = nearest_fill(image, mask, seeds)
                done[name] = fade_fill(image, mask, smooth=get("pyramid"), seeds=seeds)
            else:
                done[name] = get_fill(name)(image, mask)
        return done[name]

    for name in sorted(names, key=lambda n: n != "fade"):  # fade first: its seeds make the nearest fill too
        get(name)
    return {n: done[n] for n in names}
