"""The real `dvc repro` on a toy config, in a throwaway copy of the project.

The toy config is the project's params.yaml with a few values shrunk, so it can never go stale.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from inpaint.sources import BUILTIN

ROOT = Path(__file__).resolve().parents[2]
DEVICE = os.environ.get("INPAINT_TEST_DEVICE", "cpu")  # bench/gpu_check.sh runs this pipeline on cuda
NPROC = 2 if DEVICE == "cpu" else min(2, torch.cuda.device_count())  # one process per GPU
TOY = {
    "base": {"image_size": 32},
    "masks": {"per_kind": 4},
    "split": {"pairs_per_cell": 1},
    # every registered generator, so each runs end to end
    "train": {"models": ["lama", "deepfill", "autoencoder", "vae"],
              "common": {"max_steps": 4, "batch_size": 2, "log_every": 1, "val_every": 2, "ckpt_every": 2,
                         "val_size": 2, "workers": 0, "device": "auto" if DEVICE == "cuda" else DEVICE},
              "lama": {"distributed": {"nproc_per_node": NPROC}}},  # one stage data-parallel (torchrun)
    "evaluate": {"bootstrap": 50, "samples": 2, "device": DEVICE,
                 "baselines": ["hybrid", "telea", "navier_stokes", "biharmonic", "patch_match"]},
}
pytestmark = pytest.mark.e2e


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def _env() -> dict:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def run(args, cwd, check=True):
    p = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True)
    if check and p.returncode:
        raise AssertionError(f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    dst = tmp_path_factory.mktemp("proj")
    for name in ["dvc.yaml", "stages", "inpaint", "pretrained", ".dvc/config", ".dvcignore", "pyproject.toml"]:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst / name)
    params = _merge(yaml.safe_load((ROOT / "params.yaml").read_text()), TOY)
    for model in params["train"]["models"]:  # a model's own budget would override the toy one
        for key in ("max_steps", "max_minutes", "batch_size"):
            (params["train"].get(model) or {}).pop(key, None)
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], dst)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A"], dst)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "toy"], dst)
    first = run(["dvc", "repro"], dst)
    return dst, first


def test_repro_produces_every_output(project):
    dst, first = project
    params = yaml.safe_load((dst / "params.yaml").read_text())
    manifest = pd.read_csv(dst / "data/prepared/manifest.csv")
    masks = pd.read_csv(dst / "data/masks/masks.csv")
    pairs = pd.read_csv(dst / "data/split/test_pairs.csv")
    assert len(manifest) == len(BUILTIN) and len(masks) == 4 * 7 and len(pairs) > 0
    assert (dst / "dvc.lock").exists()
    train = pd.read_csv(dst / "data/split/train.csv")
    assert not set(train.id) & set(pairs.image_id)
    for model in params["train"]["models"]:
        assert (dst / "models" / model / "best.pt").exists() and (dst / "logs" / model / "val.csv").exists()
        assert (dst / "logs" / model / "curves.png").stat().st_size > 10_000  # the static training curves
        assert len(pd.read_csv(dst / "logs" / model / "log.csv")) == 4
        summary = json.loads((dst / "models" / model / "summary.json").read_text())
        assert summary["processes"] == (NPROC if model == "lama" else 1) and summary["steps"] == 4
    if NPROC == 2:
        assert "--nproc_per_node=2 --standalone" in first.stdout  # train@lama relaunched itself under torchrun


def test_reports_are_complete_and_well_formed(project):
    dst, _ = project
    params = yaml.safe_load((dst / "params.yaml").read_text())
    metrics = params["evaluate"]["metrics"]
    methods = ([f"pretrained/{n}" for n in params["evaluate"]["pretrained"]] + params["train"]["models"]
               + params["evaluate"]["baselines"])
    pairs = pd.read_csv(dst / "data/split/test_pairs.csv")
    per_image = pd.read_csv(dst / "reports/per_image.csv")
    assert list(per_image.columns) == ["method", "image_id", "mask_id", "mask_kind", "hole_ratio", "bucket", "metric", "value"]
    assert len(per_image) == len(pairs) * len(methods) * len(metrics)
    head = json.loads((dst / "reports/metrics.json").read_text())  # the headline DVC metrics
    assert sorted(head) == sorted(methods + ["test_set"])
    assert head["test_set"]["pairs"] == len(pairs) and head["test_set"]["image_size"] == 32
    for method in methods:
        assert set(head[method]) == {"lpips", "lpips_30", "psnr", "psnr_30", "ssim", "ssim_30"} | (
            {"diversity", "diversity_30"} if method == "vae" else set())
    report = json.loads((dst / "reports/breakdown.json").read_text())  # every mean
    assert sorted(report) == sorted(methods)
    for method in methods:
        assert sorted(report[method]) == sorted(metrics + ["diversity"] * (method == "vae"))
        groups = report[method]["lpips"]
        assert "all" in groups and set(pairs.mask_kind) <= set(groups) and set(pairs.bucket) <= set(groups)
    summary = (dst / "reports/summary.md").read_text()
    assert all(m in summary for m in methods)
    overview = summary[summary.index("## Overview"):].split("\n\n")[1].splitlines()[2:]
    assert [row.split(" | ")[0].lstrip("| ") for row in overview] == methods  # each model beside its start
    for method in methods:  # one cached folder per method: its fills, scores and timing
        folder = dst / "predictions" / method
        assert len(list((folder / "fills").glob("*.png"))) == len(pairs) and (folder / "timing.json").is_file()
    fine_tunes = {m: params["train"][m]["init_from"] for m in params["train"]["models"]
                  if str((params["train"].get(m) or {}).get("init_from") or "").startswith("pretrained/")}
    assert fine_tunes == {"lama": "pretrained/lama", "vae": "pretrained/lama", "deepfill": "pretrained/deepfill",
                          "autoencoder": "pretrained/autoencoder"}
    for model, start in fine_tunes.items():  # each fine-tune of a shipped checkpoint is scored beside it
        assert start.removeprefix("pretrained/") in params["evaluate"]["pretrained"]
        assert f"| {model} | {start} (the checkpoint it was fine-tuned from) |" in summary
    for kind in set(pairs.mask_kind):
        assert (dst / "reports/grids" / f"{kind}.png").exists()
    assert (dst / "reports/grids/vae_samples.png").exists()
    for name in ("deepfill", "pretrained_deepfill"):  # where each attention model copied from
        assert (dst / f"reports/grids/{name}_attention.png").exists()
    assert "pretrained/deepfill: where each hole location drew from" in summary
    assert len(list((dst / "predictions/deepfill/attention").glob("*.png"))) > 0
    assert "deepfill: where each hole location drew from" in summary
    assert "## Diverse fills" in summary and set(report["vae"]["diversity"]) == {"all", ">= 30%"}
    for m in metrics:
        assert (dst / "reports/plots" / f"{m}.png").exists() and (dst / "reports/plots" / f"{m}.csv").exists()


def test_second_repro_does_nothing(project):
    dst, _ = project
    again = run(["dvc", "repro"], dst)
    assert "Data and pipelines are up to date" in again.stdout + again.stderr


def test_evaluating_again_changes_no_tracked_report_file(project):
    """Wall-clock timings go to timing.json and timings.json (DVC-cached, outside git), so refilling a
    method and rewriting the report leaves git clean."""
    dst, _ = project
    tracked = ["reports/summary.md", "reports/metrics.json", "reports/breakdown.json", "reports/plots/lpips.csv"]
    before = {f: (dst / f).read_bytes() for f in tracked}
    timing = dst / "predictions/telea/timing.json"
    old_timing = timing.read_bytes()
    out = run(["dvc", "repro", "-f", "-s", "predict_baseline@telea"], dst)
    assert "Running stage 'predict_baseline@telea'" in out.stdout and "Running stage 'train@" not in out.stdout
    out = run(["dvc", "repro"], dst)  # its timing changed, so the report is written again; nothing else runs
    assert "Running stage 'predict" not in out.stdout
    if timing.read_bytes() != old_timing:
        assert "Running stage 'report'" in out.stdout
    else:  # the same seconds per pair to the microsecond (it happens): nothing changed, so write the report anyway
        assert "Running stage 'report'" not in out.stdout
        run(["dvc", "repro", "-f", "-s", "report"], dst)
    assert {f: (dst / f).read_bytes() for f in tracked} == before
    timings = json.loads((dst / "reports/timings.json").read_text())
    assert timings["pairs"] > 0 and timings["threads"] >= 1 and "telea" in timings["seconds_per_pair"]
    assert "reports/timings.json" not in run(["git", "status", "--porcelain", "--untracked-files=all"], dst).stdout


@pytest.mark.hostile(11)
def test_a_failed_evaluation_keeps_the_last_reports(project):
    """DVC leaves the persisted reports in place (without `persist` it deletes them when the stage starts)
    and the report stage writes the new ones aside: a failed evaluation changes nothing in reports/."""
    dst, _ = project
    files = sorted(p for p in (dst / "reports").rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in files}
    text = (dst / "params.yaml").read_text()
    params = yaml.safe_load(text)
    params["evaluate"]["baselines"].append("no_such_method")  # passes the schema, fails inside the stage
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        out = run(["dvc", "repro"], dst, check=False)
        assert out.returncode != 0 and "Running stage 'predict_baseline@no_such_method'" in out.stdout
        assert "predict: params.yaml: evaluate.baselines[5] is 'no_such_method'; use one of [" in out.stderr
    finally:
        (dst / "params.yaml").write_text(text)
    assert sorted(p for p in (dst / "reports").rglob("*") if p.is_file()) == files
    assert {p: p.read_bytes() for p in files} == before


def _reports(dst: Path) -> dict:
    """The report files (not a run's staging folder, reports/.staging.*) and their bytes."""
    return {p: p.read_bytes() for p in sorted((dst / "reports").rglob("*"))
            if p.is_file() and not p.relative_to(dst / "reports").parts[0].startswith(".staging.")}


def _start(args, dst: Path, log: Path) -> subprocess.Popen:
    """A background command in its own process group, its output in `log`."""
    with log.open("w") as out:
        return subprocess.Popen(args, cwd=dst, env=_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_until(seen, proc: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not seen():
        assert proc.poll() is None, log.read_text()
        assert time.time() < deadline, log.read_text()
        time.sleep(0.05)


@pytest.mark.hostile("G34")
def test_a_killed_evaluation_keeps_the_last_reports_and_the_next_run_finishes(project, tmp_path):
    dst, _ = project
    before = _reports(dst)
    proc = _start(["dvc", "repro", "-f", "-s", "report"], dst, tmp_path / "log")
    _wait_until(lambda: list((dst / "reports").glob(".staging.*/*")), proc, tmp_path / "log")  # writing reports
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _reports(dst) == before and list((dst / "reports").glob(".staging.*"))  # the half-written ones aside
    # DVC drops the killed run's lock entries itself; the stage's next run (forced: nothing it depends on
    # changed, so DVC would skip it) removes the staging folder (git ignores it meanwhile)
    rerun = run(["dvc", "repro", "-f", "-s", "report"], dst)
    assert "had been killed. Auto removed it" in rerun.stderr
    assert not list((dst / "reports").glob(".staging.*"))
    after = _reports(dst)
    assert after.keys() == before.keys()
    assert all(after[p] == before[p] for p in before if p.name != "timings.json")  # wall-clock seconds differ


@pytest.mark.hostile("G35")
def test_a_second_repro_while_one_runs_is_refused_by_dvcs_lock(project, tmp_path):
    dst, _ = project
    before = _reports(dst)
    first = _start(["dvc", "repro", "-f", "-s", "predict_baseline@patch_match"], dst, tmp_path / "log")
    try:
        _wait_until(lambda: "test pairs" in (tmp_path / "log").read_text(), first, tmp_path / "log")  # filling
        second = run(["dvc", "repro"], dst, check=False)
        assert second.returncode != 0 and "is busy, it is being blocked by" in second.stderr, second.stderr
    finally:
        assert first.wait(timeout=600) == 0, (tmp_path / "log").read_text()
    after = _reports(dst)
    assert all(after[p] == before[p] for p in before if p.name != "timings.json")


@pytest.mark.hostile("G36")
def test_forced_reruns_give_the_same_bytes(project):
    """Determinism: forced reruns of masks and split write the same bytes (the same hashes in dvc.lock);
    the reports' determinism is test_evaluating_again_changes_no_tracked_report_file."""
    dst, _ = project
    lock = (dst / "dvc.lock").read_text()
    run(["dvc", "repro", "-f", "-s", "masks"], dst)
    run(["dvc", "repro", "-f", "-s", "split"], dst)
    assert (dst / "dvc.lock").read_text() == lock


def test_changing_masks_params_reruns_only_masks_and_downstream(project):
    dst, _ = project
    params = yaml.safe_load((dst / "params.yaml").read_text())
    params["masks"]["per_kind"] = 5
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["dvc", "repro"], dst)
    text = out.stdout + out.stderr
    assert "Stage 'data' didn't change, skipping" in text
    assert "Running stage 'masks'" in text and "Running stage 'split'" in text
    assert "Stage 'train@lama' didn't change, skipping" in text  # the photo split did not change
    assert "Running stage 'predict_baseline@telea'" in text and "Running stage 'report'" in text
    assert len(pd.read_csv(dst / "data/masks/masks.csv")) == 5 * 7


def test_changing_one_models_params_retrains_only_that_model(project):
    dst, _ = project
    params = yaml.safe_load((dst / "params.yaml").read_text())
    params["train"]["vae"]["loss"]["kl"] = 0.02
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    text = "".join(run(["dvc", "repro"], dst).stdout)
    assert "Running stage 'train@vae'" in text and "Running stage 'predict@vae'" in text
    assert "Running stage 'report'" in text
    # nothing else is refilled: not the other models, the pretrained checkpoint, nor the classical methods
    assert "Running stage 'train@lama'" not in text and "Running stage 'train@deepfill'" not in text
    assert [line for line in text.splitlines() if line.startswith("Running stage 'predict")] == [
        "Running stage 'predict@vae':"]


def test_experiments_are_compared_by_params_and_metrics(project):
    dst, _ = project
    run(["dvc", "exp", "run", "-S", "evaluate.bootstrap=60", "-n", "boot60"], dst)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], dst).stdout)
    exps = {e["name"]: e["revs"][0]["data"] for rev in shown for e in (rev.get("experiments") or [])}
    data = exps["boot60"]
    assert data["params"]["params.yaml"]["data"]["evaluate"]["bootstrap"] == 60
    metrics = data["metrics"]["reports/metrics.json"]["data"]
    assert 0 <= metrics["telea"]["lpips"] <= 1 and metrics["test_set"]["pairs"] > 0


