"""inpaint export: TorchScript and ONNX programs equal to the PyTorch fill, at their one size."""
import json

import numpy as np
import pytest
import torch
from testkit import randomise_heads

from inpaint.checkpoints import CHECKPOINT_FORMAT, predict, save_checkpoint
from inpaint.cli import main
from inpaint.export import check_photos, run_onnx, run_torchscript
from inpaint.models import build_generator

TINY = {"lama": {"width": 8, "n_down": 2, "n_blocks": 1}, "autoencoder": {"width": 8, "n_down": 2, "max_width": 16, "n_mid": 1},
        "deepfill": {"width": 4, "n_down": 2, "max_width": 8, "dilations": [2]}}


@pytest.fixture(params=sorted(TINY))
def checkpoint(request, tmp_path):
    arch = request.param
    model = build_generator(arch, **TINY[arch])
    randomise_heads(model)  # so the network's output shows in the fill
    path = tmp_path / arch / "best.pt"
    save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "arch": arch, "kwargs": TINY[arch], "state": model.state_dict()})
    return path, model.eval()


@pytest.mark.parametrize("fmt,run", [("torchscript", run_torchscript), ("onnx", run_onnx)])
def test_an_export_fills_as_pytorch_does_on_real_photos(checkpoint, tmp_path, capsys, fmt, run):
    ckpt, model = checkpoint
    out = tmp_path / f"model.{'pt' if fmt == 'torchscript' else 'onnx'}"
    assert main(["export", "--method", str(ckpt), "--out", str(out), "--format", fmt, "--size", "96x64"]) == 0
    assert "largest difference" in capsys.readouterr().out
    info = json.loads(out.with_name(out.name + ".json").read_text())
    assert info["inputs"]["image"] == [1, 3, 64, 96] and info["check"]["max_abs_error"] <= 1e-3
    images, masks = check_photos((64, 96), n=4, seed=3)  # other photos and holes than the export's own check
    expected = predict(model, images, masks, torch.device("cpu"))
    got = run(out, images, masks)
    assert np.abs(got - expected).max() <= 1e-3
    assert np.abs(expected - images).max() > 0.01  # the check means something: the fill changed the holes
    assert np.array_equal(got[masks == 0], images[masks == 0]) or np.abs(got - images)[masks == 0].max() < 1e-6


def test_a_torchscript_program_refuses_another_size(checkpoint, tmp_path):
    ckpt, _ = checkpoint
    out = tmp_path / "m.pt"
    assert main(["export", "--method", str(ckpt), "--out", str(out), "--size", "64", "-q"]) == 0
    images, masks = check_photos((64, 96), n=1)
    with pytest.raises(Exception, match="fills 64x64"):
        run_torchscript(out, images, masks)


@pytest.mark.parametrize("args,message", [
    (["--method", "telea"], "classical baseline, not a network"),
    (["--size", "16"], "--size: 16: each side must be between 32 and 4096"),
    (["--size", "big"], "'big' is not a size"),
    (["--out-name", "x.json"], "a torchscript file ends in .pt or .ts"),
])
def test_bad_exports_are_refused_in_one_line(checkpoint, tmp_path, capsys, args, message):
    ckpt, _ = checkpoint
    out = tmp_path / (args[1] if args[0] == "--out-name" else "x.pt")
    args = [] if args[0] == "--out-name" else args
    argv = ["export", "--method", str(ckpt), "--out", str(out), *args]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse refuses a bad --size itself
        code = e.code
    assert code == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_an_export_never_replaces_its_checkpoint(checkpoint, capsys):
    ckpt, _ = checkpoint
    before = ckpt.read_bytes()
    assert main(["export", "--method", str(ckpt), "--out", str(ckpt)]) == 2
    assert "is the checkpoint being exported" in capsys.readouterr().err and ckpt.read_bytes() == before

