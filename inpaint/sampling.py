"""Drawing fills from a generator that samples (the VAE): several different fills of one hole, seeded.

Used by `inpaint serve`'s variations and `inpaint fill --samples/--seed`. Images (N, H, W, 3) float32 in [0, 1] of any H, W; masks
(N, H, W), 1 = hole; the fills come back composited, as `inpaint.checkpoints.predict` returns them.
"""
from __future__ import annotations

import numpy as np
import torch

from inpaint.arrays import masks_to_nchw, to_nchw, to_nhwc
from inpaint.models import can_sample, pad_to_multiple


@torch.no_grad()
def predict_sample(model: torch.nn.Module, images: np.ndarray, masks: np.ndarray, device, seed: int) -> np.ndarray:
    """One drawn fill per image, composited; the same seed draws the same fill."""
    model.eval()
    x, m = to_nchw(images).to(device), masks_to_nchw(masks).to(device)  # (N, 3, H, W), (N, 1, H, W)
    h, w = x.shape[-2:]
    px, pm = pad_to_multiple(x, m, model.size_multiple)
    gen = torch.Generator(device=device).manual_seed(seed)
    pred = model.sample(px, pm, 1, generator=gen)[0][..., :h, :w].float().clamp(0, 1)  # (N, 3, H, W)
    return to_nhwc(m * pred + (1 - m) * x).astype(np.float32)


def drawing(method, seed: int):
    """A resolved method (`inpaint.methods.resolve_method`) whose fill is the draw `seed` of its model; a ValueError
    naming the method when its model does not sample."""
    from dataclasses import replace

    if method.model is None or not can_sample(method.model):
        raise ValueError(f"method {method.name!r} does not draw different fills; leave seed empty and samples at 1, "
                         "or choose a model that samples (a vae)")
    device = next(method.model.parameters()).device
    return replace(method, fill=lambda images, masks: predict_sample(method.model, images, masks, device, seed))
