"""inpaint serve's API in-process (FastAPI's test client): fills, options, bad input, the queue, the
private folder. The real server process and the page in a real browser: tests/e2e/test_serve.py."""
import base64
import io
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from testkit import randomise_heads, save_photo

from inpaint.checkpoints import CHECKPOINT_FORMAT, save_checkpoint
from inpaint.cli import main
from inpaint.models import build_generator
from inpaint.pretrained import ROOT, pins
from inpaint.serve.app import STATIC, create_app
from inpaint.serve.filler import Filler, QueueFull, Request

VAE = {"width": 4, "n_down": 3, "max_width": 8, "latent_channels": 2, "n_mid": 1}


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture
def photo(tmp_path):
    return np.asarray(Image.open(save_photo(tmp_path / "in" / "photo.png", size=(90, 70))))


@pytest.fixture
def hole():
    m = np.zeros((70, 90), np.uint8)
    m[20:45, 30:60] = 255
    return m


@pytest.fixture
def client(tmp_path, monkeypatch):
    """A client of an app whose checkpoints folder holds a tiny VAE as models/vae/best.pt."""
    vae = build_generator("vae", **VAE)
    randomise_heads(vae)  # an untrained generator returns its start fill whatever it draws
    save_checkpoint(tmp_path / "models" / "vae" / "best.pt",
                    {"format": CHECKPOINT_FORMAT, "arch": "vae", "kwargs": VAE, "state": vae.state_dict()})
    monkeypatch.chdir(tmp_path)
    app = create_app(checkpoints="models", device="cpu", max_queue=4, max_upload_mb=1)
    with TestClient(app) as c:
        yield c


def fill(client, photo_bytes, mask_bytes, names=("photo.png", "mask.png"), **fields):
    files = {"photo": (names[0], photo_bytes), "mask": (names[1], mask_bytes)}
    return client.post("/api/fill", files=files, data={k: str(v) for k, v in fields.items()})


def test_a_fill_is_the_photo_outside_the_hole_and_changed_inside(client, photo, hole):
    r = fill(client, png(photo), png(hole), method="telea")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.headers["x-inpaint-method"] == "telea" and 'filename="photo-filled.png"' in r.headers["content-disposition"]
    out = decode(r.content)
    assert out.shape == photo.shape
    assert np.array_equal(out[hole == 0], photo[hole == 0])  # known pixels bit for bit
    assert np.abs(out[hole > 0].astype(int) - photo[hole > 0]).mean() > 1


def test_the_output_format_is_chosen_and_jpeg_is_a_jpeg(client, photo, hole):
    r = fill(client, png(photo), png(hole), method="telea", format="jpg", quality=80)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).format == "JPEG"
    r = fill(client, png(photo), png(hole), method="telea", format="webp")
    assert r.headers["content-type"] == "image/webp" and Image.open(io.BytesIO(r.content)).format == "WEBP"


def test_the_api_answer_equals_inpaint_fill_on_the_same_files(client, tmp_path, photo, hole):
    (tmp_path / "in" / "mask.png").write_bytes(png(hole))
    assert main(["fill", "--method", "models/vae/best.pt", "--image", str(tmp_path / "in" / "photo.png"),
                 "--mask", str(tmp_path / "in" / "mask.png"), "--out", str(tmp_path / "cli.png"), "-q"]) == 0
    r = fill(client, (tmp_path / "in" / "photo.png").read_bytes(), png(hole), method="vae")
    assert r.status_code == 200
    assert np.array_equal(decode(r.content), decode((tmp_path / "cli.png").read_bytes()))


def test_keep_filling_a_second_hole_on_the_result(client, photo, hole):
    first = fill(client, png(photo), png(hole), method="telea").content
    second_hole = np.zeros_like(hole)
    second_hole[50:65, 5:25] = 255
    r = fill(client, first, png(second_hole), method="telea")
    a, b = decode(first), decode(r.content)
    assert np.array_equal(b[second_hole == 0], a[second_hole == 0])
    assert not np.array_equal(b[second_hole > 0], a[second_hole > 0])


