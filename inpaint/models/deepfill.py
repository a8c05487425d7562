"""DeepFill v2-style generator: coarse-to-fine gated-conv encoder-decoders with contextual attention.

After Yu et al. 2018 ("Generative Image Inpainting with Contextual Attention") and Yu et al. 2019
("Free-Form Image Inpainting with Gated Convolution"). A coarse network fills the hole; a refinement
network with two parallel branches (dilated gated convs, and contextual attention that copies
features from the known region into the hole) sharpens it. Gated convs learn a soft, per-pixel,
per-channel mask, so free-form holes need no hand-made mask updates.

Masks are float tensors (N, 1, H, W) with 1 = hole (white, 255 in PNG).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from inpaint.models.common import (
    FillHead,
    check_init_fill,
    check_batch,
    clamp01,
    input_channels,
    n_fills_shown,
    network_inputs,
    widths,
    zero_init,
)


class GatedConv(nn.Module):
    """out = ELU(features) * sigmoid(gate); one conv computes both halves (one GEMM instead of two)."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, 2 * cout, k, stride, padding=dilation * (k - 1) // 2, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat, gate = self.conv(x).chunk(2, dim=1)  # (N, cout, H, W) each
        return F.elu(feat) * torch.sigmoid(gate)


class GatedUp(nn.Module):
    """Nearest 2x upsampling + gated conv (no transposed-conv checkerboards)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = GatedConv(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def encoder(cin: int, ws: list[int]) -> nn.Sequential:
    """5x5 gated conv at full resolution, then per scale: stride-2 gated conv + gated conv."""
    layers: list[nn.Module] = [GatedConv(cin, ws[0], 5)]
    for a, b in zip(ws[:-1], ws[1:]):
        layers += [GatedConv(a, b, 3, stride=2), GatedConv(b, b)]
    return nn.Sequential(*layers)


def decoder(ws: list[int]) -> nn.Sequential:
    """Per scale: upsample + gated conv, gated conv; mirrors `encoder`."""
    layers: list[nn.Module] = []
    for a, b in zip(reversed(ws[1:]), reversed(ws[:-1])):
        layers += [GatedUp(a, b), GatedConv(b, b)]
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------------------------------
# Contextual attention


def contextual_attention(
    fg: torch.Tensor,
    bg: torch.Tensor,
    mask: torch.Tensor,
    ksize: int = 3,
    rate: int = 2,
    softmax_scale: float = 10.0,
    chunk: int = 4096,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fill the hole locations of `fg` with a softmax-weighted copy of known-region patches of `bg`;
    every other location keeps its own features.

    Matching runs at 1/rate resolution, where a location holding any hole pixel is a hole location. The
    keys are the ksize x ksize patches of the downsampled background, L2-normalised, so the score of a
    query patch against a key is its cosine similarity up to the query's norm (constant per query, so
    softmax ranks keys by cosine). Keys that overlap the hole are masked out of the softmax, so the hole
    never copies from itself. Only hole locations are queried, so the cost is (hole locations) x (all
    locations), not the square of the photo's. The values are the matching (2*rate) x (2*rate)
    full-resolution background patches, pasted back overlapping (fold) and averaged over the patches
    that cover each pixel, as the transposed convolution of DeepFill does.

    Args:
        fg: (N, C, H, W) features whose hole locations are to be filled (queries).
        bg: (N, C, H, W) features to copy from (keys and values); usually the same tensor as fg.
        mask: (N, 1, H, W) float, 1 = hole (any hole pixel inside a key patch invalidates it).
        ksize: odd patch size used for matching.
        rate: downsampling factor for matching (1 or even); H and W must be multiples of it.
        softmax_scale: sharpness of the softmax over cosine similarities (DeepFill: 10).
        chunk: queries per matrix product, to bound memory on large images.
    Returns:
        out: (N, C, H, W) fg outside the hole locations, the pasted copies inside them;
        best: (N, 2, H/rate, W/rate) per matching location the weight of its strongest key (0 outside the
        hole, or where no key is valid) and that key's index (row-major over the H/rate x W/rate grid).
    """
    n, c, h, w = bg.shape
    if rate != 1 and rate % 2:
        raise ValueError(f"contextual_attention: rate must be 1 or even, got {rate}")
    if h % rate or w % rate:
        raise ValueError(f"contextual_attention: feature size {h}x{w} is not a multiple of rate={rate}")
    hs, ws = h // rate, w // rate
    if rate > 1:
        fg_s, bg_s = F.avg_pool2d(fg, rate), F.avg_pool2d(bg, rate)  # (N, C, hs, ws)
        hole_s = F.max_pool2d(mask, rate)  # (N, 1, hs, ws), 1 if any pixel is a hole
    else:
        fg_s, bg_s, hole_s = fg, bg, mask
    pad = ksize // 2
    keys = F.unfold(bg_s, ksize, padding=pad)  # (N, C*k*k, L)
    keys = keys / keys.norm(dim=1, keepdim=True).clamp_min(1e-4)
    queries = F.unfold(fg_s, ksize, padding=pad)  # (N, C*k*k, L)
    key_valid = F.max_pool2d(hole_s, ksize, stride=1, padding=pad).flatten(1) < 0.5  # (N, L)
    query_hole = hole_s.flatten(1) > 0.5  # (N, L)
    if rate > 1:  # value patch i covers full-res rows [rate*i - rate/2, rate*i + 3*rate/2)
        vk, vpad = 2 * rate, rate // 2
    else:
        vk, vpad = 1, 0
    values = F.unfold(bg, vk, padding=vpad, stride=rate)  # (N, C*vk*vk, L)
    if torch.jit.is_tracing() or torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export():
        # an exported program cannot hold data-dependent hole locations: query every location (in chunks of
        # a size fixed at export), keep the hole's
        valid = key_valid[:, :, None]  # (N, L, 1)
        parts, tops, indices = [], [], []
        for start in range(0, hs * ws, chunk):
            scores = torch.bmm(keys.transpose(1, 2), queries[:, :, start : start + chunk])  # (N, L, Lq)
            attn = torch.softmax(softmax_scale * scores.masked_fill(~valid, -1e4), dim=1) * valid
            parts.append(torch.bmm(values, attn))  # (N, C*vk*vk, Lq)
            top, index = attn.max(dim=1)  # (N, Lq)
            tops.append(top)
            indices.append(index)
        hole_q = query_hole.to(values.dtype)
        cols = torch.cat(parts, dim=-1) * hole_q[:, None, :]
        best = torch.stack([torch.cat(tops, -1) * hole_q, torch.cat(indices, -1).to(values.dtype)], dim=1)
        return _paste(fg, cols, query_hole, hole_s, best, rate, vk, vpad, hs, ws)
    per_image = []  # (C*vk*vk, L) per image: the pasted patches at its hole locations, zeros elsewhere
    best = torch.zeros(n, 2, hs * ws, device=bg.device)
    # unbind, not keys[b]: the backward of b indexing selections would zero a whole-batch gradient for each
    for b, (keys_b, queries_b, values_b) in enumerate(zip(keys.unbind(0), queries.unbind(0), values.unbind(0))):
        where = query_hole[b].nonzero().squeeze(1)  # (Lh,) the hole locations
        valid = key_valid[b][:, None]  # (L, 1)
        parts = []
        for start in range(0, len(where), chunk):
            sel = where[start : start + chunk]
            scores = keys_b.t() @ queries_b[:, sel]  # (L, Lq)
            scores = scores.masked_fill(~valid, -1e4)  # finite, so an all-hole image gives no NaN
            attn = torch.softmax(softmax_scale * scores, dim=0) * valid  # (L, Lq)
            parts.append(values_b @ attn)  # (C*vk*vk, Lq)
            top, index = attn.detach().max(dim=0)
            best[b, 0, sel], best[b, 1, sel] = top, index.float()
        cols_b = values_b.new_zeros(values_b.shape)
        per_image.append(cols_b.index_copy(1, where, torch.cat(parts, dim=1)) if parts else cols_b)
    cols = torch.stack(per_image)  # (N, C*vk*vk, L)
    return _paste(fg, cols, query_hole, hole_s, best, rate, vk, vpad, hs, ws)


