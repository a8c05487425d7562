"""inpaint.checkpoints: self-describing checkpoints, read without unpickling code; devices by name."""
import os

import pytest
import torch

from inpaint import checkpoints
from inpaint.checkpoints import generator_from_checkpoint, load_checkpoint, save_checkpoint


def test_checkpoint_round_trip_is_weights_only(tmp_path):
    payload = {"arch": "x", "state": {"w": torch.arange(3.0)}, "step": 4, "log": [{"a": 1.5}]}
    save_checkpoint(tmp_path / "c.pt", payload)
    back = load_checkpoint(tmp_path / "c.pt")
    assert back["step"] == 4 and torch.equal(back["state"]["w"], torch.arange(3.0)) and back["log"] == [{"a": 1.5}]

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="not a readable inpaint checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    (tmp_path / "trunc.pt").write_bytes((tmp_path / "c.pt").read_bytes()[:50])
    with pytest.raises(ValueError, match="not a readable"):
        load_checkpoint(tmp_path / "trunc.pt")
    save_checkpoint(tmp_path / "nogen.pt", {"step": 1})
    with pytest.raises(ValueError, match="lacks 'arch'"):
        generator_from_checkpoint(tmp_path / "nogen.pt")
    save_checkpoint(tmp_path / "old.pt", {"format": 1, "arch": "lama", "kwargs": {}, "state": {}})
    with pytest.raises(ValueError, match=r"format 1.*dvc repro -f train@lama"):
        generator_from_checkpoint(tmp_path / "old.pt")


def test_pick_device():
    assert checkpoints.pick_device("cpu").type == "cpu"
    assert checkpoints.pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_every_reader_of_a_training_checkpoint_checks_it_alike(tmp_path):
    """Filling with a .pt and fine-tuning from one refuse the same files with the same reason (another
    format, missing keys, non-finite weights): one reader, read_generator_checkpoint."""
    from inpaint.pretrained import init_state
    from testkit import tiny_checkpoint

    model = tiny_checkpoint(tmp_path, "m")
    good = load_checkpoint(tmp_path / "m/best.pt")
    cases = {
        "old": ({**good, "format": 1}, "checkpoint format 1, this inpaint reads format"),
        "nokw": ({k: v for k, v in good.items() if k != "kwargs"}, "checkpoint lacks 'kwargs'"),
        "nan": ({**good, "state": {**good["state"], next(iter(good["state"])): torch.full_like(
            next(iter(good["state"].values())), float("nan"))}}, "hold NaN or infinity"),
    }
    for name, (payload, reason) in cases.items():
        path = tmp_path / f"{name}.pt"
        save_checkpoint(path, payload)
        with pytest.raises(ValueError, match=reason):
            generator_from_checkpoint(path)
        with pytest.raises(ValueError, match=f"init_from {path}: .*{reason}"):
            init_state(path)
    assert init_state(tmp_path / "m/best.pt")["arch"] == "autoencoder"
    del model