def test_variations_are_different_seeded_and_reproducible(client, photo, hole):
    r = fill(client, png(photo), png(hole), method="vae", samples=3, seed=5)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["seeds"] == [5, 6, 7] and body["format"] == "png"
    fills = [decode(base64.b64decode(b)) for b in body["images"]]
    for f in fills:
        assert np.array_equal(f[hole == 0], photo[hole == 0])
    assert not np.array_equal(fills[0], fills[1]) and not np.array_equal(fills[1], fills[2])
    again = fill(client, png(photo), png(hole), method="vae", samples=3, seed=5).json()
    assert again["images"] == body["images"]  # the same seed, the same fills
    one = fill(client, png(photo), png(hole), method="vae", seed=6)  # sample k is seed + k
    assert one.headers["x-inpaint-seed"] == "6" and np.array_equal(decode(one.content), fills[1])
    plain = fill(client, png(photo), png(hole), method="vae")  # no seed: the deterministic fill
    assert "x-inpaint-seed" not in plain.headers and not np.array_equal(decode(plain.content), fills[0])


def test_methods_lists_shipped_trained_and_classical_ones(client):
    body = client.get("/api/methods").json()
    kinds = {m["name"]: (m["kind"], m["samples"]) for m in body["methods"]}
    assert kinds["pretrained/lama"] == ("pretrained", False) and kinds["vae"] == ("trained", True)
    assert kinds["telea"] == ("baseline", False) and kinds["patch_match"] == ("baseline", False)
    assert body["default"] == "pretrained/lama_fullres"  # the one for photos at their own size


def test_a_mask_without_hole_gives_the_photo_back_with_a_warning(client, photo, hole):
    r = fill(client, png(photo), png(np.zeros_like(hole)), method="telea")
    assert r.status_code == 200 and "no hole" in r.headers["x-inpaint-warning"]
    assert np.array_equal(decode(r.content), photo)


def cli_error(tmp_path, capsys, photo_bytes, mask_bytes, names, method="telea") -> str:
    """What `inpaint fill` prints for the same files, without its prefix and folder."""
    folder = tmp_path / "cli"
    folder.mkdir(exist_ok=True)
    (folder / names[0]).write_bytes(photo_bytes)
    (folder / names[1]).write_bytes(mask_bytes)
    assert main(["fill", "--method", method, "--image", str(folder / names[0]), "--mask", str(folder / names[1]),
                 "--out", str(tmp_path / "cli-out.png"), "-q"]) == 2
    return capsys.readouterr().err.strip().removeprefix("inpaint fill: ").replace(f"{folder}/", "")


@pytest.mark.parametrize("case", ["not_an_image", "other_size", "empty", "all_hole"])
def test_bad_input_is_a_400_with_the_message_inpaint_fill_gives(client, tmp_path, capsys, photo, hole, case):
    photo_bytes, mask_bytes, names = png(photo), png(hole), ("holiday.png", "holiday-mask.png")
    if case == "not_an_image":
        photo_bytes = b"this is a text file, not a photo\n"
    elif case == "other_size":
        mask_bytes = png(np.zeros((32, 32), np.uint8))
    elif case == "empty":
        mask_bytes = b""
    else:
        mask_bytes = png(np.full_like(hole, 255))
    r = fill(client, photo_bytes, mask_bytes, names=names, method="telea")
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    message = r.json()["error"]
    assert message == cli_error(tmp_path, capsys, photo_bytes, mask_bytes, names)
    assert "holiday" in message and not any(s in message for s in ("inpaint-serve", str(tmp_path), str(ROOT)))


@pytest.mark.parametrize("method", ["no_such_method", "/etc/hostname", "models/vae/best.pt", "../pretrained/lama"])
def test_a_method_is_one_the_server_offers_never_a_path(client, photo, hole, method):
    r = fill(client, png(photo), png(hole), method=method)
    assert r.status_code == 400
    message = r.json()["error"]
    shipped = ", ".join(f"pretrained/{Path(f).stem}" for f in sorted(pins()))  # every shipped model, first
    assert message.startswith(f"method {method!r} is not one this server offers; use one of {shipped}, vae, ")
    assert str(ROOT) not in message and "tried" not in message  # nothing about the server's files


@pytest.mark.parametrize("fields,expected", [
    ({"samples": 0}, "samples: 0 must be between 1 and 8"),
    ({"samples": "many"}, "samples: 'many' is not a whole number"),
    ({"format": "gif"}, "format: 'gif' is not an output format"),
    ({"polarity": "red"}, "polarity: 'red' is unknown"),
    ({"delattice": "maybe"}, "delattice: 'maybe' is not a yes/no value; use on or off"),
    ({"max_side": 8}, "max_side: 8 must be between 32 and 4096"),
    ({"max_side": 5000}, "max_side: 5000 must be between 32 and 4096"),
    ({"method": "telea", "samples": 2}, "method 'telea' does not draw different fills"),
    ({"method": "pretrained/lama", "seed": 3}, "method 'pretrained/lama' does not draw different fills"),
])
def test_bad_options_name_the_field(client, photo, hole, fields, expected):
    r = fill(client, png(photo), png(hole), **fields)
    assert r.status_code == 400 and r.json()["error"].startswith(expected)


