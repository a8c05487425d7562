"""The server's fills: one at a time on one worker thread, behind a bounded queue.

Each request gets a private folder under the server's own temporary folder (mode 0700); the photo and
mask are saved there, checked and filled by `inpaint fill`'s plan and loop (`plan_jobs`, `fill_photos`:
the same checks and messages, the 250 MP limit, the bounded-memory path for huge photos, atomic
writes), and the folder is removed when the request ends: answered, failed, or abandoned by a client
that went away (then as soon as its fill, if already running, returns). Masks: 1 (white) = hole.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from inpaint.encode import FORMAT_NAMES
from inpaint.fill import fill_photos, plan_jobs, sample_jobs
from inpaint.io import LARGE_PIXELS
from inpaint.methods import available_methods, resolve_method

MAX_SAMPLES = 8


def sweep_abandoned() -> list[Path]:
    """Remove the private folders that killed servers left (SIGKILL runs no clean-up): this user's
    `inpaint-serve-<pid>-*` folders in the temporary folder whose process is gone."""
    gone = []
    for folder in Path(tempfile.gettempdir()).glob("inpaint-serve-*-*"):
        pid = folder.name.split("-")[2]
        try:
            if not pid.isdigit() or folder.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)  # alive (or another user's): kept
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder)
        except (PermissionError, OSError, OverflowError):
            continue
    return gone


class QueueFull(Exception):
    """More fills are waiting than the server takes (`max_queue`)."""


@dataclass(frozen=True)
class Request:
    """What to do with one uploaded photo and mask (1 = hole)."""

    method: str
    fmt: str = "png"  # a key of FORMAT_NAMES
    quality: int = 95
    samples: int = 1  # fills to return; more than one only from a model that samples
    seed: int | None = None  # a sampling model's draw; None: its deterministic fill
    max_side: int = 1024
    polarity: str = "white_hole"
    delattice: bool = True  # a network's fill with its 8-px lattice taken out (inpaint.delattice); no effect on others
    detail: bool = False  # where the context is shrunk to max_side: the fill's fine detail from the photo (--detail)


@dataclass
class Result:
    images: list[bytes]  # encoded in the request's format, one per sample
    seeds: list[int | None]
    no_hole: bool  # the mask has no hole: the photo came back unchanged
    seconds: float
    notes: list[str]  # what the output could not keep of the photo (frames, transparency in JPEG, ...)


class Filler:
    """Resolves methods once (kept loaded, a few at a time) and fills requests one at a time."""

    def __init__(self, checkpoints: str | Path | None = None, device: str = "auto", max_queue: int = 32,
                 keep_loaded: int = 4):
        self.checkpoints, self.device = checkpoints, device
        self.max_queue, self.keep_loaded = max_queue, keep_loaded
        sweep_abandoned()
        self.root = Path(tempfile.mkdtemp(prefix=f"inpaint-serve-{os.getpid()}-"))  # private: mode 0700
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="inpaint-fill")
        self._methods: dict = {}  # name -> resolved method; touched by the worker thread only
        self._lock = threading.Lock()
        self.queued = 0  # submitted and not finished (the running one included)
        self.running = False

    def new_folder(self) -> Path:
        """A fresh private folder for one request, under `root`."""
        return Path(tempfile.mkdtemp(dir=self.root))

    def offered(self) -> list[dict]:
        """The methods this server fills with (`inpaint.methods.available_methods`): a request names one of
        these, never a path of the server's own files."""
        return available_methods(self.checkpoints)

    def check(self, folder: Path, photo: Path, mask: Path, request: Request) -> None:
        """Every check `inpaint fill` makes before filling (sizes, formats), and that the method is one this
        server offers, without loading a model, so bad input is answered without waiting in the queue."""
        names = [m["name"] for m in self.offered()]
        if request.method not in names:
            raise ValueError(f"method {request.method!r} is not one this server offers; use one of {', '.join(names)} "
                             "(GET /api/methods)")
        (job,) = plan_jobs(photo, mask, folder / f"filled{FORMAT_NAMES[request.fmt]}", request.fmt)
        if request.samples > 1 and job.pixels > LARGE_PIXELS:
            raise ValueError(f"samples: {request.samples} fills of a {job.pixels / 1e6:.0f} MP photo are more than a "
                             f"request holds; ask for one at a time above {LARGE_PIXELS // 10**6} MP (seed, seed + 1, ...)")

    def submit(self, folder: Path, photo: Path, mask: Path, request: Request) -> Future:
        """Queue a fill; raises QueueFull when `max_queue` fills are already waiting or running."""
        with self._lock:
            if self.queued >= self.max_queue:
                raise QueueFull(f"{self.queued} fills are queued, the most this server takes (--max-queue "
                                f"{self.max_queue}); try again shortly")
            self.queued += 1
        future = self._pool.submit(self._run, folder, photo, mask, request)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _future: Future) -> None:
        with self._lock:
            self.queued -= 1

    def discard(self, folder: Path, future: Future | None = None) -> None:
        """Remove a request's folder: now when its fill is done or was still waiting (it is then dropped
        from the queue), else as soon as the running fill returns."""
        remove = lambda *_: shutil.rmtree(folder, ignore_errors=True)  # noqa: E731
        if future is None or future.cancel() or future.done():
            remove()
        else:
            future.add_done_callback(remove)

    def close(self) -> None:
        """Stop taking fills, wait for the running one, and remove every private folder."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def method(self, name: str):
        """The resolved method (`inpaint.methods.resolve_method`), loaded once and kept while it is among the last
        `keep_loaded` used."""
        method = self._methods.pop(name, None)
        if method is None:
            method = resolve_method(name, self.checkpoints, self.device, fallback_pretrained=True)
            while len(self._methods) >= self.keep_loaded:
                self._methods.pop(next(iter(self._methods)))
        self._methods[name] = method  # most recently used last
        return method

    def _run(self, folder: Path, photo: Path, mask: Path, request: Request) -> Result:
        self.running = True
        try:
            return self._fill(folder, photo, mask, request)
        finally:
            self.running = False

    def _fill(self, folder: Path, photo: Path, mask: Path, request: Request) -> Result:
        from inpaint.delattice import as_filled
        from inpaint.sampling import drawing

        t0 = time.perf_counter()
        method = self.method(request.method)

        def product(chosen):  # a network's fill with its lattice taken out, unless the request says off
            return as_filled(chosen, None if request.delattice else False)

        sampling = request.seed is not None or request.samples > 1
        if sampling:
            drawing(method, 0)  # a model that does not sample is named before any work
        seeds = [(request.seed or 0) + k for k in range(request.samples)] if sampling else [None]
        jobs = plan_jobs(photo, mask, folder / f"filled{FORMAT_NAMES[request.fmt]}", request.fmt)  # planned once
        runs = [(product(method), jobs)] if not sampling else \
            [(product(drawing(method, seed)), drawn) for seed, drawn in sample_jobs(jobs, seeds)]  # filled-seed<S>.<ext>
        images, no_hole, notes = [], False, []
        for chosen, run_jobs in runs:
            done = fill_photos(chosen, run_jobs, polarity=request.polarity, max_side=request.max_side,
                               quality=request.quality, quiet=True, detail=request.detail)
            no_hole, notes = bool(done["no_hole"]), done["notes"]
            images.append(run_jobs[0].dest.read_bytes())
            run_jobs[0].dest.unlink()
            if no_hole:  # nothing to vary: the photo as it is, once
                seeds = seeds[:1]
                break
        return Result(images, seeds, no_hole, time.perf_counter() - t0, notes)
