"""inpaint.methods: which method a name stands for (baseline, trained or pretrained model, checkpoint path), loaded ready to fill."""
from pathlib import Path

import numpy as np
import pytest
import torch

from inpaint.checkpoints import load_checkpoint, save_checkpoint
from inpaint.methods import method_source, resolve_method
from inpaint.models import build_generator
from testkit import holed_images as _data
from testkit import tiny_checkpoint as _checkpoint


def test_trained_method_is_rebuilt_from_its_checkpoint(tmp_path):
    model = _checkpoint(tmp_path)
    images, masks = _data()
    method = resolve_method("tiny", tmp_path, "cpu")
    fill, loaded = method.fill, method.model
    assert not loaded.training and method.checkpoint == tmp_path / "tiny" / "best.pt" and method.start == "hybrid"
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    m = torch.from_numpy(masks)[:, None]
    with torch.no_grad():
        expected = (m * model.eval()(x, m)["pred"] + (1 - m) * x).permute(0, 2, 3, 1).numpy()
    assert np.allclose(fill(images, masks), expected, atol=1e-6)


def test_unknown_method_lists_the_baselines_and_says_a_checkpoint_path_works(tmp_path):
    with pytest.raises(ValueError, match=r"'nope' is neither a baseline \(.*hybrid.*telea.*\) nor a checkpoint: "
                                         r"give a checkpoint path") as e:
        resolve_method("nope", tmp_path)
    assert "train.models" not in str(e.value)
    with pytest.raises(ValueError, match="checkpoint .*missing.pt not found"):
        resolve_method(str(tmp_path / "missing.pt"), tmp_path)


def test_a_checkpoint_path_is_that_file_whatever_its_folder_is_called(tmp_path):
    model = _checkpoint(tmp_path, "lama")
    other = build_generator("autoencoder", width=8, n_down=2, max_width=16, n_mid=1)
    ckpt = load_checkpoint(tmp_path / "lama/best.pt")
    for p in other.parameters():
        torch.nn.init.normal_(p, 0, 0.1)
    save_checkpoint(tmp_path / "lama/last.pt", {**ckpt, "state": other.state_dict()})
    save_checkpoint(tmp_path / "telea/best.pt", {**ckpt, "state": other.state_dict()})
    assert method_source(str(tmp_path / "lama/last.pt"), tmp_path) == tmp_path / "lama/last.pt"
    assert method_source(str(tmp_path / "telea/best.pt"), tmp_path) == tmp_path / "telea/best.pt"
    assert method_source("telea", tmp_path) is None  # a bare registered name is the baseline
    assert method_source("lama", tmp_path) == tmp_path / "lama/best.pt"
    images, masks = _data()
    last = resolve_method(str(tmp_path / "lama/last.pt"), tmp_path, "cpu")
    best = resolve_method("lama", tmp_path, "cpu")
    in_telea = resolve_method(str(tmp_path / "telea/best.pt"), tmp_path, "cpu")
    assert last.model is not None and in_telea.model is not None
    assert not np.allclose(last.fill(images, masks), best.fill(images, masks))
    assert np.allclose(in_telea.fill(images, masks), last.fill(images, masks), atol=1e-6)
    assert np.allclose(best.fill(images, masks), resolve_method("hybrid", tmp_path).fill(images, masks), atol=1e-5)
    del model


def test_a_model_name_means_the_same_from_any_folder_and_two_of_a_name_are_an_error(tmp_path, monkeypatch):
    from inpaint import methods
    from inpaint.methods import available_methods, model_folders

    project, elsewhere = tmp_path / "project", tmp_path / "photos"
    _checkpoint(project / "models", "tiny")
    elsewhere.mkdir()
    monkeypatch.setattr(methods, "PROJECT_MODELS", project / "models")
    monkeypatch.chdir(elsewhere)  # no ./models here: the project's
    assert model_folders(None) == [project / "models"]
    assert method_source("tiny", None) == project / "models/tiny/best.pt"
    assert {"name": "tiny", "kind": "trained", "samples": False} in available_methods()
    _checkpoint(elsewhere / "models", "tiny")  # another model of that name, here
    with pytest.raises(ValueError, match=r"'tiny' names two trained models, models/tiny/best.pt and .*project/"
                                         r"models/tiny/best.pt; give the path of the one you mean"):
        method_source("tiny", None)
    assert method_source("tiny", "models") == Path("models/tiny/best.pt")  # a folder given: that one only
    monkeypatch.chdir(project)  # in the project, ./models is the project's: one folder, no ambiguity
    assert model_folders(None) == [Path("models")] and method_source("tiny", None) == Path("models/tiny/best.pt")


def test_the_names_known_before_torch_loads_are_the_registries_keys():
    from inpaint.baselines import BASELINES
    from inpaint.models import GENERATORS
    from inpaint.names import BASELINE_NAMES, FILL_NAMES, GENERATOR_NAMES
    from inpaint.start_fills import FILLS

    assert BASELINE_NAMES == tuple(BASELINES) and GENERATOR_NAMES == tuple(GENERATORS)
    assert FILL_NAMES == tuple(FILLS)


def test_help_lists_the_methods_without_importing_torch_or_numba():
    import subprocess
    import sys

    code = ("import sys\nfrom inpaint.cli import main\ntry:\n    main(['fill', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted(m for m in ('torch', 'numba', 'cv2', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    from inpaint.pretrained import pins

    shipped = ", ".join(f"pretrained/{name.removesuffix('.safetensors')}" for name in sorted(pins()))
    assert "baselines:   biharmonic, fade, hybrid," in out and f"pretrained:  {shipped}\n" in out  # every shipped model
    assert "pretrained/lama," in shipped and "pretrained/deepfill" in shipped
    assert out.strip().endswith("LOADED []")


def test_a_diffusion_fill_runs_without_importing_torch_or_numba(tmp_path):
    import subprocess
    import sys

    import numpy as np

    from inpaint.atomic import write_png

    write_png(tmp_path / "p.png", np.random.default_rng(0).random((32, 32, 3)).astype(np.float32))
    hole = np.zeros((32, 32), np.float32)
    hole[8:20, 8:20] = 1
    write_png(tmp_path / "m.png", hole)
    code = (f"import sys\nfrom inpaint.cli import main\nmain(['fill', '--method', 'telea', '--image', {str(tmp_path / 'p.png')!r}, "
            f"'--mask', {str(tmp_path / 'm.png')!r}, '--out', {str(tmp_path / 'o.png')!r}, '--quiet'])\n"
            "print('LOADED', sorted(m for m in ('torch', 'numba') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("LOADED []") and (tmp_path / "o.png").is_file()