def test_a_missing_file_field_and_a_too_large_upload(client, photo, hole):
    r = client.post("/api/fill", files={"photo": ("p.png", png(photo))}, data={"method": "telea"})
    assert r.status_code == 400 and r.json()["error"].startswith("mask: missing")
    big = np.random.default_rng(0).integers(0, 255, (700, 700, 3), dtype=np.uint8)  # ~1.4 MB of PNG noise > 1 MiB
    r = fill(client, png(big), png(np.zeros((700, 700), np.uint8)), method="telea")
    assert r.status_code == 413 and "limit of 1 MiB" in r.json()["error"]


def test_nothing_is_left_in_the_private_folder_and_it_goes_at_shutdown(tmp_path, monkeypatch, photo, hole):
    monkeypatch.chdir(tmp_path)
    app = create_app(checkpoints="models", device="cpu")
    with TestClient(app) as c:
        assert fill(c, png(photo), png(hole), method="telea").status_code == 200
        assert fill(c, b"junk", png(hole), method="telea").status_code == 400
        folder = Path(c.app.state.filler.root)
        assert folder.is_dir() and oct(folder.stat().st_mode & 0o777) == "0o700"
        assert [p.name for p in folder.iterdir() if not p.name.startswith("torchinductor")] == []
    assert not folder.exists()


def test_the_queue_refuses_past_its_size_and_a_waiting_fill_can_be_dropped(tmp_path, monkeypatch):
    filler = Filler(device="cpu", max_queue=2)
    gate = threading.Event()
    monkeypatch.setattr(filler, "_run", lambda *a: gate.wait(10))
    try:
        running = filler.submit(tmp_path, tmp_path / "p", tmp_path / "m", Request("telea"))
        waiting_folder = filler.new_folder()
        waiting = filler.submit(waiting_folder, tmp_path / "p", tmp_path / "m", Request("telea"))
        with pytest.raises(QueueFull, match="--max-queue 2"):
            filler.submit(tmp_path, tmp_path / "p", tmp_path / "m", Request("telea"))
        filler.discard(waiting_folder, waiting)  # its client went away: dropped from the queue, folder removed
        assert waiting.cancelled() and not waiting_folder.exists()
        busy_folder = filler.new_folder()
        filler.discard(busy_folder, running)  # running: removed when the fill returns
        assert busy_folder.exists()
        gate.set()
        running.result(10)
        deadline = time.monotonic() + 5  # the future's callbacks run just after result() returns
        while (busy_folder.exists() or filler.queued) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not busy_folder.exists() and filler.queued == 0
    finally:
        gate.set()
        filler.close()
    assert not filler.root.exists()


def test_openapi_docs_and_an_offline_page(client):
    spec = client.get("/openapi.json").json()
    form = spec["paths"]["/api/fill"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"photo", "mask", "method", "samples", "seed", "format"} <= set(form["properties"])
    assert "/api/methods" in spec["paths"] and "/api/queue" in spec["paths"]
    docs = client.get("/docs").text
    assert "POST /api/fill" in docs and "samples" in docs
    page = client.get("/")
    assert page.status_code == 200 and 'id="view"' in page.text
    for f in STATIC.iterdir():  # nothing is fetched from elsewhere: no URL with a host in the page's files
        text = f.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, f.name
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200


def test_what_the_output_cannot_keep_is_a_warning_naming_the_upload(client, photo, hole):
    alpha = np.full(photo.shape[:2], 128, np.uint8)
    r = fill(client, png(np.dstack([photo, alpha])), png(hole), names=("clear.png", "m.png"), method="telea",
             format="jpg")
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).mode == "RGB"
    warning = r.headers["x-inpaint-warning"]
    assert "clear.png: JPEG has no transparency" in warning and "inpaint-serve" not in warning
    kept = fill(client, png(np.dstack([photo, alpha])), png(hole), method="telea")  # PNG keeps it
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(kept.content)))[..., 3], alpha)


