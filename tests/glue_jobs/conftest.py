"""One local SparkSession for the whole test session, and helpers to build curated rows.

Starting Spark costs seconds; every Spark test shares this session (``local[2]``, two shuffle
partitions, no UI, loopback only, session time zone UTC as the job sets it).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession

from glue_jobs.features.io import CURATED_SCHEMA

SEOUL = ZoneInfo("Asia/Seoul")


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("lakedrop-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


class Tx(NamedTuple):
    """One curated row, written the way a person reads a receipt: local (Seoul) time."""

    customer: str
    local_time: str  # "YYYY-MM-DD HH:MM[:SS]" in Asia/Seoul
    amount: str | None  # decimal text, e.g. "12000.00"; refunds usually negative
    is_refund: bool | None = False
    category: str | None = "식품"
    channel: str | None = "online"

    @property
    def instant(self) -> dt.datetime:
        return (
            dt.datetime.fromisoformat(self.local_time)
            .replace(tzinfo=SEOUL)
            .astimezone(dt.timezone.utc)
        )


def utc_tx(customer: str, utc_time: str, amount: str, **kw: Any) -> Tx:
    """A row given by its UTC time (for the time zone boundary cases)."""
    local = dt.datetime.fromisoformat(utc_time).replace(tzinfo=dt.timezone.utc).astimezone(SEOUL)
    return Tx(customer, local.replace(tzinfo=None).isoformat(sep=" "), amount, **kw)


def curated_rows(rows: Sequence[Tx]) -> list[tuple[Any, ...]]:
    out = []
    for i, r in enumerate(rows):
        out.append(
            (
                f"T{i:06d}",
                r.customer,
                None,
                None,
                None,
                r.instant,  # aware: Spark and Arrow store the instant
                None if r.amount is None else Decimal(r.amount),
                1,
                r.category,
                r.channel,
                "KR",
                r.is_refund,
            )
        )
    return out


def curated_frame(spark: SparkSession, rows: Sequence[Tx]) -> DataFrame:
    return spark.createDataFrame(curated_rows(rows), CURATED_SCHEMA)


ARROW_SCHEMA = pa.schema(
    [
        ("transaction_id", pa.string()),
        ("customer_id", pa.string()),
        ("customer_name", pa.string()),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("amount", pa.decimal128(18, 2)),
        ("quantity", pa.int64()),
        ("category", pa.string()),
        ("channel", pa.string()),
        ("country", pa.string()),
        ("is_refund", pa.bool_()),
    ]
)


def write_curated(curated: Path, rows: Sequence[Tx], name: str = "src-0.parquet") -> None:
    """Write rows as curated Parquet files, one per local month, as ingest lays them out, and
    the ``curated`` manifest naming them (the features job reads what manifests name)."""
    import json

    outputs = []
    by_month: dict[str, list[tuple[Any, ...]]] = {}
    for row, values in zip(rows, curated_rows(rows)):  # same length; no strict= on 3.9
        by_month.setdefault(row.local_time[:7], []).append(values)
    for month, month_rows in by_month.items():
        folder = curated / "transactions" / f"event_month={month}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(
            [dict(zip(ARROW_SCHEMA.names, v)) for v in month_rows],
            schema=ARROW_SCHEMA,
        )
        pq.write_table(table, folder / name, compression="zstd")
        outputs.append({"key": f"transactions/event_month={month}/{name}", "rows": len(month_rows)})
    manifests = curated / "_manifests" / "transactions"
    manifests.mkdir(parents=True, exist_ok=True)
    source = name.removesuffix(".parquet")
    (manifests / f"{source}.json").write_text(
        json.dumps({"source_id": source, "status": "curated", "outputs": outputs}),
        encoding="utf-8",
    )


def ingest_generated(root: Path, rows: int, seed: int) -> Path:
    """Generate a transactions CSV and run the real ingest on it (the Lambda's handler, as
    ``lakedrop drop`` runs it) into a local lake under ``root``; returns the lake root.

    The ingest reads its settings from the environment: they are set for the call only.
    """
    from lakedrop.config import LocalLake
    from lakedrop.generate import GenerateSpec, generate
    from tests.pipeline import land_and_ingest

    lake = LocalLake(root.resolve())
    csv = root / "source" / f"generated-{rows}-{seed}.csv"
    csv.parent.mkdir(parents=True)
    generate(csv, GenerateSpec(rows=rows, seed=seed))
    result = land_and_ingest(lake, csv, f"transactions/{csv.name}")
    assert result["status"] == "curated", result
    assert result["rows"]["written"] == rows, result["rows"]
    return lake.root
