"""The one conversion between the two array layouts at module boundaries.

Images travel as numpy float32 NHWC (or HWC) in [0, 1]; networks and metrics take torch NCHW.
Masks are (N, H, W) numpy and (N, 1, H, W) torch, 1 = hole.
"""
from __future__ import annotations

import numpy as np
import torch


def to_nchw(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) or (H, W, C) numpy -> (N, C, H, W) float32 tensor (a single image gets N = 1)."""
    a = np.ascontiguousarray(images)
    t = torch.from_numpy(a).float()
    return t.permute(2, 0, 1)[None] if t.ndim == 3 else t.permute(0, 3, 1, 2)  # (N, C, H, W)


def masks_to_nchw(masks: np.ndarray) -> torch.Tensor:
    """(N, H, W) or (H, W) numpy masks (1 = hole) -> (N, 1, H, W) float32 tensor."""
    t = torch.from_numpy(np.ascontiguousarray(masks)).float()
    return t[None, None] if t.ndim == 2 else t[:, None]


def to_nhwc(tensor: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) tensor -> (N, H, W, C) float32 numpy on the CPU."""
    return tensor.detach().float().permute(0, 2, 3, 1).cpu().numpy()
