"""SN-PatchGAN discriminator (Yu et al. 2019, DeepFill v2): spectral-normalised stride-2 convs.

Every output logit judges one large patch of the image; the mask is concatenated to the input so the
discriminator knows where the hole was. Spectral norm bounds each layer's Lipschitz constant, which
keeps hinge-loss training stable without a gradient penalty.

Masks are float tensors (N, 1, H, W) with 1 = hole (white, 255 in PNG).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm


class PatchGAN(nn.Module):
    """depth stride-2 5x5 SN convs with LeakyReLU, then a 3x3 SN conv to one logit per patch.

    Args:
        width: channels of the first layer; doubles per layer up to max_width.
        depth: stride-2 layers; the logit map is ceil(H / 2**depth) x ceil(W / 2**depth).
        max_width: channel cap.
        kernel: kernel size of the stride-2 convs (DeepFill v2: 5).
        spectral_norm: spectral-normalise every conv (DeepFill v2). Without it the discriminator can
            learn within a short CPU run; pair it with an R1 penalty (train loss.r1), as LaMa does.
    """

    def __init__(self, width: int = 32, depth: int = 5, max_width: int = 128, kernel: int = 5,
                 spectral_norm: bool = True):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"patchgan: need depth >= 1 and width >= 1, got depth={depth}, width={width}")
        chans = [4] + [min(width * 2**i, max_width) for i in range(depth)]
        sn = _spectral_norm if spectral_norm else (lambda m: m)
        self.layers = nn.ModuleList(
            [sn(nn.Conv2d(a, b, kernel, stride=2, padding=kernel // 2)) for a, b in zip(chans[:-1], chans[1:])]
        )
        self.head = sn(nn.Conv2d(chans[-1], 1, 3, padding=1))

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Patch logits for hinge or non-saturating loss.

        Args:
            image: (N, 3, H, W) float in [0, 1] (usually the composited fill, or a real image).
            mask: (N, 1, H, W) float, 1 = hole.
        Returns:
            logits (N, 1, ceil(H/2^depth), ceil(W/2^depth)).
        """
        if image.shape[1] != 3 or mask.shape[1] != 1 or image.shape[-2:] != mask.shape[-2:]:
            raise ValueError(
                f"patchgan: need image (N, 3, H, W) and mask (N, 1, H, W), got {tuple(image.shape)}, {tuple(mask.shape)}"
            )
        x = torch.cat([image, mask], dim=1)  # (N, 4, H, W)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)  # halves H, W
        return self.head(x)
