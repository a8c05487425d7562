"""Stage `data`: gather photos from the configured source into a manifest (no pixels copied)."""
import argparse


from inpaint.atomic import atomic_dir, write_csv
from inpaint.io import check_apart
from inpaint.params import BASE, DATA, load
from inpaint.sources import build_manifest
from inpaint.stage import run_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", required=True, help="folder for manifest.csv, skipped.csv (and built-in photos)")
    args = ap.parse_args()
    params = load(args.params, {"base": BASE, "data": DATA})  # checked before anything runs
    p = params["data"]
    if p["source"] != "builtin":
        check_apart(p["source"], args.out, "data.source")
    with atomic_dir(args.out) as tmp:
        manifest, skipped = build_manifest(str(p["source"]), args.out, params["base"]["image_size"], p["on_error"],
                                           p["small"], write_dir=tmp)
        write_csv(tmp / "manifest.csv", manifest)
        write_csv(tmp / "skipped.csv", skipped)
    print(f"data: {len(manifest)} photos, {len(skipped)} skipped -> {args.out}")


if __name__ == "__main__":
    run_stage("data", main)
