"""The bridge web page in a real headless Chromium (Debian chromium + chromedriver, no downloads).

Drives a real bridge on 127.0.0.1: load the page, paste the token, upload an illustration, see the
index map and N layers, download the PSD and read it back with psd-tools, download the SVG.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from plugin_bridge.client import BridgeClient

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parents[2]
LAYERS = 3

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')"
)
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip(
        "Debian chromium/chromium-driver not installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.plugin_bridge.conftest import bridge_command, free_port  # noqa: E402


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[object, Path]]:
    """Headless Chromium with a fresh profile and a download folder; quit (and reaped) after."""
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never go online
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        yield driver, downloads
    finally:
        driver.quit()


def wait_for(driver: object, condition, timeout_s: float = 90.0):
    """WebDriverWait wrapper whose failure message includes the page's status line."""

    try:
        return WebDriverWait(driver, timeout_s, poll_frequency=0.2).until(condition)
    except Exception as error:  # selenium's TimeoutException: add what the page said
        status = driver.find_element(By.ID, "status").text
        raise AssertionError(f"page did not get there; status line: {status!r}") from error


def test_page_decomposes_and_downloads_a_psd(
    bridge, browser, illustration_png, tmp_path: Path
) -> None:
    driver, downloads = browser
    source = tmp_path / "house.png"
    source.write_bytes(illustration_png(96, 72, seed=2))
    upload = np.asarray(Image.open(source).convert("RGBA"))

    driver.get(bridge.url + "/")
    assert "Illustrator's Depth" in driver.title
    wait_for(driver, lambda d: "bridge" in d.find_element(By.ID, "connection").text)
    assert driver.find_element(By.ID, "decompose").get_attribute("disabled") is not None

    driver.find_element(By.ID, "token").send_keys(bridge.token)
    driver.find_element(By.ID, "save-token").click()
    wait_for(
        driver, lambda d: d.find_element(By.ID, "connection").get_attribute("data-state") == "ok"
    )
    stored = "return localStorage.getItem(arguments[0])"
    assert driver.execute_script(stored, f"illustrators-depth.token@{bridge.url}") == bridge.token

    driver.find_element(By.ID, "file-input").send_keys(str(source))
    count = driver.find_element(By.ID, "layer-count")
    count.clear()
    count.send_keys(str(LAYERS))
    wait_for(driver, lambda d: d.find_element(By.ID, "decompose").is_enabled())
    driver.find_element(By.ID, "decompose").click()

    wait_for(driver, lambda d: d.find_element(By.ID, "result-panel").is_displayed())
    assert not driver.find_element(By.ID, "cancel").is_displayed()
    assert not driver.find_element(By.ID, "to-photopea").is_displayed(), "not inside Photopea"
    items = driver.find_elements(By.CSS_SELECTOR, "#layers li.layer")
    shown = int(driver.find_element(By.ID, "layer-total").text)
    assert shown == LAYERS and len(items) == shown
    # Top first in the panel, like an editor: data-index runs n-1 .. 0.
    assert [int(li.get_attribute("data-index")) for li in items] == list(range(shown - 1, -1, -1))
    loaded = "return [...document.querySelectorAll('#layers img, #index-map')].every(i => i.complete && i.naturalWidth > 0)"
    wait_for(driver, lambda d: d.execute_script(loaded), 30)

    ora = driver.find_element(By.ID, "download-ora")
    assert (
        ora.get_attribute("href").startswith("blob:")
        and ora.get_attribute("download") == "house.ora"
    )
    driver.find_element(By.ID, "download-psd").click()
    psd_path = downloads / "house.psd"
    wait_for(driver, lambda d: psd_path.exists() and not list(downloads.glob("*.crdownload")), 30)

    from psd_tools import PSDImage

    psd = PSDImage.open(psd_path)
    assert (psd.width, psd.height) == (upload.shape[1], upload.shape[0])
    pixel_layers = [layer for layer in psd.descendants() if not layer.is_group()]
    client = BridgeClient(bridge.url, token=bridge.token)
    job_id = driver.execute_script("return document.getElementById('download-psd').dataset.job")
    manifest_layers = client.result(job_id)["layers"]
    names = [layer["name"] for layer in manifest_layers]
    assert [layer.name for layer in pixel_layers][: len(names)] == names
    # each card says in plain words how much of the layer was hidden and filled in
    details = [li.find_element(By.CLASS_NAME, "layer-detail").text for li in items]
    for detail, layer in zip(details, reversed(manifest_layers), strict=True):
        assert "completed" not in detail
        share = round(100 * layer["invented_fraction"])
        if layer["invented_fraction"] > 0:
            words = f"{share if share >= 1 else 'less than 1'} % of this layer was hidden"
            assert f"{words} and is filled in" in detail, detail
        else:
            assert "hidden" not in detail
    assert any("of this layer was hidden and is filled in" in d for d in details)
    assert np.array_equal(np.asarray(psd.topil().convert("RGBA")), upload), "stored composite"
    canvas = Image.new("RGBA", (psd.width, psd.height), (0, 0, 0, 0))
    for layer in pixel_layers:
        if layer.is_visible():
            canvas.alpha_composite(layer.topil().convert("RGBA"), (layer.left, layer.top))
    assert np.array_equal(np.asarray(canvas), upload), "the PSD's layers must recomposite exactly"

    # "Download SVG": the layered SVG, one Inkscape layer per layer, drawn like the upload
    from decomposer.writers.svg import read_svg_text, rendered_similarity, svg_layer_labels

    svg_link = driver.find_element(By.ID, "download-svg")
    assert svg_link.text == "Download SVG" and svg_link.get_attribute("download") == "house.svg"
    svg_link.click()
    svg_path = downloads / "house.svg"
    wait_for(driver, lambda d: svg_path.exists() and not list(downloads.glob("*.crdownload")), 30)
    text = read_svg_text(svg_path)
    assert svg_layer_labels(text) == names
    assert rendered_similarity(text, upload) > 0.9


