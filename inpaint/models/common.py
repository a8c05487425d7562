"""Pieces every generator shares: the starting fill, input checks, blocks, the output head.

Every generator predicts a residual on top of a cheap, parameter-free fill of the hole (`init_fill`,
"hybrid" by default: the mean of a nearest-known-pixel fill and a push-pull pyramid fill, see
`inpaint.start_fills`), with its last layer initialised to zero, so an untrained model returns exactly
its starting fill, and training only has to add what the fill misses (texture, structure). The
report scores that fill as a baseline beside the model. With `init_fill="none"` the base is the
masked image with the hole set to grey (0.5).

Masks are float tensors (N, 1, H, W) with 1 = hole (white, 255 in PNG).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from inpaint.start_fills import compute_fills


# ---------------------------------------------------------------------------------------------
# Starting fills: which registered fills (inpaint.start_fills) a generator starts from and is shown

# init_fill -> (base fill, fills shown as extra input). The base is what an untrained generator
# returns (its last layer starts at zero), so it is also the generator's baseline in the report.
# "hybrid_patch" adds the PatchMatch fill for the gates (see `FillHead`) to blend in where it helps;
# "patch" starts from PatchMatch and shows the smooth fills too (the patch fill's own gate is inert,
# since it is the base). "fade" is hybrid's architecture with the wedge-free base (start_fills.fade_fill), so a
# hybrid checkpoint fine-tunes onto it unchanged; "fade_smooth" never shows the network the nearest fill (whose
# wedges a model on "fade" gates back in), only fade (its gate inert) and pyramid, in the same two input slots. "none": grey holes, no extra input.
INIT_FILLS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "hybrid": ("hybrid", ("nearest", "pyramid")),
    "fade": ("fade", ("nearest", "pyramid")),
    "fade_smooth": ("fade", ("fade", "pyramid")),
    "hybrid_patch": ("hybrid", ("nearest", "pyramid", "patch")),
    "patch": ("patch", ("nearest", "pyramid", "patch")),
    "pyramid": ("pyramid", ("pyramid",)),
    "nearest": ("nearest", ("nearest",)),
    "none": (None, ()),
}


def start_fill(init_fill: str) -> str | None:
    """The registered fill an untrained generator with this init_fill returns (None: grey holes)."""
    return INIT_FILLS[check_init_fill(init_fill)][0]


def initial_fills(image: torch.Tensor, mask: torch.Tensor, kind: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The base a generator adds its residual to, and the fills it is shown as extra input.

    Args:
        image: (N, 3, H, W) float in [0, 1].
        mask: (N, 1, H, W) float, 1 = hole.
        kind: a key of INIT_FILLS.
    Returns:
        base (N, 3, H, W) and the list of fills to concatenate to the network input.
    """
    base_name, shown = INIT_FILLS[check_init_fill(kind)]
    if base_name is None:
        return image * (1.0 - mask) + 0.5 * mask, []
    fills = compute_fills([*shown, base_name], image, mask)
    return fills[base_name], [fills[n] for n in shown]


# ---------------------------------------------------------------------------------------------
# Input / output helpers used by every generator


def check_init_fill(kind: str) -> str:
    """Raise early (at construction) on an unknown init_fill name."""
    if kind not in INIT_FILLS:
        raise ValueError(f"init_fill={kind!r} is unknown; use one of {list(INIT_FILLS)}")
    return kind


def n_fills_shown(init_fill: str) -> int:
    """How many fills a generator with this init_fill is shown (its FillHead has one gate each)."""
    return len(INIT_FILLS[check_init_fill(init_fill)][1])


def input_channels(init_fill: str) -> int:
    """Channels of the generator input: masked RGB + mask, plus 3 per initial fill shown."""
    return 4 + 3 * n_fills_shown(init_fill)


