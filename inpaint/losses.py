"""Training losses for the inpainting generators and discriminators.

Every loss returns `(value, logs)`: a scalar tensor to backpropagate and a dict of Python floats for
the progress bar and metrics file. Masks are float tensors (N, 1, H, W) with 1 = hole (white, 255
in PNG). Feature extractors are callables mapping an (N, 3, H, W) image in [0, 1] to a list or dict
of feature maps (e.g. inpaint.perceptual.vgg16_features(device)); they handle their own input
normalisation.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from inpaint.distributed import mean_over_processes

Features = Sequence[torch.Tensor] | Mapping[str, torch.Tensor]
Extractor = Callable[[torch.Tensor], Features]
ADVERSARIAL_KINDS = ("hinge", "nonsaturating")


def _logs(**values: torch.Tensor) -> dict[str, float]:
    return {k: float(v.detach()) for k, v in values.items()}


def _check_kind(kind: str) -> None:
    if kind not in ADVERSARIAL_KINDS:
        raise ValueError(f"adversarial loss kind={kind!r} is unknown; use one of {list(ADVERSARIAL_KINDS)}")


# ---------------------------------------------------------------------------------------------
# Adversarial


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "hinge") -> tuple[torch.Tensor, dict]:
    """Discriminator loss on real and (detached) fake patch logits.

    hinge: mean(relu(1 - real)) + mean(relu(1 + fake)); nonsaturating: mean(softplus(-real)) + mean(softplus(fake)).
    """
    _check_kind(kind)
    if kind == "hinge":
        real_term, fake_term = F.relu(1.0 - real_logits).mean(), F.relu(1.0 + fake_logits).mean()
    else:
        real_term, fake_term = F.softplus(-real_logits).mean(), F.softplus(fake_logits).mean()
    value = real_term + fake_term
    return value, _logs(d_loss=value, d_real=real_logits.mean(), d_fake=fake_logits.mean())


def g_adv_loss(fake_logits: torch.Tensor, kind: str = "hinge") -> tuple[torch.Tensor, dict]:
    """Generator adversarial loss: hinge -mean(fake); nonsaturating mean(softplus(-fake))."""
    _check_kind(kind)
    value = -fake_logits.mean() if kind == "hinge" else F.softplus(-fake_logits).mean()
    return value, _logs(g_adv=value)


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """R1 gradient penalty (Mescheder et al. 2018): mean over images of |d sum(D(x)) / dx|^2.

    Args:
        real_logits: D's logits for real_images, computed after `real_images.requires_grad_(True)`.
        real_images: (N, 3, H, W) the real batch.
    """
    if not real_images.requires_grad:
        raise ValueError("r1_penalty: real_images needs requires_grad_(True) before the discriminator call")
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)  # (N, 3, H, W)
    value = grad.pow(2).flatten(1).sum(1).mean()
    return value, _logs(r1=value)


# ---------------------------------------------------------------------------------------------
# Content


def l1_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    hole_weight: float = 1.0,
    valid_weight: float = 1.0,
) -> tuple[torch.Tensor, dict]:
    """Weighted L1 with the hole and the known region each averaged over its own pixels.

    An empty region (no hole, or all hole) contributes 0 instead of dividing by zero.

    Args:
        pred, target: (N, C, H, W).
        mask: (N, 1, H, W) float, 1 = hole.
    """
    diff = (pred - target).abs()  # (N, C, H, W)
    channels = pred.shape[1]

    # pixel counts over the global batch when several processes train (one exchange for both regions):
    # each divides by the mean count per process, so their average (the loss, and DDP's average of
    # gradients) is the one-process value exactly
    holes = mean_over_processes(mask.sum().detach())

    def region_mean(weight: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
        count = pixels * channels
        total = (diff * weight).sum()
        return torch.where(count > 0, total / count.clamp_min(1e-8), torch.zeros_like(total))

    hole, valid = region_mean(mask, holes), region_mean(1.0 - mask, mask.numel() - holes)
    value = hole_weight * hole + valid_weight * valid
    return value, _logs(l1=value, l1_hole=hole, l1_valid=valid)


# ---------------------------------------------------------------------------------------------
# Perceptual and style (features from a passed-in extractor)


def _as_list(feats: Features) -> list[torch.Tensor]:
    return list(feats.values()) if isinstance(feats, Mapping) else list(feats)


def _layer_weights(n: int, weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0 / n] * n
    if len(weights) != n:
        raise ValueError(f"layer_weights has {len(weights)} entries but the extractor returned {n} feature maps")
    return list(weights)


def features(x: torch.Tensor, extractor: Extractor, grad: bool = True) -> list[torch.Tensor]:
    """The extractor's feature maps of `x` as a list; without autograd when not `grad` (a target)."""
    with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
        return _as_list(extractor(x))


