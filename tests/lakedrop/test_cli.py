"""The local runtime: `lakedrop drop` / `watch` call the Lambda handler with an S3-shaped event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ingest.handler import objects_in_s3_notification
from lakedrop.cli import app
from lakedrop.config import LocalLake
from lakedrop.local import s3_put_event
from tests.helpers import load_event

runner = CliRunner()


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalLake:
    monkeypatch.setenv("LAKEDROP_HOME", str(tmp_path / "lake"))
    return LocalLake.from_env()


def _shape(value: object) -> object:
    """The structure of a JSON value: keys and types, not contents."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__


def test_local_event_has_the_shape_of_the_sample_s3_event() -> None:
    ours = s3_put_event("transactions/거래 내역.csv", 10, "abc")
    sample = load_event("s3_put")
    assert _shape(ours["Records"][0]["s3"]) == _shape(sample["Records"][0]["s3"])
    assert (
        ours["Records"][0]["s3"]["object"]["key"]
        == "transactions/%EA%B1%B0%EB%9E%98+%EB%82%B4%EC%97%AD.csv"
    )
    (announced,) = objects_in_s3_notification(ours)
    assert announced.obj.key == "transactions/거래 내역.csv"


def test_generate_then_drop_curates_and_reports(lake: LocalLake, tmp_path: Path) -> None:
    csv = tmp_path / "거래 내역.csv"
    result = runner.invoke(app, ["generate", str(csv), "--rows", "2000", "--korean-headers"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["drop", str(csv)])
    assert result.exit_code == 0, result.output
    assert "curated" in result.output and "2,000" in result.output
    assert str(lake.curated) in result.output.replace("\n", "")
    manifests = list((lake.curated / "_manifests" / "transactions").glob("*.json"))
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text("utf-8"))
    assert manifest["source"]["key"] == "transactions/거래 내역.csv"
    assert manifest["rows"]["written"] == 2000
    assert (lake.landing / "transactions" / "거래 내역.csv").read_bytes() == csv.read_bytes()


