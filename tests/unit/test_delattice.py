"""inpaint.delattice: the local 8-px lattice of a fill is taken out of the hole, texture that does not repeat on the
grid is left, known pixels are never touched; `inpaint fill --delattice` and its refusal."""
import numpy as np
import pytest
import torch

from inpaint.delattice import _component, delattice, delatticed, lattice_component
from inpaint.lattice import lattice
from inpaint.methods import Method
from testkit import cli, randomise_heads, save_mask, save_photo


def scene(h=160, w=200, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([0.3 + 0.4 * xx / w, 0.5 + 0.2 * yy / h, 0.6 - 0.3 * xx / w], -1)  # smooth, no period 8
    grid = 0.04 * np.cos(2 * np.pi * xx / 8) * np.cos(2 * np.pi * yy / 8) + 0.03 * np.sin(2 * np.pi * (xx + 2) / 8)
    mask = np.zeros((h, w), np.float32)
    mask[30:140, 40:170] = 1
    known = np.clip(base + 0.05 * rng.standard_normal(base.shape), 0, 1)
    return base, grid[..., None], known.astype(np.float32), mask


def test_a_lattice_in_the_hole_is_taken_out_and_known_pixels_stay():
    base, grid, known, mask = scene()
    hole = mask[..., None] > 0.5
    fill = np.where(hole, base + grid, known).astype(np.float32)
    out = delattice(fill[None], mask[None])[0]
    assert out.dtype == np.float32 and out.shape == fill.shape
    assert np.array_equal(out[~hole[..., 0]], fill[~hole[..., 0]])  # known pixels bit for bit
    start = np.where(hole, base, known)
    assert lattice(fill[None], start[None], mask[None]) > 50  # a lattice by the score (about 1: none)
    residual = np.abs(out - base).max(-1)
    assert residual[50:120, 60:150].max() < 0.01 * np.abs(grid).max()  # gone, the smooth fill kept
    # to the hole's edges too; only its corners, where not all 64 phases have enough cells, keep some
    assert (residual[mask > 0] < 0.01 * np.abs(grid).max()).mean() > 0.95


def test_the_grid_goes_and_texture_over_it_stays():
    base, grid, known, mask = scene()
    texture = 0.05 * np.random.default_rng(2).standard_normal(base.shape)
    hole = mask[..., None] > 0.5
    fill = np.where(hole, base + texture + grid, known).astype(np.float32)
    out = delattice(fill[None], mask[None])[0]
    inner = (slice(50, 120), slice(60, 150))
    left = (out - base - texture)[inner]  # what is left of the grid, plus what was taken from the texture
    assert np.abs(left).mean() < 0.5 * np.abs(grid[inner]).mean()  # the rest: the texture averaged over 25 cells


def test_a_sharp_edge_in_the_fill_leaves_no_echo():
    base, _, known, mask = scene()
    hole = mask[..., None] > 0.5
    stripe = np.zeros(base.shape)
    stripe[84:88, :, 0] = 0.3  # a bright straight stripe across the fill, within one row of cells (and under 1)
    fill = np.where(hole, base + stripe, known).astype(np.float32)
    change = np.abs(delattice(fill[None], mask[None])[0] - fill).max(-1)
    # a mean over the cells would take an 8-px share of the stripe as lattice and subtract it up to 16 px away;
    # the median (where all 25 cells are a period inside the hole, here x 64-145) takes none
    assert change[50:120, 66:144].max() < 0.01 * 0.3


def test_texture_that_does_not_repeat_on_the_grid_is_left():
    base, _, known, mask = scene()
    rng = np.random.default_rng(1)
    texture = 0.08 * rng.standard_normal(base.shape)
    hole = mask[..., None] > 0.5
    fill = np.where(hole, base + texture, known).astype(np.float32)
    change = np.abs(delattice(fill[None], mask[None])[0] - fill)[hole[..., 0]]
    assert change.mean() < 0.1 * np.abs(texture).mean()  # the Wiener gain keeps averaged noise out


def test_a_small_hole_is_not_touched():
    base, grid, known, _ = scene()
    small = np.zeros(base.shape[:2], np.float32)
    small[60:84, 70:94] = 1  # 24 px square: one cell a period inside it, too few to tell a grid from texture
    fill = np.where(small[..., None] > 0.5, base + grid, known).astype(np.float32)
    assert not lattice_component(fill, small).any()


def test_a_hole_thinner_than_two_periods_is_not_touched_and_a_batch_equals_its_photos():
    base, grid, known, mask = scene()
    thin = np.zeros_like(mask)
    thin[40:56, 20:180] = 1  # 16 px tall: no pixel a period inside it
    fill = np.where(thin[..., None] > 0.5, base + grid, known).astype(np.float32)
    assert not lattice_component(fill, thin).any()
    fills = np.stack([np.where(mask[..., None] > 0.5, base + grid, known), fill]).astype(np.float32)
    both = delattice(fills, np.stack([mask, thin]))
    assert np.array_equal(both[0], delattice(fills[:1], mask[None])[0]) and np.array_equal(both[1], fill)


def per_phase(fill, mask, period=8, cells=5, min_cells=4):
    """The filter written plainly, one phase at a time with a median filter over every cell (how it was first
    written, 64x slower): the reference the one-pass version must equal."""
    from scipy.ndimage import binary_erosion, median_filter, uniform_filter

    hole = mask > 0.5
    inner = binary_erosion(binary_erosion(hole, np.ones((2 * period + 1, 1), bool)), np.ones((1, 2 * period + 1), bool))
    inner = inner[..., None].astype(np.float32)
    detail = fill - uniform_filter(fill, size=(period, period, 1), mode="reflect")
    mean, noise = np.zeros_like(fill), np.zeros_like(fill)
    known = np.zeros(fill.shape[:2] + (1,), np.float32)
    box, n = (cells, cells, 1), cells * cells
    for py in range(period):
        for px in range(period):
            d, w = detail[py::period, px::period], inner[py::period, px::period]
            weight = uniform_filter(w, size=box, mode="constant") * cells * cells
            m = uniform_filter(d * w, size=box, mode="constant") * cells * cells / np.maximum(weight, 1e-6)
            sq = uniform_filter(d * d * w, size=box, mode="constant") * cells * cells / np.maximum(weight, 1e-6)
            enough = weight >= min_cells - 1e-3
            med = median_filter(d, size=box, mode="nearest")
            mean[py::period, px::period] = np.where(enough, np.where(weight >= n - 1e-3, med, m), 0.0)
            noise[py::period, px::period] = np.where(
                enough, np.pi / 2 * np.maximum(sq - m * m, 0.0) / np.maximum(weight - 1, 1), 0.0)
            known[py::period, px::period] = enough
    whole = uniform_filter(known, size=(period, period, 1), mode="constant") > 1 - 1e-3
    pattern = (mean - uniform_filter(mean, size=(period, period, 1), mode="reflect")) * whole
    power = uniform_filter(pattern * pattern, size=(period, period, 1), mode="reflect")
    spread = uniform_filter(noise, size=(period, period, 1), mode="reflect")
    gain = np.clip(1.0 - spread / np.maximum(power, 1e-12), 0.0, 1.0)
    return (pattern * gain * hole[..., None]).astype(fill.dtype)


@pytest.mark.parametrize("box", [(30, 140, 40, 170), (3, 90, 150, 200), (101, 157, 13, 97), (50, 59, 60, 69)])
def test_the_pattern_computed_around_the_hole_equals_the_one_computed_on_the_whole_fill(box):
    base, grid, known, _ = scene(h=260, w=330)
    mask = np.zeros(known.shape[:2], np.float32)
    y0, y1, x0, x1 = box
    mask[y0:y1, x0:x1] = 1
    mask[y0 + 5:y0 + 9, x0:x1] = 0  # a hole of two parts
    fill = np.where(mask[..., None] > 0.5, base + grid + 0.02 * np.sin(known * 40), known).astype(np.float32)
    whole = _component(fill, mask, 8, 5)
    assert np.array_equal(lattice_component(fill, mask), whole)
    assert np.array_equal(whole, per_phase(fill, mask))  # and the one pass equals the plain per-phase filter
    assert whole.any() == (box != (50, 59, 60, 69))  # a small hole: nothing estimated


def test_delatticed_wraps_a_network_and_refuses_a_classical_method(tmp_path):
    from inpaint.methods import resolve_method

    with pytest.raises(ValueError, match="telea is a classical method"):
        delatticed(resolve_method("telea", tmp_path))
    base, grid, known, mask = scene()
    net = Method("net", lambda i, m: np.where(m[..., None] > 0.5, base + grid, i).astype(np.float32),
                 model=torch.nn.Identity())
    out = delatticed(net).fill(known[None], mask[None])
    assert np.array_equal(out, delattice(net.fill(known[None], mask[None]), mask[None]))


def test_fill_takes_the_lattice_out_of_a_network_s_fill_by_default_and_refuses_it_for_a_classical_method(
        tmp_path, capsys, monkeypatch):
    from inpaint.checkpoints import CHECKPOINT_FORMAT, save_checkpoint
    from inpaint.io import read_rgb8
    from inpaint.models import build_generator

    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    kwargs = {"width": 8, "n_down": 3, "max_width": 16, "n_blocks": 1}
    model = build_generator("lama", **kwargs)
    randomise_heads(model)
    save_checkpoint(tmp_path / "models" / "tiny" / "best.pt",
                    {"format": CHECKPOINT_FORMAT, "arch": "lama", "kwargs": kwargs, "state": model.state_dict()})
    save_photo(tmp_path / "p.png", size=(96, 80))
    save_mask(tmp_path / "m.png", box=(10, 70, 15, 85), size=(96, 80))
    mask = np.zeros((80, 96), bool)
    mask[10:70, 15:85] = True
    args = ["fill", "--checkpoints", "models", "--image", "p.png", "--mask", "m.png"]
    cli(tmp_path, capsys, [*args, "--method", "tiny", "--out", "d.png"], 0, new={"d.png"})
    cli(tmp_path, capsys, [*args, "--method", "tiny", "--delattice", "--out", "on.png"], 0, new={"on.png"})
    cli(tmp_path, capsys, [*args, "--method", "tiny", "--no-delattice", "--out", "plain.png"], 0, new={"plain.png"})
    d, plain = read_rgb8(tmp_path / "d.png"), read_rgb8(tmp_path / "plain.png")
    assert np.array_equal(d, read_rgb8(tmp_path / "on.png"))
    assert d.shape == plain.shape and np.array_equal(d[~mask], plain[~mask]) and not np.array_equal(d, plain)
    cli(tmp_path, capsys, [*args, "--method", "telea", "--out", "t.png"], 0, new={"t.png"})  # classical: as it is
    cli(tmp_path, capsys, [*args, "--method", "telea", "--no-delattice", "--out", "t2.png"], 0, new={"t2.png"})
    assert np.array_equal(read_rgb8(tmp_path / "t.png"), read_rgb8(tmp_path / "t2.png"))
    cli(tmp_path, capsys, [*args, "--method", "telea", "--delattice", "--out", "o.png"], 2,
        "--delattice takes the 8-px lattice out.*telea is a classical method")


def test_every_draw_of_a_sampling_model_is_delatticed(tmp_path, capsys, monkeypatch):
    import inpaint.delattice as module
    from inpaint.checkpoints import CHECKPOINT_FORMAT, save_checkpoint
    from inpaint.models import build_generator

    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    kwargs = {"width": 4, "n_down": 3, "max_width": 8, "latent_channels": 2, "n_mid": 1}
    save_checkpoint(tmp_path / "models" / "v" / "best.pt", {"format": CHECKPOINT_FORMAT, "arch": "vae", "kwargs": kwargs,
                                                            "state": build_generator("vae", **kwargs).state_dict()})
    save_photo(tmp_path / "p.png", size=(64, 48))
    save_mask(tmp_path / "m.png")
    calls = []
    real = module.delattice
    monkeypatch.setattr(module, "delattice", lambda fills, masks: calls.append(len(fills)) or real(fills, masks))
    cli(tmp_path, capsys, ["fill", "--method", "v", "--checkpoints", "models", "--image", "p.png", "--mask", "m.png",
                           "--samples", "2", "--out", "o.png"], 0, new={"o-seed0.png", "o-seed1.png"})
    assert calls == [1, 1]  # one photo, once per draw
    cli(tmp_path, capsys, ["fill", "--method", "v", "--checkpoints", "models", "--image", "p.png", "--mask", "m.png",
                           "--samples", "2", "--no-delattice", "--out", "r.png"], 0, new={"r-seed0.png", "r-seed1.png"})
    assert calls == [1, 1]


def test_the_benches_fill_as_inpaint_fill_does_and_raw_turns_the_lattice_removal_off(monkeypatch):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "fullres.py"
    spec = importlib.util.spec_from_file_location("bench_fullres", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.split_suffix("pretrained/lama_fullres+raw") == ("pretrained/lama_fullres", "+raw")
    assert bench.NET_OPTIONS["+raw"] == ["--no-delattice"]
    spec = importlib.util.spec_from_file_location("bench_fill_speed", path.with_name("fill_speed.py"))
    speed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(speed)
    assert speed.fill_args("pretrained/lama_fullres+raw") == ["--method", "pretrained/lama_fullres", "--no-delattice"]
    assert speed.fill_args("pretrained/lama_fullres") == ["--method", "pretrained/lama_fullres"]
    # the network call it times: the product's (lattice removal on) unless +raw
    wrapped = []
    monkeypatch.setattr(speed, "as_filled", lambda m, choice: wrapped.append(choice) or m)
    monkeypatch.setattr(speed, "resolve_method", lambda *a, **k: Method("net", lambda i, m: i, model=torch.nn.Identity()))

    class Wrapped(Exception):
        """Raised where the timing would start reading its photo: the method is wrapped by then."""

    monkeypatch.setattr(speed, "read_image", lambda path: (_ for _ in ()).throw(Wrapped()))
    for spec_name, expected in (("pretrained/lama_fullres", None), ("pretrained/lama_fullres+raw", False)):
        with pytest.raises(Wrapped):
            speed.forward_time(spec_name, Path("unused"), "cpu")
        assert wrapped.pop() is expected
