"""The `inpaint` command: fill holes in your own photos, or score fills against ground truth.

  inpaint fill  --method pretrained/lama --image photo.jpg --mask hole.png --out filled.jpg  (shipped, no training)
  inpaint fill  --method lama --image photo.jpg --mask hole.png --out filled.png   (models/lama/best.pt, else pretrained/lama)
  inpaint fill  --method models/lama/last.pt --image photos/ --mask masks/ --out filled/
  inpaint fill  --method telea --image photos/ --mask one_mask.png --out filled/ --format webp
  inpaint fill  --method vae --image photo.jpg --mask hole.png --out filled.png --samples 4 --seed 7   (4 fills)
  inpaint score GT PRED [--masks M] [--csv scores.csv]
  inpaint serve [--host 127.0.0.1] [--port 7860]     (a page to paint the hole and fill it, and an HTTP API)
  inpaint export --method pretrained/lama --out lama.pt [--format torchscript|onnx] [--size 512x512]

Masks: white (255) = hole, or --polarity black_hole. Bad input is one line on stderr, exit status 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from inpaint.encode import FORMAT_NAMES, OUTPUT_FORMATS
from inpaint.io import POLARITIES, error_text


FILL_EPILOG = f"""\
output (--out):
  one photo: a file whose extension picks the format ({', '.join(OUTPUT_FORMATS)}; --quality for JPEG/WebP),
             or an existing folder, which receives <photo name>.png (or --format).
  a folder of photos: a folder mirroring it, <name>.png (or --format); photos are matched with masks by
             name without extension, or one --mask file serves every photo.
  Names and sizes are checked before anything is written; each output appears whole or not at all;
  an existing output file is replaced; one that is a photo or mask is refused unless --overwrite.
"""

SCORE_EPILOG = """\
Without --masks the prediction is scored as given, against the whole ground truth. With --masks it is
first composited (its known pixels replaced by the ground truth's, as the pipeline scores fills) and the
hole-only metrics (hole_psnr, hole_l1) and the hole_ratio are added; a mask of another size than its
image is an error; a mask with no hole scores the prediction as given, hole metrics left blank.
Files are matched by name without extension (folders: by relative path).
"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("inpaint")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, naming the option and where the fix is documented."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message}; see {self.prog} --help\n")


