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
# AlexNet feature taps -> index of that ReLU in torchvision's alexnet().features (LPIPS' five layers).
ALEXNET_LAYERS = {"relu1": 1, "relu2": 4, "relu3": 7, "relu4": 9, "relu5": 11}
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
        _check_pair(x, y)
        return self.inner(x, y, normalize=True).flatten()  # normalize: [0, 1] -> [-1, 1]; (N, 1, 1, 1) -> (N,)

    def in_region(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-image LPIPS averaged over the pixels where mask is 1 (e.g. inside the hole) instead of
        over the whole image: lpips' spatial map (each layer's distance upsampled to full size).

        Args:
            x, y: (N, 3, H, W) in [0, 1]; mask: (N, 1, H, W), 1 = counted. Returns (N,), NaN where empty.
        """
        _check_pair(x, y)
        if mask.shape != (x.shape[0], 1, *x.shape[2:]):
            raise ValueError(f"LPIPS.in_region: mask must be (N, 1, H, W) matching {tuple(x.shape)}, got {tuple(mask.shape)}")
        spatial, self.inner.spatial = self.inner.spatial, True
        try:
            dist = self.inner(x, y, normalize=True)  # (N, 1, H, W)
        finally:
            self.inner.spatial = spatial
        area = mask.sum(dim=(1, 2, 3))
        return torch.where(area > 0, (dist * mask).sum(dim=(1, 2, 3)) / area.clamp_min(1), torch.nan)


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[1] != 3 or x.shape != y.shape:
        raise ValueError(f"LPIPS needs two (N, 3, H, W) batches of the same shape, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")


@functools.cache
def _lpips_cached(net: str, device: str, folder: Path) -> LPIPS:
    return LPIPS(net).to(device)


def lpips_model(net: str = "alex", device: str | torch.device = "cpu") -> LPIPS:
    """Frozen LPIPS module for `net` on `device`, built once per (net, device) and shared: don't modify it."""
    if net not in LPIPS_NETS:
        raise ValueError(f"unknown LPIPS net {net!r}; known: {sorted(LPIPS_NETS)}")
    return _lpips_cached(net, str(torch.device(device)), weights_dir())


# ---------------------------------------------------------------------------------------------
# Frozen ImageNet features (perceptual losses, and pretrained inputs for generators)

# net -> (its `.features` layout, {tap name: index of that ReLU in the net's .features}). A layout lists
# torchvision's layers in order: (out channels, kernel, stride, padding) is a conv followed by an in-place
# ReLU, "M3" a 3x3/2 max-pool (AlexNet), "M2" a 2x2/2 one (VGG). Built here, so a model with a frozen trunk
# loads without importing torchvision (seconds: it imports every model and detection op it has).
TRUNKS = {
    "vgg16": ([(64, 3, 1, 1), (64, 3, 1, 1), "M2", (128, 3, 1, 1), (128, 3, 1, 1), "M2",
               (256, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1), "M2", (512, 3, 1, 1), (512, 3, 1, 1), (512, 3, 1, 1),
               "M2", (512, 3, 1, 1), (512, 3, 1, 1), (512, 3, 1, 1), "M2"], VGG16_LAYERS),
    "alexnet": ([(64, 11, 4, 2), "M3", (192, 5, 1, 2), "M3", (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1), "M3"],
                ALEXNET_LAYERS),
}


def trunk(net: str) -> nn.Sequential:
    """The `.features` of torchvision's `net` (same layers, indices and parameter names), untrained."""
    layers, channels = [], 3
    for spec in TRUNKS[net][0]:
        if spec == "M3":
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
        elif spec == "M2":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            out, kernel, stride, padding = spec
            layers += [nn.Conv2d(channels, out, kernel, stride=stride, padding=padding), nn.ReLU(inplace=True)]
            channels = out
    return nn.Sequential(*layers)


def _layers(net: str, layers) -> tuple[str, ...]:
    """Requested taps of `net` (None: all), deduplicated, shallow to deep; unknown names raise ValueError."""
    if net not in TRUNKS:
        raise ValueError(f"unknown feature network {net!r}; known: {list(TRUNKS)}")
    taps = TRUNKS[net][1]
    layers = tuple(taps) if layers is None else layers
    unknown = [n for n in layers if n not in taps]
    if isinstance(layers, str) or not layers or unknown:
        raise ValueError(f"unknown or no {net} layers {layers!r}; known: {list(taps)}")
    return tuple(sorted(set(layers), key=taps.get))


class Features(nn.Module):
    """A frozen ImageNet trunk (VGG16 or AlexNet) returning the requested ReLU activations; it stops
    after the deepest one. Weights come from the verified cache (inpaint.weights)."""

    def __init__(self, net: str = "vgg16", layers: tuple[str, ...] | None = None):
        super().__init__()
        self.net = net
        self.layers = _layers(net, layers)
        taps = TRUNKS[net][1]
        self._taps = {taps[n]: n for n in self.layers}
        last = max(self._taps)
        with torch.device("meta"):  # every parameter is assigned from the cache below
            self.features = trunk(net)[: last + 1]
        weights = load_weights(net)
        self.features.load_state_dict({k: weights[f"features.{k}"] for k in self.features.state_dict()},
                                      strict=True, assign=True)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        _freeze(self)

    def train(self, mode: bool = True) -> Features:
        return super().train(False)  # frozen feature extractor

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Activations by layer name, shallow to deep.

        Args:
            x: (N, 3, H, W) in [0, 1]; ImageNet normalisation happens here.
        Returns:
            VGG16: {"relu1_2": (N, 64, H, W), "relu2_2": (N, 128, H/2, W/2), "relu3_3": (N, 256, H/4, W/4),
            "relu4_3": (N, 512, H/8, W/8), "relu5_3": (N, 512, H/16, W/16)}; AlexNet: {"relu1": (N, 64,
            ~H/4, ~W/4), "relu2": (N, 192, ~H/8, ~W/8), "relu3".."relu5": (N, 384 | 256 | 256, ~H/16,
            ~W/16)} (AlexNet's 11x11 stride-4 stem: 128 px gives 31, 15, 7); the requested ones only.
        """
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"{self.net} features need (N, 3, H, W), got {tuple(x.shape)}")
        h = (x - self.mean) / self.std  # (N, 3, H, W)
        out = {}
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self._taps:
                out[self._taps[i]] = h
        return out



@functools.cache
def _features_cached(net: str, layers: tuple[str, ...], device: str, folder: Path) -> Features:
    return Features(net, layers).to(device)


def features(net: str, layers: tuple[str, ...] | list[str] | None = None,
             device: str | torch.device = "cpu") -> Features:
    """Frozen `net` ("vgg16" | "alexnet") feature extractor for `layers` (default: all taps), built once
    per (net, layers, device) and shared: don't modify it."""
    return _features_cached(net, _layers(net, layers), str(torch.device(device)), weights_dir())


def vgg16_features(layers: tuple[str, ...] | list[str] = tuple(VGG16_LAYERS),
                   device: str | torch.device = "cpu") -> Features:
    """Frozen VGG16 feature extractor for `layers`, built once per (layers, device) and shared: don't modify it."""
    return features("vgg16", layers, device)
