"""Conditional VAE inpainter: one hole, several plausible fills.

A spatial latent z (N, latent_channels, H/2^n, W/2^n) carries what the known region does not
determine. In training a posterior encoder q(z | full image, mask) sees the hole, and the decoder
reconstructs from a posterior sample; a prior network p(z | masked image, mask) is pulled towards the
posterior by the KL term. At test time z is drawn from the prior (`sample`) or set to its mean (eval
`forward`, deterministic).

Why a learned conditional prior rather than N(0, I) (Sohn et al. 2015's CVAE; Zheng et al. 2019's
pluralistic inpainting argue the same): with N(0, I) the KL term forces every posterior towards one
context-free distribution, so the latent cannot say "this hole is sky" without paying for it, and
samples from N(0, I) ignore the context; a conditional prior can put its mass where fills of this
particular hole lie, and its mean gives a sensible deterministic fill.

Two decoders share that latent machinery. "unet" (the original) learns everything from scratch. "lama"
is the LaMa generator (inpaint.models.lama) with z added at its bottleneck through a zero-initialised
conv: at step 0 the VAE is exactly that LaMa, so it can start from the shipped `pretrained/lama`
(`init_from`, see inpaint.models.start_target) and training only has to learn what z varies, not how
to fill a hole. z lives at 1/(2^n * latent_pool) resolution and is upsampled bilinearly before the
conv, so samples differ in regions (colour, shading, structure), not in pixel-scale dither.

Masks are float tensors (N, 1, H, W) with 1 = hole (white, 255 in PNG).
"""
from __future__ import annotations

import inspect

import torch
import torch.nn as nn
import torch.nn.functional as F

from inpaint.models.common import (
    FillHead,
    check_batch,
    conv_block,
    n_fills_shown,
    network_inputs,
    open_encoder,
    unshuffle_stem,
    up_block,
    widths,
    zero_init,
)
from inpaint.models.lama import LaMa

LOGVAR_RANGE = (-10.0, 10.0)  # keeps exp(logvar) finite when a batch pushes the heads hard
DECODERS = ("unet", "lama")


def gaussian_head(cin: int, latent: int) -> nn.Conv2d:
    """3x3 conv to (mu, logvar); zero-initialised so both start as N(0, I) and the KL starts at 0."""
    return zero_init(nn.Conv2d(cin, 2 * latent, 3, padding=1))


