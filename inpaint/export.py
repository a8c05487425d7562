"""`inpaint export`: a generator as a file that runs without this package (TorchScript, ONNX).

The exported program takes `image` (1, 3, H, W) float32 in [0, 1] and `mask` (1, 1, H, W) float32,
1 = hole, at the one size it was exported at (the start fills and padding loop over that size, so
it is fixed in the file), and returns the composited fill (1, 3, H, W): `mask * pred + (1 - mask) *
image`, what `inpaint fill` pastes. A photo of another size is cropped to its holes' context and
resized to that size first, as `inpaint fill` does (README: "Export").
Each export is checked against the PyTorch fill on real photos (the built-in set) before it is kept.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from inpaint.atomic import atomic_path, write_text

FORMATS = ("torchscript", "onnx")
TOLERANCE = 1e-3  # largest |exported - PyTorch| allowed over every pixel of the check photos


class Composited(torch.nn.Module):
    """A generator's fill at one size, composited; the exported program."""

    def __init__(self, generator: torch.nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        from inpaint.models import fill_holes

        return fill_holes(self.generator, image, mask)


class FixedSize(torch.nn.Module):
    """A traced program behind a size check: the trace is only right at the size it was made at."""

    def __init__(self, traced: torch.nn.Module, height: int, width: int):
        super().__init__()
        self.traced, self.height, self.width = traced, height, width

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if image.shape[-2] != self.height or image.shape[-1] != self.width or mask.shape[-2:] != image.shape[-2:]:
            raise ValueError(f"this program fills {self.width}x{self.height} (width x height) images and masks; "
                             "crop or resize the hole's context to that size first")
        return self.traced(image, mask)


def check_photos(size: tuple[int, int], n: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` real photos (the built-in set) resized to size (height, width), with a box and a stroke hole
    each: (n, H, W, 3) float32 and (n, H, W) masks, 1 = hole."""
    import cv2

    from inpaint.io import read_image
    from inpaint.masks import sample_mask
    from inpaint.sources import builtin_files

    rng = np.random.default_rng(seed)
    h, w = size
    images, masks = [], []
    for k, (path, _) in enumerate(builtin_files()[:n]):
        images.append(cv2.resize(read_image(path), (w, h), interpolation=cv2.INTER_AREA))
        masks.append(sample_mask(("box", "brush")[k % 2], rng, h, w, min_ratio=0.05, max_ratio=0.5))
    return np.stack(images).astype(np.float32), np.stack(masks).astype(np.float32)


def export(method: str, out: str | Path, fmt: str = "torchscript", size: tuple[int, int] = (512, 512),
           checkpoints: str | Path | None = None) -> dict:
    """Write `method`'s generator as `fmt` to `out` (atomically, with `<out>.json` describing it), after
    checking it against the PyTorch fill; returns that description."""
    from inpaint.checkpoints import predict
    from inpaint.methods import resolve_method

    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    h, w = size
    if min(h, w) < 32:
        raise ValueError(f"--size {w}x{h}: each side must be at least 32 px")
    resolved = resolve_method(method, checkpoints, "cpu", fallback_pretrained=True)
    if resolved.model is None:
        raise ValueError(f"method {method!r} is a classical baseline, not a network; export a model "
                         "(pretrained/lama, or a trained model's name)")
    out = Path(out)
    want = {"torchscript": (".pt", ".ts"), "onnx": (".onnx",)}[fmt]
    if out.suffix.lower() not in want:
        raise ValueError(f"--out {out}: a {fmt} file ends in {' or '.join(want)}; name it so (its description goes "
                         f"beside it as <out>.json)")
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name such as {out / 'model.pt'}")
    if resolved.checkpoint is not None and out.resolve() == Path(resolved.checkpoint).resolve():
        raise ValueError(f"--out {out} is the checkpoint being exported; give another file name")
    model = Composited(resolved.model.float()).eval()
    example = (torch.rand(1, 3, h, w), (torch.rand(1, 1, h, w) > 0.7).float())
    images, masks = check_photos((h, w))
    expected = predict(resolved.model, images, masks, torch.device("cpu"))
    with atomic_path(out) as tmp:
        if fmt == "torchscript":
            _torchscript(model, example, tmp)
            got = run_torchscript(tmp, images, masks)
        else:
            _onnx(model, example, tmp)
            got = run_onnx(tmp, images, masks)
        error = float(np.abs(got - expected).max())
        if not error <= TOLERANCE:
            raise ValueError(f"{method}: the {fmt} export differs from the PyTorch fill by {error:.2e} (more than "
                             f"{TOLERANCE}) on the check photos; not written")
    info = {"method": method, "source": str(resolved.checkpoint), "format": fmt, "height": h, "width": w,
            "inputs": {"image": [1, 3, h, w], "mask": [1, 1, h, w]}, "output": [1, 3, h, w],
            "convention": "float32 in [0, 1]; mask 1 = hole; output composited",
            "check": {"photos": len(images), "max_abs_error": error, "tolerance": TOLERANCE},
            "torch": torch.__version__}
    write_text(out.with_name(out.name + ".json"), json.dumps(info, indent=1) + "\n")
    return info


def _torchscript(model: torch.nn.Module, example: tuple, path: Path) -> None:
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shapes are fixed on purpose
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated upstream, still what runs everywhere
        traced = torch.jit.trace(model, example, check_trace=False)
        h, w = example[0].shape[-2:]
        torch.jit.save(torch.jit.script(FixedSize(traced, h, w)), str(path))


def _onnx(model: torch.nn.Module, example: tuple, path: Path) -> None:
    import contextlib
    import io
    import os

    try:
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
            program = torch.onnx.export(model, example, input_names=["image", "mask"], output_names=["filled"],
                                        dynamo=True, external_data=False, verbose=False)
    except Exception as e:  # noqa: BLE001 - an operator ONNX lacks, named by the exporter
        raise ValueError(f"ONNX export failed ({str(e).splitlines()[0][:300]}); use --format torchscript") from e
    program.save(os.fspath(path), external_data=False)


def run_torchscript(path: str | Path, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Fill (N, H, W, 3) images with (N, H, W) masks (1 = hole) through an exported TorchScript file."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        program = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        outs = [program(torch.from_numpy(i).permute(2, 0, 1)[None], torch.from_numpy(m)[None, None])
                for i, m in zip(images, masks)]
    return torch.cat(outs).permute(0, 2, 3, 1).numpy()


def run_onnx(path: str | Path, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The same through ONNX Runtime (CPU)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = [session.run(None, {"image": i.transpose(2, 0, 1)[None].copy(), "mask": m[None, None].copy()})[0]
            for i, m in zip(images, masks)]
    return np.concatenate(outs).transpose(0, 2, 3, 1)