def extract_pair(pred: torch.Tensor, target: torch.Tensor, extractor: Extractor) -> tuple[list, list]:
    """Features of pred (with grad) and of target (without: it needs no backward pass)."""
    target_feats = features(target, extractor, grad=False)
    return features(pred, extractor), target_feats


def _unit(f: torch.Tensor) -> torch.Tensor:
    return f / (f.pow(2).sum(dim=1, keepdim=True) + 1e-10).sqrt()  # unit length along channels


def perceptual_from_features(
    pred_feats: Sequence[torch.Tensor],
    target_feats: Sequence[torch.Tensor],
    layer_weights: Sequence[float] | None = None,
    normalize: bool = True,
) -> tuple[torch.Tensor, dict]:
    """Perceptual distance between two feature lists (see `perceptual_loss`)."""
    ws = _layer_weights(len(pred_feats), layer_weights)
    terms = []
    for p, t in zip(pred_feats, target_feats):
        p, t = p.float(), t.float()  # features may come out of autocast in bf16
        if normalize:  # LPIPS-like: unit channel vectors, squared distance summed over channels
            terms.append((_unit(p) - _unit(t)).pow(2).sum(dim=1).mean())
        else:
            terms.append((p - t).abs().mean())
    value = sum(w * term for w, term in zip(ws, terms))
    return value, _logs(perceptual=value)