def give_file(driver: object, data: bytes, name: str, *, drop: bool = False) -> None:
    """Hand the page a file with these bytes: through the file input, or dropped on the drop zone."""
    driver.execute_script(
        "const f = new File([new Uint8Array(arguments[0])], arguments[1], {type: 'image/png'});"
        "const t = new DataTransfer(); t.items.add(f);"
        "if (arguments[2]) {"
        "  const z = document.getElementById('drop-zone');"
        "  z.dispatchEvent(new DragEvent('dragover', {dataTransfer: t, bubbles: true, cancelable: true}));"
        "  z.dispatchEvent(new DragEvent('drop', {dataTransfer: t, bubbles: true, cancelable: true}));"
        "} else {"
        "  const i = document.getElementById('file-input'); i.files = t.files;"
        "  i.dispatchEvent(new Event('change'));"
        "}",
        list(data),
        name,
        drop,
    )


def test_page_errors_then_dropped_image_with_auto_layers(bridge, browser, illustration_png) -> None:
    driver, _ = browser
    driver.get(bridge.url + "/")
    status = lambda d: d.find_element(By.ID, "status")  # noqa: E731
    driver.find_element(By.ID, "token").send_keys("0" * 64)
    driver.find_element(By.ID, "save-token").click()
    wait_for(
        driver, lambda d: d.find_element(By.ID, "connection").get_attribute("data-state") == "auth"
    )
    wait_for(driver, lambda d: status(d).get_attribute("data-kind") == "error")
    assert "token" in status(driver).text.lower()

    give_file(driver, b"\x89PNG not really", "broken.png")
    driver.find_element(By.ID, "decompose").click()
    wait_for(
        driver,
        lambda d: (
            "token" in status(d).text.lower() and status(d).get_attribute("data-kind") == "error"
        ),
    )

    token = driver.find_element(By.ID, "token")
    token.clear()
    token.send_keys(bridge.token)
    driver.find_element(By.ID, "save-token").click()
    wait_for(
        driver, lambda d: d.find_element(By.ID, "connection").get_attribute("data-state") == "ok"
    )
    give_file(driver, b"\x89PNG not really", "broken.png", drop=True)
    driver.find_element(By.ID, "decompose").click()
    wait_for(driver, lambda d: status(d).get_attribute("data-kind") == "error")
    assert "token" not in status(driver).text.lower()
    assert not driver.find_element(By.ID, "result-panel").is_displayed()

    give_file(driver, illustration_png(64, 48, seed=4), "dropped.png", drop=True)
    driver.find_element(By.ID, "layer-auto").click()
    assert not driver.find_element(By.ID, "layer-count").is_enabled()
    driver.find_element(By.ID, "decompose").click()
    wait_for(driver, lambda d: d.find_element(By.ID, "result-panel").is_displayed())
    shown = int(driver.find_element(By.ID, "layer-total").text)
    assert shown >= 1 and len(driver.find_elements(By.CSS_SELECTOR, "#layers li.layer")) == shown
    assert driver.find_element(By.ID, "download-psd").get_attribute("download") == "dropped.psd"


