"""The loss terms a model adds to every model's (content, perceptual, adversarial), by generator name.

`deepfill`'s coarse stage gets the content loss of its final output (added right after the content
loss); a model that samples (the `vae`) draws two fills from its prior in the same forward, pushed
apart in the hole by the diversity hinge and each held to look like a photo, and its posterior is
pulled to the prior by the KL term (added after the adversarial loss). Each term is (weighted value,
logs), summed in that order.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from inpaint import losses


def coarse_terms(out: dict, image, mask, w: dict, feature_net) -> list:
    """A coarse-to-fine generator's first stage gets the same content loss as its output."""
    value, logs = losses.l1_loss(out["coarse"], image, mask, w["l1_hole"], w["l1_valid"])
    return [(value, {f"coarse_{k}": v for k, v in logs.items()})]


def prior_terms(out: dict, image, mask, w: dict, feature_net) -> list:
    """A sampling model's: diversity of its two prior samples (when drawn), their perceptual loss, and KL."""
    terms = []
    if "samples" in out:
        value, logs = losses.diversity_loss(out["samples"], mask, w["diversity_margin"], w.get("diversity_pool", 1))
        terms.append((w["diversity"] * value, logs))
        if feature_net is not None and w.get("sample_perceptual", 0) > 0:  # each prior sample must look like a photo too
            photo = losses.features(image, feature_net, grad=False)  # once for both samples
            value = sum(losses.perceptual_from_features(losses.features(s, feature_net), photo)[0]
                        for s in out["samples"]) / len(out["samples"])
            terms.append((w["sample_perceptual"] * value, {"sample_perceptual": float(value.detach())}))
    if "mu" in out and w.get("kl", 0) > 0:
        value, logs = losses.kl_loss(out["mu"], out["logvar"], out.get("prior_mu"), out.get("prior_logvar"))
        terms.append((w["kl"] * value, logs))
    return terms


@dataclass(frozen=True)
class ModelTerms:
    """What a model adds to training, each `(out, image, mask, loss weights, feature net) -> [(value, logs)]`:
    `content` right after the content loss, `extra` after the adversarial loss."""

    content: Callable[..., list] | None = None
    extra: Callable[..., list] | None = None


MODEL_TERMS: dict[str, ModelTerms] = {
    "deepfill": ModelTerms(content=coarse_terms),
    "vae": ModelTerms(extra=prior_terms),
}
