"""Exemplar (patch) baselines behind the model signature `(image, mask) -> image`.

Same contract as `inpaint.classical`: RGB float32 (H, W, 3) in [0, 1], float32 (H, W) mask with
1 = hole, output composited so known pixels come back bit for bit.

- `patch_match`: our multi-scale PatchMatch completion (Wexler et al. 2007 EM over a pyramid, with
  the nearest-neighbour field found by Barnes et al. 2009 PatchMatch). Textured, seeded.
- `patch_criminisi`: our exemplar fill (Criminisi et al. 2004): the fill front is filled patch by
  patch in priority order (confidence * isophote data term), each from the best fully known patch.

Both only ever copy from patches whose every pixel is known, never from the hole.
"""
from __future__ import annotations

import cv2
import numpy as np
from numba import njit

from inpaint.classical import blank, check_image_and_mask, composite, telea


def _valid_sources(hole: np.ndarray, r: int) -> np.ndarray:
    """(H, W) bool: centres whose (2r+1)^2 patch lies inside the image and holds no hole pixel."""
    h, w = hole.shape
    valid = np.zeros((h, w), bool)
    if h < 2 * r + 1 or w < 2 * r + 1:
        return valid
    ii = np.pad(hole.astype(np.int32), ((1, 0), (1, 0))).cumsum(0).cumsum(1)  # (H+1, W+1) integral image
    p = 2 * r + 1
    holes_in_patch = ii[p:, p:] - ii[:-p, p:] - ii[p:, :-p] + ii[:-p, :-p]  # (H-2r, W-2r)
    valid[r : h - r, r : w - r] = holes_in_patch == 0
    return valid


