"""Perceptual networks that work offline: LPIPS (AlexNet or VGG trunk) and VGG16 features.

Both are built from the ImageNet-trained trunks that `inpaint.weights` provisions and verifies
(`make setup`); nothing here talks to a model hub. Each is built once per device and shared.
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch
from torch import nn

from inpaint.weights import SDIST, load_weights, weights_dir

# lpips' net name -> cache entry holding its trunk.
LPIPS_NETS = {"alex": "alexnet", "vgg": "vgg16"}
# VGG16 feature taps -> index of that ReLU in torchvision's vgg16().features.
VGG16_LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)
    module.eval()
    if any(t.is_meta for t in module.state_dict().values()):  # something was left unassigned
        raise RuntimeError(f"{type(module).__name__}: tensors left on the meta device after loading weights")


# ---------------------------------------------------------------------------------------------
# LPIPS

class LPIPS(nn.Module):
    """LPIPS distance between images in [0, 1]: the official lpips code, trunk from the verified cache."""

    def __init__(self, net: str = "alex"):
        super().__init__()
        if net not in LPIPS_NETS:
            raise ValueError(f"unknown LPIPS net {net!r}; known: {sorted(LPIPS_NETS)}")
        trunk = load_weights(LPIPS_NETS[net])  # first: a missing cache fails before the slow import
        import lpips

        heads_path = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
        heads = torch.load(heads_path, map_location="cpu", weights_only=True)  # {"lin{k}.model.1.weight"}
        for k in range(5):
            if not torch.equal(heads[f"lin{k}.model.1.weight"], trunk[f"lin{k}.weight"]):
                raise RuntimeError(f"{heads_path}: lin{k} differs from the heads in {SDIST}; "
                                   "reinstall the pinned lpips==0.1.4")
        scaling = lpips.lpips.ScalingLayer().state_dict()  # built off meta: its constants are real
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # lpips passes torchvision's deprecated `pretrained=`
            with torch.device("meta"):  # pnet_rand: no torchvision download; meta: no random init to throw away
                self.inner = lpips.LPIPS(pretrained=False, net=net, pnet_rand=True, verbose=False)
        state = {}
        for key in self.inner.state_dict():
            if key.startswith("scaling_layer."):
                state[key] = scaling[key.split(".", 1)[1]]
            elif key.startswith("net."):  # net.slice{s}.{index}.{weight|bias}
                state[key] = trunk["features." + key.split(".", 2)[2]]
            else:  # lin{k}.model.1.weight, and its alias lins.{k}.model.1.weight
                first, second = key.split(".")[:2]
                k = second if first == "lins" else first[3:]
                state[key] = heads[f"lin{k}.model.1.weight"]
        self.inner.load_state_dict(state, strict=True, assign=True)
        self.net = net
        _freeze(self)

    def train(self, mode: bool = True) -> LPIPS:
        return super().train(False)  # frozen metric: the heads' dropout must never switch on

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-image distance, differentiable with respect to the inputs.

        Args:
            x, y: (N, 3, H, W) in [0, 1], same shape; H, W >= 32 for the AlexNet trunk.
        Returns:
            (N,) distances.
        """
        if x.ndim != 4 or x.shape[1] != 3 or x.shape != y.shape:
            raise ValueError(f"LPIPS needs two (N, 3, H, W) batches of the same shape, got {tuple(x.shape)} "
                             f"and {tuple(y.shape)}")
        return self.inner(x, y, normalize=True).flatten()  # normalize: [0, 1] -> [-1, 1]; (N, 1, 1, 1) -> (N,)


@functools.cache
def _lpips_cached(net: str, device: str, folder: Path) -> LPIPS:
    return LPIPS(net).to(device)


def lpips_model(net: str = "alex", device: str | torch.device = "cpu") -> LPIPS:
    """Frozen LPIPS module for `net` on `device`, built once per (net, device) and shared: don't modify it."""
    if net not in LPIPS_NETS:
        raise ValueError(f"unknown LPIPS net {net!r}; known: {sorted(LPIPS_NETS)}")
    return _lpips_cached(net, str(torch.device(device)), weights_dir())


# ---------------------------------------------------------------------------------------------
# VGG16 features

def _vgg_layers(layers) -> tuple[str, ...]:
    """Requested VGG16 taps, deduplicated, shallow to deep; unknown names raise ValueError."""
    unknown = [n for n in layers if n not in VGG16_LAYERS]
    if isinstance(layers, str) or not layers or unknown:
        raise ValueError(f"unknown or no VGG16 layers {layers!r}; known: {list(VGG16_LAYERS)}")
    return tuple(sorted(set(layers), key=VGG16_LAYERS.get))


class VGG16Features(nn.Module):
    """Frozen ImageNet VGG16 returning the requested ReLU activations; stops after the deepest one."""

    def __init__(self, layers: tuple[str, ...] = tuple(VGG16_LAYERS)):
        super().__init__()
        import torchvision

        self.layers = _vgg_layers(layers)
        self._taps = {VGG16_LAYERS[n]: n for n in self.layers}
        last = max(self._taps)
        with torch.device("meta"):  # every parameter is assigned from the cache below
            self.features = torchvision.models.vgg16(weights=None).features[: last + 1]
        weights = load_weights("vgg16")
        self.features.load_state_dict({k: weights[f"features.{k}"] for k in self.features.state_dict()},
                                      strict=True, assign=True)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        _freeze(self)

    def train(self, mode: bool = True) -> VGG16Features:
        return super().train(False)  # frozen feature extractor

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Activations by layer name, shallow to deep.

        Args:
            x: (N, 3, H, W) in [0, 1]; ImageNet normalisation happens here.
        Returns:
            {"relu1_2": (N, 64, H, W), "relu2_2": (N, 128, H/2, W/2), "relu3_3": (N, 256, H/4, W/4),
             "relu4_3": (N, 512, H/8, W/8), "relu5_3": (N, 512, H/16, W/16)}, the requested ones only.
        """
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG16Features needs (N, 3, H, W), got {tuple(x.shape)}")
        h = (x - self.mean) / self.std  # (N, 3, H, W)
        out = {}
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self._taps:
                out[self._taps[i]] = h
        return out


@functools.cache
def _vgg_cached(layers: tuple[str, ...], device: str, folder: Path) -> VGG16Features:
    return VGG16Features(layers).to(device)


def vgg16_features(layers: tuple[str, ...] | list[str] = tuple(VGG16_LAYERS),
                   device: str | torch.device = "cpu") -> VGG16Features:
    """Frozen VGG16 feature extractor for `layers`, built once per (layers, device) and shared: don't modify it."""
    return _vgg_cached(_vgg_layers(layers), str(torch.device(device)), weights_dir())
