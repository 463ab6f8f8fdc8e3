"""The job end to end on a tiny curated folder: cutoffs, labels, files, pointers, run report.

Curated rows (Seoul time), last event day 2025-06-30 (a refund), horizon 90 days:
training cutoff = 2025-06-30 - 90 days = 2025-04-01, label window (04-01, 06-30].

    a  purchases 01-05 and 05-01        train: churned 0 (bought 05-01)
    b  purchase 02-01                   train: churned 1
    c  purchase 04-15                   not in train (first purchase after 04-01); in score
    d  purchase 03-01, refund 06-30     train: churned 1 (a refund is not a purchase)
    e  a row without an amount          unusable: counted in rows_not_used, nowhere else
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from glue_jobs.features import job, layout
from glue_jobs.features.settings import FeaturesArgs
from tests.glue_jobs.conftest import Tx, write_curated

ROWS = [
    Tx("a", "2025-01-05 10:00", "1000"),
    Tx("a", "2025-05-01 10:00", "1000"),
    Tx("b", "2025-02-01 10:00", "1000"),
    Tx("c", "2025-04-15 10:00", "2000"),
    Tx("d", "2025-03-01 10:00", "500"),
    Tx("d", "2025-06-30 10:00", "-500", is_refund=True),
    Tx("e", "2025-03-03 10:00", None),
]


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("curated")
    write_curated(folder, ROWS)
    # a manifest that names nothing (an unreadable or foreign object) contributes nothing
    (folder / "_manifests" / "transactions" / "abc.json").write_text("{}", encoding="utf-8")
    return folder


def _args(curated: Path, analytics: Path, run_id: str, **kw: Any) -> FeaturesArgs:
    return FeaturesArgs(str(curated), str(analytics), run_id, **kw)


def _snapshot(analytics: Path, kind: layout.Kind) -> dict[str, dict[str, Any]]:
    pointer = json.loads((analytics / layout.latest_key(kind)).read_text("utf-8"))
    table = pq.read_table(analytics / pointer["path"])
    return {row["customer_id"]: row for row in table.to_pylist()}


def test_run_writes_both_snapshots_and_the_report(
    spark: SparkSession, curated: Path, tmp_path: Path
) -> None:
    analytics = tmp_path / "analytics"
    report = job.run(spark, _args(curated, analytics, "r1"))

    train = _snapshot(analytics, "train")
    assert {c: r["churned"] for c, r in train.items()} == {"a": 0, "b": 1, "d": 1}
    assert {r["cutoff_date"] for r in train.values()} == {dt.date(2025, 4, 1)}
    score = _snapshot(analytics, "score")
    assert sorted(score) == ["a", "b", "c", "d"]
    assert "churned" not in score["a"]
    assert {r["cutoff_date"] for r in score.values()} == {dt.date(2025, 6, 30)}
    # a at the scoring cutoff: days 01-05 and 05-01 → frequency 1, recency 116, T 176
    assert (score["a"]["frequency"], score["a"]["recency"], score["a"]["T"]) == (1, 116, 176)

    assert report["input"] == {
        "files": 6,  # one per local month, January to June, as the manifest names them
        "rows": 7,
        "purchase_rows": 5,
        "refund_rows": 1,
        "zero_amount_rows": 0,
        "rows_not_used": 1,
        "customers": 4,  # e has no usable row
        "first_day": "2025-01-05",
        "last_day": "2025-06-30",
    }
    assert report["snapshots"]["train"]["cutoff"] == "2025-04-01"
    assert report["snapshots"]["train"]["rows"] == 3
    assert report["snapshots"]["train"]["positive_rate"] == pytest.approx(2 / 3)
    assert report["snapshots"]["score"]["cutoff"] == "2025-06-30"
    assert report["snapshots"]["score"]["rows"] == 4
    assert report["parameters"]["horizon_days"] == 90
    assert report["spark_version"].startswith("3.5.")
    assert report["duration_s"] > 0
    on_disk = json.loads((analytics / layout.report_key("r1")).read_text("utf-8"))
    assert on_disk == json.loads(json.dumps(report, default=str))

    pointer = json.loads((analytics / layout.latest_key("train")).read_text("utf-8"))
    assert pointer["run_id"] == "r1"
    # relative to the zone: the lake can be moved
    assert pointer["path"] == layout.run_key("train", "r1") == "features/train/run=r1"
    assert pointer["report"] == "features/_runs/r1.json"
    assert (pointer["cutoff"], pointer["rows"]) == ("2025-04-01", 3)
    assert pointer["previous_runs"] == []
    parts = sorted((analytics / layout.run_key("train", "r1")).glob("part-*.parquet"))
    assert len(parts) == 1
    metadata = pq.ParquetFile(parts[0]).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    leftovers = [p for p in analytics.rglob("*") if p.name.endswith(".part")]
    assert not leftovers


def test_a_new_run_replaces_the_snapshot_and_old_runs_are_removed(
    spark: SparkSession, curated: Path, tmp_path: Path
) -> None:
    # (keeping more than one run is tested without Spark in test_io.py)
    analytics = tmp_path / "analytics"
    train_dir = analytics / layout.snapshot_prefix("train")
    job.run(spark, _args(curated, analytics, "r1", keep_runs=1))
    # a run that died before publishing left a folder behind
    (train_dir / "run=crashed").mkdir()
    (train_dir / "run=crashed" / "part-0.parquet").write_bytes(b"half")

    report = job.run(spark, _args(curated, analytics, "r2", keep_runs=1))
    assert sorted(p.name for p in train_dir.iterdir() if p.is_dir()) == ["run=r2"]
    assert sorted(report["removed_runs"]["train"]) == ["crashed", "r1"]
    assert report["removed_runs"]["score"] == ["r1"]
    pointer = json.loads((analytics / layout.latest_key("train")).read_text("utf-8"))
    assert (pointer["run_id"], pointer["previous_runs"]) == ("r2", [])
    assert sorted(_snapshot(analytics, "train")) == ["a", "b", "d"]
    assert (analytics / layout.report_key("r1")).is_file()  # reports are kept


def test_the_training_snapshot_holds_every_backtest_cutoff(
    spark: SparkSession, curated: Path, tmp_path: Path
) -> None:
    # horizon 90, step 30: C = 06-30 - 90 = 04-01, then 03-02, 01-31, 01-01 (before the first
    # purchase, 01-05: left out). Worked by hand from the rows in the module docstring:
    #   01-31  a (bought 01-05)       label window (01-31, 05-01]: a buys 05-01 → 0
    #   03-02  a, b, d                (03-02, 05-31]: a 0; b 1; d 1 (a refund is no purchase)
    #   04-01  a, b, d                (04-01, 06-30]: a 0; b 1; d 1
    analytics = tmp_path / "analytics"
    report = job.run(
        spark, _args(curated, analytics, "bt", backtest_cutoffs=4, backtest_step_days=30)
    )
    train = report["snapshots"]["train"]
    assert train["cutoff"] == "2025-04-01"
    assert train["cutoffs"] == [
        {"cutoff": "2025-01-31", "rows": 1, "positive_rate": 0.0},
        {"cutoff": "2025-03-02", "rows": 3, "positive_rate": pytest.approx(2 / 3)},
        {"cutoff": "2025-04-01", "rows": 3, "positive_rate": pytest.approx(2 / 3)},
    ]
    assert (train["rows"], train["positive_rate"]) == (7, pytest.approx(4 / 7))
    assert report["parameters"]["backtest_step_days"] == 30
    pointer = json.loads((analytics / layout.latest_key("train")).read_text("utf-8"))
    assert pointer["cutoffs"] == ["2025-01-31", "2025-03-02", "2025-04-01"]
    assert pointer["cutoff"] == "2025-04-01" and pointer["rows"] == 7

    rows = pq.read_table(analytics / pointer["path"]).to_pylist()
    by_key = {(r["customer_id"], r["cutoff_date"].isoformat()): r for r in rows}
    assert sorted(by_key) == [
        ("a", "2025-01-31"),
        ("a", "2025-03-02"),
        ("a", "2025-04-01"),
        ("b", "2025-03-02"),
        ("b", "2025-04-01"),
        ("d", "2025-03-02"),
        ("d", "2025-04-01"),
    ]
    # a at 01-31: one purchase day (01-05) → days since 26, T 26, frequency 0
    a = by_key[("a", "2025-01-31")]
    assert (a["days_since_last_purchase"], a["T"], a["frequency"], a["churned"]) == (26, 26, 0, 0)
    assert by_key[("b", "2025-03-02")]["days_since_last_purchase"] == 29
    assert [by_key[("d", c)]["churned"] for c in ("2025-03-02", "2025-04-01")] == [1, 1]


def test_as_of_ignores_later_events(spark: SparkSession, curated: Path, tmp_path: Path) -> None:
    # up to 05-31: last day 05-01 (a), training cutoff 05-01 - 90 days = 2025-01-31;
    # only a bought by then, and bought again on 05-01 → churned 0
    report = job.run(
        spark, _args(curated, tmp_path / "analytics", "asof", as_of=dt.date(2025, 5, 31))
    )
    assert report["snapshots"]["train"]["cutoff"] == "2025-01-31"
    assert report["snapshots"]["train"]["rows"] == 1
    assert report["snapshots"]["train"]["positive_rate"] == 0.0
    assert report["snapshots"]["score"]["rows"] == 4
    assert report["input"]["rows_not_used"] == 2  # no amount; the 06-30 refund


def test_too_little_history_fails_before_writing(
    spark: SparkSession, curated: Path, tmp_path: Path
) -> None:
    analytics = tmp_path / "analytics"
    # last day 02-01: training cutoff 2024-11-03, before the first purchase (01-05)
    with pytest.raises(job.NotEnoughHistoryError, match="before the first purchase"):
        job.run(spark, _args(curated, analytics, "short", as_of=dt.date(2025, 2, 28)))
    with pytest.raises(job.NoTransactionsError):
        job.run(spark, _args(curated, analytics, "none", as_of=dt.date(2024, 12, 31)))
    assert not (analytics / "features").exists()


def test_main_parses_argv_and_keeps_a_callers_session(
    spark: SparkSession, curated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    analytics = tmp_path / "analytics"
    argv = ["--curated", str(curated), "--analytics", str(analytics), "--run-id", "cli-1"]
    assert job.main([*argv, "--master", "local[2]", "--horizon-days", "60"]) == 0
    out = capsys.readouterr().out
    # horizon 60: training cutoff 2025-06-30 - 60 days = 2025-05-01; a, b, c and d bought by
    # then and nobody buys in (05-01, 06-30] (d's refund is not a purchase) → all churned.
    # Backtest cutoff 05-01 - 60 = 03-02: a, b, d bought by then; in (03-02, 05-01] only a buys
    # → b, d churned. (01-01 is before the first purchase: left out.) 6 of 7 rows churned.
    assert "train cutoffs 2025-03-02, 2025-05-01: 7 rows, churn rate 85.7%" in out
    report = json.loads(out.splitlines()[-1])
    assert report["run_id"] == "cli-1" and report["parameters"]["horizon_days"] == 60
    assert spark.range(1).count() == 1  # the test's session was not stopped


def test_the_job_reads_what_the_manifests_name_not_the_folder(
    spark: SparkSession, curated: Path, tmp_path: Path
) -> None:
    import shutil

    lake = tmp_path / "curated"
    shutil.copytree(curated, lake)
    month_files = sorted((lake / "transactions").rglob("*.parquet"))
    # a new version of a source being written (no manifest names it yet): not read
    for path in month_files:
        shutil.copyfile(path, path.with_name("src-v2-0.parquet"))

    report = job.run(spark, _args(lake, tmp_path / "analytics", "m1"))

    assert report["input"]["files"] == len(month_files)
    assert report["input"]["rows"] == len(ROWS)
