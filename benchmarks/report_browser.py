"""The report's first page in a real browser: ``streamlit run`` + headless Chromium, a million
scored customers against a thousand, in the same run.

    .venv/bin/python benchmarks/report_browser.py                  # 1,000,000 vs 1,000 customers
    .venv/bin/python benchmarks/report_browser.py --repeat 5

``report_first_page.py`` times the page's script with AppTest; this times what a stakeholder
waits for. The lakes are the ones that script builds (the training unit's own writers on
synthesised scores; built if missing). Per repetition, for each size: a fresh server
(``python -m frontend.serve``, what ``lakedrop report`` and the container run) on 127.0.0.1
(its start-up is recorded, not counted), then in Chromium (the system's ``/usr/bin/chromium``,
driven by Playwright):

* ``cold``: the first visit to ``/`` after the server started — empty caches, the pages'
  imports (pandas, altair) included — from navigation start until the title, the four KPI
  tiles and the risk-band chart have been drawn and the app has stopped running;
* ``warm``: a second visit in a new browser context (a new Streamlit session; caches filled).

Each is measured for ``frontend.serve`` and, as the baseline of that choice, for a plain
``streamlit run frontend/app.py`` (``--entries``), interleaved in the same run.

Results: benchmarks/out/report_browser.json; docs/report.md records them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, sync_playwright

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TARGET_S = 3.0
TIMEOUT_MS = 120_000


def _lake_builder() -> Any:
    """``build_lake`` of report_first_page.py (a script beside this one, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "report_first_page", Path(__file__).with_name("report_first_page.py")
    )
    if spec is None or spec.loader is None:
        raise ImportError("benchmarks/report_first_page.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_lake


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ENTRIES = {
    # what `lakedrop report` and the container run: the pages' libraries imported up front
    "serve": ["-m", "frontend.serve"],
    # plain `streamlit run`: the first session imports them
    "streamlit": ["-m", "streamlit", "run", "frontend/app.py"],
}


def _serve(root: Path, entry: str) -> tuple[subprocess.Popen[bytes], str, float]:
    port = _free_port()
    env = {**os.environ, "LAKEDROP_HOME": str(root)}
    for name in ("LAKEDROP_ANALYTICS_URI", "LAKEDROP_CURATED_URI", "LAKEDROP_QUARANTINE_URI"):
        env.pop(name, None)
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, *ENTRIES[entry],
         "--server.address", "127.0.0.1", "--server.port", str(port),
         "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:  # noqa: S310 (loopback)
                if response.read().strip() == b"ok":
                    return server, url, time.perf_counter() - started
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("streamlit did not start within 90 s")


def _visit(browser: Browser, url: str) -> float:
    """Seconds from navigation start until the overview is drawn and the app is idle."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        started = time.perf_counter()
        page.goto(url, timeout=TIMEOUT_MS)
        page.wait_for_function(
            """() => document.querySelector('h1')
                && document.querySelectorAll('[data-testid="stMetricValue"]').length >= 4
                && [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
                       .some(c => c.querySelector('canvas, svg'))
                && !document.querySelector('[data-testid="stStatusWidget"]')""",
            timeout=TIMEOUT_MS,
            polling=20,
        )
        elapsed = time.perf_counter() - started
        if page.locator('[data-testid="stException"]').count():
            raise RuntimeError(page.locator('[data-testid="stException"]').first.inner_text())
        return elapsed
    finally:
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--entries",
        default="serve,streamlit",
        help="servers to compare, from: " + ", ".join(ENTRIES),
    )
    args = parser.parse_args()
    entries = args.entries.split(",")
    if unknown := set(entries) - set(ENTRIES):
        parser.error(f"unknown entries: {sorted(unknown)}")

    build_lake = _lake_builder()
    lakes = {
        n: build_lake(OUT / f"report-lake-{n}-{args.seed}", n, args.seed)
        for n in (args.baseline, args.customers)
    }
    runs: dict[tuple[str, int], list[dict[str, float]]] = {
        (entry, n): [] for entry in entries for n in lakes
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            for _ in range(args.repeat):
                # interleaved: a change of load hits every server and size alike
                for (entry, n), root in ((k, lakes[k[1]]) for k in runs):
                    server, url, start_s = _serve(root, entry)
                    try:
                        cold = _visit(browser, url)
                        warm = _visit(browser, url)
                    finally:
                        server.terminate()
                        server.wait(timeout=15)
                    runs[entry, n].append(
                        {"server_start_s": start_s, "cold_s": cold, "warm_s": warm}
                    )
                    print(
                        f"{entry:<9} {n:>9,} customers  cold {cold:.2f} s  warm {warm:.2f} s",
                        flush=True,
                    )
        finally:
            browser.close()

    def median(entry: str, n: int, key: str) -> float:
        return round(statistics.median(r[key] for r in runs[entry, n]), 3)

    big, small = args.customers, args.baseline
    main_entry = entries[0]
    results = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average": os.getloadavg(),
        "repeat": args.repeat,
        "target_s": TARGET_S,
        "runs": {f"{e}-{n}": r for (e, n), r in runs.items()},
        "cold_median_s": {f"{e}-{n}": median(e, n, "cold_s") for e, n in runs},
        "warm_median_s": {f"{e}-{n}": median(e, n, "warm_s") for e, n in runs},
        "cold_ratio_vs_baseline": round(
            median(main_entry, big, "cold_s") / median(main_entry, small, "cold_s"), 2
        ),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "report_browser.json").write_text(json.dumps(results, indent=2))
    for entry in entries:
        cold = median(entry, big, "cold_s")
        print(
            f"{entry}: overview in Chromium at {big:,} customers: cold {cold:.2f} s "
            f"(the {small:,}-customer baseline: {median(entry, small, 'cold_s'):.2f} s), warm "
            f"{median(entry, big, 'warm_s'):.2f} s; target {TARGET_S:.0f} s: "
            f"{'met' if cold <= TARGET_S else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