def test_page_shows_queue_and_cancels_a_queued_job(start_bridge, browser, illustration_png) -> None:
    """With the worker busy, the page's job waits in the queue; Cancel drops it."""
    driver, _ = browser
    bridge = start_bridge()
    client = BridgeClient(bridge.url, token=bridge.token)
    big = illustration_png(2048, 2048, seed=9)
    busy = [client.submit(big, layers=2, idempotency_key=f"busy-{k}").id for k in range(2)]
    try:
        driver.get(bridge.url + "/")
        driver.find_element(By.ID, "token").send_keys(bridge.token)
        driver.find_element(By.ID, "save-token").click()
        give_file(driver, illustration_png(32, 32, seed=1), "queued.png")
        wait_for(driver, lambda d: d.find_element(By.ID, "decompose").is_enabled())
        driver.find_element(By.ID, "decompose").click()
        status = lambda d: d.find_element(By.ID, "status").text  # noqa: E731
        wait_for(driver, lambda d: status(d).startswith("Queued ("), 30)
        assert driver.find_element(By.ID, "cancel").is_displayed()
        driver.find_element(By.ID, "cancel").click()
        wait_for(driver, lambda d: status(d) == "Cancelled.", 30)
        assert not driver.find_element(By.ID, "result-panel").is_displayed()
        assert not driver.find_element(By.ID, "cancel").is_displayed()
    finally:
        for job_id in reversed(busy):
            client.cancel(job_id)