def test_two_queued_experiments_run_with_two_workers_and_land_in_exp_show(project):
    """README's sweep: queue two experiments, run them with 2 workers, compare them in `dvc exp show`."""
    dst, _ = project
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    run(git + ["add", "-A"], dst)  # a queued run starts from the last commit: untracked files are not copied
    run(git + ["commit", "-qm", "state before the sweep"], dst)
    for n in (20, 30):
        run(["dvc", "exp", "run", "--queue", "-S", f"evaluate.bootstrap={n}", "-n", f"sweep{n}"], dst)
    run(["dvc", "queue", "start", "--jobs", "2"], dst)
    deadline = time.time() + 900
    while True:
        status = run(["dvc", "queue", "status"], dst).stdout
        if not any(word in status for word in ("Queued", "Running")):
            break
        assert time.time() < deadline, status
        time.sleep(3)
    assert status.count("Success") == 2, status + run(["dvc", "queue", "logs", "sweep20"], dst, check=False).stdout
    shown = json.loads(run(["dvc", "exp", "show", "--json"], dst).stdout)
    exps = {e["name"]: e["revs"][0]["data"] for rev in shown for e in (rev.get("experiments") or [])}
    for n in (20, 30):
        data = exps[f"sweep{n}"]
        assert data["params"]["params.yaml"]["data"]["evaluate"]["bootstrap"] == n
        assert 0 <= data["metrics"]["reports/metrics.json"]["data"]["telea"]["lpips"] <= 1
    run(["dvc", "queue", "stop"], dst, check=False)