def test_a_file_dropped_twice_is_said_to_be_a_duplicate(lake: LocalLake, tmp_path: Path) -> None:
    first = tmp_path / "week.csv"
    assert runner.invoke(app, ["generate", str(first), "--rows", "500"]).exit_code == 0
    again = tmp_path / "week (1).csv"
    again.write_bytes(first.read_bytes())
    assert runner.invoke(app, ["drop", str(first)]).exit_code == 0
    result = runner.invoke(app, ["drop", str(again)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert (
        "duplicate transactions/week (1).csv: the same content was already curated from "
        "transactions/week.csv; nothing written" in output
    )
    manifests = [
        json.loads(m.read_text("utf-8"))
        for m in (lake.curated / "_manifests" / "transactions").glob("*.json")
    ]
    assert sorted(m["status"] for m in manifests) == ["curated", "duplicate"]
    assert sum(m["rows"]["written"] for m in manifests) == 500


def test_drop_of_a_bad_file_exits_2_and_says_why(lake: LocalLake, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,phone\n김민수,010-1234-5678\n", encoding="utf-8")
    result = runner.invoke(app, ["drop", str(bad)])
    assert result.exit_code == 2
    assert "quarantined" in result.output and "required column" in result.output
    assert (lake.quarantine / "transactions" / "bad.csv.error.json").is_file()


def test_watch_once_ingests_what_is_pending_and_only_that(lake: LocalLake, tmp_path: Path) -> None:
    lake.ensure()
    for name in ("a.csv", "b.csv"):
        result = runner.invoke(
            app, ["generate", str(lake.landing / "transactions" / name), "--rows", "300"]
        )
        assert result.exit_code == 0, result.output
    first = runner.invoke(app, ["watch", "--once"])
    assert first.exit_code == 0, first.output
    assert first.output.count("curated") >= 2
    again = runner.invoke(app, ["watch", "--once"])
    assert "curated" not in again.output  # nothing new to do
    # a changed file is picked up again
    runner.invoke(app, ["generate", str(lake.landing / "transactions" / "a.csv"), "--rows", "100"])
    third = runner.invoke(app, ["watch", "--once"])
    assert "transactions/a.csv" in third.output and "transactions/b.csv" not in third.output


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline_into_the_lake(lake: LocalLake) -> None:
    """The README's first command: samples → ingest → features → training, all in the lake."""
    result = runner.invoke(app, ["demo", "--rows", "20000"])
    assert result.exit_code == 0, result.output

    manifests = sorted((lake.curated / "_manifests" / "transactions").glob("*.json"))
    statuses = sorted(json.loads(m.read_text())["status"] for m in manifests)
    assert statuses == ["curated", "curated", "quarantined"]  # the broken file, on purpose

    pointer = json.loads((lake.analytics / "models" / "_LATEST.json").read_text())
    metrics = json.loads((lake.analytics / pointer["metrics"]).read_text())
    assert metrics["run_id"] == pointer["run_id"]
    # every customer of the scoring snapshot is scored, once
    import duckdb

    score = json.loads((lake.analytics / "features" / "score" / "_LATEST.json").read_text())
    customers = duckdb.sql(
        f"SELECT count(DISTINCT customer_id) FROM read_parquet('{lake.analytics / score['path']}/*.parquet')"
    ).fetchall()[0][0]
    scored, distinct = duckdb.sql(
        "SELECT count(*), count(DISTINCT customer_id) FROM read_parquet("
        f"'{lake.analytics / pointer['predictions']}/predictions.parquet')"
    ).fetchall()[0]
    assert scored == distinct == customers > 0
    assert "lakedrop report" in result.output


def test_drop_while_another_ingest_holds_the_file_says_so(lake: LocalLake, tmp_path: Path) -> None:
    csv = tmp_path / "week.csv"
    assert runner.invoke(app, ["generate", str(csv), "--rows", "50"]).exit_code == 0
    from ingest import layout

    lock = lake.curated / layout.lock_key("transactions", layout.source_id("transactions/week.csv"))
    lock.parent.mkdir(parents=True)
    lock.write_text('{"token": "other", "expires_at": 4000000000}', encoding="utf-8")
    result = runner.invoke(app, ["drop", str(csv)])
    assert result.exit_code == 3
    output = " ".join(result.output.split())
    assert "busy another ingest of transactions/week.csv holds its lease" in output
    assert not (lake.curated / "_manifests").exists() or not any(
        (lake.curated / "_manifests").rglob("*.json")
    )


@pytest.mark.parametrize("java_home", [None, "nowhere"])
def test_features_without_java_says_so_in_one_line(
    lake: LocalLake, tmp_path: Path, java_home: str | None
) -> None:
    """No java on PATH (and JAVA_HOME unset, or naming a folder without one): one line saying
    Java 17 is needed and how to install it, exit 1, no Spark traceback."""
    import os
    import subprocess
    import sys

    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env.update(PATH=str(empty), LAKEDROP_HOME=str(lake.root))
    if java_home:
        env["JAVA_HOME"] = str(tmp_path / java_home)
    done = subprocess.run(
        [sys.executable, "-m", "lakedrop.cli", "features"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Java 17 is needed for the features job (Spark)")
    assert "openjdk-17" in lines[0]
    assert "Traceback" not in done.stderr


HEADER = (
    "transaction_id,customer_id,customer_name,email,phone,event_time,amount,quantity,"
    "category,channel,country,is_refund\n"
)


def _row(tid: str, amount: str = "1000") -> str:
    return f"{tid},C1,김민수,kim@naver.com,010-1234-5678,2025-06-10 10:00:00,{amount},1,식품,online,KR,N\n"


def test_dropped_files_counts_reconcile_in_cli_manifests_and_report(
    lake: LocalLake, tmp_path: Path
) -> None:
    """Four files through `lakedrop drop`, counts worked out by hand:
    good.csv      T1-T4                 read 4, written 4
    good (1).csv  the same bytes        duplicate: read 4, duplicates 4
    mostly.csv    T11, T12, T13 bad, T14  1 of 4 bad (> 5 %): quarantined whole: read 4,
                                        written 0, rejected 1, quarantined 3
    overlap.csv   T3, T4, T20           read 3, written 1, duplicates 2
    The report's totals: read 15 = written 5 + rejected 1 + duplicates 6 + quarantined 3."""
    from frontend import logic

    sources = {
        "good.csv": HEADER + "".join(_row(f"T{i}") for i in range(1, 5)),
        "mostly.csv": HEADER + _row("T11") + _row("T12") + _row("T13", "x") + _row("T14"),
        "overlap.csv": HEADER + _row("T3") + _row("T4") + _row("T20"),
    }
    for name, text in sources.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "good (1).csv").write_text(sources["good.csv"], encoding="utf-8")
    files = [str(tmp_path / n) for n in ("good.csv", "good (1).csv", "mostly.csv", "overlap.csv")]
    result = runner.invoke(app, ["drop", *files])
    assert result.exit_code == 2, result.output  # one file quarantined
    out = " ".join(result.output.split())
    rejects = lake.quarantine / "transactions" / "mostly.csv.rejected-rows.jsonl"
    assert (
        f"rejected rows of transactions/mostly.csv (1, each with its line and why): {rejects}"
        in out
    )
    assert "none of its rows were written (3 good ones stay in the quarantined copy)" in out
    (reject,) = [json.loads(line) for line in rejects.read_text("utf-8").splitlines()]
    assert (reject["line"], reject["reason"]) == (4, "amount: not a valid decimal")

    manifests = [
        json.loads(p.read_text("utf-8"))
        for p in (lake.curated / "_manifests" / "transactions").glob("*.json")
    ]
    by_key = {m["source"]["key"].split("/")[1]: m["rows"] for m in manifests}
    assert by_key["good.csv"] | {"lines_rejected": 0} == {
        "read": 4, "written": 4, "rejected": 0, "lines_rejected": 0, "duplicates": 0,
    }  # fmt: skip
    assert (by_key["good (1).csv"]["read"], by_key["good (1).csv"]["duplicates"]) == (4, 4)
    assert by_key["mostly.csv"] == {
        "read": 4, "written": 0, "rejected": 1, "lines_rejected": 1, "duplicates": 0,
        "quarantined": 3,
    }  # fmt: skip
    assert (by_key["overlap.csv"]["written"], by_key["overlap.csv"]["duplicates"]) == (1, 2)

    totals = logic.health_totals(logic.file_rows(manifests))
    assert (totals.files, totals.curated, totals.quarantined, totals.duplicates) == (4, 2, 1, 1)
    assert (totals.rows_read, totals.rows_written, totals.rows_rejected) == (15, 5, 1)
    assert (totals.rows_duplicate, totals.rows_quarantined) == (6, 3)
    assert totals.rows_read == (
        totals.rows_written + totals.rows_rejected + totals.rows_duplicate + totals.rows_quarantined
    )


def test_run_says_when_nothing_is_new(lake: LocalLake, monkeypatch: pytest.MonkeyPatch) -> None:
    import lakedrop.cli

    steps: list[str] = []
    monkeypatch.setattr(lakedrop.cli, "_downstream", lambda: steps.append("downstream"))
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert "nothing new in landing" in result.output
    assert steps == ["downstream"]


def test_run_has_a_local_function_for_every_step_of_the_state_machine() -> None:
    from lakedrop.cli import LOCAL_STEPS
    from lakedrop.pipeline import STEPS

    assert tuple(LOCAL_STEPS) == STEPS  # complete, and in the pipeline's order


def test_run_runs_the_pipelines_steps_in_order_and_publishes_only_after_them(
    lake: LocalLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer

    import lakedrop.cli
    from lakedrop.pipeline import STEPS

    entered: list[str] = []

    def step(name: str, fails: bool = False) -> Any:
        def run(done: dict[str, Any]) -> str:
            entered.append(name)
            assert list(done) == list(STEPS[: STEPS.index(name)])  # every earlier step done
            if fails:
                raise typer.Exit(code=1)
            return name

        return run

    monkeypatch.setattr(lakedrop.cli, "LOCAL_STEPS", {name: step(name) for name in STEPS})
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert entered == list(STEPS)
    assert [line.strip("─ ") for line in result.output.splitlines() if "──" in line] == [
        name.lower() for name in STEPS
    ]

    # a failed Training step ends the run: Publish (the pointer) never runs
    entered.clear()
    failing = {name: step(name, fails=name == "Training") for name in STEPS}
    monkeypatch.setattr(lakedrop.cli, "LOCAL_STEPS", failing)
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 1
    assert entered == ["Features", "Training"]


def test_generate_defaults_to_the_lake_and_seeds_make_distinct_ids(lake: LocalLake) -> None:
    assert runner.invoke(app, ["generate", "--rows", "50"]).exit_code == 0
    assert runner.invoke(app, ["generate", "--rows", "50", "--seed", "7"]).exit_code == 0
    first = (lake.samples / "transactions-42.csv").read_text("utf-8").splitlines()
    second = (lake.samples / "transactions-7.csv").read_text("utf-8").splitlines()
    assert first[1].startswith("T42-000000001,") and second[1].startswith("T7-000000001,")
    ids = {line.split(",")[0] for line in first[1:]} & {line.split(",")[0] for line in second[1:]}
    assert ids == set()  # two samples never share a transaction id
    assert not Path("transactions-42.csv").exists()  # not in the working directory


def test_drop_has_help_for_its_files() -> None:
    result = runner.invoke(app, ["drop", "--help"])
    assert "CSV files" in " ".join(result.output.split())


@pytest.mark.slow
def test_watch_waits_for_a_file_whose_writer_pauses(lake: LocalLake, tmp_path: Path) -> None:
    """A writer copies half a file into landing, pauses 0.6 s (six looks), then writes the
    rest: `lakedrop watch` ingests it once, whole (400 rows), not the half."""
    import os
    import signal
    import subprocess
    import sys
    import time

    lake.ensure()
    source = tmp_path / "slow.csv"
    assert runner.invoke(app, ["generate", str(source), "--rows", "400"]).exit_code == 0
    data = source.read_bytes()
    log = tmp_path / "watch.log"
    with log.open("wb") as out:
        watcher = subprocess.Popen(
            [sys.executable, "-m", "lakedrop.cli", "watch", "--interval", "0.1", "--settle", "1.5"],
            env={**os.environ, "LAKEDROP_HOME": str(lake.root)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        target = lake.landing / "transactions" / "slow.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as writer:
            writer.write(data[: len(data) // 2])
            writer.flush()
            time.sleep(0.6)
            writer.write(data[len(data) // 2 :])
        manifests = lake.curated / "_manifests" / "transactions"
        deadline = time.monotonic() + 60
        while not any(manifests.glob("*.json")):
            assert time.monotonic() < deadline, log.read_text("utf-8")
            time.sleep(0.2)
        time.sleep(1)  # a second ingest of the same key would show in the log by now
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=30)
    (manifest_path,) = manifests.glob("*.json")
    manifest = json.loads(manifest_path.read_text("utf-8"))
    assert manifest["status"] == "curated"
    assert manifest["rows"]["read"] == manifest["rows"]["written"] == 400
    assert log.read_text("utf-8").count("transactions/slow.csv") == 1


@pytest.mark.parametrize("key", ["../outside.csv", "transactions/../../outside.csv", "/tmp/x.csv"])
def test_a_key_outside_the_landing_folder_is_refused(
    lake: LocalLake, tmp_path: Path, key: str
) -> None:
    from lakedrop.local import put_in_landing

    source = tmp_path / "x.csv"
    source.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="outside the landing folder"):
        put_in_landing(lake, source, key)
    assert not (lake.root / "outside.csv").exists()
    assert not (lake.landing.parent / "outside.csv").exists()
