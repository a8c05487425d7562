"""LaMa-style generator: a conv encoder, fast Fourier convolution (FFC) residual blocks, a conv decoder.

After Suvorov et al. 2022 ("Resolution-robust Large Mask Inpainting with Fourier Convolutions"). Each
FFC splits its channels into a local part (ordinary 3x3 convs) and a global part whose spectral
transform mixes channels with a 1x1 conv in the 2-D Fourier domain (torch.fft.rfft2), so every block
sees the whole image: the receptive field is image-wide from the first block, which is what makes
wide holes fillable and lets a model trained on 128 px crops run on 512 px images.

Masks are float tensors (N, 1, H, W) with 1 = hole (white, 255 in PNG).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from inpaint.models.common import (
    FillHead,
    PretrainedFeatures,
    check_batch,
    check_pretrained,
    n_fills_shown,
    network_inputs,
    norm_layer,
    open_encoder,
    up_block,
    zero_init,
)
from inpaint.models.deepfill import ContextualAttention


class FourierUnit(nn.Module):
    """1x1 conv + norm + ReLU on the real and imaginary parts of the 2-D spectrum."""

    def __init__(self, channels: int, norm: str = "group"):
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, 2 * channels, 1, bias=norm == "none")
        self.norm = norm_layer(norm, 2 * channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        # the FFT runs in float32: half-precision FFTs only take power-of-two sizes
        spec = torch.fft.rfft2(x.float(), norm="ortho")  # (N, C, H, W//2+1) complex
        spec = torch.cat([spec.real, spec.imag], dim=1).to(x.dtype)  # (N, 2C, H, W//2+1)
        spec = self.act(self.norm(self.conv(spec)))
        real, imag = spec.float().chunk(2, dim=1)  # (N, C, H, W//2+1) each
        # "ortho" keeps a texture's non-DC coefficients at the same scale at any H, W, so the 1x1
        # conv learnt at 128 px still fits at 512 px (the DC term grows with sqrt(H * W))
        return torch.fft.irfft2(torch.complex(real, imag), s=(h, w), norm="ortho").to(x.dtype)


class SpectralTransform(nn.Module):
    """Global branch: squeeze to half width, add the Fourier unit's output, expand back."""

    def __init__(self, cin: int, cout: int, norm: str = "group"):
        super().__init__()
        half = max(cout // 2, 1)
        self.squeeze = nn.Sequential(nn.Conv2d(cin, half, 1, bias=norm == "none"), norm_layer(norm, half), nn.ReLU(inplace=True))
        self.fourier = FourierUnit(half, norm)
        self.expand = nn.Conv2d(half, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(x)  # (N, half, H, W)
        return self.expand(x + self.fourier(x))  # (N, cout, H, W)


class FFC(nn.Module):
    """Fast Fourier convolution on a tensor whose first channels are local and the rest global.

    local_out = conv_l2l(local) + conv_g2l(global);  global_out = conv_l2g(local) + spectral(global);
    then norm + ReLU. The two local convs are one 3x3 conv over all channels (same sum, one larger GEMM
    and one padding copy instead of two).
    """

    def __init__(self, channels: int, ratio_global: float, norm: str = "group"):
        super().__init__()
        cg = int(channels * ratio_global)
        self.cl = channels - cg
        if self.cl < 1 or cg < 1:
            raise ValueError(f"ratio_global={ratio_global} leaves an empty branch of {channels} channels; use 0 < ratio < 1")
        self.to_local = nn.Conv2d(channels, self.cl, 3, padding=1, padding_mode="reflect", bias=norm == "none")
        self.l2g = nn.Conv2d(self.cl, cg, 3, padding=1, padding_mode="reflect", bias=False)
        self.g2g = SpectralTransform(cg, cg, norm)
        # one norm over both branches: BatchNorm is per channel anyway, and GroupNorm's 8 groups
        # keep local and global channels apart when the local count is a multiple of C/8 (ratio 0.75)
        self.norm = norm_layer(norm, channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xl, xg = x[:, : self.cl], x[:, self.cl :]  # (N, cl, H, W), (N, cg, H, W)
        y = torch.cat([self.to_local(x), self.l2g(xl) + self.g2g(xg)], dim=1)  # (N, C, H, W)
        return self.act(self.norm(y))


class FFCResBlock(nn.Module):
    """Two FFCs with a residual connection (on both branches at once).

    With `gain`, the residual is scaled per channel by a gain that starts at zero (ReZero, Bachlechner et
    al. 2021): the block starts as the identity, so it can be added to a trained model without changing it.
    The gain is stored divided by GAIN_RATE: Adam moves a parameter by about the learning rate per step,
    so at a fine-tune's 2e-4 a plain gain would reach at most 0.15 in 750 steps (ProGAN's equalised
    learning rate, for this one parameter).
    """

    GAIN_RATE = 20.0

    def __init__(self, channels: int, ratio_global: float, norm: str = "group", gain: bool = False):
        super().__init__()
        self.ffc1 = FFC(channels, ratio_global, norm)
        self.ffc2 = FFC(channels, ratio_global, norm)
        self.gain = nn.Parameter(torch.zeros(1, channels, 1, 1)) if gain else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ffc2(self.ffc1(x))  # (N, C, H, W)
        return x + (y if self.gain is None else (self.gain * self.GAIN_RATE) * y)


class LaMa(nn.Module):
    """FFC inpainting generator; predicts a residual on top of a parameter-free initial fill.

    Layout: space-to-depth stem (1/2 res), stride-2 convs to 1/2**n_down, FFC residual blocks, the
    contextual-attention block when built with `attention`, the `extra_blocks`, transposed convs back to 1/2 res,
    sub-pixel head to full res (see common.unshuffle_stem for why nothing runs at full resolution).

    Args:
        width: channels at 1/2 resolution; doubles per further downsampling up to max_width.
        n_down: total downsampling steps, the stem's included (size_multiple = 2**n_down).
        max_width: channel cap (the FFC blocks run at min(width * 2**(n_down-1), max_width)).
        n_blocks: FFC residual blocks at the bottleneck.
        ratio_global: share of bottleneck channels in the global (Fourier) branch (LaMa: 0.75).
        init_fill: a key of common.INIT_FILLS (the fill it starts from, see inpaint.models.common).
        norm: "group" (per image: training and inference agree), "batch" (LaMa's) or "none".
        pretrained: a key of common.PRETRAINED: frozen ImageNet features of the starting fill added at
            the bottleneck ("none": the generator learns all its features itself).
        upsample: "transposed" (LaMa's) or "resize" (resize-convolution, no checkerboard; see
            common.up_block).
        attention: a contextual-attention block after the FFC blocks (the seed's "encoder-decoder with
            attention"): each hole cell of the bottleneck (2**n_down pixels square) gets a softmax-weighted copy
            of the known cells whose features match it (models/deepfill.py: contextual_attention, with 1x1
            keys: after the FFC blocks a cell's features already describe its surroundings, a 3x3 key would
            cost 9x as much, and free-form training holes leave few 3x3 neighbourhoods clean at 256 px),
            merged back by a zero-initialised 1x1 conv, so a model built with it returns exactly what the same
            model without it does until it learns to use the copies, and a plain lama checkpoint starts it
            (`grown_from`; a bare lama only: a VAE's lama backbone must match its start exactly).
        softmax_scale: sharpness of that attention's softmax over cosine similarities.
        extra_blocks: FFC residual blocks after the n_blocks (and the attention), each starting as the
            identity (`FFCResBlock(gain=True)`), so a checkpoint with fewer starts a deeper lama as itself
            (`grown_from`; a bare lama only, as for attention): the way to grow a trained generator
            (LaMa-Fourier has 9 blocks, big-lama 18).
    """

    def __init__(
        self,
        width: int = 48,
        n_down: int = 3,
        max_width: int = 192,
        n_blocks: int = 3,
        ratio_global: float = 0.75,
        init_fill: str = "hybrid",
        norm: str = "group",
        pretrained: str = "none",
        upsample: str = "transposed",
        attention: bool = False,
        softmax_scale: float = 10.0,
        extra_blocks: int = 0,
    ):
        super().__init__()
        if n_blocks < 0 or extra_blocks < 0:
            raise ValueError(f"n_blocks={n_blocks}, extra_blocks={extra_blocks}: a count of blocks is 0 or more")
        ws, self.stem, down = open_encoder(self, "lama", width, n_down, max_width, init_fill, norm)
        self.channels = ws[-1]  # at the bottleneck (what encode returns)
        self.down = nn.Sequential(*down)
        self.pretrained = None if check_pretrained(pretrained) == "none" else PretrainedFeatures(pretrained, ws[-1], norm)
        self.blocks = nn.Sequential(*[FFCResBlock(ws[-1], ratio_global, norm) for _ in range(n_blocks)])
        self.up = nn.Sequential(*[up_block(ws[i + 1], ws[i], norm, upsample) for i in reversed(range(n_down - 1))])
        self.head = FillHead(width, n_fills_shown(init_fill))
        # built last, so the layers above draw the same seeded weights with and without it
        self.scale = self.size_multiple  # image pixels per bottleneck cell (inpaint.attention reads it)
        self.attention = ContextualAttention(1, 1, softmax_scale) if attention else None
        self.attention_merge = zero_init(nn.Conv2d(2 * ws[-1], ws[-1], 1)) if attention else None
        self.extra_blocks = nn.Sequential(*[FFCResBlock(ws[-1], ratio_global, norm, gain=True) for _ in range(extra_blocks)])

    @staticmethod
    def grown_from(kwargs: dict, init_kwargs: dict) -> tuple[str, ...] | None:
        """The state-dict prefixes a lama built with `kwargs` adds to a checkpoint built with `init_kwargs`
        when the two differ only by layers that start as nothing (so the grown model starts as the
        checkpoint): the attention block switched on (at any softmax_scale), more `extra_blocks`; else None."""
        ours, theirs = bool(kwargs.get("attention")), bool(init_kwargs.get("attention"))
        extra = ("attention", "extra_blocks") + (() if theirs else ("softmax_scale",))  # a trained merge keeps its scale
        if {k: v for k, v in kwargs.items() if k not in extra} != {k: v for k, v in init_kwargs.items() if k not in extra}:
            return None
        more, fewer = int(kwargs.get("extra_blocks", 0)), int(init_kwargs.get("extra_blocks", 0))
        if (theirs and not ours) or more < fewer:
            return None
        grown = (("attention_merge.",) if ours and not theirs else ()) + tuple(f"extra_blocks.{i}." for i in range(fewer, more))
        return grown or None

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Predict the hole.

        Args:
            image: (N, 3, H, W) float in [0, 1], H and W multiples of size_multiple; hole pixels are never read.
            mask: (N, 1, H, W) float, 1 = hole.
        Returns:
            {"pred": (N, 3, H, W) raw prediction in [0, 1], not composited}.
        """
        check_batch(image, mask, self.size_multiple, "lama")
        h, start = self.encode(image, mask)
        return {"pred": self.decode(h, start)}

    def encode(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        """Bottleneck features (N, C, H/2^n, W/2^n) before the FFC blocks, and (base fill, fills shown, mask)."""
        x, base, fills = network_inputs(image, mask, self.init_fill)  # (N, 4 + 3 * fills, H, W), (N, 3, H, W), fills
        h = self.down(self.stem(x))  # (N, C, H/2^n, W/2^n)
        if self.pretrained is not None:
            h = h + self.pretrained(base, h.shape[-2:])
        return h, (base, fills, mask)

    def decode(self, h: torch.Tensor, start: tuple) -> torch.Tensor:
        """FFC blocks, attention (if built), extra blocks (if built), upsampling and the fill head: bottleneck
        features -> (N, 3, H, W) raw prediction."""
        base, fills, mask = start
        h = self.blocks(h)  # (N, C, H/2^n, W/2^n)
        if self.attention is not None:
            h = h + self.attention_merge(torch.cat([h, self.attention(h, mask)], dim=1))
        h = self.extra_blocks(h)  # the identity until trained (or empty)
        return self.head(self.up(h), base, fills)  # head: (N, width, H/2, W/2) -> (N, 3, H, W)
