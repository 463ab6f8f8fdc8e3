"""`lakedrop report`: Streamlit on 127.0.0.1, pointed at the local lake's zones."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lakedrop import cli
from lakedrop.config import LocalLake

runner = CliRunner()


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalLake:
    monkeypatch.setenv("LAKEDROP_HOME", str(tmp_path / "lake"))
    return LocalLake.from_env()


def test_report_runs_streamlit_on_the_local_lake(
    lake: LocalLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append({"command": command, **kwargs})
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(cli.subprocess, "run", fake_run)
    result = runner.invoke(cli.app, ["report", "--port", "8612", "--headless"])
    assert result.exit_code == 0, result.output
    assert "nothing has been produced yet" in result.output
    assert "http://127.0.0.1:8612/" in result.output
    (call,) = calls
    command = call["command"]
    assert command[:3] == [sys.executable, "-m", "frontend.serve"]  # streamlit run app.py
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert options["--server.address"] == "127.0.0.1"
    assert options["--server.port"] == "8612"
    assert options["--server.headless"] == "true"
    assert options["--browser.gatherUsageStats"] == "false"
    assert (Path(call["cwd"]) / ".streamlit" / "config.toml").is_file()
    env = call["env"]
    assert env["LAKEDROP_ANALYTICS_URI"] == str(lake.analytics)
    assert env["LAKEDROP_CURATED_URI"] == str(lake.curated)
    assert env["LAKEDROP_QUARANTINE_URI"] == str(lake.quarantine)


def test_report_says_what_is_missing(lake: LocalLake, monkeypatch: pytest.MonkeyPatch) -> None:
    (lake.curated / "_manifests" / "transactions").mkdir(parents=True)
    (lake.curated / "_manifests" / "transactions" / "x.json").write_text("{}", "utf-8")
    monkeypatch.setattr(
        cli.subprocess, "run", lambda command, **_: subprocess.CompletedProcess(command, 0)
    )
    result = runner.invoke(cli.app, ["report", "--headless"])
    assert result.exit_code == 0
    assert "not produced yet: features, a trained model" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_report_serves(lake: LocalLake) -> None:
    """The real thing: the server answers its health check and serves the app's page."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lakedrop.cli", "report", "--headless", "--port", str(port)],
        env={**os.environ, "LAKEDROP_HOME": str(lake.root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as r:
                    assert r.read() == b"ok"
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/customers") as r:
            assert r.status == 200
    finally:
        os.killpg(process.pid, 15)  # the CLI and the Streamlit server it started
        process.wait(timeout=10)