def check_batch(image: torch.Tensor, mask: torch.Tensor, size_multiple: int, name: str) -> None:
    """Raise a ValueError naming the bad shape and the fix before any work is done."""
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"{name}: image must be (N, 3, H, W), got {tuple(image.shape)}")
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] != image.shape[0] or mask.shape[-2:] != image.shape[-2:]:
        raise ValueError(
            f"{name}: mask must be (N, 1, H, W) matching image {tuple(image.shape)}, got {tuple(mask.shape)}"
        )
    h, w = image.shape[-2:]
    if h % size_multiple or w % size_multiple:
        raise ValueError(
            f"{name}: H and W must be multiples of {size_multiple}, got {h}x{w}; "
            f"pad first (inpaint.models.pad_to_multiple)"
        )


def network_inputs(image: torch.Tensor, mask: torch.Tensor, init_fill: str) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Build the network input, the base fill and the fills shown; the network never sees hole pixels.

    Args:
        image: (N, 3, H, W) float in [0, 1].
        mask: (N, 1, H, W) float, 1 = hole.
    Returns:
        x: (N, input_channels(init_fill), H, W) `cat([image * (1 - mask), mask, *fills])`;
        base: (N, 3, H, W); fills: n_fills_shown(init_fill) tensors (N, 3, H, W).
    """
    masked = image * (1.0 - mask)
    base, fills = initial_fills(masked, mask, init_fill)  # read only known pixels
    return torch.cat([masked, mask, *fills], dim=1), base, fills


def clamp01(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] in value but pass gradients straight through.

    A plain clamp would zero the gradient of every pixel pushed out of range, so a pixel that
    overshoots could never be pulled back by the loss.
    """
    return x + (x.clamp(0.0, 1.0) - x).detach()


def zero_init(module: nn.Module) -> nn.Module:
    """Zero a layer's weight and bias so the residual starts at 0 and the model at its base fill."""
    nn.init.zeros_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return module


def widths(width: int, n_down: int, max_width: int) -> list[int]:
    """Channel width per scale: doubles at each downsampling, capped at max_width."""
    if width < 1 or n_down < 0 or max_width < width:
        raise ValueError(f"need width >= 1, n_down >= 0, max_width >= width; got {width}, {n_down}, {max_width}")
    return [min(width * 2**i, max_width) for i in range(n_down + 1)]


# ---------------------------------------------------------------------------------------------
# Pretrained features: a frozen ImageNet trunk run on the starting fill

# name -> (trunk, taps, channels of the taps). The trunk's weights come from inpaint.perceptual's
# verified cache, not from the generator's state dict, so a checkpoint stays the generator's own.
# AlexNet to relu5 costs ~0.2 GMAC at 128 px; VGG16 to relu3_3 ~3 GMAC (more than the generator).
PRETRAINED: dict[str, tuple[str, tuple[str, ...], int] | None] = {
    "none": None,
    "alexnet": ("alexnet", ("relu2", "relu3", "relu4", "relu5"), 192 + 384 + 256 + 256),
    "vgg16": ("vgg16", ("relu2_2", "relu3_3"), 128 + 256),
}
MIN_FEATURE_SIDE = 64  # smaller inputs are upsampled first (AlexNet's stem and pools need room)


def open_encoder(model: nn.Module, name: str, width: int, n_down: int, max_width: int, init_fill: str, norm: str
                 ) -> tuple[list[int], nn.Module, list[nn.Module]]:
    """The opening every encoder-decoder generator shares (autoencoder, lama, the VAE's unet): checks
    `init_fill`, `norm` and `n_down`, sets `model.init_fill` and `model.size_multiple` (2**n_down), and
    returns the widths at 1/2, 1/4, ..., 1/2**n_down, the stem (masked image, mask and fills to 1/2) and
    the stride-2 blocks down to the bottleneck (built in this order, so seeded weights do not move)."""
    model.init_fill = check_init_fill(init_fill)
    check_norm(norm)
    if n_down < 1:
        raise ValueError(f"{name}: n_down must be >= 1 (the stem downsamples), got {n_down}")
    model.size_multiple = 2**n_down
    ws = widths(width, n_down - 1, max_width)
    stem = unshuffle_stem(input_channels(init_fill), width, norm)
    down = [conv_block(ws[i], ws[i + 1], 3, stride=2, norm=norm) for i in range(n_down - 1)]
    return ws, stem, down


