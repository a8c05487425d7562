"""Pretrained generators: a training run exported to a small fp16 file with its model card, loaded back
for inference (`inpaint fill --method pretrained/lama`) or as the start of a fine-tuning run
(`train.<model>.init_from`), its hash checked first.

  pretrained/<model>.safetensors  fp16 tensors "gen.*" (the EMA generator) and, when the run had one,
                                  "disc.*" (its discriminator); metadata "arch", "kwargs", "disc" (JSON)
  pretrained/<model>.json         the model card (see stages/pretrain.py), with the file's sha256

A name `pretrained/<model>` means `pretrained/<model>.safetensors` under the working directory, or
else under the project's own folder (so the shipped models work from anywhere after `make setup`).
Shipping (`python -m inpaint.pretrained ship pretrain/runs/export/lama`) copies an export and its
card into pretrained/ and pins its sha256 in pretrained/SHA256SUMS.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from inpaint.atomic import atomic_path, write_text

if TYPE_CHECKING:  # torch is imported where it is used: naming a model must not cost its import
    import torch

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "pretrained"
SUFFIX = ".safetensors"
# sha256 of the files the project ships, one `<hash>  <file>` line each (`sha256sum -c` reads it): a
# shipped file that hashes otherwise (truncated, corrupted, swapped with its card) is refused. `ship` writes it.
PINS = "SHA256SUMS"


def pins(folder: Path = SHIPPED) -> dict[str, str]:
    """{file name: sha256} of `folder`/SHA256SUMS (`sha256sum` format; {} when there is none)."""
    path = folder / PINS
    if not path.is_file():
        return {}
    table = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise ValueError(f"{path} line {n}: expected '<sha256>  <file>', got {line!r}; rewrite it with "
                             "`python -m inpaint.pretrained ship ...` or `sha256sum *.safetensors`")
        table[parts[1].strip().lstrip("*")] = parts[0].lower()  # sha256sum marks binary mode with '*'
    return table


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_pretrained_name(name: str) -> bool:
    """`pretrained/<model>` or a path to a `.safetensors` file."""
    p = Path(name)
    return p.suffix == SUFFIX or (p.parent.name == "pretrained" and p.suffix == "")


def candidates(name: str | Path) -> list[Path]:
    """Where a pretrained name or path may be: as given (from the working directory), then under the project."""
    p = Path(name)
    p = p if p.suffix == SUFFIX else p.with_name(p.name + SUFFIX)
    return [p, ROOT / p]


def resolve(name: str | Path) -> Path:
    """The weights file a pretrained name or path stands for; a clear error when there is none."""
    p, under_root = candidates(name)
    for candidate in (p, under_root):
        if candidate.is_file():
            return candidate
    raise ValueError(f"pretrained model {name}: {p} not found (nor under {ROOT}); run `make setup` in a full "
                     "clone, or train one with the pretraining pipeline (pretrain/README.md)")


def card_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def export(path: str | Path, arch: str, kwargs: dict, gen_state: dict, disc_state: dict | None = None,
           disc: dict | None = None) -> str:
    """Write the fp16 weights file atomically; returns its sha256 (for the card)."""
    import torch
    from safetensors.torch import save_file

    tensors = {f"{prefix}.{k}": v.detach().to("cpu", torch.float16 if v.is_floating_point() else v.dtype).contiguous()
               for prefix, state in (("gen", gen_state), ("disc", disc_state or {})) for k, v in state.items()}
    meta = {"arch": arch, "kwargs": json.dumps(kwargs, sort_keys=True), "disc": json.dumps(disc or {}, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return sha256(path)


def write_card(weights: str | Path, card: dict) -> None:
    write_text(card_path(Path(weights)), json.dumps(card, indent=1) + "\n")


def read(name: str | Path) -> dict:
    """{"path", "sha256", "arch", "kwargs", "gen", "disc" (state dicts, fp32; disc {} when absent),
    "disc_spec", "card" (or {})}, after checking the hash against its pin (SHA256SUMS) and its card."""
    path = resolve(name)
    digest = sha256(path)
    card = json.loads(card_path(path).read_text()) if card_path(path).is_file() else {}
    pinned = pins(path.resolve().parent).get(path.name)
    # a pretrained/ folder (the shipped one, or one under the working directory) pins every file it holds;
    # any other .safetensors is at least described by its card's sha256: a file nobody vouched for never loads
    shipped = path.resolve().parent == SHIPPED.resolve() or path.resolve().parent.name == "pretrained"
    if pinned is None and (shipped or not card.get("sha256")):
        where = f"no line for it in {path.parent / PINS}" + ("" if shipped else
                                                             f" and no card {card_path(path).name} with its sha256")
        raise ValueError(f"{path}: {where}, so its hash cannot be checked; ship it with `python -m inpaint.pretrained "
                         "ship pretrain/runs/export/<model>` (or restore the shipped folder: git checkout -- pretrained)")
    for source, want in ((str(path.parent / PINS), pinned), (str(card_path(path)), card.get("sha256"))):
        if want and want != digest:
            raise ValueError(f"{path}: sha256 {digest[:16]}... differs from {source} ({want[:16]}...); the file is "
                             "corrupt or not the one its card describes: restore it (git checkout -- pretrained) or re-export it")
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:  # one pass: tensors and metadata
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        arch, kwargs = meta["arch"], json.loads(meta["kwargs"])
    except Exception as e:  # noqa: BLE001 - a foreign or truncated file
        raise _not_ours(path, e) from e
    part = lambda prefix: {k[len(prefix):]: v.float() if v.is_floating_point() else v
                           for k, v in tensors.items() if k.startswith(prefix)}
    from inpaint.checkpoints import check_finite

    gen, disc = part("gen."), part("disc.")
    check_finite({**gen, **{f"disc.{k}": v for k, v in disc.items()}}, path)
    return {"path": path, "sha256": digest, "arch": arch, "kwargs": kwargs, "gen": gen, "disc": disc,
            "disc_spec": json.loads(meta.get("disc", "{}")), "card": card}


def load_generator(name: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """The pretrained generator in eval mode, and what `read` returned (less the state dicts)."""
    from inpaint.checkpoints import build_from

    info = read(name)
    model = build_from(info["path"], info["arch"], info["kwargs"], info.pop("gen"))
    info.pop("disc")
    return model.to(device).eval(), info


def architecture(source: str | Path) -> tuple[str, dict]:
    """(arch, kwargs) of the generator a pretrained name or file, or a training checkpoint (.pt), holds: a
    .safetensors file's header only (its hash and weights are checked when it is loaded, `read`)."""
    if not is_pretrained_name(str(source)):
        info = init_state(source)
        return info["arch"], info["kwargs"]
    from safetensors import safe_open

    path = resolve(source)
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        return meta["arch"], json.loads(meta["kwargs"])
    except Exception as e:  # noqa: BLE001 - a foreign or truncated file
        raise _not_ours(path, e) from e


