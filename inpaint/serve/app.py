"""The FastAPI app of `inpaint serve`: the page, the fill API and its description.

  GET  /                the page (static/index.html): paint the hole, fill, compare, download
  POST /api/fill        multipart: photo, mask (white = hole) and options -> the filled image
  GET  /api/methods     every method this server can fill with
  GET  /api/queue       fills waiting and running (the page's progress)
  GET  /openapi.json    the API's OpenAPI description;  GET /docs  the same as a plain page

Bad input is a 4xx JSON answer {"error": "..."} carrying the message `inpaint fill` prints, with the
uploaded files' names in place of the server's private paths.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as HTTPRequest

from inpaint.encode import FORMAT_NAMES, OUTPUT_FORMATS
from inpaint.io import IMAGE_EXTENSIONS, POLARITIES, error_text
from inpaint.serve.filler import MAX_SAMPLES, Filler, QueueFull, Request

STATIC = Path(__file__).parent / "static"
MAX_SIDE = 4096  # a request's max_side at most: the work crop's memory grows with its square
log = logging.getLogger("inpaint.serve")
MEDIA = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
FORMATS = {"png": "png", "jpg": "jpg", "jpeg": "jpg", "webp": "webp"}  # accepted spellings -> FORMAT_NAMES key
SWITCH = {"on": True, "off": False, "yes": True, "no": False, "true": True, "false": False, "1": True, "0": False}  # an on/off field's spellings
# the page's and the API's default method, the first present: the one that fills photos at their own size best
# (docs/fullres.md: BSDS500 test at 481x321, 0.88x the best non-learned LPIPS against pretrained/lama's 0.91x)
PREFERRED = ["pretrained/lama_fullres", "pretrained/lama", "lama"]


class TooLarge(Exception):
    """The request body is over the server's upload limit."""


class BadField(ValueError):
    """A form field is missing or out of range; the message names it."""


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


FILL_FORM = {  # /api/fill's multipart fields, for the OpenAPI description (the handler parses them itself)
    "photo": {"type": "string", "format": "binary", "description": "the photo (PNG, JPEG, WebP, TIFF, BMP, ...)"},
    "mask": {"type": "string", "format": "binary", "description": "its mask, same size: white (255) = hole, "
                                                                   "unless polarity is black_hole"},
    "method": {"type": "string", "description": f"a name from GET /api/methods (default: {PREFERRED[0]})"},
    "format": {"type": "string", "enum": sorted(FORMATS), "default": "png", "description": "output format"},
    "quality": {"type": "integer", "minimum": 1, "maximum": 100, "default": 95, "description": "JPEG/WebP quality"},
    "samples": {"type": "integer", "minimum": 1, "maximum": MAX_SAMPLES, "default": 1,
                "description": "fills to draw, for a model that samples; over 1 the answer is JSON with base64 images"},
    "seed": {"type": "integer", "minimum": 0, "description": "a sampling model's draw (the same seed, the same fill); "
                                                             "sample k uses seed + k; empty: its deterministic fill"},
    "max_side": {"type": "integer", "minimum": 32, "maximum": MAX_SIDE, "default": 1024,
                 "description": "longest side the method works at; larger hole contexts are shrunk"},
    "polarity": {"type": "string", "enum": list(POLARITIES), "default": "white_hole"},
    "delattice": {"type": "string", "enum": list(SWITCH), "default": "on",
                  "description": "network methods: take the faint 8-px grid out of the fill (inpaint fill "
                                 "--delattice, its default); off: the network's own fill; no effect on classical ones"},
    "detail": {"type": "string", "enum": list(SWITCH), "default": "off",
               "description": "on: where the holes' context is larger than max_side, take the fill's fine detail from "
                              "the photo at its own size (inpaint fill --detail; any method; seconds per megapixel)"},
}
FILL_DOC = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["photo", "mask"], "properties": FILL_FORM}}}},
    "responses": {
        "200": {"description": "the filled photo at full resolution (samples > 1: JSON {method, format, seeds, "
                               "images: [base64]}); header X-Inpaint-Warning when the mask has no hole",
                "content": {m: {} for m in MEDIA.values()} | {"application/json": {}}},
        "400": {"description": "bad input: {error}, the message `inpaint fill` gives"},
        "413": {"description": "the upload is over the server's limit (--max-upload-mb)"},
        "503": {"description": "the queue is full (--max-queue); try again shortly"},
    },
}


