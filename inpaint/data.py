"""Training/evaluation data: photo crops, albumentations presets, masks drawn on the fly.

Every random choice of a training sample is a function of (seed, global sample number), so a run
resumed at step k draws exactly the batches an uninterrupted run would have drawn.
"""
from __future__ import annotations

from functools import lru_cache

import albumentations as A
import cv2
import numpy as np
import pandas as pd
import torch

from inpaint.arrays import to_nchw
from inpaint.io import read_rgb8
from inpaint.masks import get_generator, sample_mask


def fit_short_side(image: np.ndarray, size: int) -> np.ndarray:
    """Upscale a uint8/float image so its shorter side is at least `size` (small photos, data.small=upscale)."""
    h, w = image.shape[:2]
    if min(h, w) >= size:
        return image
    f = size / min(h, w)
    return cv2.resize(image, (max(size, round(w * f)), max(size, round(h * f))), interpolation=cv2.INTER_CUBIC)


def load_crop(path: str, x: int, y: int, side: int, size: int) -> np.ndarray:
    """The square crop (x, y, side) of a photo resized to `size`: float32 RGB (size, size, 3) in [0, 1]."""
    a = fit_short_side(read_rgb8(path), side)[y : y + side, x : x + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    a = cv2.resize(a, (size, size), interpolation=interp) if side != size else a
    return a.astype(np.float32) / 255.0


def augmentations(size: int, min_scale: float = 0.1, color: float = 0.1) -> A.Compose:
    """Random resized square crop, horizontal flip, mild colour jitter (the training preset)."""
    return A.Compose([
        A.RandomResizedCrop((size, size), scale=(min_scale, 1.0), ratio=(0.8, 1.25), interpolation=cv2.INTER_AREA),
        A.HorizontalFlip(p=0.5),
        A.ColorJitter(brightness=color, contrast=color, saturation=color, hue=color / 5, p=0.8),
    ])


class MaskMix:
    """Random masks from a weighted mix of kinds, within hole-ratio bounds (1 = hole)."""

    def __init__(self, kinds: dict[str, float], min_ratio: float = 0.0, max_ratio: float = 1.0,
                 kwargs: dict[str, dict] | None = None):
        if not kinds:
            raise ValueError("train.masks.kinds is empty; give at least one mask kind with a weight")
        for k in kinds:
            get_generator(k)
        w = np.asarray(list(kinds.values()), dtype=float)
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"train.masks.kinds weights must be >= 0 and not all 0, got {kinds}")
        self.kinds, self.p = list(kinds), w / w.sum()
        self.min_ratio, self.max_ratio, self.kwargs = min_ratio, max_ratio, kwargs or {}

    def __call__(self, rng: np.random.Generator, size: int) -> np.ndarray:
        kind = self.kinds[rng.choice(len(self.kinds), p=self.p)]
        return sample_mask(kind, rng, size, size, self.min_ratio, self.max_ratio, **self.kwargs.get(kind, {}))


class TrainSet(torch.utils.data.Dataset):
    """Sample number k -> (image (3, S, S), mask (1, S, S)); indexable by any k >= 0.

    Args:
        paths: photo files of the training split.
        cache: keep decoded photos in memory (worth it for small sets re-read thousands of times).
    """

    def __init__(self, paths: list[str], size: int, mask_mix: MaskMix, seed: int, min_scale: float = 0.1,
                 color: float = 0.1, cache: bool = True):
        if not paths:
            raise ValueError("the training split is empty; check split.val / split.test and the data source")
        self.paths, self.size, self.mask_mix, self.seed = list(paths), size, mask_mix, seed
        self.augment = augmentations(size, min_scale, color)
        self._read = lru_cache(maxsize=len(paths) if cache else 0)(self._decode)

    def _decode(self, i: int) -> np.ndarray:
        return fit_short_side(read_rgb8(self.paths[i]), self.size)

    def __len__(self) -> int:
        return 2**62  # an endless stream: the sampler decides which sample numbers are drawn

    def __getitem__(self, k: int):
        rng = np.random.default_rng([self.seed, k])
        epoch, pos = divmod(k, len(self.paths))
        order = np.random.default_rng([self.seed, epoch, 7]).permutation(len(self.paths))
        self.augment.set_random_seed(int(rng.integers(2**31)))
        image = self.augment(image=self._read(int(order[pos])))["image"]
        mask = self.mask_mix(rng, self.size)
        image = to_nchw(image)[0] / 255.0  # (3, S, S)
        return image, torch.from_numpy(mask).float()[None]


class StepSampler(torch.utils.data.Sampler):
    """Sample numbers start, start+1, ...: batch b of step s holds samples s*B .. s*B+B-1.

    Data-parallel: with `world_size` processes each takes its slice of every global batch of
    `batch_size` (rank r: positions r*B/W .. (r+1)*B/W - 1), so together they see exactly the samples
    one process would, and a resumed run of any size continues the same stream.
    """

    def __init__(self, start: int, stop: int, batch_size: int = 1, rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} does not divide among {world_size} processes")
        self.start, self.stop, self.batch = start, stop, batch_size
        self.lo, self.hi = rank * batch_size // world_size, (rank + 1) * batch_size // world_size

    def __iter__(self):
        for first in range(self.start, self.stop, self.batch):
            yield from range(first + self.lo, min(first + self.hi, self.stop))

    def __len__(self) -> int:
        full, rest = divmod(self.stop - self.start, self.batch)
        return full * (self.hi - self.lo) + max(0, min(rest, self.hi) - self.lo)


def load_pairs(pairs: pd.DataFrame, mask_dir: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, S, S, 3) and masks (N, S, S) of fixed evaluation pairs (1 = hole), float32."""
    from inpaint.io import read_mask

    images = np.stack([load_crop(r.path, r.crop_x, r.crop_y, r.crop_size, size) for r in pairs.itertuples()])
    masks = np.stack([read_mask(f"{mask_dir}/{r.mask_file}", size=(size, size)) for r in pairs.itertuples()])
    return images, masks


def val_photos(n: int, n_paths: int) -> np.ndarray:
    """Which validation photo each of `make_val_set`'s `n` crops comes from (index into its paths): the
    photos in turn, so training can compare checkpoints photo by photo."""
    return np.arange(n) % max(1, n_paths)


def make_val_set(paths: list[str], size: int, mask_mix: MaskMix, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed validation set: `n` seeded crops of the val photos (crop i of photo `val_photos(n, len(paths))[i]`),
    each with its own mask (1 = hole)."""
    from inpaint.split import crop_box

    if not paths:
        raise ValueError("the validation split is empty; set split.val to at least 1")
    rng = np.random.default_rng([seed, 1])
    images, masks = [], []
    for i, k in enumerate(val_photos(n, len(paths))):
        photo = fit_short_side(read_rgb8(paths[k]), size)
        x, y, side = crop_box(rng, photo.shape[1], photo.shape[0], 0.3)
        crop = cv2.resize(photo[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA)
        images.append(crop.astype(np.float32) / 255.0)
        masks.append(mask_mix(rng, size).astype(np.float32))
    return np.stack(images), np.stack(masks)
