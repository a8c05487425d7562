"""bench/fullres.py end to end on two small photos: masks drawn, every method filled through `inpaint fill`,
the scores, the texture subset, the grids; and its refusal to write inside the repository."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage import data

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not (ROOT / "pretrained" / "lama.safetensors").is_file(),
                                reason="needs the shipped pretrained/lama")


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "bench" / "fullres.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900)


def test_the_full_resolution_bench_fills_scores_and_draws_at_the_photos_own_size(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(data.astronaut()[::2, ::2][:200, :248]).save(photos / "astronaut.png")  # 248x200
    Image.fromarray(data.coffee()[::2, ::2]).save(photos / "coffee.jpg")  # 300x200
    out = tmp_path / "out"
    r = run("--set", "folder", "--photos", str(photos), "--methods", "pretrained/lama", "pretrained/lama@128",
            "pretrained/lama@128+detail", "telea", "telea+texture", "--kinds", "blob", "box", "strokes", "--grids", "2", "--bootstrap", "50", "--against", "pretrained/lama",
            "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    # + the two to beat, and the start fill of a model that fills at its own --max-side
    assert summary["methods"] == ["pretrained/lama", "pretrained/lama@128", "pretrained/lama@128+detail", "telea",
                                  "telea+texture", "patch_match", "hybrid", "hybrid@128"]
    assert summary["pairs"] == 6 and summary["photos"] == 2
    assert summary["best_non_learned"] in ("telea", "patch_match", "hybrid", "hybrid@128")
    assert summary["texture"]["pairs"] == 2  # a quarter of 6, rounded
    per = pd.read_csv(out / "per_pair.csv")
    assert set(per.metric) == {"lpips", "psnr", "lattice", "lattice_photo", "detail", "wedges"}
    assert not per[per.metric.isin(["lpips", "psnr"])].value.isna().any()
    assert "ground truth" in set(per[per.metric == "detail"].method)  # the photos' own detail, beside the fills
    lat = per[per.metric == "lattice"]
    assert {"hybrid", "hybrid@128"}.isdisjoint(lat.method)  # the start fills are what it subtracts
    assert summary["starts"]["pretrained/lama@128"] == "hybrid@128" and summary["starts"]["telea"] == "hybrid"
    wedges = per[per.metric == "wedges"]
    assert set(wedges.method) == {*summary["methods"], "ground truth"} and "wedges (median)" in r.stdout
    assert lat[lat.method == "pretrained/lama"].value.notna().all() and (lat.value > 0).all()
    pairs = pd.read_csv(out / "pairs.csv")
    assert sorted(pairs.width.unique()) == [248, 300] and set(pairs.mask_kind) == {"blob", "box", "strokes"}
    assert ((pairs.hole_ratio > 0.06) & (pairs.hole_ratio < 0.44)).all()
    grids = sorted((out / "grids").glob("*.png"))
    assert len(grids) == 2
    assert Image.open(grids[0]).size[0] > 7 * 200  # eight cells side by side at the photo's own scale
    assert "minus" in r.stdout and "texture subset" in r.stdout
    assert set(lat.method) == {"pretrained/lama", "pretrained/lama@128", "pretrained/lama@128+detail", "telea",
                               "telea+texture", "patch_match", "ground truth"}
    # the two detail specs change the fills they start from: --detail (filled at 128 px, so shrunk) and the transfer
    lpips = per[per.metric == "lpips"].pivot_table(index="pair", columns="method", values="value")
    assert (lpips["pretrained/lama@128+detail"] != lpips["pretrained/lama@128"]).all()
    assert (lpips["telea+texture"] != lpips["telea"]).all()
    detail = per[per.metric == "detail"].pivot_table(index="pair", columns="method", values="value").mean()
    assert detail["pretrained/lama@128+detail"] > detail["pretrained/lama@128"] and detail["telea+texture"] > detail["telea"]
    # against the photo itself: every fill, start fills too, and not the photo (no error to score)
    own = per[per.metric == "lattice_photo"]
    assert set(own.method) == set(summary["methods"]) and own.value.notna().all() and (own.value > 0).all()
    assert "lattice_photo" in r.stdout
    # --against: every other method paired against the one named, on all pairs and on the texture subset
    against = summary["against"]
    assert against["method"] == "pretrained/lama"
    assert {r["method"] for r in against["all"]} == set(summary["methods"]) - {"pretrained/lama"}
    lp = {r["method"]: r["diff"] for r in against["all"] if r["metric"] == "lpips"}
    mine = per[per.metric == "lpips"].pivot_table(index="pair", columns="method", values="value")
    assert lp["telea"] == pytest.approx((mine["telea"] - mine["pretrained/lama"]).mean(), abs=1e-4)
    assert {r["method"] for r in against["texture"]} == set(summary["methods"]) - {"pretrained/lama"}


def test_against_must_be_one_of_the_methods(tmp_path):
    r = run("--set", "builtin", "--methods", "telea", "--against", "pretrained/lama", "--out", str(tmp_path / "o"))
    assert r.returncode != 0 and "--against pretrained/lama is not one of the methods" in r.stderr


def test_it_refuses_an_output_folder_inside_the_repository():
    r = run("--set", "builtin", "--out", str(ROOT / "reports" / "fullres"))
    assert r.returncode != 0 and "lies inside the repository" in r.stderr
    assert not (ROOT / "reports" / "fullres").exists()


def _bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_fullres", ROOT / "bench" / "fullres.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_method_specs_read_max_side_and_refinement_and_leave_paths_alone():
    b = _bench()
    assert b.method_spec("pretrained/lama@256", 1024) == ("pretrained/lama", 256)
    assert b.method_spec("pretrained/lama@256+patch", 1024) == ("pretrained/lama", 256)
    assert b.method_spec("runs/lr@3e-4/best.pt", 1024) == ("runs/lr@3e-4/best.pt", 1024)  # an @ of the path's own
    assert b.method_label("runs/lr@3e-4/best.pt") == "lr@3e-4/best"
    assert b.method_label("pretrain/runs/lama/best.pt@512+patch") == "lama/best@512+patch"
    assert b.method_spec("pretrained/lama_fullres+refine", 1024) == ("pretrained/lama_fullres", 1024)  # inpaint fill --refine
    assert b.method_label("pretrain/runs/lama/best.pt@512+refine") == "lama/best@512+refine"
    assert b.split_suffix("runs/a+refine/best.pt") == ("runs/a+refine/best.pt", "")  # only at the end
    assert b.split_suffix("pretrained/lama@256+detail") == ("pretrained/lama@256", "+detail")  # inpaint fill --detail
    assert b.split_suffix("telea+texture") == ("telea", "+texture")  # inpaint.detail_transfer on every fill
    assert b.start_at(1024, 1024) == "hybrid" and b.start_at(256, 1024) == "hybrid@256"


def test_a_kind_drawn_twice_for_a_photo_gets_its_own_mask(tmp_path):
    b = _bench()
    photo = tmp_path / "p.png"
    Image.fromarray(data.coffee()[::4, ::4]).save(photo)
    pairs = b.make_pairs([photo], ["blob", "box"], 4, (0.1, 0.4), 0, tmp_path / "pairs")
    assert list(pairs.pair) == ["p_blob", "p_box", "p_blob2", "p_box2"] and pairs.pair.is_unique
    masks = {p: np.asarray(Image.open(tmp_path / "pairs" / "masks" / f"{p}.png")) for p in pairs.pair}
    assert not np.array_equal(masks["p_blob"], masks["p_blob2"]) and not np.array_equal(masks["p_box"], masks["p_box2"])


def test_each_method_is_measured_against_its_own_start_fill(tmp_path):
    import torch

    from inpaint.checkpoints import CHECKPOINT_FORMAT, save_checkpoint
    from inpaint.models import build_generator

    b = _bench()
    kw = dict(width=8, n_down=2, max_width=16, n_blocks=1, init_fill="fade")
    torch.manual_seed(0)
    state = build_generator("lama", **kw).state_dict()
    save_checkpoint(tmp_path / "best.pt", {"format": CHECKPOINT_FORMAT, "arch": "lama", "kwargs": kw, "state": state})
    ckpt = str(tmp_path / "best.pt")
    assert b.own_start(ckpt, 1024) == "fade" and b.own_start(f"{ckpt}@256", 1024) == "fade@256"
    assert b.own_start(f"{ckpt}+patch", 1024) == "fade"
    assert b.own_start("pretrained/lama", 1024) == "hybrid" and b.own_start("pretrained/lama@128", 1024) == "hybrid@128"
    assert b.own_start("telea", 1024) == "hybrid" and b.own_start("hybrid@256", 1024) == "hybrid@256"