def check_pretrained(name: str) -> str:
    """Raise early (at construction) on an unknown pretrained-features name."""
    if name not in PRETRAINED:
        raise ValueError(f"pretrained={name!r} is unknown; use one of {list(PRETRAINED)}")
    return name


class PretrainedFeatures(nn.Module):
    """Semantic features for a generator from step 0: a frozen ImageNet trunk run on the starting fill
    (known pixels + fill in the hole), its taps resized to the generator's bottleneck, concatenated and
    projected by a learnt 1x1 conv + norm + ReLU. Only the projection is trained or saved.

    Args:
        name: a key of PRETRAINED other than "none".
        cout: channels of the bottleneck the features are added to.
    """

    def __init__(self, name: str, cout: int, norm: str = "group"):
        super().__init__()
        self.net, self.layers, cin = PRETRAINED[check_pretrained(name)]
        self.proj = conv_block(cin, cout, 1, norm=norm)

    def forward(self, base: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        from inpaint.perceptual import features  # lazy: needs the provisioned weights cache

        h, w = base.shape[-2:]
        if min(h, w) < MIN_FEATURE_SIDE:
            f = MIN_FEATURE_SIDE / min(h, w)
            base = F.interpolate(base, size=(round(h * f), round(w * f)), mode="bilinear", align_corners=False)
        with torch.no_grad():  # frozen trunk, and the fill does not depend on the generator
            taps = features(self.net, self.layers, base.device)(base.float())
        # proj's 1x1 conv of the concatenated resized taps, computed tap by tap: a 1x1 conv and a bilinear
        # resize commute (both linear, resize weights sum to 1), so each tap is projected at whichever of its
        # own and the target resolution is smaller (deep taps of a large photo: ~4x fewer pixels)
        conv, start, mixed = self.proj[0], 0, 0
        for t in taps.values():
            weight = conv.weight[:, start:start + t.shape[1]].to(t.dtype)
            start += t.shape[1]
            if t.shape[-2] * t.shape[-1] <= size[0] * size[1]:
                t = F.interpolate(F.conv2d(t, weight), size=size, mode="bilinear", align_corners=False)
            else:
                t = F.conv2d(F.interpolate(t, size=size, mode="bilinear", align_corners=False), weight)
            mixed = mixed + t
        if conv.bias is not None:
            mixed = mixed + conv.bias.view(1, -1, 1, 1)
        return self.proj[1:](mixed.to(base.dtype))  # (N, cout, *size): norm + ReLU


# ---------------------------------------------------------------------------------------------
# Blocks shared by lama, autoencoder and vae

NORMS = ("batch", "group", "none")


def check_norm(kind: str) -> str:
    """Raise early (at construction) on an unknown norm name."""
    if kind not in NORMS:
        raise ValueError(f"norm={kind!r} is unknown; use one of {list(NORMS)}")
    return kind


def norm_layer(kind: str, channels: int) -> nn.Module:
    """BatchNorm2d, GroupNorm (up to 8 groups) or nothing.

    "group" normalises each image on its own, so training and inference compute the same thing;
    BatchNorm's running statistics, copied into an evaluation model, jump for a few steps after an
    unusual batch, and over a short CPU run that is enough to spoil a validation or a checkpoint.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(channels, 8), channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm={kind!r} is unknown; use one of {list(NORMS)}")


def conv_block(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1, norm: str = "group") -> nn.Sequential:
    """k x k conv + norm + ReLU (the conv has a bias only without a norm, which would cancel it).

    Reflect padding avoids dark borders; dilated convs pad with zeros, since reflecting needs the
    map to be larger than the padding, which a small image's bottleneck is not.
    """
    mode = "reflect" if dilation == 1 else "zeros"
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, padding=dilation * (k // 2), dilation=dilation, padding_mode=mode, bias=norm == "none"),
        norm_layer(norm, cout),
        nn.ReLU(inplace=True),
    )


UPSAMPLING = ("transposed", "resize")


def up_block(cin: int, cout: int, norm: str = "group", mode: str = "transposed") -> nn.Sequential:
    """2x upsampling + norm + ReLU, by a 3x3 stride-2 transposed conv or by resize-convolution.

    "transposed" costs a quarter of "resize" (nearest 2x upsampling, then a 3x3 conv at the output
    resolution), and LaMa uses it; but its kernel overlaps unevenly on the output grid, so a network
    whose features vary a lot (a VAE decoding random latents) draws a checkerboard with it (Odena et
    al. 2016, "Deconvolution and checkerboard artifacts"). "resize" cannot.
    """
    if mode == "transposed":
        conv = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1, bias=norm == "none")
        return nn.Sequential(conv, norm_layer(norm, cout), nn.ReLU(inplace=True))
    if mode == "resize":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv_block(cin, cout, 3, norm=norm))
    raise ValueError(f"upsample={mode!r} is unknown; use one of {list(UPSAMPLING)}")


def unshuffle_stem(cin: int, cout: int, norm: str = "group") -> nn.Sequential:
    """Space-to-depth (2x2 pixels -> 4x channels) then a 3x3 conv + norm + ReLU at half resolution.

    No feature map ever exists at full resolution: on a CPU the full-resolution layers of a
    conventional stem cost more in memory traffic (norm, ReLU, padding copies of wide maps) than in
    arithmetic, and they dominate inference time on large images.
    """
    return nn.Sequential(nn.PixelUnshuffle(2), conv_block(4 * cin, cout, 3, norm=norm))


class FillHead(nn.Module):
    """The output layer of every generator: gates that blend the fills it was shown, plus a residual.

    pred = clamp01(base + sum_k gate_k * (fill_k - base) + residual), gate_k (N, 1, H, W) and the RGB
    residual from one zero-initialised 3x3 conv (followed by depth-to-space to 2x when `shuffle`), so
    an untrained model returns its base fill. A gate's gradient is the fill difference times the
    loss gradient, whatever the depth of the network, so choosing between fills per pixel (smooth
    where the context is smooth, copied texture where it is textured) is learnt in tens of steps,
    while the residual adds what no fill has.

    Args:
        cin: feature channels in.
        n_fills: fills shown (n_fills_shown(init_fill)); 0 = residual only.
        shuffle: the features are at half resolution (sub-pixel conv to full resolution).
    """

    def __init__(self, cin: int, n_fills: int, shuffle: bool = True):
        super().__init__()
        self.n_fills = n_fills
        out = 3 + n_fills
        self.conv = zero_init(nn.Conv2d(cin, out * 4 if shuffle else out, 3, padding=1))
        self.up = nn.PixelShuffle(2) if shuffle else nn.Identity()

    def forward(self, h: torch.Tensor, base: torch.Tensor, fills: list[torch.Tensor]) -> torch.Tensor:
        if len(fills) != self.n_fills:
            raise ValueError(f"FillHead built for {self.n_fills} fills, got {len(fills)}")
        y = self.up(self.conv(h))  # (N, 3 + K, H, W)
        pred = base + y[:, :3]
        for k, fill in enumerate(fills):
            pred = pred + y[:, 3 + k : 4 + k] * (fill - base)
        pred = clamp01(pred)
        # what the network changed on its base fill, for the training logs only (inference keeps no copy)
        self.last_change = (pred - base).detach() if self.training else None
        return pred


def head_logs(gen: torch.nn.Module, mask: torch.Tensor) -> dict:
    """How much the generator changes its starting fill inside the hole (mean |pred - base|, from the
    last forward) and the gradient norm of its output head(s): a head that never learns shows as a
    change stuck at 0 with a gradient of 0."""
    heads = [m for m in gen.modules() if isinstance(m, FillHead) and getattr(m, "last_change", None) is not None]
    if not heads:
        return {}
    change = heads[-1].last_change.abs().mean(1, keepdim=True)  # (N, 1, H, W) the final head's
    area = mask.sum().clamp_min(1.0)
    grads = [m.conv.weight.grad for m in heads if m.conv.weight.grad is not None]
    return {"change_hole": float((change * mask).sum() / area),
            "head_grad": float(torch.sqrt(sum(g.float().pow(2).sum() for g in grads))) if grads else 0.0}
