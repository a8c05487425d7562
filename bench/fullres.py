"""Full-resolution benchmark: photos at their own size with object-sized holes, filled through `inpaint fill`
exactly as a user runs it (`inpaint.cli.main(["fill", ...])` on a folder of photos and a folder of masks), and
scored where people look.

Photo sets (--set):
  val       the pretraining's held-out photos (pretrain/params.yaml: the last data.val_photos of its folders,
            i.e. the last 20 of BSDS500 val by name; no shipped model trained on them): the set that CHOOSES
            recipes, variants, checkpoints and inference settings
  test      BSDS500 test (pretrain/params.yaml heldout.photos, 200 photos): scored once per shipped candidate
  builtin   the project's built-in photos (scikit-image, matplotlib) at their own size
  folder    --photos DIR: any photos, e.g. the Debian wallpaper photographs (bench/wallpapers.sh); for looking
Masks, drawn at each photo's own size from --seed (inpaint.object_masks): one object-shaped blob, one object's
box, thick strokes, an NVIDIA irregular test mask scaled to the photo; hole ratios uniform in --holes (default
10-40%); --per-photo of the kinds per photo, taken in turn (default: all four).

Scores, per pair, on the holes' context (the crop `inpaint fill` works on: the holes' bounding box grown by
half its size) at the photo's own resolution:
  lpips, psnr   the project's metrics (inpaint.metrics), the fill composited into the known pixels
  lattice       inpaint.lattice on the fill minus its start fill (a learned model's own, from its checkpoint's
                init_fill: `hybrid` by default, `fade`, ...; `hybrid` for a classical method), in the grid the
                model ran on (the work crop, shrunk to --max-side); about 1 = none; the ground truth's own beside
  lattice_photo the same score on the fill minus the photo itself (its error) instead of its start fill: it
                also counts a grid the method keeps from its start fill, and it counts a grid taken out of a
                start fill that had one as a gain, which the lattice score counts as a change on the grid
  detail        inpaint.textures.detail_ratio: fine-detail energy in the hole over that of a ring around it; the
                ground truth's own beside
  wedges        inpaint.wedges.wedge_score: how much stronger the fill's edges are on the seams of the nearest
                fill (where its cells from different sides of the hole meet: the X of a box) than elsewhere deep
                in the hole; about 1 = none, the ground truth's own beside; the median over the pairs whose hole
                has a deep part
The texture subset is the --share (default 0.25) of pairs whose known surroundings are busiest by
inpaint.textures.texture_measure, chosen from the photos and masks before any method runs; there `patch_match`
is the method to beat. Prints means, each method's LPIPS over the best non-learned method's, paired differences
against it and against patch_match on the texture subset (95% CIs over photos), seconds per pair of each fill
call; with --against NAME, every method's paired differences against that one too (all pairs and the texture
subset: a variant against the model it grew from); writes per_pair.csv, summary.json and full-resolution grids (windows of at most --window px around the
hole, never scaled) to --out, outside the repository (BSDS500 and wallpaper photos are not ours to commit).

  .venv/bin/python bench/fullres.py --set val [--methods pretrained/lama pretrain/runs/lama/best.pt ...]
      [--per-photo 4] [--holes 0.1 0.4] [--max-side 1024] [--against METHOD] [--out /tmp/inpaint-fullres/val]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
import yaml

from inpaint.atomic import write_png, write_text
from inpaint.cli import main as inpaint_main
from inpaint.crops import hole_crop, work_size
from inpaint.grids import comparison_grid, show_hole
from inpaint.heldout import nvidia_files
from inpaint.io import read_rgb8
from inpaint.lattice import lattice
from inpaint.masks import bucket
from inpaint.names import BASELINE_NAMES
from inpaint.metrics import compute
from inpaint.object_masks import OBJECT_KINDS, object_mask
from inpaint.detail_transfer import detail_transfer
from inpaint.patch import patch_match
from inpaint.methods import method_source
from inpaint.models import base_fill_of
from inpaint.pretrained import architecture, pins
from inpaint.sources import builtin_files, list_images
from inpaint.stats import paired_differences
from inpaint.textures import busiest_of, detail_ratio, texture_measure
from inpaint.wedges import seams, wedge_score

ROOT = Path(__file__).resolve().parents[1]
CLASSICAL = ["patch_match", "hybrid", "telea", "navier_stokes", "biharmonic"]  # the model card's, and its start fill
START = "hybrid"  # the default start fill: what the lattice score of a method without one of its own subtracts
AFTER = {  # suffix -> what is done to a method's fill at full resolution, after it (`refine`)
    "+patch": "PatchMatch from the fill (inpaint.patch.patch_match with init)",
    "+texture": "the photo's fine detail laid into every fill, at any size (inpaint.detail_transfer)",
}
NET_OPTIONS = {  # suffix -> the `inpaint fill` options it adds
    "+refine": ["--refine"],  # lama models: multi-scale feature refinement (inpaint.refine)
    "+detail": ["--detail"],  # where the context was shrunk to --max-side: the fill's fine detail from the photo (any method)
    "+raw": ["--no-delattice"],  # network methods: the network's own fill, its 8-px lattice left in (inpaint.delattice)
}
METRICS = {"lpips": False, "psnr": True}  # name -> higher is better


def split_suffix(spec: str) -> tuple[str, str]:
    """A --methods entry without its AFTER or NET_OPTIONS suffix, and that suffix ('' for none)."""
    for suffix in (*AFTER, *NET_OPTIONS):
        if spec.endswith(suffix):
            return spec.removesuffix(suffix), suffix
    return spec, ""


def photo_set(name: str, folder: str | None, limit: int | None) -> list[Path]:
    """The photos of a set (see the module's docstring), in a fixed order."""
    pre = yaml.safe_load((ROOT / "pretrain" / "params.yaml").read_text())
    if name == "val":
        photos = [p for f in pre["data"]["folders"] for p in sorted(list_images(ROOT / f))]
        photos = photos[-pre["data"]["val_photos"]:]
    elif name == "test":
        photos = sorted(list_images(ROOT / pre["heldout"]["photos"]))
    elif name == "builtin":
        photos = [p for p, _ in builtin_files()]
    else:
        if not folder or not Path(folder).is_dir():
            sys.exit(f"--set folder needs --photos DIR, a folder of photos (got {folder!r})")
        photos = sorted(list_images(Path(folder)))
    if not photos:
        sys.exit(f"--set {name}: no photos found (BSDS500 lives in ../shared/datasets beside the repository)")
    return photos[:limit] if limit else photos


def photo_id(path: Path) -> str:
    return path.stem.replace(" ", "_")


def make_pairs(photos: list[Path], kinds: list[str], per_photo: int, holes: tuple[float, float], seed: int,
               folder: Path) -> pd.DataFrame:
    """Write each photo (as PNG, decoded once) and its masks (white = hole) to folder/{images,masks}/<pair>.png;
    the table of pairs. Photo i gets kinds i*per_photo .. in turn, each mask from its own seeded generator (a
    kind drawn again for the same photo gets the next seed: <photo>_<kind>2, ...). The texture measure is
    taken on the holes' context, the crop that is scored."""
    files = None
    if "nvidia" in kinds:  # the 1-50% bins: scaled to a photo, their ratios move a little
        held = yaml.safe_load((ROOT / "pretrain" / "params.yaml").read_text())["heldout"]
        files = nvidia_files(ROOT / held["masks"], 0, 4)
    rows = []
    for i, path in enumerate(photos):
        image = read_rgb8(path)
        h, w = image.shape[:2]
        for j in range(per_photo):
            kind = kinds[(i * per_photo + j) % len(kinds)]
            again = j // len(kinds)  # how many times this photo had this kind before
            rng = np.random.default_rng([seed, zlib.crc32(photo_id(path).encode()), zlib.crc32(kind.encode())]
                                        + ([again] if again else []))
            mask = object_mask(kind, rng, h, w, holes, files)
            mask_id = f"{kind}{again + 1}" if again else kind
            pair = f"{photo_id(path)}_{mask_id}"
            write_png(folder / "images" / f"{pair}.png", image)
            write_png(folder / "masks" / f"{pair}.png", mask * 255)
            ys, xs = hole_crop(mask)
            rows.append({"pair": pair, "image_id": photo_id(path), "mask_id": mask_id, "mask_kind": kind,
                         "hole_ratio": float(mask.mean()), "bucket": bucket(float(mask.mean())), "height": h, "width": w,
                         "texture": texture_measure(image[ys, xs].astype(np.float32) / 255, mask[ys, xs])})
    return pd.DataFrame(rows)


def method_spec(spec: str, max_side: int) -> tuple[str, int]:
    """A --methods entry: a name or checkpoint path, with `@N` for its own --max-side (e.g. pretrained/lama@256:
    filled at the scale the model learnt, the hole's content upsampled to the photo), and a key of AFTER for work
    on the fill at full resolution (`+patch`, `+texture`: see `refine`) or of NET_OPTIONS for those `inpaint fill`
    options (`+refine`, `+detail`, `+raw`)."""
    core = split_suffix(spec)[0]
    at = re.fullmatch(r"(.+)@(\d+)", core)  # a path may hold an @ of its own
    return (at[1], int(at[2])) if at else (core, max_side)


def method_label(spec: str) -> str:
    """A method's name as printed and as a folder: a checkpoint path becomes <run>/<file>; @N and the suffix kept."""
    core, suffix = split_suffix(spec)
    at = re.fullmatch(r"(.+)@(\d+)", core)
    name, side = (at[1], f"@{at[2]}") if at else (core, "")
    p = Path(name)
    return (f"{p.parent.name}/{p.stem}" if p.suffix in (".pt", ".safetensors") else name) + side + suffix


def refine(fills: Path, out: Path, folder: Path, suffix: str) -> None:
    """A method's fill worked on at full resolution, on each pair's holes' context. `+patch`: PatchMatch
    started from the fill (inpaint.patch.patch_match with `init`): the EM starts at 1/4 size from the fill and
    copies known patches up to full size, so the fill gives the layout and the photo's own patches the
    texture. `+texture`: inpaint.detail_transfer, the fill's low frequencies with the photo's fine detail."""
    for f in sorted(fills.glob("*.png")):
        image = read_rgb8(folder / "images" / f.name).astype(np.float32) / 255
        mask = read_rgb8(folder / "masks" / f.name)[..., 0] > 127
        filled = read_rgb8(f).astype(np.float32) / 255
        ys, xs = hole_crop(mask)
        out_image = filled.copy()
        crop, hole, fill = image[ys, xs], mask[ys, xs].astype(np.float32), filled[ys, xs]
        out_image[ys, xs] = (patch_match(crop, hole, init=fill) if suffix == "+patch"
                             else detail_transfer(crop, hole, fill))
        write_png(out / f.name, out_image)


def fill_all(methods: list[str], folder: Path, max_side: int, device: str) -> dict[str, float]:
    """Each method fills every pair through `inpaint fill`; returns its seconds per pair (per photo of the folder
    it fills: each pair is a photo with one mask)."""
    seconds, pairs = {}, len(list((folder / "images").iterdir()))
    for m in methods:
        out = folder / "fills" / method_label(m).replace("/", "_")
        name, side = method_spec(m, max_side)
        t0 = time.perf_counter()
        core, suffix = split_suffix(m)
        if suffix in AFTER:  # after its method (filled first, or now)
            base = method_label(core)
            if base not in seconds:
                seconds.update(fill_all([core], folder, max_side, device))
            refine(folder / "fills" / base.replace("/", "_"), out, folder, suffix)
            seconds[method_label(m)] = seconds[base] + (time.perf_counter() - t0) / pairs
            print(f"refined {base}: {seconds[method_label(m)]:.2f} s per pair", flush=True)
            continue
        code = inpaint_main(["fill", "--method", name, "--image", str(folder / "images"), "--mask", str(folder / "masks"),
                             "--out", str(out), "--max-side", str(side), "--device", device, "--quiet"]
                            + NET_OPTIONS.get(split_suffix(m)[1], []))
        if code:
            sys.exit(f"inpaint fill --method {m} failed (exit {code})")
        seconds[method_label(m)] = (time.perf_counter() - t0) / pairs
        print(f"filled with {method_label(m)}: {seconds[method_label(m)]:.2f} s per pair", flush=True)
    return seconds


def start_at(side: int, max_side: int, fill: str = START) -> str:
    """The method that fills as a learned model's start `fill` does when the model fills at --max-side `side`."""
    return fill if side == max_side else f"{fill}@{side}"


def own_start(spec: str, max_side: int) -> str:
    """The start fill of the method a --methods entry names, as a method filling in the grid it runs in: a
    learned model's own (its checkpoint's init_fill), START for a classical method (or a model on grey holes)."""
    name, side = method_spec(spec, max_side)
    if name in BASELINE_NAMES:
        return start_at(side, max_side)
    fill = base_fill_of(*architecture(method_source(name, None, fallback_pretrained=True)))
    return start_at(side, max_side, fill or START)


def work_grid(a: np.ndarray, max_side: int) -> np.ndarray:
    """A crop as the method saw it: shrunk to at most max_side (INTER_AREA), as inpaint.crops.work_crop does."""
    size = work_size(*a.shape[:2], max_side)
    return a if size is None else cv2.resize(a, size, interpolation=cv2.INTER_AREA)


def score(pairs: pd.DataFrame, labels: list[str], sides: dict[str, int], starts: dict[str, str], folder: Path,
          window: int, grids: Path, grid_pairs: set[str]) -> pd.DataFrame:
    """One row per (pair, method, metric), ground truth included for lattice, detail and wedges; `sides`: each
    method's --max-side (the grid its lattice is measured in); `starts`: each method's start fill's label
    (what its lattice subtracts; the ground truth's is START's)."""
    rows = []
    for r in pairs.itertuples():
        target = read_rgb8(folder / "images" / f"{r.pair}.png").astype(np.float32) / 255
        mask = read_rgb8(folder / "masks" / f"{r.pair}.png")[..., 0] > 127
        ys, xs = hole_crop(mask)
        t, m = target[ys, xs], mask[ys, xs].astype(np.float32)
        where = seams(m)  # the nearest fill's seams in this hole, shared by every fill of it
        fills = {lab: read_rgb8(folder / "fills" / lab.replace("/", "_") / f"{r.pair}.png").astype(np.float32)[ys, xs] / 255
                 for lab in labels}
        tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]  # noqa: E731
        base = {"pair": r.pair, "image_id": r.image_id, "mask_id": r.mask_id, "mask_kind": r.mask_kind,
                "hole_ratio": r.hole_ratio, "bucket": r.bucket}
        for lab, f in [*fills.items(), ("ground truth", t)]:
            if lab != "ground truth":
                s = compute(list(METRICS), tensor(f), tensor(t), torch.from_numpy(m)[None, None])
                rows += [{**base, "method": lab, "metric": k, "value": float(v[0])} for k, v in s.items()]
            rows.append({**base, "method": lab, "metric": "detail", "value": detail_ratio(f, m)})
            rows.append({**base, "method": lab, "metric": "wedges", "value": wedge_score(f, m, where=where)})
            side = sides.get(lab, sides[START])
            start = starts.get(lab, START)  # its start fill, made in the grid this method ran on
            hole = (work_grid(m, side) > 0)[None]
            if lab != start:
                rows.append({**base, "method": lab, "metric": "lattice",
                             "value": lattice(work_grid(f, side)[None], work_grid(fills[start], side)[None], hole)})
            if lab != "ground truth":
                rows.append({**base, "method": lab, "metric": "lattice_photo",
                             "value": lattice(work_grid(f, side)[None], work_grid(t, side)[None], hole)})
        if r.pair in grid_pairs:
            cy, cx = [(s.start + s.stop) // 2 for s in (ys, xs)]
            wy = slice(max(0, cy - ys.start - window // 2), max(0, cy - ys.start - window // 2) + window)
            wx = slice(max(0, cx - xs.start - window // 2), max(0, cx - xs.start - window // 2) + window)
            cells = [show_hole(t, m)[wy, wx], *(f[wy, wx] for f in fills.values()), t[wy, wx]]
            comparison_grid([cells], ["input", *fills, "ground truth"], grids / f"{r.pair}.png",
                            row_labels=[f"{r.pair}\n{r.hole_ratio:.0%}"], min_cell=1)
    return pd.DataFrame(rows)


def summarise(per: pd.DataFrame, pairs: pd.DataFrame, labels: list[str], learned: list[str], seconds: dict,
              share: float, n_boot: int, against: str | None = None) -> dict:
    means = per.pivot_table(index="method", columns="metric", values="value", aggfunc="mean")
    means = means.reindex(index=[*labels, "ground truth"], columns=["lpips", "psnr", "lattice", "lattice_photo",
                                                                    "detail"])
    # a ratio that a flat hole can send far up: the median over the pairs with a deep part
    means["wedges (median)"] = per[per.metric == "wedges"].groupby("method").value.median()
    classical = [lab for lab in labels if lab not in learned]
    best = means.loc[classical, "lpips"].idxmin()
    means["x best non-learned lpips"] = means["lpips"] / means.loc[best, "lpips"]
    means["s/pair"] = pd.Series(seconds)
    print(f"\n{len(pairs)} pairs of {pairs.image_id.nunique()} photos, holes {pairs.hole_ratio.min():.0%}-"
          f"{pairs.hole_ratio.max():.0%}; best non-learned: {best}")
    print(means.round(4).to_markdown())
    ok = per[per.metric.isin(list(METRICS))]
    paired = paired_differences(ok, [(lab, best) for lab in labels if lab != best], METRICS, {"all": 0.0}, n_boot)
    cols = ["method", "metric", "diff", "ci_low", "ci_high", "better"]
    print(f"\nminus {best}'s (95% CI over photos; better = share of pairs where the method wins)")
    print(paired[cols].round(4).to_markdown(index=False))
    by_kind = ok[ok.metric == "lpips"].pivot_table(index="method", columns="mask_kind", values="value").reindex(labels)
    print("\nLPIPS by mask kind")
    print(by_kind.round(4).to_markdown())
    texture = set(pairs.pair.iloc[busiest_of(pairs.texture.to_numpy(), share)])
    tex = ok[ok.pair.isin(texture)]
    tex_means = tex.pivot_table(index="method", columns="metric", values="value").reindex(labels)
    tex_paired = paired_differences(tex, [(lab, "patch_match") for lab in labels if lab != "patch_match"],
                                    METRICS, {"all": 0.0}, n_boot) if "patch_match" in labels else pd.DataFrame()
    print(f"\ntexture subset: the busiest {len(texture)} pairs (texture measure {pairs.texture.quantile(1 - share):.3f} "
          "and up, chosen before any fill)")
    print(tex_means.round(4).to_markdown())
    if not tex_paired.empty:
        print("\nminus patch_match's on the texture subset")
        print(tex_paired[cols].round(4).to_markdown(index=False))
    versus = {}
    if against:  # e.g. the checkpoint a variant grew from: every other method minus it, all pairs and the texture subset
        for name, rows in (("all", ok), ("texture", tex)):
            d = paired_differences(rows, [(lab, against) for lab in labels if lab != against], METRICS, {"all": 0.0}, n_boot)
            print(f"\nminus {against}'s, {name} pairs (95% CI over photos)")
            print(d[cols].round(4).to_markdown(index=False))
            versus[name] = d[cols].round(5).to_dict(orient="records")
    return {"pairs": len(pairs), "photos": int(pairs.image_id.nunique()), "best_non_learned": best,
            **({"against": {"method": against, **versus}} if against else {}),
            "means": means.round(4).to_dict(orient="index"),
            "vs_best_non_learned": paired[cols].round(5).to_dict(orient="records"),
            "lpips_by_kind": by_kind.round(4).to_dict(orient="index"),
            "texture": {"pairs": len(texture), "means": tex_means.round(4).to_dict(orient="index"),
                        "vs_patch_match": tex_paired[cols].round(5).to_dict(orient="records") if len(tex_paired) else []}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="val", choices=["val", "test", "builtin", "folder"])
    ap.add_argument("--photos", help="--set folder: the folder of photos")
    ap.add_argument("--limit", type=int, help="the first N photos of the set only")
    ap.add_argument("--methods", nargs="+", help="names or checkpoint paths, each with @N for its own --max-side "
                    "(default: every shipped pretrained/<name> and the classical methods); patch_match, hybrid "
                    "and each model's own start fill are always added")
    ap.add_argument("--kinds", nargs="+", default=list(OBJECT_KINDS), choices=OBJECT_KINDS)
    ap.add_argument("--per-photo", type=int, help="masks per photo, kinds in turn (default: one of each kind)")
    ap.add_argument("--holes", type=float, nargs=2, default=(0.1, 0.4), metavar=("MIN", "MAX"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-side", type=int, default=1024, help="inpaint fill's --max-side (its default 1024)")
    ap.add_argument("--share", type=float, default=0.25, help="the texture subset: the busiest share of pairs")
    ap.add_argument("--grids", type=int, default=8, help="full-resolution grids written (pairs evenly spread)")
    ap.add_argument("--window", type=int, default=768, help="largest grid cell side, px at full resolution")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bootstrap", type=int, default=2000)
    ap.add_argument("--against", help="a method scored (one of --methods as given, or one the bench adds): every other method's paired differences against it "
                    "too, e.g. a variant against the model it grew from")
    ap.add_argument("--out", help="default /tmp/inpaint-fullres/<set>")
    args = ap.parse_args()
    out = Path(args.out or f"/tmp/inpaint-fullres/{args.set}")
    if out.resolve().is_relative_to(ROOT):
        sys.exit(f"--out {out} lies inside the repository; its grids show photos that are not ours: choose a folder "
                 "outside it")
    shipped = [f"pretrained/{Path(f).stem}" for f in sorted(pins())]
    methods = list(dict.fromkeys([*(args.methods or [*shipped, *CLASSICAL]), "patch_match", START]))
    own = {m: own_start(m, args.max_side) for m in methods}  # reads each checkpoint's header once
    starts = {method_label(m): method_label(st) for m, st in own.items()}
    added = [st for st in dict.fromkeys(own.values()) if st not in methods]
    methods += added  # each model's own start fill, in the grid the model runs in
    starts.update({method_label(m): method_label(m) for m in added})  # a start fill has no lattice of its own
    labels = [method_label(m) for m in methods]
    against = method_label(args.against) if args.against else None
    if against and against not in labels:
        sys.exit(f"--against {args.against} is not one of the methods {labels}; add it to --methods")
    photos = photo_set(args.set, args.photos, args.limit)
    per_photo = args.per_photo or len(args.kinds)
    with tempfile.TemporaryDirectory(prefix="fullres-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        pairs = make_pairs(photos, args.kinds, per_photo, tuple(args.holes), args.seed, folder)
        print(f"{len(pairs)} pairs of {len(photos)} photos ({args.set}) drawn in {time.perf_counter() - t0:.0f} s",
              flush=True)
        seconds = fill_all(methods, folder, args.max_side, args.device)
        grid_pairs = set(pairs.pair.iloc[np.unique(np.linspace(0, len(pairs) - 1, args.grids).round().astype(int))]
                         if args.grids else [])
        sides = {method_label(m): method_spec(m, args.max_side)[1] for m in methods}
        per = score(pairs, labels, sides, starts, folder, args.window, out / "grids", grid_pairs)
    learned = [lab for m, lab in zip(methods, labels) if method_spec(m, 0)[0] not in BASELINE_NAMES]
    summary = {"set": args.set, "photos": [str(p) for p in photos], "holes": list(args.holes), "seed": args.seed,
               "max_side": args.max_side, "methods": labels, "starts": starts,
               **summarise(per, pairs, labels, learned, seconds, args.share, args.bootstrap, against)}
    out.mkdir(parents=True, exist_ok=True)
    per.to_csv(out / "per_pair.csv", index=False)
    pairs.to_csv(out / "pairs.csv", index=False)
    write_text(out / "summary.json", json.dumps(summary, indent=1, default=float) + "\n")
    print(json.dumps({"out": str(out)}))


if __name__ == "__main__":
    main()
