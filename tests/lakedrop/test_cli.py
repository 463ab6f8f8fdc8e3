"""The local runtime: `lakedrop drop` / `watch` call the Lambda handler with an S3-shaped event."""

from __future__ import annotations

import json
from pathlib import Path

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
        f"SELECT count(DISTINCT customer_id) FROM read_parquet('{score['path']}/*.parquet')"
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