def test_a_killed_server_s_private_folder_is_swept_by_the_next(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / "inpaint-serve-999999999-abc"  # no such process
    (dead / "job").mkdir(parents=True)
    alive = tmp_path / f"inpaint-serve-{os.getpid()}-xyz"  # this process: alive
    alive.mkdir()
    other = tmp_path / "inpaint-serve-notes"  # not a server's folder
    other.mkdir()
    filler = Filler(device="cpu")
    try:
        assert not dead.exists() and alive.exists() and other.exists()
        assert filler.root.parent == tmp_path and filler.root.name.startswith(f"inpaint-serve-{os.getpid()}-")
    finally:
        filler.close()


def test_a_busy_port_is_one_line(capsys):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"--port {port}: cannot listen there (Address already in use); give another --port" in err


def test_inpaint_fill_draws_the_same_variations_as_the_api(client, tmp_path, capsys, photo, hole):
    (tmp_path / "in" / "mask.png").write_bytes(png(hole))
    args = ["fill", "--method", "vae", "--image", str(tmp_path / "in" / "photo.png"), "--mask",
            str(tmp_path / "in" / "mask.png"), "-q"]
    assert main([*args, "--out", str(tmp_path / "v.png"), "--samples", "3", "--seed", "5"]) == 0
    files = [tmp_path / f"v-seed{s}.png" for s in (5, 6, 7)]
    assert all(f.is_file() for f in files) and not (tmp_path / "v.png").exists()
    api = fill(client, (tmp_path / "in" / "photo.png").read_bytes(), png(hole), method="vae", samples=3, seed=5).json()
    for f, b64 in zip(files, api["images"]):
        assert np.array_equal(decode(f.read_bytes()), decode(base64.b64decode(b64)))
    assert not np.array_equal(decode(files[0].read_bytes()), decode(files[1].read_bytes()))
    assert main([*args, "--out", str(tmp_path / "one.png"), "--seed", "6"]) == 0  # one draw, at the name given
    assert np.array_equal(decode((tmp_path / "one.png").read_bytes()), decode(files[1].read_bytes()))
    capsys.readouterr()
    assert main([*args, "--method", "telea", "--out", str(tmp_path / "t.png"), "--seed", "1"]) == 2
    assert "method 'telea' does not draw different fills" in capsys.readouterr().err
    assert not (tmp_path / "t.png").exists() and not list(tmp_path.glob("t-seed*"))


def test_a_network_s_fill_has_its_lattice_taken_out_unless_the_request_says_off(client, tmp_path, monkeypatch, photo,
                                                                                 hole):
    import inpaint.delattice as module

    calls, real = [], module.delattice
    monkeypatch.setattr(module, "delattice", lambda fills, masks: calls.append(len(fills)) or real(fills, masks))
    assert fill(client, png(photo), png(hole), method="vae").status_code == 200 and calls == [1]
    assert fill(client, png(photo), png(hole), method="vae", samples=2, seed=1).status_code == 200
    assert calls == [1, 1, 1]  # each draw too
    off = fill(client, png(photo), png(hole), method="vae", delattice="off")
    assert off.status_code == 200 and calls == [1, 1, 1]
    assert fill(client, png(photo), png(hole), method="telea").status_code == 200 and calls == [1, 1, 1]
    (tmp_path / "in" / "mask.png").write_bytes(png(hole))  # off is inpaint fill --no-delattice
    assert main(["fill", "--method", "vae", "--no-delattice", "--image", str(tmp_path / "in" / "photo.png"),
                 "--mask", str(tmp_path / "in" / "mask.png"), "--out", str(tmp_path / "raw.png"), "-q"]) == 0
    assert calls == [1, 1, 1] and np.array_equal(decode(off.content), decode((tmp_path / "raw.png").read_bytes()))


def test_detail_on_is_inpaint_fill_detail_where_the_context_is_shrunk(client, tmp_path, photo, hole):
    args = dict(method="telea", max_side="32")  # the hole's context is larger than 32 px: its fill is upsampled
    on, off = (fill(client, png(photo), png(hole), detail=d, **args) for d in ("on", "off"))
    assert on.status_code == off.status_code == 200
    assert not np.array_equal(decode(on.content), decode(off.content))
    (tmp_path / "in" / "mask.png").write_bytes(png(hole))
    assert main(["fill", "--method", "telea", "--max-side", "32", "--detail", "--image", str(tmp_path / "in" / "photo.png"),
                 "--mask", str(tmp_path / "in" / "mask.png"), "--out", str(tmp_path / "d.png"), "-q"]) == 0
    assert np.array_equal(decode(on.content), decode((tmp_path / "d.png").read_bytes()))
    bad = fill(client, png(photo), png(hole), detail="lots", **args)
    assert bad.status_code == 400 and bad.json()["error"] == "detail: 'lots' is not a yes/no value; use on or off"