def gram_matrix(feat: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) Gram matrix normalised by C * H * W (as in Gatys / PConv)."""
    n, c, h, w = feat.shape
    f = feat.reshape(n, c, h * w).float()  # (N, C, HW); float32 even under autocast: long sums
    with torch.autocast(feat.device.type, enabled=False):
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def style_from_features(
    pred_feats: Sequence[torch.Tensor],
    target_feats: Sequence[torch.Tensor],
    layer_weights: Sequence[float] | None = None,
) -> tuple[torch.Tensor, dict]:
    """Style distance between two feature lists (see `style_loss`)."""
    ws = _layer_weights(len(pred_feats), layer_weights)
    value = sum(w * (gram_matrix(p) - gram_matrix(t)).abs().mean() for w, p, t in zip(ws, pred_feats, target_feats))
    return value, _logs(style=value)


def perceptual_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    extractor: Extractor,
    layer_weights: Sequence[float] | None = None,
    normalize: bool = True,
) -> tuple[torch.Tensor, dict]:
    """Weighted mean over feature layers of the distance between features of pred and target.

    normalize=True is LPIPS with uniform weights (unit-length channel vectors, squared difference
    summed over channels, averaged over positions): it tracks the LPIPS metric we report and keeps
    every layer on the same [0, 4] scale. normalize=False is the L1 of raw features (PConv).

    Args:
        pred, target: (N, 3, H, W) in [0, 1] (usually the composited fill and the real image).
        extractor: callable returning a list/dict of feature maps.
        layer_weights: one weight per feature map; default uniform, summing to 1.
    """
    return perceptual_from_features(*extract_pair(pred, target, extractor), layer_weights, normalize)


def style_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    extractor: Extractor,
    layer_weights: Sequence[float] | None = None,
) -> tuple[torch.Tensor, dict]:
    """Weighted mean over feature layers of the mean absolute difference of Gram matrices.

    Args:
        pred, target: (N, 3, H, W) in [0, 1].
        extractor: callable returning a list/dict of feature maps.
        layer_weights: one weight per feature map; default uniform, summing to 1.
    """
    return style_from_features(*extract_pair(pred, target, extractor), layer_weights)


def perceptual_style_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    extractor: Extractor,
    perceptual_weight: float = 1.0,
    style_weight: float = 0.0,
    normalize: bool = True,
) -> tuple[torch.Tensor, dict]:
    """perceptual_weight * perceptual + style_weight * style, running the extractor once per image.

    The feature network is the most expensive part of a CPU training step (a VGG16 to relu5_3 costs
    about 5 GMAC per 128 px image, several times our generators), so share its pass.

    Args:
        pred, target: (N, 3, H, W) in [0, 1].
        extractor: callable returning a list/dict of feature maps.
    """
    pred_feats, target_feats = extract_pair(pred, target, extractor)
    perc, logs = perceptual_from_features(pred_feats, target_feats, normalize=normalize)
    value = perceptual_weight * perc
    if style_weight:
        style, style_logs = style_from_features(pred_feats, target_feats)
        value = value + style_weight * style
        logs.update(style_logs)
    return value, logs


def lattice_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, period: int = 8) -> tuple[torch.Tensor, dict]:
    """How much of the hole's error is a regular grid of `period` pixels: `inpaint.lattice.lattice`'s
    score of the error (grey, hole only, power pooled over the batch), its denominator (the error's mean
    power over all frequencies) held constant, so the gradient only lowers the harmonics. About 1 where
    nothing is regular.

    That score (against the start fill, at a fill's own size) found the 8-px lattice stride-2 upsampling
    draws where a large hole leaves the bottleneck's features nearly constant: a transposed convolution's
    kernel overlaps unevenly on its output grid (Odena et al. 2016), and neither L1 nor the perceptual
    loss singles out those few frequencies. Here the error is against the photo (a training crop has no
    start fill to spare), so what the harmonics hold of the photo's own texture is pulled towards the
    photo too: an L2 on 63 of H*W frequencies, scaled by the batch's error power (pooled, so no single
    crop whose hole is nearly right takes over). Grey only: a grid of colour whose grey is flat goes unseen.

    Args:
        pred, target: (N, 3, H, W); mask: (N, 1, H, W) float, 1 = hole. H and W multiples of `period`.
    """
    h, w = pred.shape[-2:]
    if period < 2 or h % period or w % period:
        raise ValueError(f"lattice_loss: crops of {h}x{w} px are not multiples of the period {period}")
    power = torch.fft.fft2((pred - target).mean(1) * mask[:, 0]).abs().square().mean(0)  # (H, W), over the batch
    peaks = power[:: h // period, :: w // period].flatten()[1:].mean()  # the 63 harmonics, DC left out
    flat = ((power.sum() - power[0, 0]) / (h * w - 1)).detach()
    value = peaks / flat.clamp_min(1e-12)
    return value, _logs(lattice=value)


# ---------------------------------------------------------------------------------------------
# VAE


def diversity_loss(samples: torch.Tensor, mask: torch.Tensor, margin: float, pool: int = 1) -> tuple[torch.Tensor, dict]:
    """Hinge on how different two sampled fills are inside the hole: relu(margin - spread), where
    spread is the mean |low-pass(s0 - s1)| per hole pixel and channel.

    A conditional VAE trained briefly learns to ignore its latent (the fill that minimises the
    content loss is one fill), so its samples come out identical; this term (a mode-seeking loss in
    the spirit of Mao et al. 2019 and Yang et al. 2019's diversity-sensitive loss) makes the decoder
    use the latent, and stops pushing once the samples differ by `margin` per pixel on average.

    `pool` > 1 measures the difference after averaging it over pool x pool cells. On raw pixels the
    cheapest way to differ is pixel-scale noise (samples that alternate +-d around one fill: the
    coloured lattice our VAE learnt); averaged over 8 x 8 cells such noise cancels, so only
    differences in what a region holds (its colour, shading, where an edge runs) count.

    Args:
        samples: (2, N, 3, H, W) two fills of the same inputs from different latents.
        mask: (N, 1, H, W) float, 1 = hole.
        pool: cell side of the low-pass (1 = per pixel); H and W need not be multiples of it.
    """
    if samples.ndim != 5 or samples.shape[0] != 2:
        raise ValueError(f"diversity_loss needs (2, N, 3, H, W) samples, got {tuple(samples.shape)}")
    diff, hole = (samples[0] - samples[1]) * mask, mask
    if pool > 1:  # cell means of the difference; a cell's weight is its share of hole pixels
        diff = F.avg_pool2d(diff, pool, ceil_mode=True)
        hole = F.avg_pool2d(mask, pool, ceil_mode=True)
    area = (hole.sum() * samples.shape[2]).clamp_min(1e-6)
    spread = diff.abs().sum() / area
    return F.relu(margin - spread), _logs(sample_spread=spread)


def kl_loss(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    prior_mu: torch.Tensor | None = None,
    prior_logvar: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict]:
    """KL(N(mu, exp(logvar)) || N(prior_mu, exp(prior_logvar))), averaged over latent elements.

    Without a prior the target is N(0, I). The value is the mean per latent element (so its weight
    does not depend on the image size); logs also give the per-image sum ("kl_per_image").

    Args:
        mu, logvar: posterior parameters, any shape (N, ...).
        prior_mu, prior_logvar: prior parameters of the same shape, or None for N(0, I).
    """
    if prior_mu is None:
        prior_mu = torch.zeros_like(mu)
    if prior_logvar is None:
        prior_logvar = torch.zeros_like(logvar)
    kl = 0.5 * (prior_logvar - logvar + (logvar.exp() + (mu - prior_mu).pow(2)) / prior_logvar.exp() - 1.0)
    value = kl.mean()
    return value, _logs(kl=value, kl_per_image=kl.reshape(kl.shape[0], -1).sum(1).mean())