def _paste(fg, cols, query_hole, hole_s, best, rate: int, vk: int, vpad: int, hs: int, ws: int):
    """Fold the hole locations' value patches back to full resolution, average them over the patches that
    cover each pixel, and keep fg elsewhere: (out (N, C, H, W), best (N, 2, hs, ws))."""
    n, _, h, w = fg.shape
    cover = query_hole.to(cols.dtype)[:, None, :].expand(n, vk * vk, hs * ws)  # (N, vk*vk, L)
    count = F.fold(cover, (h, w), vk, padding=vpad, stride=rate)  # (N, 1, H, W) patches over each pixel
    pasted = F.fold(cols, (h, w), vk, padding=vpad, stride=rate) / count.clamp_min(1.0)  # (N, C, H, W)
    hole = hole_s if rate == 1 else F.interpolate(hole_s, scale_factor=rate, mode="nearest")  # (N, 1, H, W)
    return torch.where(hole > 0.5, pasted, fg), best.view(n, 2, hs, ws)


class ContextualAttention(nn.Module):
    """Module wrapper of `contextual_attention` with the features as both queries and keys."""

    def __init__(self, ksize: int = 3, rate: int = 2, softmax_scale: float = 10.0):
        super().__init__()
        self.ksize, self.rate, self.softmax_scale = ksize, rate, softmax_scale
        self.record = False  # set by attention.attention_sources: keep the last call's strongest keys in `self.best`
        self.best: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hole = F.interpolate(mask.float(), size=x.shape[-2:], mode="area").gt(0).float()  # (N, 1, h, w)
        # float32 even under autocast: bf16 scores (8 mantissa bits) times softmax_scale blur the
        # ranking of close matches
        with torch.autocast(x.device.type, enabled=False):
            out, best = contextual_attention(x.float(), x.float(), hole, self.ksize, self.rate, self.softmax_scale)
        if self.record:
            self.best = best  # (N, 2, h / rate, w / rate): the strongest key's weight and index
        return out.to(x.dtype)


