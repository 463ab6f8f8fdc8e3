"""The report in a real browser: ``streamlit run`` on 127.0.0.1, every page opened in headless
Chromium through Playwright, charts waited for, screenshots kept, Streamlit exceptions failing.

The browser is the system's Chromium (``/usr/bin/chromium``, Debian's ``chromium``; Playwright
never downloads one) and Korean needs a CJK font (``fonts-noto-cjk``): ``.ci/run`` installs
both. Without them the tests are skipped on a laptop, and fail in CI
(``LAKEDROP_REQUIRE_BROWSER=1``, which ``.ci/run`` sets).

Screenshots go to ``test-artifacts/browser/`` (or ``$LAKEDROP_ARTIFACTS/browser``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakedrop.config import LocalLake

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Flags for a closed network and a root user (the machine's notes: without the background
# networking flags Chromium keeps trying to reach Google's hosts).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("LAKEDROP_ARTIFACTS") or ROOT / "test-artifacts") / "browser"
TIMEOUT_MS = 60_000

# url path → (Korean title, English title, charts the page draws on the pipeline's lake);
# the overview is the default page, which Streamlit serves at the root
PAGES: dict[str, tuple[str, str, int]] = {
    "overview": ("개요", "Overview", 1),
    "customers": ("이탈 위험 고객", "Customers at risk", 0),
    "model": ("모델", "Model", 6),
    "segments": ("고객 세그먼트", "Segments", 2),
    "pipeline": ("파이프라인 상태", "Pipeline health", 0),
}
TABLE_PAGES = {"customers", "pipeline"}


def _cjk_font_installed() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    found = subprocess.run(
        [fc_list, ":lang=ko", "family"], check=False, capture_output=True, text=True
    )
    return bool(found.stdout.strip())


def _missing() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (make test installs it)"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if not _cjk_font_installed():
        return "no Korean font (apt-get install fonts-noto-cjk)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing:
        if os.environ.get("LAKEDROP_REQUIRE_BROWSER"):
            pytest.fail(f"browser test cannot run: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:  # noqa: S310 (loopback)
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"streamlit did not answer on {url} within 90 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def report_url(
    browser: Any, pipeline_lake: LocalLake, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The report served on the pipeline's lake as ``lakedrop report`` serves it
    (``python -m frontend.serve`` = ``streamlit run frontend/app.py``)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = {
        **os.environ,
        "LAKEDROP_HOME": str(pipeline_lake.root),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    for name in ("LAKEDROP_ANALYTICS_URI", "LAKEDROP_CURATED_URI", "LAKEDROP_QUARANTINE_URI"):
        env.pop(name, None)
    command = [
        sys.executable, "-m", "frontend.serve",  # what `lakedrop report` runs
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.headless", "true", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


def _settled(page: Any) -> None:
    """Wait until the script run is over: the app is there and the 'running' widget is gone."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=TIMEOUT_MS)
    page.wait_for_selector("h1", timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=TIMEOUT_MS,
    )


def _wait_charts(page: Any, expected: int) -> int:
    """Wait for at least ``expected`` Vega-Lite charts to have drawn (a canvas or an svg)."""
    if expected:
        page.wait_for_function(
            """n => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
                   .filter(c => c.querySelector('canvas, svg')).length >= n""",
            arg=expected,
            timeout=TIMEOUT_MS,
        )
    return int(page.locator('[data-testid="stVegaLiteChart"]').count())


def _assert_no_errors(page: Any, name: str) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, f"{name}: {exceptions.first.inner_text()}"
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert errors.count() == 0, f"{name}: {errors.first.inner_text()}"
    dialogs = page.get_by_role("dialog")  # e.g. Streamlit's "Page not found"
    assert dialogs.count() == 0, f"{name}: {dialogs.first.inner_text()}"


def _path(name: str) -> str:
    return "" if name == "overview" else name


def _fonts_rendering(page: Any, selector: str) -> dict[str, int]:
    """Which installed fonts Chromium used to draw the text of ``selector``, with glyph counts
    (DevTools' CSS.getPlatformFontsForNode): a Hangul title drawn with no CJK font has none."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    document = cdp.send("DOM.getDocument", {"depth": -1})
    node = cdp.send(
        "DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": selector}
    )
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
    cdp.detach()
    return {font["familyName"]: int(font["glyphCount"]) for font in fonts}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_in_korean_with_its_charts(browser: Any, report_url: str, name: str) -> None:
    korean, _, charts = PAGES[name]
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="ko-KR")
    page = context.new_page()
    try:
        page.goto(f"{report_url}/{_path(name)}", timeout=TIMEOUT_MS)
        _settled(page)
        assert page.locator("h1").first.inner_text().strip() == korean
        drawn = _wait_charts(page, charts)
        assert drawn >= charts
        if name in TABLE_PAGES:  # their content is a data grid (drawn on a canvas)
            page.wait_for_selector('[data-testid="stDataFrame"] canvas', timeout=TIMEOUT_MS)
        _assert_no_errors(page, name)
        fonts = _fonts_rendering(page, "h1")
        cjk = {family: n for family, n in fonts.items() if "CJK" in family or "Nanum" in family}
        assert cjk, f"{name}: the Korean title was drawn with {fonts}, no CJK font"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}-ko.png"), full_page=True)
    finally:
        context.close()


@pytest.mark.slow
def test_language_switch_turns_the_report_english(browser: Any, report_url: str) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    try:
        page.goto(report_url, timeout=TIMEOUT_MS)
        _settled(page)
        page.get_by_test_id("stSidebar").get_by_text("English", exact=True).click()
        page.wait_for_function(
            "t => document.querySelector('h1')?.innerText.trim() === t",
            arg=PAGES["overview"][1],
            timeout=TIMEOUT_MS,
        )
        _settled(page)
        _wait_charts(page, PAGES["overview"][2])
        _assert_no_errors(page, "overview (en)")
        # the choice survives a page switch through the navigation
        page.get_by_test_id("stSidebarNav").get_by_text(PAGES["model"][1], exact=True).click()
        page.wait_for_function(
            "t => document.querySelector('h1')?.innerText.trim() === t",
            arg=PAGES["model"][1],
            timeout=TIMEOUT_MS,
        )
        _settled(page)
        _wait_charts(page, PAGES["model"][2])
        _assert_no_errors(page, "model (en)")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "model-en.png"), full_page=True)
    finally:
        context.close()
