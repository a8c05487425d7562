"""`inpaint serve` as a real server process: the API over a socket, a client that goes away mid-fill,
shutdown, and the page in a real browser (Debian's headless Chromium through Selenium: `make browser`
installs it; CI runs this test, elsewhere it is skipped when no Chromium is installed)."""
import base64
import contextlib
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


needs_browser = pytest.mark.skipif(not (CHROMIUM and DRIVER) and not os.environ.get("CI"),
                                   reason="no chromium/chromedriver here: `make browser` installs Debian's")
READ_BLOB = """const [name, done] = arguments; const r = new FileReader();
               r.onload = () => done(r.result.split(',')[1]); r.readAsDataURL(window.inpaint[name]);"""


@contextlib.contextmanager
def page(server, photo_path: Path, scale: int = 1):
    """Headless Chromium on the server's page with a photo opened; yields (driver, wait)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert CHROMIUM and DRIVER, "CI needs Debian's chromium and chromium-driver: run `make browser`"
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
        driver.find_element(By.ID, "file").send_keys(str(photo_path))
        wait.until(lambda d: d.execute_script("return window.inpaint.state") == "ready")
        yield driver, wait
    finally:
        driver.quit()


def paint_and_fill(driver, wait) -> tuple[np.ndarray, np.ndarray]:
    """A mouse stroke across the middle of the view, then Fill; the result and the mask the page sent."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    view = driver.find_element(By.ID, "view")
    ActionChains(driver).move_to_element_with_offset(view, -60, -10).click_and_hold() \
        .move_by_offset(40, 5).move_by_offset(40, 10).move_by_offset(40, 0).release().perform()
    driver.find_element(By.ID, "fill").click()
    return filled(driver, wait)


def filled(driver, wait) -> tuple[np.ndarray, np.ndarray]:
    """After Fill was pressed: the result and the mask the page sent."""
    wait.until(lambda d: d.execute_script("return window.inpaint.state") in ("filled", "error"))
    assert driver.execute_script("return window.inpaint.state") == "filled", \
        driver.execute_script("return window.inpaint.error")
    result = np.asarray(Image.open(io.BytesIO(base64.b64decode(driver.execute_async_script(READ_BLOB, "result")))))
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(
        driver.execute_async_script(READ_BLOB, "lastMask")))).convert("L")) > 127
    return result, mask


@needs_browser
@pytest.mark.parametrize("scale", [1, 2])  # the device pixel ratio: a plain screen and a high-density one
def test_the_page_in_a_real_browser_fills_a_painted_stroke(server, photo, tmp_path, scale):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    path, pixels = photo
    with page(server, path, scale) as (driver, wait):
        Select(driver.find_element(By.ID, "method")).select_by_value("telea")
        assert not driver.find_element(By.ID, "delattice-box").is_displayed()  # a classical method: no grid to take out
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
        result, mask = filled(driver, wait)
        driver.save_screenshot(str(tmp_path / "page.png"))
        assert "delattice" not in driver.execute_script("return window.inpaint.lastFields")
    assert result.shape == pixels.shape and 0.005 < mask.mean() < 0.5  # the stroke, at the photo's size
    assert np.array_equal(result[~mask], pixels[~mask])  # identical outside the stroke
    assert np.abs(result[mask].astype(int) - pixels[mask]).mean() > 1  # changed inside it
    ys, xs = np.nonzero(mask)
    assert 40 < xs.mean() < 280 and 40 < ys.mean() < 200  # where the mouse drew: the middle of the photo


@needs_browser
def test_the_page_sends_the_grid_and_detail_switches(server, photo):
    """A network method shows the 8-px grid switch, on by default, and the detail switch, off by default; the
    grid switched off and the detail on, the page's fill is the API's fill with delattice=off and detail=on for the
    same mask, pixel for pixel."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    path, pixels = photo
    with page(server, path) as (driver, wait):
        Select(driver.find_element(By.ID, "method")).select_by_value("pretrained/lama")
        box, switch = driver.find_element(By.ID, "delattice-box"), driver.find_element(By.ID, "delattice")
        assert box.is_displayed() and switch.is_selected()
        switch.click()
        detail = driver.find_element(By.ID, "detail")
        assert detail.is_displayed() and not detail.is_selected()  # off by default
        detail.click()
        result, mask = paint_and_fill(driver, wait)
        fields = driver.execute_script("return window.inpaint.lastFields")
    assert fields["method"] == "pretrained/lama" and fields["delattice"] == "off" and fields["detail"] == "on"
    hole = (mask * 255).astype(np.uint8)
    answers = {}
    for choice in ("off", "on"):
        r = httpx.post(f"{server.url}/api/fill", files={"photo": ("photo.png", path.read_bytes()),
                                                         "mask": ("mask.png", png(hole))},
                       data={"method": "pretrained/lama", "delattice": choice, "detail": "on"}, timeout=120)
        assert r.status_code == 200, r.text
        answers[choice] = np.asarray(Image.open(io.BytesIO(r.content)))
    assert np.array_equal(result, answers["off"])
    assert np.array_equal(result[~mask], pixels[~mask]) and not np.array_equal(answers["on"], answers["off"])


def test_shutdown_removes_the_private_folder(server):
    folder = server.private()
    server.proc.send_signal(signal.SIGINT)  # Ctrl+C
    assert server.proc.wait(60) == 0
    assert not folder.exists()
