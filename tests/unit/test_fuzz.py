"""Fuzzing the readers: random bytes and mutated valid files give a result or one of our errors, never
another exception (a traceback). Seeded and bounded: a few hundred cases, a few seconds."""
import io

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from inpaint.checkpoints import load_checkpoint
from inpaint.io import ImageError, read_mask, read_rgb8
from inpaint.params import BASE, DATA, ParamsError, load

CASES = 60


def _valid_images() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    a = (rng.random((24, 32, 3)) * 255).astype(np.uint8)
    out = {}
    for fmt, mode in (("PNG", "RGB"), ("JPEG", "RGB"), ("PNG", "RGBA"), ("PNG", "P"), ("BMP", "RGB"), ("TIFF", "RGB"),
                      ("WEBP", "RGB"), ("PNG", "L")):
        buf = io.BytesIO()
        Image.fromarray(a).convert(mode).save(buf, format=fmt)
        out[f"{fmt}-{mode}"] = buf.getvalue()
    return out


def _mutations(valid: bytes, rng: np.random.Generator):
    """Random bytes, truncations and byte flips of a valid file."""
    yield rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8).tobytes()
    yield valid[: int(rng.integers(1, len(valid)))]
    b = bytearray(valid)
    for _ in range(int(rng.integers(1, 12))):
        b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
    yield bytes(b)


@pytest.mark.parametrize("reader", [read_rgb8, read_mask])
def test_image_and_mask_readers_raise_only_image_errors(tmp_path, reader):
    rng = np.random.default_rng(1)
    outcomes = {"read": 0, "refused": 0}
    for name, valid in _valid_images().items():
        for k in range(CASES // 6):
            for j, data in enumerate(_mutations(valid, rng)):
                path = tmp_path / f"{name}-{k}-{j}.img"
                path.write_bytes(data)
                try:
                    out = reader(path)
                    assert out.dtype in (np.uint8, np.float32) and out.shape[:2][0] > 0
                    outcomes["read"] += 1
                except ImageError as e:
                    assert str(path) in str(e)  # the message names the file
                    outcomes["refused"] += 1
    assert outcomes["refused"] > 50 and outcomes["read"] > 5  # both paths were exercised


def _refusals(tmp_path, valid: bytes, suffix: str, reader, error, seed: int) -> int:
    """Feed `reader` CASES x 3 mutations of `valid`: each returns a dict or raises `error` naming the file."""
    rng = np.random.default_rng(seed)
    refused = 0
    for k in range(CASES):
        for j, data in enumerate(_mutations(valid, rng)):
            path = tmp_path / f"f{k}-{j}{suffix}"
            path.write_bytes(data)
            try:
                assert isinstance(reader(path), dict)
            except error as e:
                assert str(path) in str(e)
                refused += 1
    return refused


def test_checkpoint_reader_raises_only_value_errors(tmp_path):
    buf = io.BytesIO()
    torch.save({"arch": "lama", "kwargs": {}, "state": {"w": torch.ones(3)}, "step": 1}, buf)
    assert _refusals(tmp_path, buf.getvalue(), ".pt", load_checkpoint, ValueError, seed=2) > CASES


def test_params_reader_raises_only_params_errors(tmp_path):
    valid = yaml.safe_dump({"base": {"seed": 0, "image_size": 128},
                            "data": {"source": "builtin", "on_error": "fail", "small": "reject"}}).encode()
    reader = lambda path: load(path, {"base": BASE, "data": DATA})  # noqa: E731
    assert _refusals(tmp_path, valid, ".yaml", reader, ParamsError, seed=3) > CASES
