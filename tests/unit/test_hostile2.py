"""Issue 24's hostile input, round two: one test per case found, and generated sets for the open-ended
families (`pytest -m hostile2`). Each asserts the message (or the right result) and that nothing but
the named output changed."""
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from safetensors.torch import save_file
from testkit import changed, cli, save_mask, save_photo, snapshot, user_folder

from inpaint.checkpoints import CHECKPOINT_FORMAT, generator_from_checkpoint, save_checkpoint
from inpaint.fill import plan_jobs
from inpaint.io import check_apart, list_images, read_exact, read_rgb8
from inpaint.masks import import_external
from inpaint.models import build_generator
from inpaint.params import ParamsError, _Loader, load, name
from inpaint.pretrained import load_generator, read

ROOT = Path(__file__).resolve().parents[2]
W, H = 64, 48
TINY = {"width": 4, "n_down": 2, "max_width": 8}
pytestmark = pytest.mark.hostile2


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return user_folder(tmp_path)


def run_cli(*args, timeout=120, **kw):
    return subprocess.run([sys.executable, "-m", "inpaint.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kw)


# ------------------------------------------------------------------------------------------------
# 1. Data loss: no writer replaces its inputs


@pytest.mark.parametrize("target", ["pred/a.png", "gt/a.png", "masks/a.png"])
@pytest.mark.parametrize("layout", ["files", "folders"])
def test_score_csv_never_replaces_an_input(ws, capsys, target, layout):
    args = ["score", "gt/a.png", "pred/a.png", "--masks", "masks/a.png"] if layout == "files" else \
        ["score", "gt", "pred", "--masks", "masks"]
    kind = {"pred": "prediction", "gt": "ground truth", "masks": "mask"}[target.split("/")[0]]
    cli(ws, capsys, [*args, "--csv", target], 2, rf"--csv {target} is an input \({kind}\)")


@pytest.mark.parametrize("csv,message", [("gt", "is a folder"), ("scores.png", "an image extension")])
def test_score_csv_must_be_a_csv_file(ws, capsys, csv, message):
    cli(ws, capsys, ["score", "gt/a.png", "pred/a.png", "--csv", csv], 2, message)
    cli(ws, capsys, ["score", "gt/a.png", "pred/a.png", "--csv", "scores.csv"], 0, new={"scores.csv"})


@pytest.mark.parametrize("relation", ["same", "inside", "holds"])
def test_a_stage_input_folder_apart_from_its_output(tmp_path, relation):
    out = tmp_path / "data" / "masks"
    source = {"same": out, "inside": out / "ext", "holds": tmp_path / "data"}[relation]
    with pytest.raises(ValueError, match="masks.external.path=.*this stage's output folder"):
        check_apart(source, out, "masks.external.path")
    check_apart(tmp_path / "elsewhere", out, "masks.external.path")  # apart: fine


def test_the_masks_stage_refuses_an_external_folder_inside_its_output(tmp_path):
    out = tmp_path / "data" / "masks"
    ext = out / "mine"
    save_mask(ext / "a.png", size=(64, 64))
    before = snapshot(tmp_path)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["masks"]["external"]["path"] = str(ext)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    p = subprocess.run([sys.executable, str(ROOT / "stages" / "masks.py"), "--params", "params.yaml", "--out",
                        str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "masks.external.path=" in p.stderr and "output folder" in p.stderr, p.stderr
    assert changed(before, snapshot(tmp_path)) == {"params.yaml"}


# ------------------------------------------------------------------------------------------------
# 2, 3. External masks: held to the bounds, never a photo, never a path out of the folder


def test_external_masks_outside_the_bounds_are_left_out_with_a_warning(tmp_path, capsys):
    src, rng = tmp_path / "ext", np.random.default_rng(0)
    ratios = {}
    for i in range(30):  # a generated set: no hole, all hole, and ratios over the whole range
        m = np.zeros((64, 64), np.uint8)
        side = [0, 64, *rng.integers(1, 64, 28)][i]
        m[:side, :side] = 255
        Image.fromarray(m).save(src / f"m{i:02d}.png") if src.exists() else (src.mkdir(), Image.fromarray(m).save(
            src / f"m{i:02d}.png"))
        ratios[f"m{i:02d}"] = side * side / 64**2
    table = import_external(tmp_path / "out", src, "white_hole", 64, min_ratio=0.05, max_ratio=0.7)
    kept = {r.id.removeprefix("external_") for r in table.itertuples()}
    assert kept == {k for k, r in ratios.items() if 0.05 <= r <= 0.7 and 0 < r < 1}
    assert "m00" not in kept and "m01" not in kept  # no hole; all hole
    err = capsys.readouterr().err
    assert f"{30 - len(kept)} of 30 masks" in err and "left out" in err
    assert sorted(p.stem for p in (tmp_path / "out").iterdir()) == sorted(f"external_{k}" for k in kept)


def test_no_hole_and_all_hole_masks_are_left_out_whatever_the_bounds(tmp_path, capsys):
    src = tmp_path / "ext"
    for name_, value in (("none", 0), ("all", 255)):
        save_mask(src / f"{name_}.png", box=(0, 0, 0, 0), size=(32, 32))
        Image.fromarray(np.full((32, 32), value, np.uint8)).save(src / f"{name_}.png")
    save_mask(src / "ok.png", box=(0, 16, 0, 16), size=(32, 32))
    table = import_external(tmp_path / "out", src, "white_hole", 32, min_ratio=0.0, max_ratio=1.0)
    assert list(table.id) == ["external_ok"]
    with pytest.raises(ValueError, match="none of its 2 masks"):
        (src / "ok.png").unlink()
        import_external(tmp_path / "out2", src, "white_hole", 32)


def test_a_folder_of_photos_is_not_a_folder_of_masks(tmp_path):
    for i in range(3):
        save_photo(tmp_path / "photos" / f"p{i}.png", size=(64, 64), seed=i)
    with pytest.raises(ValueError, match=r"p0.png: not a black-and-white mask \(\d+% of its pixels are grey\)"):
        import_external(tmp_path / "out", tmp_path / "photos", "white_hole", 32)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["../../x/TRAV", "a/b", "..", ".hidden", "x y", "名前", "k" * 65, "", "a.b"])
def test_an_external_kind_is_a_plain_name(tmp_path, kind):
    save_mask(tmp_path / "ext" / "a.png", size=(32, 32))
    with pytest.raises(ParamsError, match="masks.external.kind is .*use a name of letters, digits"):
        name(kind, "masks.external.kind")
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="masks.external.kind"):
        import_external(tmp_path / "out", tmp_path / "ext", "white_hole", 32, kind=kind)
    assert changed(before, snapshot(tmp_path)) == set()


def test_external_masks_that_differ_only_by_extension_collide(tmp_path):
    save_mask(tmp_path / "ext" / "a.png", size=(32, 32))
    save_mask(tmp_path / "ext" / "a.jpg", size=(32, 32))
    with pytest.raises(ValueError, match=r"a.jpg and .*a.png have the same name without extension"):
        import_external(tmp_path / "out", tmp_path / "ext", "white_hole", 32)


# ------------------------------------------------------------------------------------------------
# 4. Symbolic-link loops and special files: listed once or skipped, never a hang


@pytest.fixture
def looped(tmp_path):
    root = tmp_path / "photos"
    save_photo(root / "a.png", size=(W, H), seed=1)
    save_photo(root / "sub" / "b.png", size=(W, H), seed=2)
    os.symlink("..", root / "sub" / "up")  # one loop
    os.symlink(".", root / "self")  # and a second
    os.symlink("../sub", root / "sub" / "again")  # a link back into a folder being listed
    return root


def test_a_link_loop_lists_each_photo_once(looped):
    warnings = []
    found = list_images(looped, warn=warnings.append)
    assert [p.relative_to(looped).as_posix() for p in found] == ["a.png", "sub/b.png"]
    assert warnings and all("already listed" in w for w in warnings)


def test_fill_over_a_link_loop_writes_one_output_per_photo(looped, tmp_path, capsys):
    save_mask(tmp_path / "mask.png")
    cli(tmp_path, capsys, ["fill", "--method", "telea", "--image", looped, "--mask", tmp_path / "mask.png",
                           "--out", tmp_path / "out", "-q"], 0, new={"out", "out/a.png", "out/sub", "out/sub/b.png"})


def test_the_data_stage_lists_a_looped_folder_once(looped):
    from inpaint.sources import build_manifest

    manifest, skipped = build_manifest(str(looped), looped.parent / "prepared", 32)
    assert sorted(manifest.id) == ["a", "sub/b"]


@pytest.mark.parametrize("special", ["fifo", "device"])
def test_special_files_named_like_photos_are_skipped_or_refused(tmp_path, special):
    photos = tmp_path / "photos"
    save_photo(photos / "a.png", size=(W, H))
    if special == "fifo":
        os.mkfifo(photos / "b.png")
    else:
        os.symlink("/dev/zero", photos / "b.png")
    save_mask(tmp_path / "mask.png")
    p = run_cli("fill", "--method", "telea", "--image", photos, "--mask", tmp_path / "mask.png", "--out",
                tmp_path / "out", "-q", timeout=120)
    assert p.returncode == 0 and "b.png: not a regular file" in p.stderr, p.stderr
    assert sorted(x.name for x in (tmp_path / "out").iterdir()) == ["a.png"]
    for role in ("--image", "--mask"):  # named directly: refused at once
        args = {"--image": photos / "a.png", "--mask": tmp_path / "mask.png"} | {role: photos / "b.png"}
        p = run_cli("fill", "--method", "telea", "--image", args["--image"], "--mask", args["--mask"], "--out",
                    tmp_path / "o.png", timeout=120)
        assert p.returncode == 2 and "b.png: not a regular file" in p.stderr, p.stderr
        assert not (tmp_path / "o.png").exists()


# ------------------------------------------------------------------------------------------------
# 5, 6. Weights: every pretrained file's hash is checked; non-finite or mislabelled weights refused in one line


def export_tiny(path: Path, arch="autoencoder", kwargs=None, state=None, pin=False, card=False, meta=None):
    from inpaint.pretrained import export, sha256

    model = build_generator(arch, **(kwargs or TINY))
    state = state if state is not None else model.state_dict()
    digest = export(path, arch, kwargs or TINY, state)
    if meta is not None:  # rewrite with foreign metadata
        save_file({f"gen.{k}": v.half() if v.is_floating_point() else v for k, v in state.items()}, str(path),
                  metadata=meta)
        digest = sha256(path)
    if pin:
        (path.parent / "SHA256SUMS").write_text(f"{digest}  {path.name}\n")
    if card:
        path.with_suffix(".json").write_text(json.dumps({"sha256": digest}))
    return path


def test_a_pretrained_folder_under_the_working_directory_is_checked_like_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    weights = export_tiny(tmp_path / "pretrained" / "mine.safetensors")
    with pytest.raises(ValueError, match="no line for it in pretrained/SHA256SUMS, so its hash cannot be checked"):
        load_generator("pretrained/mine")
    export_tiny(weights, card=True)  # a card with the right hash is not enough in a pretrained/ folder
    with pytest.raises(ValueError, match="no line for it"):
        load_generator("pretrained/mine")
    export_tiny(weights, pin=True, card=True)
    load_generator("pretrained/mine")  # pinned: loads
    elsewhere = export_tiny(tmp_path / "runs" / "x.safetensors")
    with pytest.raises(ValueError, match="and no card x.json with its sha256"):
        load_generator(str(elsewhere))
    export_tiny(elsewhere, card=True)
    load_generator(str(elsewhere))  # an export with its card: loads


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_when_loaded(tmp_path, capsys, bad):
    model = build_generator("autoencoder", **TINY)
    state = model.state_dict()
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] = state[first].clone().fill_(bad)
    export_tiny(tmp_path / "pretrained" / "nan.safetensors", state=state, pin=True)
    with pytest.raises(ValueError, match=rf"1 weight tensor\(s\) hold NaN or infinity \(first: {first}\)"):
        read(tmp_path / "pretrained" / "nan.safetensors")
    save_checkpoint(tmp_path / "m" / "best.pt", {"format": CHECKPOINT_FORMAT, "arch": "autoencoder", "kwargs": TINY,
                                                  "state": state})
    save_photo(tmp_path / "p.png", size=(W, H))
    save_mask(tmp_path / "k.png")
    cli(tmp_path, capsys, ["fill", "--method", tmp_path / "m" / "best.pt", "--image", tmp_path / "p.png", "--mask",
                           tmp_path / "k.png", "--out", tmp_path / "o.png"], 2, "hold NaN or infinity")


def test_a_checkpoint_with_a_wrong_label_or_foreign_kwargs_is_one_line(tmp_path):
    vae = {"width": 4, "n_down": 3, "max_width": 8, "latent_channels": 2, "n_mid": 1}
    state = build_generator("vae", **vae).state_dict()
    base = {"format": CHECKPOINT_FORMAT, "state": state}
    cases = {"label.pt": {"arch": "lama", "kwargs": {}}, "kwlist.pt": {"arch": "vae", "kwargs": [1, 2]},
             "shape.pt": {"arch": "vae", "kwargs": {**vae, "width": 8}}, "arch.pt": {"arch": ["vae"], "kwargs": vae}}
    for file, meta in cases.items():
        save_checkpoint(tmp_path / file, {**base, **meta})
        with pytest.raises(ValueError) as e:
            generator_from_checkpoint(tmp_path / file)
        text = str(e.value)
        assert text.startswith(str(tmp_path / file)) and "\n" not in text and len(text) < 600, text
    meta = {"arch": "autoencoder", "kwargs": "[1, 2]", "disc": "{}"}
    export_tiny(tmp_path / "pretrained" / "list.safetensors", meta=meta, pin=True)
    with pytest.raises(ValueError, match="are not a name and a mapping"):
        load_generator(tmp_path / "pretrained" / "list.safetensors")


def test_a_pickle_that_would_run_code_is_refused_without_unsafe_advice(tmp_path):
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, ("touch pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"state": Payload()}, protocol=2))
    with pytest.raises(ValueError) as e:
        generator_from_checkpoint(tmp_path / "evil.pt")
    text = str(e.value)
    assert "never loaded: they could run code" in text and "weights_only=False" not in text
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_params_nested_thousands_deep_and_syntax_errors_are_one_line(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("base: " + "[" * 20000 + "]" * 20000 + "\n")
    with pytest.raises(ParamsError, match="nested too deeply"):
        load(deep, {})
    broken = tmp_path / "broken.yaml"
    broken.write_text("base:\n  seed: 0\n  image_size: [128\nsplit:\n")
    with pytest.raises(ParamsError, match=r"not valid YAML at line \d+, column \d+: .*; fix the syntax there"):
        load(broken, {})


# ------------------------------------------------------------------------------------------------
# 7. Numbers written by hand read as numbers


@pytest.mark.parametrize("text,value", [("1e-4", 1e-4), ("1E-4", 1e-4), ("2e4", 2e4), ("-2.5e-3", -2.5e-3),
                                        ("3e+2", 300.0), ("1.5", 1.5), ("7", 7), ("1_000", 1000)])
def test_exponent_numbers_are_numbers_as_dvc_reads_them(text, value):
    got = yaml.load(f"lr_g: {text}\n", Loader=_Loader)["lr_g"]
    assert got == value and type(got) is type(value)
    assert yaml.load("a: 12e\nb: e5\n", Loader=_Loader) == {"a": "12e", "b": "e5"}  # not numbers


def test_lr_written_as_1e_4_passes_the_schema(tmp_path):
    from inpaint.training.config import params_checker

    text = (ROOT / "params.yaml").read_text().replace("lr_g: ", "lr_g: 1e-4  # ", 1)
    assert "lr_g: 1e-4  # " in text
    (tmp_path / "params.yaml").write_text(text)
    assert yaml.safe_load(text)["train"]["common"]["lr_g"] == "1e-4"  # what YAML 1.1 alone makes of it
    loaded = load(tmp_path / "params.yaml", {"train": params_checker()})
    assert loaded["train"]["common"]["lr_g"] == 1e-4


# ------------------------------------------------------------------------------------------------
# 8. Every output limit checked in planning; one size for a PNG whatever its EXIF position


def test_a_name_too_long_with_the_temporary_suffix_fails_before_any_output(tmp_path, capsys):
    photos = tmp_path / "photos"
    save_photo(photos / "a.png", size=(W, H))
    save_photo(photos / ("b" * 236 + ".png"), size=(W, H))  # fits; with ".<name>.XXXXXXXX.tmp.png" it does not
    save_mask(tmp_path / "mask.png")
    cli(tmp_path, capsys, ["fill", "--method", "telea", "--image", photos, "--mask", tmp_path / "mask.png",
                           "--out", tmp_path / "out", "-q"], 2, "name with the temporary suffix of an atomic write")


@pytest.mark.parametrize("fmt,side", [("webp", 16384), ("jpg", 65501)])
def test_a_format_s_size_limit_fails_before_any_output(tmp_path, capsys, fmt, side):
    photos = tmp_path / "photos"
    save_photo(photos / "a.png", size=(W, H))
    save_photo(photos / "wide.png", size=(side, 2))
    save_mask(photos.parent / "masks" / "a.png")
    save_mask(photos.parent / "masks" / "wide.png", box=(0, 1, 0, 8), size=(side, 2))
    cli(tmp_path, capsys, ["fill", "--method", "telea", "--image", photos, "--mask", tmp_path / "masks",
                           "--out", tmp_path / "out", "--format", fmt, "-q"], 2, r"takes at most \d+ px a side")


def png_with_late_exif(path: Path, orientation: int = 6) -> Path:
    """A PNG whose eXIf chunk (orientation) comes after its pixels."""
    save_photo(path, size=(W, H))
    data = path.read_bytes()
    exif = Image.Exif()
    exif[0x0112] = orientation
    payload = exif.tobytes()
    chunk = len(payload).to_bytes(4, "big") + b"eXIf" + payload + zlib.crc32(b"eXIf" + payload).to_bytes(4, "big")
    end = data.rindex(b"IEND") - 4
    path.write_bytes(data[:end] + chunk + data[end:])
    return path


def test_a_png_with_exif_after_its_pixels_has_one_size(tmp_path, capsys):
    photo = png_with_late_exif(tmp_path / "late.png")  # stored 64x48, upright 48x64
    save_mask(tmp_path / "upright.png", size=(H, W))
    save_mask(tmp_path / "stored.png", size=(W, H))
    cli(tmp_path, capsys, ["fill", "--method", "telea", "--image", photo, "--mask", tmp_path / "upright.png", "--out",
                           tmp_path / "o.png", "-q"], 0, new={"o.png"})
    assert Image.open(tmp_path / "o.png").size == (H, W)
    cli(tmp_path, capsys, ["fill", "--method", "telea", "--image", photo, "--mask", tmp_path / "stored.png", "--out",
                           tmp_path / "o2.png"], 2, r"mask is 64x48 but .*late.png is 48x64 upright \(its EXIF "
                                                    r"orientation turns the stored 64x48\)")


def test_an_xmp_orientation_turns_planning_reading_and_kept_pixels_alike(tmp_path, capsys):
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
    rgba = np.dstack([np.asarray(Image.open(save_photo(tmp_path / "rgb.png", size=(W, H)))),
                      np.full((H, W), 200, np.uint8)])
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp.decode())
    Image.fromarray(rgba).save(tmp_path / "xmp.png", pnginfo=info)
    upright = read_rgb8(tmp_path / "xmp.png")
    assert upright.shape == (W, H, 3)  # Pillow turns it by its XMP
    assert read_exact(tmp_path / "xmp.png").shape == (W, H, 4)
    assert np.array_equal(read_exact(tmp_path / "xmp.png")[..., :3], upright)
    save_mask(tmp_path / "m.png", size=(H, W))
    cli(tmp_path, capsys, ["fill", "--method", "telea", "--image", tmp_path / "xmp.png", "--mask", tmp_path / "m.png",
                           "--out", tmp_path / "o.png", "-q"], 0, new={"o.png"})
    out = np.asarray(Image.open(tmp_path / "o.png"))
    hole = np.asarray(Image.open(tmp_path / "m.png")) > 127
    assert out.shape == (W, H, 4) and np.array_equal(out[~hole][:, :3], upright[~hole])


# ------------------------------------------------------------------------------------------------
# 9. No leftovers: a killed run's temporary files go with the next run; SIGTERM cleans up on the way out


def test_a_killed_run_s_temporary_file_is_removed_by_the_rerun(ws, capsys):
    (ws / "out").mkdir()
    stale = ws / "out" / ".photo.png.a1b2c3d4.tmp.png"
    stale.write_bytes(b"")
    other = ws / "out" / ".notes.txt.swp"
    other.write_bytes(b"keep")  # not ours: left alone
    cli(ws, capsys, ["fill", "--method", "telea", "--image", "photo.png", "--mask", "mask.png", "--out", "out", "-q"],
        0, new={"out/photo.png", "out/.photo.png.a1b2c3d4.tmp.png"})
    assert not stale.exists() and other.exists()


def test_sigterm_during_a_folder_fill_leaves_whole_outputs_and_no_temporary_file(tmp_path):
    photos = tmp_path / "photos"
    for i in range(40):
        save_photo(photos / f"p{i:02d}.png", size=(256, 192), seed=i)
    save_mask(tmp_path / "mask.png", box=(30, 160, 40, 220), size=(256, 192))
    proc = subprocess.Popen([sys.executable, "-m", "inpaint.cli", "fill", "--method", "patch_match", "--image", photos,
                             "--mask", tmp_path / "mask.png", "--out", tmp_path / "out", "-q"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "out").glob("p*.png")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "terminated; finished outputs are complete" in err, err
    outs = sorted((tmp_path / "out").iterdir())
    assert outs and all(not p.name.startswith(".") for p in outs) and len(outs) < 40
    for p in outs:
        Image.open(p).load()  # each whole


# ------------------------------------------------------------------------------------------------
# 10. What fill keeps: transparency, 16 bits, the colour profile; warns about the rest; lists what Pillow reads


def fill_one(tmp_path, capsys, photo: Path, out: str, code=0, message=None):
    """Fill `photo` through the command into the new file `out` (a box hole)."""
    hole = tmp_path / f"hole-{Image.open(photo).size[0]}.png"
    if not hole.exists():
        save_mask(hole, size=Image.open(photo).size)
    assert not (tmp_path / out).exists()
    return cli(tmp_path, capsys, ["fill", "--method", "telea", "--image", photo, "--mask", hole, "--out",
                                  tmp_path / out], code, message, new={out} if code == 0 else ())


def hole_of(size):
    m = np.zeros((size[1], size[0]), bool)
    m[12:30, 20:44] = True
    return m


def test_transparency_is_kept_in_png_and_webp_and_named_for_jpeg(tmp_path, capsys):
    rgb = np.asarray(Image.open(save_photo(tmp_path / "rgb.png", size=(W, H))))
    alpha = np.tile(np.linspace(0, 255, W).astype(np.uint8), (H, 1))
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "clear.png")
    fill_one(tmp_path, capsys, tmp_path / "clear.png", "o.png")
    out = np.asarray(Image.open(tmp_path / "o.png"))
    hole = hole_of((W, H))
    assert out.shape == (H, W, 4) and np.array_equal(out[..., 3], alpha)  # alpha kept exactly
    assert np.array_equal(out[~hole][:, :3], rgb[~hole]) and not np.array_equal(out[hole][:, :3], rgb[hole])
    fill_one(tmp_path, capsys, tmp_path / "clear.png", "o.webp")
    assert Image.open(tmp_path / "o.webp").mode == "RGBA"
    fill_one(tmp_path, capsys, tmp_path / "clear.png", "o.jpg", 0, "JPEG has no transparency, so .*o.jpg drops it")
    assert Image.open(tmp_path / "o.jpg").mode == "RGB"


def test_sixteen_bits_are_kept_in_png_and_named_elsewhere(tmp_path, capsys):
    import cv2

    rng = np.random.default_rng(0)
    deep = (rng.integers(0, 65536, (H, W, 3))).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep[..., ::-1])
    fill_one(tmp_path, capsys, tmp_path / "deep.png", "o.png")
    out = cv2.imread(str(tmp_path / "o.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    hole = hole_of((W, H))
    assert out.dtype == np.uint16 and np.array_equal(out[~hole], deep[~hole])  # known pixels: all 16 bits
    assert np.array_equal(read_exact(tmp_path / "deep.png"), deep)
    fill_one(tmp_path, capsys, tmp_path / "deep.png", "o.webp", 0, "has 16-bit samples; WEBP keeps 8")
    alpha = rng.integers(0, 65536, (H, W)).astype(np.uint16)  # 16-bit with transparency, written as 8-bit WebP:
    cv2.imwrite(str(tmp_path / "deep-clear.png"), np.dstack([deep[..., ::-1], alpha]))
    fill_one(tmp_path, capsys, tmp_path / "deep-clear.png", "dc.webp")
    assert Image.open(tmp_path / "dc.webp").mode == "RGBA"
    eight = read_exact(tmp_path / "deep-clear.png", sixteen=False)  # what an 8-bit output is composed on:
    assert np.array_equal(eight[..., :3], read_rgb8(tmp_path / "deep-clear.png"))  # the very RGB the fill saw
    grey = (rng.integers(0, 65536, (H, W))).astype(np.uint16)  # 16-bit grey with one transparent value (tRNS)
    Image.fromarray(grey).save(tmp_path / "trns.png", transparency=int(grey[0, 0]))
    fill_one(tmp_path, capsys, tmp_path / "trns.png", "trns-out.png", 0, "single transparent colour")


def test_the_colour_profile_is_kept_in_every_output_format(tmp_path, capsys):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = Image.open(save_photo(tmp_path / "rgb.png", size=(W, H)))
    for ext in ("png", "jpg"):
        rgb.save(tmp_path / f"wide.{ext}", icc_profile=icc)
        for out in (f"{ext}.png", f"{ext}.jpg", f"{ext}.webp"):
            fill_one(tmp_path, capsys, tmp_path / f"wide.{ext}", out)
            assert Image.open(tmp_path / out).info.get("icc_profile") == icc, (ext, out)
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # not a profile for RGB data
    rgb.save(tmp_path / "lab.png", icc_profile=lab)
    fill_one(tmp_path, capsys, tmp_path / "lab.png", "lab-out.png", 0, "its colour profile is for Lab data, not the RGB")
    assert "icc_profile" not in Image.open(tmp_path / "lab-out.png").info


def test_an_animated_file_is_named_and_gif_and_avif_are_listed(tmp_path, capsys):
    frames = [Image.open(save_photo(tmp_path / f"f{i}.png", size=(W, H), seed=i)).convert("P") for i in range(3)]
    photos = tmp_path / "photos"
    photos.mkdir()
    frames[0].save(photos / "anim.gif", save_all=True, append_images=frames[1:])
    Image.open(tmp_path / "f1.png").save(photos / "still.avif")
    save_mask(tmp_path / "hole.png")
    cli(tmp_path, capsys, ["fill", "--method", "telea", "--image", photos, "--mask", tmp_path / "hole.png", "--out",
                           tmp_path / "out", "-q"], 0, "anim.gif: has 3 frames; only the first is filled",
        new={"out", "out/anim.png", "out/still.png"})


# ------------------------------------------------------------------------------------------------
# 11. Smaller ones


def test_a_bogus_device_is_refused_for_a_classical_method_too(ws, capsys):
    cli(ws, capsys, ["fill", "--method", "telea", "--image", "photo.png", "--mask", "mask.png", "--out", "o.png",
                     "--device", "bogus"], 2, "device 'bogus' is not a device")


def test_a_missing_checkpoints_folder_is_said_even_quietly(ws, capsys):
    cli(ws, capsys, ["fill", "--method", "telea", "--image", "photo.png", "--mask", "mask.png", "--out", "o.png",
                     "--checkpoints", "no_such_folder", "-q"], 0, "--checkpoints no_such_folder is not a folder",
        new={"o.png"})


def test_a_batch_larger_than_the_photos_is_said(ws, capsys):
    cli(ws, capsys, ["fill", "--method", "telea", "--image", "photo.png", "--mask", "mask.png", "--out", "o.png",
                     "--batch-size", "100000", "-q"], 0, "--batch-size 100000 is more than the 1 photo", new={"o.png"})


def test_a_huge_training_batch_is_refused_by_the_schema():
    from inpaint.training.config import params_checker

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["common"]["batch_size"] = 10**6
    with pytest.raises(ParamsError, match="train.common.batch_size is 1000000; use a whole number from 1 to 4096"):
        params_checker()(params["train"], "train")


def test_planning_reads_no_pixels(tmp_path, monkeypatch):
    """Planning stays a header read, late EXIF, XMP, 16 bits, transparency and profiles included."""
    save_photo(tmp_path / "p" / "plain.png", size=(W, H))
    png_with_late_exif(tmp_path / "p" / "late.png")
    Image.open(tmp_path / "p" / "plain.png").convert("RGBA").save(tmp_path / "p" / "clear.png")
    save_mask(tmp_path / "m.png")

    def no_decoding(self, *args, **kwargs):
        raise AssertionError(f"planning decoded {getattr(self, 'filename', self)}")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(Image.core, "decoder", lambda *a: no_decoding(a[0]), raising=False)
    with pytest.raises(ValueError, match="late.png is 48x64 upright"):  # its mask has the stored size
        plan_jobs(tmp_path / "p", tmp_path / "m.png", tmp_path / "o")
    (tmp_path / "p" / "late.png").unlink()
    jobs = plan_jobs(tmp_path / "p", tmp_path / "m.png", tmp_path / "o")
    assert [j.keep is not None and j.keep.alpha for j in jobs] == [True, False]


@pytest.mark.parametrize("method", ["../../evil/best.pt", "/abs/path/vae.pt", "models/vae/best.pt", "..", "vae"])
def test_a_method_named_by_a_path_names_one_file_in_its_folder(tmp_path, method):
    from inpaint.io import file_stem

    stem = file_stem(method)
    target = (tmp_path / "grids" / f"{stem}_samples.png").resolve()
    assert target.parent == (tmp_path / "grids").resolve()
    assert file_stem("vae") == "vae"  # the default run's file names are unchanged