class _HelpWithMethods(argparse.Action):
    """-h/--help that also lists the methods found on this machine (by name, from inpaint.names: no torch import)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, default=default, nargs=0,
                         help="show this help and the methods available here, then exit")

    def __call__(self, parser, namespace, values, option_string=None):
        from inpaint.methods import methods_help

        parser.epilog = "\n".join(filter(None, [parser.epilog, methods_help(getattr(namespace, "checkpoints", None)
                                                                             or "models")]))
        parser.print_help()
        parser.exit()


def _positive(minimum: int, maximum: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            span = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"{value} must be {span}")
        return value

    return parse


def cmd_fill(args) -> None:
    from inpaint.fill import fill_photos, keep_freed_memory, plan_jobs, sample_jobs
    from inpaint.methods import resolve_method

    if args.refine and (args.samples > 1 or args.seed is not None):
        raise ValueError("--refine fills deterministically: drop --samples/--seed, or drop --refine")
    jobs = plan_jobs(args.image, args.mask, args.out, args.format, args.overwrite)  # before the slow model load
    if args.device not in ("auto", "cpu"):  # a device that is not there is an error for every method, a classical
        from inpaint.checkpoints import pick_device  # one too (auto and cpu always are: no torch import for them)

        pick_device(args.device)
    if args.checkpoints is not None and not Path(args.checkpoints).is_dir():
        print(f"inpaint fill: warning: --checkpoints {args.checkpoints} is not a folder; trained model names fall back "
              "to pretrained/<name>", file=sys.stderr)
    draws = None
    if args.samples > 1:  # N outputs per photo, <name>-seed<S+k>; planned (names, limits) before the model loads
        draws = sample_jobs(jobs, [(args.seed or 0) + k for k in range(args.samples)], args.overwrite)
    elif args.seed is not None:
        draws = [(args.seed, jobs)]
    keep_freed_memory()
    method = resolve_method(args.method, args.checkpoints, args.device, fallback_pretrained=True)
    if args.refine:
        from inpaint.refine import refined

        method = refined(method)
    from inpaint.delattice import as_filled

    method = as_filled(method, args.delattice)  # also checks --delattice is for a network, before any draw is set up
    if method.checkpoint is not None and not args.quiet:
        print(f"inpaint fill: {args.method} = {method.checkpoint}", file=sys.stderr)
    if draws is not None:
        from inpaint.sampling import drawing

        drawing(method, 0)  # a model that does not sample is named before anything is written
    batch = args.batch_size
    if batch is not None and batch > len(jobs) and batch > 1:
        print(f"inpaint fill: warning: --batch-size {batch} is more than the {len(jobs)} photo(s) given; at most "
              f"{len(jobs)} are filled per pass", file=sys.stderr)
    if batch is None:  # by default one photo per pass on the CPU, eight on a GPU
        on_gpu = method.model is not None and next(method.model.parameters()).device.type != "cpu"
        batch = 8 if on_gpu else 1

    # a draw replaces the fill with its own, so the lattice removal goes on again after it
    runs = [(method, jobs)] if draws is None else \
        [(as_filled(drawing(method, seed), args.delattice), drawn) for seed, drawn in draws]
    for run, run_jobs in runs:
        done = fill_photos(run, run_jobs, polarity=args.polarity, max_side=args.max_side, batch_size=batch,
                           quality=args.quality, quiet=args.quiet, detail=args.detail)
        if not args.quiet:
            if len(run_jobs) == 1:
                print(f"{run_jobs[0].image} -> {run_jobs[0].dest}")
            else:
                print(f"{len(run_jobs)} photos -> {args.out} ({done['seconds'] / len(run_jobs):.2f} s/photo)")


def cmd_score(args) -> None:
    from inpaint.score import score_files

    table = score_files(args.gt, args.pred, args.masks, args.metrics, args.polarity, args.csv)
    names = [c for c in table.columns if c not in ("image", "hole_ratio")]
    print(table.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4f}"))
    means = {n: table[n].mean() for n in names}  # NaN (no hole) left out
    print("mean  " + "  ".join(f"{n}={v:.4f}" if np.isfinite(v) else f"{n}=n/a" for n, v in means.items()))


def cmd_serve(args) -> None:
    import ipaddress
    import os

    import uvicorn

    from inpaint.checkpoints import pick_device
    from inpaint.serve.app import create_app

    pick_device(args.device)  # a device that is not there fails now, not at the first fill
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        print(f"inpaint serve: warning: listening on {args.host}: anyone who can reach this machine can use the page "
              "and API (no login); use --host 127.0.0.1 to keep it local", file=sys.stderr)
    import socket

    try:  # a busy port or a bad address: one line now, not uvicorn's log after the imports
        with socket.create_server((args.host, args.port), family=socket.AF_INET6 if ":" in args.host else socket.AF_INET):
            pass
    except OSError as e:
        raise ValueError(f"--host {args.host} --port {args.port}: cannot listen there ({os.strerror(e.errno) if e.errno else e}); give another "
                         "--port, or stop what uses it") from None
    app = create_app(args.checkpoints, args.device, args.max_queue, args.max_upload_mb)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"inpaint serve: open http://{shown}:{args.port}/ (API docs: /docs); Ctrl+C stops it", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning" if args.quiet else "info")


def _size(text: str) -> tuple[int, int]:
    """'512' or 'WIDTHxHEIGHT' -> (height, width)."""
    try:
        w, h = (int(v) for v in text.lower().split("x")) if "x" in text.lower() else (int(text),) * 2
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; write 512 or 768x512 (width x height)") from None
    if min(w, h) < 32 or max(w, h) > 4096:
        raise argparse.ArgumentTypeError(f"{text}: each side must be between 32 and 4096 px")
    return h, w


def cmd_export(args) -> None:
    from inpaint.export import export

    info = export(args.method, args.out, args.format, args.size, args.checkpoints)
    if not args.quiet:
        print(f"{args.method} -> {args.out} ({info['format']}, {info['width']}x{info['height']}; largest difference "
              f"from the PyTorch fill on {info['check']['photos']} photos: {info['check']['max_abs_error']:.1e})")


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    ap = _Parser(prog="inpaint", description=__doc__, formatter_class=raw, add_help=False)
    ap.add_argument("-h", "--help", action=_HelpWithMethods)
    ap.add_argument("-V", "--version", action="version", version=f"%(prog)s {_version()}")
    sub = ap.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fill", help="fill the holes of your own photos (any size)", add_help=False,
                       description="Fill the holes of your own photos, of any size.", epilog=FILL_EPILOG,
                       formatter_class=raw)
    f.add_argument("-h", "--help", action=_HelpWithMethods)
    f.add_argument("--method", required=True,
                   help="a shipped pretrained model (pretrained/lama), a checkpoint path (models/lama/last.pt), a "
                        "trained model's name (lama: <checkpoints>/lama/best.pt, else pretrained/lama) or a "
                        "baseline name (telea, hybrid, ...); the list is at the end of this help")
    f.add_argument("--checkpoints", help="folder of trained models <name>/best.pt (default: ./models and "
                   "the project's models/)")
    f.add_argument("--image", required=True, help="a photo, or a folder of photos (searched recursively)")
    f.add_argument("--mask", required=True, help="its mask; for a folder: a folder of masks with the same names, "
                                                 "or one mask for every photo")
    f.add_argument("--out", required=True, help="output file (.png, .jpg/.jpeg, .webp) or folder; see below")
    f.add_argument("--format", choices=sorted(FORMAT_NAMES), help="format of outputs written into a folder "
                                                                   "(default png)")
    f.add_argument("--quality", type=_positive(1, 100), default=95, help="JPEG/WebP quality 1-100 (default 95)")
    f.add_argument("--overwrite", action="store_true", help="allow outputs to replace input photos or masks")
    f.add_argument("--polarity", default="white_hole", choices=POLARITIES,
                   help="which mask pixels mark the hole (default: white)")
    f.add_argument("--max-side", type=_positive(32), default=1024,
                   help="longest side the method works at; larger hole contexts are shrunk (default 1024)")
    f.add_argument("--batch-size", type=_positive(1), default=None,
                   help="photos per forward pass of a network, among those whose hole context has the same "
                        "size (default: 8 on a GPU, 1 on the CPU); classical methods take one at a time")
    f.add_argument("--samples", type=_positive(1, 16), default=1,
                   help="for a model that samples (a vae): N different fills per photo, written as "
                        "<name>-seed<S+k><ext> (default 1)")
    f.add_argument("--seed", type=_positive(0), default=None,
                   help="for a model that samples: the first draw (default 0 with --samples; without either, its "
                        "deterministic fill); the same seed gives the same fill")
    f.add_argument("--refine", action="store_true",
                   help="lama models: fill at half (and quarter) size first and carry that layout up to the work "
                        "size by optimising the bottleneck features (Kulshreshtha et al. 2022, inpaint.refine); "
                        "only where the hole context's shorter side is 363 px or more at --max-side; about 10x slower, and memory for a backward pass at that size")
    f.add_argument("--delattice", action=argparse.BooleanOptionalAction, default=None,
                   help="network methods (on for them by default): take out of the fill the faint 8-px grid a "
                        "generator can draw on flat areas of large photos, estimated locally from the hole's own "
                        "pixels (inpaint.delattice); no network pass, about 1.2x the time of a 2 MP fill on the "
                        "CPU; --no-delattice for the network's own fill")
    f.add_argument("--detail", action=argparse.BooleanOptionalAction, default=False,
                   help="where the hole context is larger than --max-side (so its fill is upsampled): take the "
                        "fill's fine detail from the photo at its own size, from the known patch that best matches "
                        "each place (inpaint.detail_transfer); any method; seconds per megapixel of context on the "
                        "CPU, contexts up to 16 MP (default off)")
    f.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    f.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary, only warnings and errors")
    f.set_defaults(run=cmd_fill)
    s = sub.add_parser("score", help="PSNR/SSIM/LPIPS (and hole metrics) of predictions against ground truth",
                       description="Score predictions against their ground truth.", epilog=SCORE_EPILOG,
                       formatter_class=raw)
    s.add_argument("gt", help="ground-truth image or folder")
    s.add_argument("pred", help="prediction image or folder (matched by file name without extension)")
    s.add_argument("--masks", help="mask image or folder (1 = hole), or one mask for all: composite, add hole metrics")
    s.add_argument("--polarity", default="white_hole", choices=POLARITIES)
    s.add_argument("--metrics", help="comma-separated metric names (default: the report's headline metrics, "
                                     "lpips,psnr,ssim, plus hole_psnr,hole_l1 with --masks)")
    s.add_argument("--csv", help="also write the table to this CSV (no-hole metrics left empty)")
    s.set_defaults(run=cmd_score)
    v = sub.add_parser("serve", help="a local web page to paint the hole and fill it, and an HTTP API",
                       description="Serve a page (paint the hole, fill, compare, download) and an HTTP API "
                                   "(POST /api/fill, GET /api/methods; docs at /docs). Fills run one at a time "
                                   "behind a queue. Offline: nothing is fetched from elsewhere.")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only; "
                                                       "0.0.0.0 opens it to the network)")
    v.add_argument("--port", type=_positive(1, 65535), default=7860, help="port (default 7860)")
    v.add_argument("--checkpoints", help="folder of trained models <name>/best.pt (default: ./models and "
                   "the project's models/)")
    v.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    v.add_argument("--max-queue", type=_positive(1), default=32, help="fills waiting or running at most; more are "
                                                                      "answered 503 (default 32)")
    v.add_argument("--max-upload-mb", type=_positive(1), default=256, help="largest request in MiB (default 256)")
    v.add_argument("-q", "--quiet", action="store_true", help="log warnings only, not every request")
    v.set_defaults(run=cmd_serve)
    e = sub.add_parser("export", help="a model as TorchScript or ONNX, to run without this package",
                       description="Export a model's generator at one size as TorchScript (torch.jit.load) or ONNX "
                                   "(ONNX Runtime), checked against the PyTorch fill on real photos (largest "
                                   "difference at most 1e-3) before it is written. Inputs: image (1, 3, H, W) and "
                                   "mask (1, 1, H, W) float32 in [0, 1], 1 = hole; output: the composited fill. "
                                   "<out>.json describes it.")
    e.add_argument("--method", required=True, help="a model: pretrained/lama, a trained model's name or a checkpoint")
    e.add_argument("--out", required=True, help="the file to write (and <out>.json)")
    e.add_argument("--format", choices=["torchscript", "onnx"], default="torchscript", help="default torchscript")
    e.add_argument("--size", type=_size, default=(512, 512), help="WIDTHxHEIGHT the program takes, or one number "
                                                                  "for a square (default 512)")
    e.add_argument("--checkpoints", help="folder of trained models <name>/best.pt (default: ./models and "
                   "the project's models/)")
    e.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    e.set_defaults(run=cmd_export)
    return ap


def _user_error(e: BaseException) -> bool:
    """Bad input, a missing file, a missing weights cache: reported in one line, not a traceback."""
    weights = sys.modules.get("inpaint.weights")
    return isinstance(e, (ValueError, OSError)) or (weights is not None and isinstance(e, weights.WeightsMissingError))


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so its temporary files are removed on the way out as for Ctrl+C."""


def _terminate(signum, frame):
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not interrupt the clean-up
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    args = build_parser().parse_args(argv)
    own = args.command != "serve" and threading.current_thread() is threading.main_thread()  # uvicorn has its own
    previous = signal.signal(signal.SIGTERM, _terminate) if own else None
    try:
        args.run(args)
    except KeyboardInterrupt as e:
        print(f"inpaint {args.command}: {'terminated' if isinstance(e, Terminated) else 'interrupted'}; finished "
              "outputs are complete, the rest were not written", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    except Exception as e:  # sorted by _user_error; the rest is a bug and keeps its traceback
        if not _user_error(e):
            raise
        print(f"inpaint {args.command}: {error_text(e)}", file=sys.stderr)
        return 2
    finally:
        if own and previous is not None:  # None: a handler set outside Python, which cannot be put back
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
