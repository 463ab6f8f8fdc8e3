"""Contract: what ingest really writes is what the features job reads, without surprises.

A generated file goes through the real ingest (the Lambda handler, as ``lakedrop drop`` runs
it) into a local lake; the features job then runs on that curated zone — once through
``job.run`` and once through ``lakedrop features``. The expected customer counts are worked
out from the curated Parquet with pyarrow and plain Python, not with the job's code.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from typer.testing import CliRunner

from glue_jobs.features import io, job, layout, transform
from glue_jobs.features.settings import FeaturesArgs
from lakedrop.cli import app
from tests.glue_jobs.conftest import ARROW_SCHEMA, SEOUL, ingest_generated

ROWS = 3_000


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ingest_generated(tmp_path_factory.mktemp("lake"), ROWS, seed=11)


@pytest.fixture(scope="module")
def curated_rows(lake_root: Path) -> list[dict[str, Any]]:
    files = sorted((lake_root / "curated" / "transactions").glob("*=*/*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def _purchase_days(rows: list[dict[str, Any]]) -> dict[str, list[dt.date]]:
    """Local purchase days per customer, by the documented rule (not amount <= 0, no flag)."""
    days: dict[str, list[dt.date]] = defaultdict(list)
    for r in rows:
        if not r["is_refund"] and r["amount"] > Decimal(0):
            days[r["customer_id"]].append(r["event_time"].astimezone(SEOUL).date())
    return days


def test_curated_files_have_the_schema_the_job_declares(lake_root: Path) -> None:
    files = sorted((lake_root / "curated" / "transactions").glob("*=*/*.parquet"))
    assert files
    for f in files:
        schema = pq.read_schema(f)
        # names, order and types; nullability is not part of the contract
        assert [(x.name, x.type) for x in schema] == [(x.name, x.type) for x in ARROW_SCHEMA], f
    assert ARROW_SCHEMA.names == io.CURATED_SCHEMA.fieldNames()
    assert ARROW_SCHEMA.field("event_time").type == pa.timestamp("us", tz="UTC")


def test_spark_reads_every_curated_row_with_the_explicit_schema(
    spark: SparkSession, lake_root: Path, curated_rows: list[dict[str, Any]]
) -> None:
    frame, files = io.read_curated_transactions(spark, io.open_zone(str(lake_root / "curated")))
    assert files == len(list((lake_root / "curated" / "transactions").rglob("*.parquet")))
    assert frame.schema == io.CURATED_SCHEMA  # no partition column, nothing inferred
    assert frame.count() == ROWS == len(curated_rows)
    nulls = frame.where(
        F.col("customer_id").isNull() | F.col("event_time").isNull() | F.col("amount").isNull()
    ).count()
    assert nulls == 0
    # the instants survive: same earliest event as pyarrow reads
    first = frame.agg(F.min("event_time")).first()
    assert first is not None
    assert first[0].replace(tzinfo=dt.UTC) == min(r["event_time"] for r in curated_rows)


def test_features_job_on_what_ingest_wrote(
    spark: SparkSession, lake_root: Path, curated_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    args = FeaturesArgs(str(lake_root / "curated"), str(tmp_path / "analytics"), "contract")
    report = job.run(spark, args)

    days = _purchase_days(curated_rows)
    last_day = max(r["event_time"].astimezone(SEOUL).date() for r in curated_rows)
    first_purchase = min(min(ds) for ds in days.values())
    # the default backtest: 4 cutoffs, 90 days apart, ending 90 days before the last day
    cutoffs = [last_day - dt.timedelta(days=90 * k) for k in (4, 3, 2, 1)]
    cutoffs = [c for c in cutoffs if c >= first_purchase]
    expected: dict[tuple[str, dt.date], int] = {}
    for cutoff in cutoffs:
        for customer, ds in days.items():
            if min(ds) <= cutoff:
                bought_again = any(cutoff < d <= cutoff + dt.timedelta(days=90) for d in ds)
                expected[(customer, cutoff)] = 0 if bought_again else 1

    assert report["input"]["rows"] == ROWS
    assert report["input"]["last_day"] == last_day.isoformat()
    assert report["snapshots"]["score"]["rows"] == len(days)
    assert report["snapshots"]["train"]["rows"] == len(expected)
    assert [c["cutoff"] for c in report["snapshots"]["train"]["cutoffs"]] == [
        c.isoformat() for c in cutoffs
    ]
    assert report["snapshots"]["train"]["positive_rate"] == pytest.approx(
        sum(expected.values()) / len(expected)
    )
    train = pq.read_table(report["snapshots"]["train"]["path"])
    assert train.column_names == [*transform.FEATURE_COLUMNS, "churned"]
    got = {(r["customer_id"], r["cutoff_date"]): r["churned"] for r in train.to_pylist()}
    assert got == expected
    assert train.num_rows == len(expected)
    assert all(train.column(n).null_count == 0 for n in train.column_names)


def test_lakedrop_features_command(
    spark: SparkSession, lake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``lakedrop features`` on the local lake (it reuses this process's Spark session)."""
    monkeypatch.setenv("LAKEDROP_HOME", str(lake_root))
    result = CliRunner().invoke(app, ["features"])
    assert result.exit_code == 0, result.output
    assert "train" in result.output and "churn rate" in result.output
    assert f"{ROWS:,} curated rows" in result.output
    pointer = json.loads((lake_root / "analytics" / layout.latest_key("score")).read_text("utf-8"))
    assert (lake_root / "analytics" / pointer["path"]).is_dir()
    report = lake_root / "analytics" / layout.report_key(pointer["run_id"])
    assert report.is_file()


def test_lakedrop_features_without_curated_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEDROP_HOME", str(tmp_path / "empty"))
    result = CliRunner().invoke(app, ["features"])
    assert result.exit_code == 1
    assert "nothing curated yet" in result.output
