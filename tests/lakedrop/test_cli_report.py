"""`lakedrop report`: Streamlit on 127.0.0.1, pointed at the local lake's zones."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
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

    def fake_serve(command: list[str], env: dict[str, str], cwd: Path, url: str, **kw: Any) -> int:
        calls.append({"command": command, "env": env, "cwd": cwd, "url": url, **kw})
        return 0

    monkeypatch.setattr(cli, "_serve", fake_serve)
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
    assert call["open_browser"] is False  # --headless: no browser; Streamlit is always headless
    assert (Path(call["cwd"]) / ".streamlit" / "config.toml").is_file()
    env = call["env"]
    assert env["LAKEDROP_ANALYTICS_URI"] == str(lake.analytics)
    assert env["LAKEDROP_CURATED_URI"] == str(lake.curated)
    assert env["LAKEDROP_QUARANTINE_URI"] == str(lake.quarantine)


def test_report_says_what_is_missing(lake: LocalLake, monkeypatch: pytest.MonkeyPatch) -> None:
    (lake.curated / "_manifests" / "transactions").mkdir(parents=True)
    (lake.curated / "_manifests" / "transactions" / "x.json").write_text("{}", "utf-8")
    monkeypatch.setattr(cli, "_serve", lambda *_, **__: 0)
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


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _port_free(port: int) -> bool:
    """Nothing listens on ``port`` and a new server can bind it (as Streamlit binds: with
    SO_REUSEADDR, past the TIME_WAIT of the connections just closed)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _start_unattended(
    lake: LocalLake, tmp_path: Path, port: int
) -> tuple[subprocess.Popen[bytes], Path]:
    """`lakedrop report` as a service or `&` starts it: no terminal on any stream, a new
    session (no controlling terminal), and a HOME Streamlit has never run in (its first run
    is the one that asks for an e-mail address)."""
    home = tmp_path / "home"
    home.mkdir()
    log = tmp_path / "report.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lakedrop.cli", "report", "--port", str(port)],
            env={**os.environ, "LAKEDROP_HOME": str(lake.root), "HOME": str(home)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log


def _wait_healthy(process: subprocess.Popen[bytes], port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as r:
                assert r.read() == b"ok"
                return
        except OSError:
            assert process.poll() is None, f"exited {process.returncode} before serving"
            assert time.monotonic() < deadline, f"no answer on {port} within {seconds} s"
            time.sleep(0.2)


@pytest.mark.slow
def test_report_starts_unattended_and_stops_with_sigterm(lake: LocalLake, tmp_path: Path) -> None:
    """No terminal, first Streamlit run: it serves within 30 s, prints the URL; `kill PID` on
    `lakedrop report` (SIGTERM to it alone) stops the Streamlit server it started too."""
    port = _free_port()
    process, log = _start_unattended(lake, tmp_path, port)
    try:
        _wait_healthy(process, port, 30)
        deadline = time.monotonic() + 10  # the URL is printed once the health check answers
        while f"report on http://127.0.0.1:{port}/" not in log.read_text("utf-8"):
            assert time.monotonic() < deadline, log.read_text("utf-8")
            time.sleep(0.1)
        text = log.read_text("utf-8")
        assert "Email" not in text  # no first-run prompt
        assert "gather usage statistics" not in text.lower()  # no telemetry notice
        (server,) = _children(process.pid)
        os.kill(process.pid, signal.SIGTERM)  # the wrapper only, as `kill PID` does
        assert process.wait(timeout=15) == 0
        with pytest.raises(ProcessLookupError):
            os.kill(server, 0)  # the Streamlit child is gone (reaped, not a zombie)
        assert _port_free(port)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_report_server_stops_when_the_wrapper_is_killed(lake: LocalLake, tmp_path: Path) -> None:
    """`kill -9` on `lakedrop report` (no handler runs): the Streamlit server goes too, and the
    port is free for the next start."""
    port = _free_port()
    process, _log = _start_unattended(lake, tmp_path, port)
    try:
        _wait_healthy(process, port, 30)
        (server,) = _children(process.pid)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 15
        while Path(f"/proc/{server}").exists() and _state(server) != "Z":
            assert time.monotonic() < deadline, "the server outlived the killed wrapper"
            time.sleep(0.1)
        deadline = time.monotonic() + 15
        while not _port_free(port):
            assert time.monotonic() < deadline, f"port {port} still taken"
            time.sleep(0.2)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _state(pid: int) -> str:
    """A process's state letter (Z: exited, not yet reaped by init), "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return ""