def _not_ours(path: Path, e: Exception) -> ValueError:
    return ValueError(f"{path}: not an inpaint pretrained file ({' '.join(str(e).split())[:200]}); re-export it")


def init_state(source: str | Path) -> dict:
    """What a fine-tuning run starts from: {"path", "sha256", "arch", "kwargs", "gen", "disc", "disc_spec"}
    from a pretrained name or file, or from a training checkpoint (.pt: its EMA generator and
    discriminator, plus "opt_g", "opt_d": its optimisers' state, when it is a last.pt)."""
    if is_pretrained_name(str(source)):
        return read(source)
    from inpaint.checkpoints import check_finite, read_generator_checkpoint

    path = Path(source)
    if not path.is_file():
        raise ValueError(f"init_from {source}: no such file; give a checkpoint (.pt), a .safetensors file or "
                         "pretrained/<model>")
    try:
        ckpt = read_generator_checkpoint(path)
    except ValueError as e:
        raise ValueError(f"init_from {e}") from None
    check_finite(ckpt["state"], f"init_from {path}")
    spec = (ckpt.get("params") or {}).get("discriminator") or {}
    return {"path": path, "sha256": sha256(path), "arch": ckpt["arch"], "kwargs": ckpt["kwargs"], "gen": ckpt["state"],
            "disc": ckpt.get("disc") or {}, "disc_spec": spec, "card": {},
            "opt_g": ckpt.get("opt_g") or {}, "opt_d": ckpt.get("opt_d") or {}}


def ship(export_stem: str | Path, folder: Path = SHIPPED) -> str:
    """Copy an exported `<stem>.safetensors` and its card `<stem>.json` (stages/model_card.py) into
    `folder` and pin the hash there; returns it. The card must describe the file."""
    import shutil

    weights = Path(export_stem).with_suffix(SUFFIX)
    card_file = card_path(weights)
    if not weights.is_file() or not card_file.is_file():
        raise ValueError(f"ship {export_stem}: needs {weights} and its model card {card_file} (run the pretrain pipeline)")
    card = json.loads(card_file.read_text())
    digest = sha256(weights)
    if card.get("sha256") != digest or "heldout" not in card:
        raise ValueError(f"ship {export_stem}: {card_file} does not describe {weights} with held-out scores; "
                         "rerun the model_card stage")
    for src in (weights, card_file):
        with atomic_path(folder / src.name) as tmp:
            shutil.copyfile(src, tmp)
    table = {**pins(folder), weights.name: digest}
    write_text(folder / PINS, "".join(f"{d}  {n}\n" for n, d in sorted(table.items())))
    return digest


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "ship":
        sys.exit("usage: python -m inpaint.pretrained ship pretrain/runs/export/<model>")
    try:
        print(f"shipped {sys.argv[2]} to {SHIPPED} (sha256 {ship(sys.argv[2])})")
    except ValueError as e:
        sys.exit(f"ship: {e}")
