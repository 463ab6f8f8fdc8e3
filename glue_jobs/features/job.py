"""The customer features job: ``run(spark, args)`` does the work, ``main(argv)`` is the entry.

    spark-submit --py-files glue_jobs.zip glue_jobs/features/job.py --curated … --analytics …
    python -m glue_jobs.features.job --curated .lakedrop/curated --analytics … --master 'local[*]'

On EMR Serverless this file is the ``entryPoint`` and the arguments are ``entryPointArguments``;
on Glue, ``glue_jobs/glue_entry.py`` maps the job parameters onto the same argv
(docs/features.md has both commands).

One run: read curated → one row per (customer, day) (cached) → the training snapshot (labelled
cutoffs C, C - step, … with C = last event day - horizon: one row per customer and cutoff, for
out-of-time validation) and the scoring snapshot (cutoff = last event day) written
to new ``run=<id>`` folders → the ``_LATEST.json`` pointers moved → runs beyond the last
``keep_runs`` removed → the run report.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from glue_jobs.features import io, layout, transform
from glue_jobs.features.settings import FeaturesArgs, parse_args

APP_NAME = "lakedrop-features"
LOCAL_SHUFFLE_PARTITIONS = 8
LOCAL_DRIVER_MEMORY = "2g"


class NoTransactionsError(ValueError):
    """The curated zone has no usable transaction (up to ``--as-of``)."""


class NotEnoughHistoryError(ValueError):
    """No purchase falls on or before the training cutoff: nothing to train on."""


def start_spark(
    app_name: str = APP_NAME,
    master: str | None = None,
    *,
    driver_memory: str | None = None,
    shuffle_partitions: int | None = None,
) -> SparkSession:
    """A SparkSession with a UTC session time zone, locally or on a cluster.

    ``master`` given (``local[*]``): a local session on the loopback interface, UI off, few
    shuffle partitions (the default 200 are pure overhead on one machine). ``master=None``: the
    cluster's session (Glue, EMR Serverless, spark-submit), whose resources it decides. If a
    session already exists in this process, it is returned (with the time zone set).
    """
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.master(master)
            .config("spark.driver.memory", driver_memory or LOCAL_DRIVER_MEMORY)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config(
                "spark.sql.shuffle.partitions",
                str(shuffle_partitions or LOCAL_SHUFFLE_PARTITIONS),
            )
            .config("spark.driver.bindAddress", "127.0.0.1")
        )
    elif shuffle_partitions is not None:
        builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    spark = builder.getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")  # also for a session that existed
    return spark


def _seconds(since: float) -> float:
    return round(time.perf_counter() - since, 3)


def run(
    spark: SparkSession,
    args: FeaturesArgs,
    zone: io.Zone | None = None,
    curated: io.Zone | None = None,
) -> dict[str, Any]:
    """Compute, write and publish both snapshots; returns the run report (also written)."""
    started_at = dt.datetime.now(dt.timezone.utc)
    start = time.perf_counter()
    timings: dict[str, float] = {}
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    analytics = zone or io.open_zone(args.analytics_uri)

    step = time.perf_counter()
    raw, input_files = io.read_curated_transactions(
        spark, curated or io.open_zone(args.curated_uri), transform.INPUT_COLUMNS
    )
    input_rows = raw.count()  # from the Parquet footers: no data read
    events = transform.prepare_events(raw, args.timezone)
    if args.as_of is not None:
        events = events.where(F.col("day") <= F.lit(args.as_of))
    daily = transform.daily_activity(transform.orders(events)).persist(StorageLevel.MEMORY_AND_DISK)
    snapshots: dict[str, dict[str, Any]] = {}
    try:
        summary = transform.activity_summary(daily).first()  # fills the cache
        timings["read_and_aggregate_days"] = _seconds(step)
        if summary is None or summary["last_day"] is None:
            raise NoTransactionsError(f"no usable transactions in {args.curated_uri}")
        last_day: dt.date = summary["last_day"]
        train_cutoff = last_day - dt.timedelta(days=args.horizon_days)
        first_purchase: dt.date | None = summary["first_purchase_day"]
        if first_purchase is None or first_purchase > train_cutoff:
            raise NotEnoughHistoryError(
                f"the training cutoff {train_cutoff} (last day {last_day} − "
                f"{args.horizon_days} days) is before the first purchase ({first_purchase})"
            )
        # backtest cutoffs before the first purchase would be empty: left out
        train_cutoffs = [c for c in args.train_cutoffs(last_day) if c >= first_purchase]
        plan: list[tuple[layout.Kind, list[dt.date], int | None]] = [
            ("train", train_cutoffs, args.horizon_days),
            ("score", [last_day], None),
        ]
        for kind, cutoffs, horizon in plan:
            step = time.perf_counter()
            key = layout.run_key(kind, args.run_id)
            uri = io.spark_uri(analytics, key)
            frames = [transform.customer_snapshot(daily, c, horizon) for c in cutoffs]
            io.write_snapshot(
                functools.reduce(DataFrame.unionByName, frames), uri, args.output_files
            )
            # counted from what was written: the report describes the files, not a plan
            written = spark.read.parquet(uri)
            rate = F.avg(transform.LABEL_COLUMN) if horizon is not None else F.lit(None)
            per_cutoff = {
                row["cutoff_date"]: (int(row["rows"]), row["rate"])
                for row in written.groupBy("cutoff_date")
                .agg(F.count(F.lit(1)).alias("rows"), rate.alias("rate"))
                .collect()
            }
            rows = sum(n for n, _ in per_cutoff.values())
            snapshots[kind] = {
                "cutoff": cutoffs[-1].isoformat(),
                "rows": rows,
                "path": uri,
            }
            if horizon is not None:
                positives = sum(n * (r or 0.0) for n, r in per_cutoff.values())
                snapshots[kind]["positive_rate"] = positives / rows if rows else None
                snapshots[kind]["cutoffs"] = [
                    {
                        "cutoff": c.isoformat(),
                        "rows": per_cutoff.get(c, (0, None))[0],
                        "positive_rate": per_cutoff.get(c, (0, None))[1],
                    }
                    for c in cutoffs
                ]
            timings[f"{kind}_snapshot"] = _seconds(step)
    finally:
        daily.unpersist()

    step = time.perf_counter()
    written_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    removed: dict[str, list[str]] = {}
    for kind in layout.KINDS:
        s = snapshots[kind]
        # keys relative to the zone (layout.resolve): the lake can be copied or moved
        pointer = {
            "run_id": args.run_id,
            "path": layout.run_key(kind, args.run_id),
            "cutoff": s["cutoff"],
            **({"cutoffs": [c["cutoff"] for c in s["cutoffs"]]} if "cutoffs" in s else {}),
            "rows": s["rows"],
            "written_at": written_at,
            "report": layout.report_key(args.run_id),
        }
        removed[kind] = io.publish(analytics, kind, pointer, args.keep_runs)
    timings["publish"] = _seconds(step)

    report: dict[str, Any] = {
        "report_version": 1,
        "run_id": args.run_id,
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_s": _seconds(start),
        "timings_s": timings,
        "spark_version": spark.version,
        "parameters": {
            "curated": args.curated_uri,
            "analytics": args.analytics_uri,
            "horizon_days": args.horizon_days,
            "timezone": args.timezone,
            "as_of": args.as_of.isoformat() if args.as_of else None,
            "backtest_cutoffs": args.backtest_cutoffs,
            "backtest_step_days": args.step_days,
        },
        "input": {
            "files": input_files,  # the curated files the manifests named
            "rows": input_rows,
            "purchase_rows": int(summary["purchase_rows"]),
            "refund_rows": int(summary["refund_rows"]),
            "zero_amount_rows": int(summary["zero_amount_rows"]),
            # no customer, time or amount; or after --as-of
            "rows_not_used": input_rows
            - int(summary["purchase_rows"] + summary["refund_rows"] + summary["zero_amount_rows"]),
            "customers": int(summary["customers"]),
            "first_day": summary["first_day"].isoformat(),
            "last_day": last_day.isoformat(),
        },
        "snapshots": snapshots,
        "removed_runs": removed,
    }
    analytics.put_json(layout.report_key(args.run_id), report)
    return report


def summary_line(report: dict[str, Any]) -> str:
    train, score = report["snapshots"]["train"], report["snapshots"]["score"]
    cutoffs = ", ".join(c["cutoff"] for c in train["cutoffs"])
    return (
        f"features run {report['run_id']}: {report['input']['rows']:,} rows, "
        f"{report['input']['customers']:,} customers; train cutoffs {cutoffs}: "
        f"{train['rows']:,} rows, churn rate {train['positive_rate']:.1%}; score cutoff "
        f"{score['cutoff']} {score['rows']:,} rows; {report['duration_s']:.1f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for spark-submit, EMR Serverless and ``python -m``; returns the exit code."""
    args, settings = parse_args(sys.argv[1:] if argv is None else argv)
    existing = SparkSession.getActiveSession()
    spark = start_spark(
        APP_NAME,
        settings.master,
        driver_memory=settings.driver_memory,
        shuffle_partitions=settings.shuffle_partitions,
    )
    try:
        report = run(spark, args)
    finally:
        if existing is None:  # a session this call started (not a caller's, e.g. a test's)
            spark.stop()
    print(summary_line(report))
    print(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
