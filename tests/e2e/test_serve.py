"""`inpaint serve` as a real server process: the API over a socket, a client that goes away mid-fill,
shutdown, and the page in a real browser (Debian's headless Chromium through Selenium: `make browser`
installs it; CI runs this test, elsewhere it is skipped when no Chromium is installed)."""
import base64
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from testkit import save_photo

pytestmark = pytest.mark.e2e
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


class Server:
    def __init__(self, root: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = root / "tmp"  # the server's TMPDIR: its private folder is made in here
        self.tmp.mkdir()
        self.log = open(root / "server.log", "w+")
        env = {**os.environ, "TMPDIR": str(self.tmp)}
        self.proc = subprocess.Popen([sys.executable, "-m", "inpaint.cli", "serve", "--port", str(self.port), "-q"],
                                     cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/methods", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                assert self.proc.poll() is None, self.output()
                time.sleep(0.3)
        raise AssertionError(f"the server did not answer within 120 s:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def private(self) -> Path:
        (folder,) = self.tmp.glob("inpaint-serve-*")
        return folder

    def jobs_left(self) -> list[str]:
        return [p.name for p in self.private().iterdir() if not p.name.startswith("torchinductor")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("serve"))
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = save_photo(tmp_path_factory.mktemp("photo") / "photo.png", size=(320, 240))
    return path, np.asarray(Image.open(path))


def test_a_real_server_fills_over_http(server, photo):
    path, pixels = photo
    hole = np.zeros(pixels.shape[:2], np.uint8)
    hole[80:160, 100:220] = 255
    r = httpx.post(f"{server.url}/api/fill", files={"photo": ("photo.png", path.read_bytes()),
                                                     "mask": ("mask.png", png(hole))},
                   data={"method": "pretrained/lama"}, timeout=120)
    assert r.status_code == 200, r.text
    out = np.asarray(Image.open(io.BytesIO(r.content)))
    assert np.array_equal(out[hole == 0], pixels[hole == 0]) and not np.array_equal(out[hole > 0], pixels[hole > 0])
    bad = httpx.post(f"{server.url}/api/fill", files={"photo": ("photo.png", b"not an image"),
                                                       "mask": ("mask.png", png(hole))}, timeout=60)
    assert bad.status_code == 400 and "photo.png: not an image" in bad.json()["error"]
    assert server.jobs_left() == []


def test_a_client_that_goes_away_mid_fill_costs_nothing_lasting(server, tmp_path):
    path = save_photo(tmp_path / "big.png", size=(960, 720))
    hole = np.zeros((720, 960), np.uint8)
    hole[100:600, 150:800] = 255
    body = httpx.Request("POST", f"{server.url}/api/fill", files={"photo": ("big.png", path.read_bytes()),
                                                                   "mask": ("mask.png", png(hole))},
                         data={"method": "patch_match"})  # seconds of work: still filling when the clients leave
    raw = b"".join([b"POST /api/fill HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                    *[f"{k}: {v}\r\n".encode() for k, v in body.headers.items() if k.lower() != "host"],
                    b"\r\n", body.read()])
    clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    for c in clients:
        c.sendall(raw)
    deadline = time.monotonic() + 30
    while httpx.get(f"{server.url}/api/queue").json()["queued"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    queue = httpx.get(f"{server.url}/api/queue").json()
    assert queue["queued"] == 3 and queue["running"]  # one filling, two waiting
    for c in clients:
        c.close()  # all three go away before their answers
    deadline = time.monotonic() + 120
    while (server.jobs_left() or httpx.get(f"{server.url}/api/queue").json()["queued"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.jobs_left() == [] and httpx.get(f"{server.url}/api/queue").json()["queued"] == 0
    ok = httpx.post(f"{server.url}/api/fill", files={"photo": ("big.png", path.read_bytes()),
                                                      "mask": ("mask.png", png(hole))}, data={"method": "telea"},
                    timeout=60)
    assert ok.status_code == 200 and server.proc.poll() is None


@pytest.mark.skipif(not (CHROMIUM and DRIVER) and not os.environ.get("CI"),
                    reason="no chromium/chromedriver here: `make browser` installs Debian's")
@pytest.mark.parametrize("scale", [1, 2])  # the device pixel ratio: a plain screen and a high-density one
def test_the_page_in_a_real_browser_fills_a_painted_stroke(server, photo, tmp_path, scale):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    assert CHROMIUM and DRIVER, "CI needs Debian's chromium and chromium-driver: run `make browser`"
    path, pixels = photo
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", f"--force-device-scale-factor={scale}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        driver.set_script_timeout(120)
        driver.get(server.url)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#method option[value=telea]"))
        driver.find_element(By.ID, "file").send_keys(str(path))
        wait.until(lambda d: d.execute_script("return window.inpaint.state") == "ready")
        Select(driver.find_element(By.ID, "method")).select_by_value("telea")
        view = driver.find_element(By.ID, "view")
        # a stroke across the photo's middle, drawn with the mouse
        ActionChains(driver).move_to_element_with_offset(view, -60, -10).click_and_hold() \
            .move_by_offset(40, 5).move_by_offset(40, 10).move_by_offset(40, 0).release().perform()
        fill = driver.find_element(By.ID, "fill")
        assert fill.is_enabled()
        driver.find_element(By.ID, "undo").click()  # the stroke is gone, nothing to fill
        assert not fill.is_enabled()
        driver.find_element(By.ID, "redo").click()  # and back
        assert fill.is_enabled()
        fill.click()
        wait.until(lambda d: d.execute_script("return window.inpaint.state") in ("filled", "error"))
        assert driver.execute_script("return window.inpaint.state") == "filled", \
            driver.execute_script("return window.inpaint.error")
        driver.save_screenshot(str(tmp_path / "page.png"))
        read_blob = """const [name, done] = arguments; const r = new FileReader();
                       r.onload = () => done(r.result.split(',')[1]); r.readAsDataURL(window.inpaint[name]);"""
        result = np.asarray(Image.open(io.BytesIO(base64.b64decode(driver.execute_async_script(read_blob, "result")))))
        mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(
            driver.execute_async_script(read_blob, "lastMask")))).convert("L")) > 127
    finally:
        driver.quit()
    assert result.shape == pixels.shape and 0.005 < mask.mean() < 0.5  # the stroke, at the photo's size
    assert np.array_equal(result[~mask], pixels[~mask])  # identical outside the stroke
    assert np.abs(result[mask].astype(int) - pixels[mask]).mean() > 1  # changed inside it
    ys, xs = np.nonzero(mask)
    assert 40 < xs.mean() < 280 and 40 < ys.mean() < 200  # where the mouse drew: the middle of the photo


def test_shutdown_removes_the_private_folder(server):
    folder = server.private()
    server.proc.send_signal(signal.SIGINT)  # Ctrl+C
    assert server.proc.wait(60) == 0
    assert not folder.exists()