class VAE(nn.Module):
    """U-Net-like decoder over a conditioning encoder, with a spatial latent injected at the bottleneck.

    Args:
        width: channels at 1/2 resolution; doubles per further downsampling up to max_width.
        n_down: total downsampling steps, the space-to-depth stem's included (size_multiple =
            2**n_down); the latent lives at 1/2**n_down.
        max_width: channel cap.
        latent_channels: channels of z.
        n_mid: dilated 3x3 convs after the latent is merged (dilation 2, 4, ...).
        init_fill: a key of common.INIT_FILLS (the fill it starts from, see inpaint.models.common).
        norm: "group" (per image: training and inference agree), "batch" (LaMa's) or "none".
        upsample: "resize" (resize-convolution: no checkerboard from random latents) or "transposed"
            (see common.up_block).
        decoder: "unet" (the layers above) or "lama": a LaMa generator built from `backbone` (its kwargs)
            decodes, and width, n_down, max_width, n_mid, init_fill, norm and upsample are its own.
        backbone: LaMa kwargs for decoder "lama" (equal to a lama checkpoint's to start from it).
        latent_pool: decoder "lama": z is this many times coarser than the bottleneck (size_multiple
            grows by the same factor).
    """

    def __init__(
        self,
        width: int = 32,
        n_down: int = 4,
        max_width: int = 128,
        latent_channels: int = 8,
        n_mid: int = 2,
        init_fill: str = "hybrid",
        norm: str = "group",
        upsample: str = "resize",
        decoder: str = "unet",
        backbone: dict | None = None,
        latent_pool: int = 2,
    ):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"vae: decoder={decoder!r} is unknown; use one of {list(DECODERS)}")
        self.decoder = decoder
        self.latent_channels = latent_channels
        if decoder == "lama":
            own = {"width": width, "n_down": n_down, "max_width": max_width, "n_mid": n_mid, "init_fill": init_fill,
                   "norm": norm, "upsample": upsample}
            defaults = {k: v.default for k, v in inspect.signature(VAE).parameters.items() if k in own}
            given = sorted(k for k in own if own[k] != defaults[k])
            if given:
                raise ValueError(f"vae: {given} belong to the unet decoder; with decoder: lama give the generator's "
                                 "settings in backbone (LaMa's kwargs)")
            self._build_lama(backbone or {}, latent_channels, latent_pool)
            return
        if backbone is not None:
            raise ValueError("vae: backbone (LaMa kwargs) needs decoder: lama")
        # conditioning encoder (masked image + mask + fill): feeds the prior and the decoder's skips
        ws, self.cond_stem, down = open_encoder(self, "vae", width, n_down, max_width, init_fill, norm)
        self.cond_down = nn.ModuleList(down)
        c = ws[-1]
        self.prior = gaussian_head(c, latent_channels)
        # posterior encoder (full image + mask), half as wide: it only has to describe the hole
        pw = widths(max(width // 2, 1), n_down - 1, max(c // 2, 1))
        self.post = nn.Sequential(
            unshuffle_stem(4, pw[0], norm), *[conv_block(pw[i], pw[i + 1], 3, stride=2, norm=norm) for i in range(n_down - 1)]
        )
        self.post_head = gaussian_head(pw[-1], latent_channels)
        # decoder: merge z at the bottleneck, then upsample with skips from the conditioning encoder
        self.merge = conv_block(c + latent_channels, c, 3, norm=norm)
        self.mid = nn.Sequential(*[conv_block(c, c, 3, dilation=2 ** (i + 1), norm=norm) for i in range(n_mid)])
        self.up = nn.ModuleList(
            [up_block(ws[i + 1] * (2 if i + 2 < len(ws) else 1), ws[i], norm, upsample) for i in reversed(range(n_down - 1))]
        )
        self.head = FillHead(2 * width, n_fills_shown(init_fill))

    @staticmethod
    def backbone_of(kwargs: dict) -> tuple[str, dict] | None:
        """(arch, kwargs) of the generator inside a VAE built with these kwargs (its `backbone`), or None."""
        return ("lama", kwargs.get("backbone") or {}) if kwargs.get("decoder") == "lama" else None

    def _build_lama(self, backbone: dict, latent: int, pool: int) -> None:
        if pool < 1:
            raise ValueError(f"vae: latent_pool must be >= 1, got {pool}")
        self.backbone = LaMa(**backbone)
        self.init_fill = self.backbone.init_fill
        self.latent_pool = pool
        self.size_multiple = self.backbone.size_multiple * pool
        c = self.backbone.channels
        self.prior = gaussian_head(c, latent)
        n_down = self.backbone.size_multiple.bit_length() - 1
        pw = widths(max(c // 8, 1), n_down - 1, max(c // 2, 1))  # the posterior only describes the hole
        self.post = nn.Sequential(
            unshuffle_stem(4, pw[0]), *[conv_block(pw[i], pw[i + 1], 3, stride=2) for i in range(n_down - 1)]
        )
        self.post_head = gaussian_head(pw[-1], latent)
        self.inject = zero_init(nn.Conv2d(latent, c, 3, padding=1))  # z's way in: at step 0 the VAE is its LaMa

    def _posterior(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.post(torch.cat([image, mask], dim=1))
        if self.decoder == "lama":
            h = F.avg_pool2d(h, self.latent_pool)
        mu, logvar = self.post_head(h).chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def _condition(self, image: torch.Tensor, mask: torch.Tensor):
        """Conditioning features (per scale for "unet", the LaMa bottleneck for "lama"), prior (mu, logvar)
        and what the decoder starts from ("unet": base fill, fills shown; "lama": LaMa.encode's base fill, fills
        shown, mask); never reads hole pixels."""
        if self.decoder == "lama":
            h, start = self.backbone.encode(image, mask)  # (N, C, h, w)
            mu, logvar = self.prior(F.avg_pool2d(h, self.latent_pool)).chunk(2, dim=1)  # (N, Z, h/p, w/p) each
            return h, mu, logvar.clamp(*LOGVAR_RANGE), start
        x, base, fills = network_inputs(image, mask, self.init_fill)  # (N, 4 + 3 * fills, H, W), (N, 3, H, W), fills
        feats = [self.cond_stem(x)]
        for down in self.cond_down:
            feats.append(down(feats[-1]))
        mu, logvar = self.prior(feats[-1]).chunk(2, dim=1)  # (N, Z, h, w) each
        return feats, mu, logvar.clamp(*LOGVAR_RANGE), (base, fills)

    def _decode(self, feats, z: torch.Tensor, start: tuple) -> torch.Tensor:
        if self.decoder == "lama":  # feats: the bottleneck (N, C, h, w); z (N, Z, h/p, w/p)
            z = F.interpolate(z, size=feats.shape[-2:], mode="bilinear", align_corners=False) if self.latent_pool > 1 else z
            return self.backbone.decode(feats + self.inject(z), start)
        h = self.mid(self.merge(torch.cat([feats[-1], z], dim=1)))  # (N, C, h, w)
        for up, skip in zip(self.up, reversed(feats[:-1])):
            h = torch.cat([up(h), skip], dim=1)  # (N, 2 c_i, 2h, 2w)
        return self.head(h, *start)  # head: (N, 2 width, H/2, W/2) -> (N, 3, H, W)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, n_samples: int = 0) -> dict[str, torch.Tensor]:
        """Training mode: decode a posterior sample; eval mode: decode the prior mean.

        Args:
            image: (N, 3, H, W) float in [0, 1], H and W multiples of size_multiple. Only the training
                posterior reads hole pixels; the prior, the decoder's conditioning and eval never do.
            mask: (N, 1, H, W) float, 1 = hole.
            n_samples: also decode this many prior samples ("samples", as `sample` returns them) from
                the same conditioning pass (training's diversity loss; one forward for data-parallel
                training).
        Returns:
            {"pred": (N, 3, H, W) raw prediction in [0, 1] (not composited), "prior_mu", "prior_logvar":
            (N, Z, h, w), in training mode the posterior's "mu", "logvar": (N, Z, h, w), and with
            n_samples "samples": (n_samples, N, 3, H, W)}.
        """
        check_batch(image, mask, self.size_multiple, "vae")
        feats, prior_mu, prior_logvar, start = self._condition(image, mask)
        out = {"prior_mu": prior_mu, "prior_logvar": prior_logvar}
        if self.training:
            mu, logvar = self._posterior(image, mask)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterisation
            out.update(mu=mu, logvar=logvar)
        else:
            z = prior_mu
        out["pred"] = self._decode(feats, z, start)
        if n_samples:
            out["samples"] = self._samples(image, mask, feats, prior_mu, prior_logvar, start, n_samples)
        return out

    def sample(self, image: torch.Tensor, mask: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw n fills from the prior; the conditioning runs once, the decoder n times.

        Args:
            image: (N, 3, H, W) float in [0, 1]; hole pixels are never read.
            mask: (N, 1, H, W) float, 1 = hole.
            n: number of fills per image.
            generator: torch.Generator on the model's device, for reproducible draws.
        Returns:
            (n, N, 3, H, W) fills, composited (`mask * pred + (1 - mask) * image`, idempotent, so
            compositing again is harmless).
        """
        check_batch(image, mask, self.size_multiple, "vae")
        if n < 1:
            raise ValueError(f"vae.sample: n must be >= 1, got {n}")
        feats, mu, logvar, start = self._condition(image, mask)
        return self._samples(image, mask, feats, mu, logvar, start, n, generator)

    def _samples(self, image, mask, feats, mu, logvar, start, n: int, generator=None) -> torch.Tensor:
        std = torch.exp(0.5 * logvar)
        fills = []
        for _ in range(n):
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            pred = self._decode(feats, mu + std * eps, start)
            fills.append(mask * pred + (1.0 - mask) * image)
        return torch.stack(fills)  # (n, N, 3, H, W)
