"""Plain conv encoder-decoder (context-encoder style), meant for content + perceptual losses, no adversary.

After Pathak et al. 2016 ("Context Encoders"), with two changes that keep it usable at any size:
dilated 3x3 convs at the bottleneck replace the channel-wise fully connected layer (which ties the
model to one input size), and the decoder predicts a residual on the parameter-free initial fill.
`skips=True` adds U-Net skip connections. Off by default, the context encoder's bottleneck; the shipped
`pretrained/autoencoder` has them on: no bottleneck-only run beat its start fill (docs/pretrained.md).

Masks are float tensors (N, 1, H, W) with 1 = hole (white, 255 in PNG).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from inpaint.models.common import (
    FillHead,
    check_batch,
    conv_block,
    n_fills_shown,
    network_inputs,
    open_encoder,
    up_block,
)


HEADS = ("shuffle", "full")


class AutoEncoder(nn.Module):
    """Space-to-depth stem -> stride-2 convs -> dilated bottleneck -> upsampling convs -> output head.

    Args:
        width: channels at 1/2 resolution; doubles per further downsampling up to max_width.
        n_down: total downsampling steps, the stem's included (size_multiple = 2**n_down).
        max_width: channel cap.
        n_mid: dilated 3x3 convs at the bottleneck (dilation 2, 4, 8, ...).
        skips: concatenate encoder features into the decoder at each scale (U-Net).
        init_fill: a key of common.INIT_FILLS (the fill it starts from, see inpaint.models.common).
        norm: "group" (per image: training and inference agree), "batch" (LaMa's) or "none".
        upsample: "transposed" or "resize" (resize-convolution: no lattice; see common.up_block).
        head: "shuffle" (a sub-pixel conv from the 1/2-resolution features: four filters per 2x2 block, whose
            differences drew a fine checkerboard, lattice score 17.3 on the card of the 2026-12-02 CPU run) or
            "full" (one more resize up-block, whatever `upsample` says, then the head at full resolution, as
            deepfill's: no period-2 pattern by construction).
    """

    def __init__(
        self,
        width: int = 32,
        n_down: int = 4,
        max_width: int = 256,
        n_mid: int = 2,
        skips: bool = False,
        init_fill: str = "hybrid",
        norm: str = "group",
        upsample: str = "transposed",
        head: str = "shuffle",
    ):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"autoencoder: head={head!r} is unknown; use one of {list(HEADS)}")
        self.skips = skips
        ws, self.stem, down = open_encoder(self, "autoencoder", width, n_down, max_width, init_fill, norm)
        self.down = nn.ModuleList(down)
        self.mid = nn.Sequential(*[conv_block(ws[-1], ws[-1], 3, dilation=2 ** (i + 1), norm=norm) for i in range(n_mid)])
        grow = 2 if skips else 1  # decoder inputs carry the skip features too
        self.up = nn.ModuleList(
            [up_block(ws[i + 1] * (grow if i + 2 < len(ws) else 1), ws[i], norm, upsample) for i in reversed(range(n_down - 1))]
        )
        # "full": the last up-block's output (width * grow channels at 1/2 resolution) to full resolution first
        self.full = up_block(width * grow, width, norm, "resize") if head == "full" else nn.Identity()
        self.head = FillHead(width if head == "full" else width * grow, n_fills_shown(init_fill), shuffle=head == "shuffle")

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Predict the hole: image (N, 3, H, W) in [0, 1], H and W multiples of size_multiple (hole pixels are
        never read), mask (N, 1, H, W), 1 = hole -> {"pred": (N, 3, H, W) in [0, 1], not composited}."""
        check_batch(image, mask, self.size_multiple, "autoencoder")
        x, base, fills = network_inputs(image, mask, self.init_fill)  # (N, 4 + 3 * fills, H, W), (N, 3, H, W), fills
        feats = [self.stem(x)]  # per scale, 1/2 resolution first
        for down in self.down:
            feats.append(down(feats[-1]))
        h = self.mid(feats[-1])  # (N, C, H/2^n, W/2^n)
        for up, skip in zip(self.up, reversed(feats[:-1])):
            h = up(h)  # (N, c_i, 2h, 2w)
            if self.skips:
                h = torch.cat([h, skip], dim=1)
        return {"pred": self.head(self.full(h), base, fills)}  # (N, c, H/2, W/2) -> (N, 3, H, W)