# ---------------------------------------------------------------------------------------------
# Generator


class DeepFill(nn.Module):
    """Two-stage gated-conv generator with a contextual-attention branch in the refinement stage.

    Args:
        width: channels at full resolution; doubles per downsampling up to max_width.
        n_down: stride-2 downsamplings of each encoder.
        max_width: channel cap at the bottleneck.
        dilations: dilation rates of the bottleneck gated convs (coarse net and refinement conv branch).
        attention_rate: contextual attention matches at 1/attention_rate of the bottleneck resolution.
            Rate 1 (the default) matches 8 x 8-pixel cells, as DeepFill's 1/4 features at rate 2 do: a key
            (3 x 3 cells) must hold no hole pixel, and with 16-pixel cells (rate 2) only 31% of 128-px
            pairs with 30-60% NVIDIA holes kept any valid key (mean 0.8 of 64); with 8-pixel cells, 97%
            (mean 23 of 256). Only hole cells are matched, against every cell: a 768x1024 fill with a 5%
            hole takes 4.0 s on one CPU thread (3.4 s without attention).
        softmax_scale: sharpness of the attention softmax.
        init_fill: a key of common.INIT_FILLS (the fill it starts from, see inpaint.models.common).
        attention: False drops the contextual-attention op from the attention branch (its gated convs
            stay): the ablation of what copying adds at the same size and budget.
    """

    def __init__(
        self,
        width: int = 8,
        n_down: int = 3,
        max_width: int = 64,
        dilations: list[int] | tuple[int, ...] = (2, 4, 8),
        attention_rate: int = 1,
        softmax_scale: float = 10.0,
        init_fill: str = "hybrid",
        attention: bool = True,
    ):
        super().__init__()
        self.init_fill = check_init_fill(init_fill)
        self.scale = 2**n_down  # image pixels per bottleneck pixel
        self.size_multiple = 2**n_down * attention_rate
        ws = widths(width, n_down, max_width)
        c = ws[-1]

        def dilated() -> list[nn.Module]:
            return [GatedConv(c, c, 3, dilation=d) for d in dilations] + [GatedConv(c, c)]

        # coarse network: encoder, dilated bottleneck, decoder, zero-initialised residual head
        self.coarse = nn.Sequential(encoder(input_channels(init_fill), ws), *dilated(), decoder(ws))
        self.coarse_head = FillHead(width, n_fills_shown(init_fill), shuffle=False)
        # refinement: a dilated-conv branch and a contextual-attention branch, merged, decoded
        self.refine_conv = nn.Sequential(encoder(4, ws), *dilated())
        self.refine_attn_in = nn.Sequential(encoder(4, ws), GatedConv(c, c))
        self.attention = ContextualAttention(3, attention_rate, softmax_scale) if attention else None
        self.refine_attn_out = nn.Sequential(GatedConv(c, c), GatedConv(c, c))
        self.refine_out = nn.Sequential(GatedConv(2 * c, c), GatedConv(c, c), decoder(ws))
        self.refine_head = zero_init(nn.Conv2d(width, 3, 3, padding=1))

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Predict the hole in two stages.

        Args:
            image: (N, 3, H, W) float in [0, 1], H and W multiples of size_multiple; hole pixels are never read.
            mask: (N, 1, H, W) float, 1 = hole.
        Returns:
            {"pred": (N, 3, H, W) refined prediction in [0, 1], "coarse": (N, 3, H, W) coarse
            prediction in [0, 1]}; neither is composited.
        """
        check_batch(image, mask, self.size_multiple, "deepfill")
        x, base, fills = network_inputs(image, mask, self.init_fill)  # (N, 4 + 3 * fills, H, W), (N, 3, H, W), fills
        coarse = self.coarse_head(self.coarse(x), base, fills)  # (N, 3, H, W)
        composed = mask * coarse + image * (1.0 - mask)  # (N, 3, H, W) hole pixels never enter
        x2 = torch.cat([composed, mask], dim=1)  # (N, 4, H, W)
        conv_branch = self.refine_conv(x2)  # (N, C, h, w)
        attn_in = self.refine_attn_in(x2)  # (N, C, h, w)
        attn_branch = self.refine_attn_out(self.attention(attn_in, mask) if self.attention else attn_in)
        h = self.refine_out(torch.cat([conv_branch, attn_branch], dim=1))  # (N, width, H, W)
        return {"pred": clamp01(composed + self.refine_head(h)), "coarse": coarse}