def _fit_patch(hole: np.ndarray, patch_size: int) -> int:
    """The largest odd patch size <= patch_size with at least one fully known patch (1 always fits)."""
    p = max(1, int(patch_size) | 1)
    p = min(p, (min(hole.shape) - 1) | 1)
    while p > 1 and not _valid_sources(hole, p // 2).any():
        p -= 2
    return p


# ---------------------------------------------------------------------------------------------
# PatchMatch completion (Wexler et al. 2007 + Barnes et al. 2009)


@njit(cache=True, nogil=True)
def _ssd(img, ty, tx, sy, sx, r, cap):
    """Sum of squared differences of two patches; stops early once a row pushes it past `cap`."""
    d = 0.0
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            for c in range(3):
                e = img[ty + dy, tx + dx, c] - img[sy + dy, sx + dx, c]
                d += e * e
        if d > cap:
            return d
    return d


@njit(cache=True, nogil=True)
def _random_source(src_y, src_x):
    k = np.random.randint(0, src_y.shape[0])
    return src_y[k], src_x[k]


@njit(cache=True, nogil=True)
def _patchmatch(img, is_tgt, valid, src_y, src_x, nnf, nnd, r, iters, seed):
    """Improve the nearest-neighbour field `nnf` (H, W, 2) of every target centre in place.

    Propagation takes the neighbour's match shifted by one pixel; random search samples around the
    current match at exponentially shrinking radii. Candidates must be `valid` (fully known).
    """
    np.random.seed(seed)
    h, w = is_tgt.shape
    # The image changed since the field was last scored (a vote), so rescore every match first.
    for y in range(r, h - r):
        for x in range(r, w - r):
            if is_tgt[y, x]:
                nnd[y, x] = _ssd(img, y, x, nnf[y, x, 0], nnf[y, x, 1], r, np.inf)
    for it in range(iters):
        if it % 2 == 0:
            y0, y1, step = r, h - r, 1
            x0, x1 = r, w - r
        else:
            y0, y1, step = h - r - 1, r - 1, -1
            x0, x1 = w - r - 1, r - 1
        for y in range(y0, y1, step):
            for x in range(x0, x1, step):
                if not is_tgt[y, x]:
                    continue
                by, bx, bd = nnf[y, x, 0], nnf[y, x, 1], nnd[y, x]
                # propagation from the already visited neighbours (above/left, or below/right)
                ny = y - step
                if r <= ny < h - r and is_tgt[ny, x]:
                    cy, cx = nnf[ny, x, 0] + step, nnf[ny, x, 1]
                    if r <= cy < h - r and valid[cy, cx] and (cy != by or cx != bx):
                        d = _ssd(img, y, x, cy, cx, r, bd)
                        if d < bd:
                            by, bx, bd = cy, cx, d
                nx = x - step
                if r <= nx < w - r and is_tgt[y, nx]:
                    cy, cx = nnf[y, nx, 0], nnf[y, nx, 1] + step
                    if r <= cx < w - r and valid[cy, cx] and (cy != by or cx != bx):
                        d = _ssd(img, y, x, cy, cx, r, bd)
                        if d < bd:
                            by, bx, bd = cy, cx, d
                # random search around the best match so far, radius halving down to 1 pixel
                rad = max(h, w)
                while rad >= 1:
                    cy = min(max(by + np.random.randint(-rad, rad + 1), r), h - r - 1)
                    cx = min(max(bx + np.random.randint(-rad, rad + 1), r), w - r - 1)
                    if valid[cy, cx]:
                        d = _ssd(img, y, x, cy, cx, r, bd)
                        if d < bd:
                            by, bx, bd = cy, cx, d
                    rad //= 2
                nnf[y, x, 0], nnf[y, x, 1], nnd[y, x] = by, bx, bd


@njit(cache=True, nogil=True)
def _vote(img, hole, is_tgt, nnf, weight, r):
    """Set every hole pixel to the `weight`-weighted mean of what the covering matches say (M-step)."""
    h, w = hole.shape
    acc = np.zeros((h, w, 3))
    wsum = np.zeros((h, w))
    for y in range(r, h - r):
        for x in range(r, w - r):
            if not is_tgt[y, x]:
                continue
            wt = weight[y, x]
            sy, sx = nnf[y, x, 0], nnf[y, x, 1]
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    if hole[y + dy, x + dx]:
                        for c in range(3):
                            acc[y + dy, x + dx, c] += wt * img[sy + dy, sx + dx, c]
                        wsum[y + dy, x + dx] += wt
    for y in range(h):
        for x in range(w):
            # A zero total weight (every match far worse than sigma) keeps the previous estimate.
            if hole[y, x] and wsum[y, x] > 1e-30:
                for c in range(3):
                    img[y, x, c] = acc[y, x, c] / wsum[y, x]


@njit(cache=True, nogil=True)
def _init_nnf(nnf, is_tgt, valid, src_y, src_x, r, coarse, seed):
    """Fill `nnf` for every target centre: from the 2x coarser field where it lands on a valid
    source, else at random among the valid sources. `coarse` may be 0x0 (coarsest level)."""
    np.random.seed(seed)
    h, w = is_tgt.shape
    hc, wc = coarse.shape[0], coarse.shape[1]
    for y in range(r, h - r):
        for x in range(r, w - r):
            if not is_tgt[y, x]:
                continue
            found = False
            if hc > 0:
                cy, cx = min(y // 2, hc - 1), min(x // 2, wc - 1)
                if coarse[cy, cx, 0] >= 0:
                    sy = 2 * coarse[cy, cx, 0] + (y - 2 * cy)
                    sx = 2 * coarse[cy, cx, 1] + (x - 2 * cx)
                    if r <= sy < h - r and r <= sx < w - r and valid[sy, sx]:
                        nnf[y, x, 0], nnf[y, x, 1] = sy, sx
                        found = True
            if not found:
                nnf[y, x, 0], nnf[y, x, 1] = _random_source(src_y, src_x)


def _downsample(img: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Halve the image averaging known pixels only; a coarse pixel is known if any fine one is.

    Holes thus thin out going up the pyramid, so the coarsest level has a few-pixel-wide hole and
    plenty of source patches, and no hole value ever leaks into a coarse known pixel.
    """
    h, w = hole.shape
    size = ((w + 1) // 2, (h + 1) // 2)
    known = (~hole).astype(np.float32)
    num = cv2.resize(img * known[..., None], size, interpolation=cv2.INTER_AREA)  # (h/2, w/2, 3)
    den = cv2.resize(known, size, interpolation=cv2.INTER_AREA)  # (h/2, w/2)
    coarse_hole = den < 1e-3
    coarse = num / np.maximum(den, 1e-6)[..., None]
    coarse[coarse_hole] = 0.0
    return coarse.astype(np.float32), coarse_hole


def _patch_confidence(hole: np.ndarray, r: int, gamma: float) -> np.ndarray:
    """(H, W) mean over each patch of gamma^-(distance to the nearest known pixel).

    Wexler et al. 2007 trust patches near the hole boundary more, so structure grows inwards.
    """
    dist = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)  # 0 on known pixels
    conf = np.power(gamma, -dist).astype(np.float32)
    return cv2.blur(conf, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REPLICATE)


def _vote_weight(nnd, is_tgt, conf, r):
    """Per-centre vote weight exp(-d / 2 sigma^2) * confidence; sigma^2 is the 75th percentile of d
    (Wexler et al. 2007), d the match's mean squared error per value."""
    d = nnd / (3.0 * (2 * r + 1) ** 2)
    sigma2 = max(float(np.percentile(d[is_tgt], 75)), 1e-6) if is_tgt.any() else 1.0
    return np.exp(-d / (2.0 * sigma2)) * conf


def patch_match(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    patch_size: int = 7,
    em_iters: int = 3,
    pm_iters: int = 2,
    min_size: int = 16,
    gamma: float = 1.3,
    seed: int = 0,
    init: np.ndarray | None = None,
    init_level: int = 2,
) -> np.ndarray:
    """Multi-scale PatchMatch completion: coarse-to-fine EM of nearest-neighbour search and voting.

    The pyramid halves the image until its short side would drop below `min_size` or no fully known
    patch is left. The coarsest hole starts from a Telea fill; every level then alternates
    `pm_iters` PatchMatch sweeps with a vote, `em_iters` times (twice that at the coarsest level),
    and hands its field up to the next finer level. Deterministic for a given `seed`.

    With `init` (a fill of the whole hole, e.g. a network's), the EM starts at pyramid level
    `init_level` (1/2^init_level of the size, or the coarsest there is) from `init` shrunk to it, and
    refines up to full size: the layout comes from `init`, the texture from known patches.

    Args:
        image: float32 (H, W, 3) RGB in [0, 1].
        mask: float32 (H, W), 1 = hole.
        patch_size: odd patch side; shrunk automatically when the image has no fully known patch.
        init: float32 (H, W, 3) in [0, 1], or None.
    """
    image, mask, hole = check_image_and_mask(image, mask)
    if not hole.any():
        return image.copy()
    p = _fit_patch(hole, patch_size)
    r = p // 2

    # Pyramid, finest first; stop before a level too small or without any fully known patch.
    levels = [(blank(image, hole), hole)]
    while True:
        img, hl = levels[-1]
        if min(hl.shape) // 2 < max(min_size, 2 * p + 1):
            break
        cimg, chl = _downsample(img, hl)
        if not chl.any() or not _valid_sources(chl, r).any():
            break
        levels.append((cimg, chl))

    if init is None:  # the coarsest hole starts from a smooth Telea fill: a better EM start than noise
        first = len(levels) - 1
        img, hl = levels[first]
        img[:] = telea(img, hl.astype(np.float32))
    else:  # from the given fill, shrunk to the starting level
        if init.shape != image.shape:
            raise ValueError(f"patch_match: init is {init.shape}, the image {image.shape}; give a fill of the image's size")
        first = min(init_level, len(levels) - 1)
        img, hl = levels[first]
        img[hl] = cv2.resize(np.asarray(init, np.float32), hl.shape[::-1], interpolation=cv2.INTER_AREA)[hl]

    coarse_nnf = np.zeros((0, 0, 2), np.int32)
    rng = np.random.default_rng(seed)
    for lvl in range(first, -1, -1):
        img, hl = levels[lvl]
        h, w = hl.shape
        if lvl < first:
            # Start from the coarser result, upsampled, in the hole only.
            up = cv2.resize(levels[lvl + 1][0], (w, h), interpolation=cv2.INTER_LINEAR)
            img[hl] = up[hl]
        valid = _valid_sources(hl, r)
        src_y, src_x = (a.astype(np.int32) for a in np.nonzero(valid))
        # Target centres: in-image patches holding at least one hole pixel, i.e. in range and not
        # a valid source. Every hole pixel lies in at least one of them.
        is_tgt = np.zeros((h, w), bool)
        is_tgt[r : h - r, r : w - r] = ~valid[r : h - r, r : w - r]
        nnf = np.full((h, w, 2), -1, np.int32)
        nnd = np.zeros((h, w), np.float64)
        conf = _patch_confidence(hl, r, gamma)
        _init_nnf(nnf, is_tgt, valid, src_y, src_x, r, coarse_nnf, int(rng.integers(2**31)))
        if lvl < first:
            # Vote the upsampled field first (scoring only, 0 sweeps): sharper than the bilinear image.
            _patchmatch(img, is_tgt, valid, src_y, src_x, nnf, nnd, r, 0, 0)
            _vote(img, hl, is_tgt, nnf, _vote_weight(nnd, is_tgt, conf, r), r)
        n_em = em_iters * (2 if lvl == len(levels) - 1 and init is None else 1)
        for _ in range(n_em):
            _patchmatch(img, is_tgt, valid, src_y, src_x, nnf, nnd, r, pm_iters, int(rng.integers(2**31)))
            _vote(img, hl, is_tgt, nnf, _vote_weight(nnd, is_tgt, conf, r), r)
        coarse_nnf = nnf
    return composite(levels[0][0], image, mask)


# ---------------------------------------------------------------------------------------------
# Exemplar fill (Criminisi et al. 2004)


@njit(cache=True, nogil=True)
def _criminisi(img, hole, valid, r, eps):
    """Fill `img` (H, W, 3) in place, one patch at a time, in priority order, from `valid` centres."""
    h, w = hole.shape
    known = ~hole
    conf = np.zeros((h, w))
    gray = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            if known[y, x]:
                conf[y, x] = 1.0
            gray[y, x] = 0.299 * img[y, x, 0] + 0.587 * img[y, x, 1] + 0.114 * img[y, x, 2]
    src_y, src_x = np.nonzero(valid)
    area = (2 * r + 1) ** 2
    ty = np.empty(area, np.int64)
    tx = np.empty(area, np.int64)
    tv = np.empty((area, 3))
    remaining = hole.sum()
    while remaining > 0:
        # 1. Highest priority C(p) * D(p) on the fill front (hole pixels with a known 4-neighbour).
        best, py, px, pc = -1.0, -1, -1, 0.0
        for y in range(h):
            for x in range(w):
                if known[y, x]:
                    continue
                if not ((y > 0 and known[y - 1, x]) or (y < h - 1 and known[y + 1, x])
                        or (x > 0 and known[y, x - 1]) or (x < w - 1 and known[y, x + 1])):
                    continue
                c = 0.0
                for yy in range(max(y - r, 0), min(y + r + 1, h)):
                    for xx in range(max(x - r, 0), min(x + r + 1, w)):
                        c += conf[yy, xx]
                c /= area
                # Front normal: gradient of the known indicator (central differences, edge-clamped).
                ny = 1.0 * known[min(y + 1, h - 1), x] - 1.0 * known[max(y - 1, 0), x]
                nx = 1.0 * known[y, min(x + 1, w - 1)] - 1.0 * known[y, max(x - 1, 0)]
                nn = np.sqrt(ny * ny + nx * nx)
                # Isophote: the strongest gradient among known pixels of the patch whose four
                # neighbours are known too, rotated by 90 degrees.
                gy_best, gx_best, g_best = 0.0, 0.0, -1.0
                for yy in range(max(y - r, 1), min(y + r + 1, h - 1)):
                    for xx in range(max(x - r, 1), min(x + r + 1, w - 1)):
                        if (known[yy, xx] and known[yy - 1, xx] and known[yy + 1, xx]
                                and known[yy, xx - 1] and known[yy, xx + 1]):
                            gy = 0.5 * (gray[yy + 1, xx] - gray[yy - 1, xx])
                            gx = 0.5 * (gray[yy, xx + 1] - gray[yy, xx - 1])
                            g = gy * gy + gx * gx
                            if g > g_best:
                                gy_best, gx_best, g_best = gy, gx, g
                d = 0.0
                if nn > 0:
                    # isophote (-gx, gy) . normal (ny, nx) / |normal|
                    d = abs(-gx_best * ny + gy_best * nx) / nn
                prio = c * (d + eps)
                if prio > best:
                    best, py, px, pc = prio, y, x, c
        # 2. The known pixels of the target patch, as offsets and values.
        n = 0
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                yy, xx = py + dy, px + dx
                if 0 <= yy < h and 0 <= xx < w and known[yy, xx]:
                    ty[n], tx[n] = dy, dx
                    for ch in range(3):
                        tv[n, ch] = img[yy, xx, ch]
                    n += 1
        # 3. Exhaustive search for the fully known source patch closest on those pixels.
        bd, by, bx = np.inf, src_y[0], src_x[0]
        for k in range(src_y.shape[0]):
            sy, sx = src_y[k], src_x[k]
            d = 0.0
            for i in range(n):
                for ch in range(3):
                    e = img[sy + ty[i], sx + tx[i], ch] - tv[i, ch]
                    d += e * e
                if d >= bd:
                    break
            if d < bd:
                bd, by, bx = d, sy, sx
        # 4. Copy the source into the hole pixels of the target patch; they inherit C(p).
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                yy, xx = py + dy, px + dx
                if 0 <= yy < h and 0 <= xx < w and not known[yy, xx]:
                    for ch in range(3):
                        img[yy, xx, ch] = img[by + dy, bx + dx, ch]
                    gray[yy, xx] = 0.299 * img[yy, xx, 0] + 0.587 * img[yy, xx, 1] + 0.114 * img[yy, xx, 2]
                    conf[yy, xx] = pc
                    known[yy, xx] = True
                    remaining -= 1


def patch_criminisi(image: np.ndarray, mask: np.ndarray, *, patch_size: int = 9, eps: float = 1e-3) -> np.ndarray:
    """Criminisi et al. (2004) exemplar fill: best-first patch copying along the fill front.

    Priority is confidence * data term (isophote strength across the front, image in [0, 1] so
    alpha = 1), plus `eps` so flat regions still get an order. Each step copies the fully known
    patch closest (SSD over RGB on the target's known pixels, exhaustive search) into the hole part
    of the target patch. Deterministic (ties go to the first in raster order). `image`, `mask` (1 = hole)
    and `patch_size` as for `patch_match`.
    """
    image, mask, hole = check_image_and_mask(image, mask)
    if not hole.any():
        return image.copy()
    p = _fit_patch(hole, patch_size)
    work = blank(image, hole)
    _criminisi(work, hole.copy(), _valid_sources(hole, p // 2), p // 2, float(eps))
    return composite(work, image, mask)