def create_app(checkpoints: str | Path | None = None, device: str = "auto", max_queue: int = 32,
               max_upload_mb: int = 256) -> FastAPI:
    """The app; `checkpoints` is the folder of trained models (<name>/best.pt), as for `inpaint fill`."""
    limit = max_upload_mb << 20

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        filler = Filler(checkpoints, device, max_queue)
        app.state.filler = filler
        previous, tempfile.tempdir = tempfile.tempdir, str(filler.root)  # uploads spill to disk only in there
        try:
            yield
        finally:
            tempfile.tempdir = previous
            await run_in_threadpool(filler.close)

    app = FastAPI(title="inpaint", summary="Fill the holes of your photos: paint the hole, pick a method.",
                  version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    def docs():
        from inpaint.serve.apidocs import render

        return HTMLResponse(render(app.openapi()))

    @app.get("/api/methods", summary="Methods this server fills with")
    def methods() -> dict:
        """Every method: shipped pretrained models, trained models of the checkpoints folder, baselines.
        `samples`: the model draws different fills (use samples/seed)."""
        found = app.state.filler.offered()
        names = [m["name"] for m in found]
        default = next((p for p in PREFERRED if p in names), names[0] if names else None)
        return {"methods": found, "default": default}

    @app.get("/api/queue", summary="Fills waiting and running")
    def queue() -> dict:
        filler = app.state.filler
        return {"queued": filler.queued, "running": filler.running, "max_queue": filler.max_queue}

    @app.post("/api/fill", summary="Fill the holes of a photo", openapi_extra=FILL_DOC)
    async def fill(request: HTTPRequest):
        """Fill the photo's holes (mask: white = hole) with a method; answers the image at full resolution."""
        filler: Filler = app.state.filler
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > limit:
            return error(413, f"upload of {int(size) / 2**20:.0f} MiB is over this server's limit of {max_upload_mb} "
                              "MiB; send a smaller photo, or start the server with a larger --max-upload-mb")
        folder = await run_in_threadpool(filler.new_folder)
        future, form, names, paths = None, None, {}, {}
        try:
            try:
                form = await HTTPRequest(request.scope, _counted(request.receive, limit)).form(max_files=2, max_fields=16)
            except TooLarge:
                return error(413, f"upload is over this server's limit of {max_upload_mb} MiB; send a smaller photo, "
                                  "or start the server with a larger --max-upload-mb")
            try:
                job = _options(form)
                for field in ("photo", "mask"):
                    upload = form.get(field)
                    if upload is None or isinstance(upload, str):
                        raise BadField(f"{field}: missing; send the {field} as a file field named {field!r} of a "
                                       "multipart/form-data request")
                    names[field] = Path(upload.filename or field).name or field
                    suffix = Path(names[field]).suffix.lower()
                    paths[field] = folder / f"{field}{suffix if suffix in IMAGE_EXTENSIONS else ''}"
                    await run_in_threadpool(_save, upload.file, paths[field])
                await run_in_threadpool(filler.check, folder, paths["photo"], paths["mask"], job)
                future = filler.submit(folder, paths["photo"], paths["mask"], job)
                result = await _wait(future, request)
            except (ValueError, OSError) as e:  # bad input; an OSError is the server's own (a full disk)
                return error(400 if isinstance(e, ValueError) else 500, _public(error_text(e), folder, paths, names))
            except QueueFull as e:
                return error(503, str(e))
            except HTTPException as e:  # Starlette's own form limits (too many files or fields)
                return error(e.status_code, f"the form: {e.detail}")
            except Exception as e:  # noqa: BLE001 - a bug or the machine (out of memory): logged, answered as JSON
                log.exception("fill failed")
                return error(500, f"the fill failed ({type(e).__name__}: {' '.join(str(e).split())[:200]}); the "
                                  "server's log has the details")
            if result is None:  # the client went away
                return Response(status_code=499)
            result.notes = [_public(n, folder, paths, names) for n in result.notes]
            return _answer(result, job, names["photo"])
        finally:
            if form is not None:
                await form.close()
            filler.discard(folder, future)

    return app


def _answer(result, job: Request, photo_name: str) -> Response:
    fmt = OUTPUT_FORMATS[FORMAT_NAMES[job.fmt]]
    headers = {"X-Inpaint-Method": _ascii_text(job.method), "X-Inpaint-Seconds": f"{result.seconds:.3f}"}
    warnings = list(result.notes)
    if result.no_hole:
        warnings.insert(0, "the mask has no hole (white = hole, or polarity black_hole); the photo is unchanged")
    if warnings:
        headers["X-Inpaint-Warning"] = _ascii_text("; ".join(warnings))
    if job.samples == 1:
        if result.seeds[0] is not None:
            headers["X-Inpaint-Seed"] = str(result.seeds[0])
        stem = Path(photo_name).stem or "photo"
        headers["Content-Disposition"] = f'inline; filename="{_ascii(stem)}-filled{FORMAT_NAMES[job.fmt]}"'
        return Response(result.images[0], media_type=MEDIA[fmt], headers=headers)
    return JSONResponse({"method": job.method, "format": job.fmt, "seeds": result.seeds,
                         "images": [base64.b64encode(b).decode() for b in result.images]}, headers=headers)


def _public(message: str, folder: Path, paths: dict, names: dict) -> str:
    """A message without the server's private paths: the uploaded files' own names in their place."""
    for field, path in paths.items():
        message = message.replace(str(path), names[field])
    return message.replace(f"{folder}/", "")


def _ascii_text(text: str) -> str:
    """A header value: printable ASCII only (HTTP headers are Latin-1; a photo's name may not be)."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)


def _ascii(text: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in text)


def _options(form) -> Request:
    """The request's options from its form fields, each checked with a message naming the field."""
    def text(name: str, default: str | None) -> str | None:
        value = form.get(name)
        if value is not None and not isinstance(value, str):
            raise BadField(f"{name}: expected a text field, got a file")
        return default if value is None or not value.strip() else value.strip()

    def number(name: str, default: int | None, low: int, high: int | None = None) -> int | None:
        value = text(name, None)
        if value is None:
            return default
        try:
            n = int(value)
        except ValueError:
            raise BadField(f"{name}: {value!r} is not a whole number") from None
        if n < low or (high is not None and n > high):
            raise BadField(f"{name}: {n} must be {f'between {low} and {high}' if high is not None else f'at least {low}'}")
        return n

    fmt = text("format", "png").lower().lstrip(".")
    if fmt not in FORMATS:
        raise BadField(f"format: {fmt!r} is not an output format; use one of {', '.join(sorted(FORMATS))}")
    polarity = text("polarity", "white_hole")
    if polarity not in POLARITIES:
        raise BadField(f"polarity: {polarity!r} is unknown; use one of {', '.join(POLARITIES)}")
    def switch(name: str, default: str) -> bool:
        value = text(name, default).lower()
        if value not in SWITCH:
            raise BadField(f"{name}: {value!r} is not a yes/no value; use on or off")
        return SWITCH[value]

    return Request(method=text("method", PREFERRED[0]), fmt=FORMATS[fmt], quality=number("quality", 95, 1, 100),
                   samples=number("samples", 1, 1, MAX_SAMPLES), seed=number("seed", None, 0, 2**63 - 1),
                   max_side=number("max_side", 1024, 32, MAX_SIDE), polarity=polarity,
                   delattice=switch("delattice", "on"), detail=switch("detail", "off"))


def _counted(receive, limit: int):
    """`receive` that raises TooLarge once more than `limit` body bytes came (uploads without a length)."""
    seen = 0

    async def counted():
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise TooLarge
        return message

    return counted


def _save(source, path: Path) -> None:
    with open(path, "wb") as f:
        shutil.copyfileobj(source, f, 1 << 20)


async def _wait(future, request: HTTPRequest):
    """The fill's result, or None as soon as the client has gone away (its fill is then dropped from the
    queue, or its result discarded)."""
    waiting = asyncio.wrap_future(future)
    while True:
        done, _ = await asyncio.wait({waiting}, timeout=0.25)
        if done:
            return waiting.result()
        if await request.is_disconnected():
            waiting.cancel()
            return None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("inpaint")
    except PackageNotFoundError:
        return "0"
