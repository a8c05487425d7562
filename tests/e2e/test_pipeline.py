"""The real `dvc repro` on a toy config, in a throwaway copy of the project.

The toy config is the project's params.yaml with a few values shrunk, so it can never go stale.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOY = {
    "base": {"image_size": 32},
    "masks": {"per_kind": 4},
    "split": {"pairs_per_cell": 1},
}
pytestmark = pytest.mark.e2e


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def run(args, cwd, check=True):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    p = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and p.returncode:
        raise AssertionError(f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    dst = tmp_path_factory.mktemp("proj")
    for name in ["dvc.yaml", "stages", "inpaint", ".dvc/config", ".dvcignore", "pyproject.toml"]:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst / name)
    params = _merge(yaml.safe_load((ROOT / "params.yaml").read_text()), TOY)
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], dst)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A"], dst)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "toy"], dst)
    first = run(["dvc", "repro"], dst)
    return dst, first


def test_repro_produces_every_output(project):
    dst, first = project
    manifest = pd.read_csv(dst / "data/prepared/manifest.csv")
    masks = pd.read_csv(dst / "data/masks/masks.csv")
    pairs = pd.read_csv(dst / "data/split/test_pairs.csv")
    assert len(manifest) == 10 and len(masks) == 4 * 7 and len(pairs) > 0
    assert (dst / "dvc.lock").exists()
    train = pd.read_csv(dst / "data/split/train.csv")
    assert not set(train.id) & set(pairs.image_id)


def test_second_repro_does_nothing(project):
    dst, _ = project
    again = run(["dvc", "repro"], dst)
    assert "Data and pipelines are up to date" in again.stdout + again.stderr


def test_changing_masks_params_reruns_only_masks_and_downstream(project):
    dst, _ = project
    params = yaml.safe_load((dst / "params.yaml").read_text())
    params["masks"]["per_kind"] = 5
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["dvc", "repro"], dst)
    text = out.stdout + out.stderr
    assert "Stage 'data' didn't change, skipping" in text
    assert "Running stage 'masks'" in text and "Running stage 'split'" in text
    assert len(pd.read_csv(dst / "data/masks/masks.csv")) == 5 * 7


def test_experiments_are_compared_by_params(project):
    dst, _ = project
    run(["dvc", "exp", "run", "-S", "split.pairs_per_cell=2", "-n", "pairs2"], dst)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], dst).stdout)
    exps = [e for rev in shown for e in (rev.get("experiments") or [])]
    names = {e["name"]: e["revs"][0]["data"]["params"]["params.yaml"]["data"]["split"]["pairs_per_cell"] for e in exps}
    assert names.get("pairs2") == 2