@pytest.fixture
def static_site() -> Iterator[str]:
    """The page's folder served by a plain static HTTP server on another 127.0.0.1 port."""
    static = ROOT / "plugin_bridge" / "static"
    handler = functools.partial(QuietHandler, directory=str(static))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Static files without access logs on stderr."""

    def log_message(self, format: str, *args: object) -> None:
        return


def test_page_hosted_elsewhere_needs_the_cors_allow_list(
    start_bridge, static_site, browser, illustration_png, tmp_path: Path
) -> None:
    """Like a Photopea plugin page: another origin calls the bridge; only an allow-listed one works."""
    driver, _ = browser
    source = tmp_path / "elsewhere.png"
    source.write_bytes(illustration_png(48, 40, seed=8))
    status = lambda d: d.find_element(By.ID, "status")  # noqa: E731
    for allowed, expect in (((), "error"), ((static_site,), "ok")):
        bridge = start_bridge(allowed_origins=allowed)
        driver.get(static_site + "/index.html")
        driver.execute_script("localStorage.clear()")
        url = driver.find_element(By.ID, "bridge-url")
        url.clear()
        url.send_keys(bridge.url)
        driver.find_element(By.ID, "token").clear()
        driver.find_element(By.ID, "token").send_keys(bridge.token)
        driver.find_element(By.ID, "save-token").click()
        driver.find_element(By.ID, "file-input").send_keys(str(source))
        count = driver.find_element(By.ID, "layer-count")
        count.clear()
        count.send_keys("2")
        wait_for(driver, lambda d: d.find_element(By.ID, "decompose").is_enabled())
        driver.find_element(By.ID, "decompose").click()
        wait_for(driver, lambda d, e=expect: status(d).get_attribute("data-kind") == e)
        if expect == "ok":
            assert int(driver.find_element(By.ID, "layer-total").text) == 2
        else:
            text = status(driver).text
            assert "Cannot reach the bridge" in text and f"--allow-origin {static_site}" in text


def test_no_browser_left_running() -> None:
    """Every Chromium this module started has been reaped (the fixture quits the driver)."""
    time.sleep(0.5)
    mine = subprocess.run(
        ["pgrep", "-P", str(os.getpid()), "-f", "chromedriver"], capture_output=True, text=True
    )
    assert mine.stdout.strip() == ""


def test_printed_link_opens_a_connected_page_and_the_token_leaves_no_trace(
    browser, tmp_path: Path
) -> None:
    """`decompose-bridge` prints a link carrying the token (like Jupyter); the page stores it for
    its own origin, strips it from the address bar, and it is in no log; no request 404s."""
    import re
    import signal
    import urllib.request

    driver, _ = browser
    port = free_port()
    token_file = tmp_path / "token"
    process = subprocess.Popen(
        bridge_command(port, token_file, "-v"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        link = None
        deadline = time.monotonic() + 120
        while link is None:
            assert process.poll() is None and time.monotonic() < deadline, "bridge did not start"
            line = process.stderr.readline()
            found = re.search(r"(http://127\.0\.0\.1:\d+/#token=\S+)", line)
            link = found and found.group(1)
        token = token_file.read_text().strip()
        assert link == f"http://127.0.0.1:{port}/#token={token}"

        driver.get(link)
        wait_for(
            driver,
            lambda d: d.find_element(By.ID, "connection").get_attribute("data-state") == "ok",
        )
        assert driver.execute_script("return location.href") == f"http://127.0.0.1:{port}/"
        assert token not in driver.execute_script("return JSON.stringify(history.state)")
        key = f"illustrators-depth.token@http://127.0.0.1:{port}"
        assert driver.execute_script("return localStorage.getItem(arguments[0])", key) == token
        assert (
            driver.execute_script("return localStorage.getItem('illustrators-depth.token')") is None
        )
        sent = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )  # every request the page made: none carries the token in its URL
        assert sent and not any(token in url for url in sent)

        driver.get(f"http://127.0.0.1:{port}/")  # kept: no link needed next time
        wait_for(
            driver,
            lambda d: d.find_element(By.ID, "connection").get_attribute("data-state") == "ok",
        )
        driver.get(f"http://localhost:{port}/")  # another origin: it does not get the token
        wait_for(
            driver,
            lambda d: d.find_element(By.ID, "connection").get_attribute("data-state") == "auth",
        )
        assert driver.find_element(By.ID, "token").get_attribute("value") == ""

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for name, kind in (("favicon.svg", "image/svg+xml"), ("favicon.ico", "image/")):
            with opener.open(f"http://127.0.0.1:{port}/{name}", timeout=10) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith(kind)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
    log = out + err  # uvicorn's access log goes to stdout, the rest to stderr
    requests = [line for line in log.splitlines() if '"GET ' in line]
    assert any('"GET /favicon.svg HTTP/1.1" 200' in line for line in requests), log[-2000:]
    assert any("/v1/health" in line for line in requests), "the access log is on with -v"
    # the page's own files are all there (its token check is a deliberate API 404)
    page_files = [line for line in requests if '"GET /v1/' not in line]
    assert page_files and not any(" 404" in line for line in page_files)
    assert token not in log, "the token appears in no log line"
