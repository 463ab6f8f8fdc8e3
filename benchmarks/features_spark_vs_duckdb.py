"""What Spark costs on one machine: the features job next to the same aggregation in DuckDB.

    .venv/bin/python benchmarks/features_spark_vs_duckdb.py                 # 1 M and 10 M rows
    .venv/bin/python benchmarks/features_spark_vs_duckdb.py --rows 200000   # a quick look

For each size: generate a transactions file (seeded), ingest it with the real ingest into a
local lake under benchmarks/out/ (kept, so a second run skips both), then on the same curated
Parquet:

* Spark: ``glue_jobs.features.job.run`` — read, aggregate, write the train and score
  snapshots, count them back, publish — in a local session (``local[*]``, ``--driver-memory``);
  session start-up is timed apart. The first run in a session pays for JIT warm-up: both the
  first and the best of ``--repeat`` runs are reported.
* DuckDB: the same features in SQL (below), written to zstd Parquet the same way.

Then both outputs are compared column by column on every customer (integers exactly, amounts
and ratios to 1e-9 relative): the figures only count if the numbers agree. Results are printed
and written to benchmarks/out/features_spark_vs_duckdb.json; docs/features.md records them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

from glue_jobs.features import job, layout, transform
from glue_jobs.features.settings import FeaturesArgs
from lakedrop.config import LocalLake
from lakedrop.generate import GenerateSpec, generate
from lakedrop.local import drop, put_in_landing

OUT = Path(__file__).resolve().parent / "out"
TIMEZONE = "Asia/Seoul"
HORIZON = 90

# --------------------------------------------------------------------------------------------
# The features in DuckDB SQL: the definitions of docs/features.md, written independently of
# glue_jobs/features/transform.py (same three steps: orders → days → customers).

DAILY_SQL = """
CREATE OR REPLACE TEMP TABLE daily AS
WITH events AS (
    SELECT customer_id, event_time,
           CAST(timezone('{tz}', event_time) AS DATE) AS day,
           amount, category,
           coalesce(is_refund, false) OR amount < 0 AS refund,
           CASE WHEN lower(trim(channel)) IN ('online', 'offline', 'app')
                THEN lower(trim(channel)) ELSE 'other' END AS channel
    FROM read_parquet('{glob}')
    WHERE customer_id IS NOT NULL AND event_time IS NOT NULL AND amount IS NOT NULL
), flagged AS (
    SELECT *, NOT refund AND amount > 0 AS purchase, NOT refund AND amount = 0 AS zero
    FROM events
), orders AS (
    SELECT customer_id, event_time, day,
           count(*) FILTER (purchase) AS purchase_rows,
           coalesce(sum(amount) FILTER (purchase), 0) AS spend,
           count(*) FILTER (refund) AS refund_rows,
           coalesce(sum(abs(amount)) FILTER (refund), 0) AS refund_amount,
           count(*) FILTER (zero) AS zero_rows,
           min(channel) FILTER (purchase) AS channel,
           coalesce(list(DISTINCT category) FILTER (purchase AND category IS NOT NULL),
                    []::VARCHAR[]) AS categories
    FROM flagged GROUP BY ALL
)
SELECT customer_id, day,
       count(*) FILTER (purchase_rows > 0) AS orders,
       sum(spend) AS spend,
       sum(purchase_rows) AS purchase_rows,
       sum(refund_rows) AS refund_rows,
       sum(refund_amount) AS refund_amount,
       sum(zero_rows) AS zero_rows,
       count(*) FILTER (purchase_rows > 0 AND channel = 'online') AS orders_online,
       count(*) FILTER (purchase_rows > 0 AND channel = 'offline') AS orders_offline,
       count(*) FILTER (purchase_rows > 0 AND channel = 'app') AS orders_app,
       count(*) FILTER (purchase_rows > 0 AND channel = 'other') AS orders_other,
       list_distinct(flatten(list(categories))) AS categories
FROM orders GROUP BY ALL
"""

SNAPSHOT_SQL = """
WITH per_customer AS (
    SELECT customer_id,
           min(day) FILTER (b) AS first_purchase,
           max(day) FILTER (b) AS last_purchase,
           count(*) FILTER (b) AS purchase_days,
           arg_min(spend, day) FILTER (b) AS first_day_spend,
           min(day) FILTER (s) AS first_event,
           coalesce(sum(orders) FILTER (s), 0) AS orders_total,
           coalesce(sum(spend) FILTER (s), 0) AS spend_total,
           coalesce(sum(purchase_rows) FILTER (s), 0) AS purchase_rows,
           coalesce(sum(refund_rows) FILTER (s), 0) AS refund_rows,
           coalesce(sum(zero_rows) FILTER (s), 0) AS zero_amount_rows,
           coalesce(sum(purchase_rows) FILTER (s AND day > DATE '{c}' - 90), 0) AS purchase_90,
           coalesce(sum(refund_rows) FILTER (s AND day > DATE '{c}' - 90), 0) AS refund_90,
           coalesce(sum(refund_rows) FILTER (s AND day > DATE '{c}' - 365), 0)
               AS refund_count_365d,
           coalesce(sum(refund_amount) FILTER (s AND day > DATE '{c}' - 365), 0)
               AS refund_amount_365d,
           coalesce(sum(orders) FILTER (day > DATE '{c}' - 180 AND day <= DATE '{c}' - 90), 0)
               AS orders_prev_90d,
           length(list_distinct(flatten(list(categories) FILTER (b)))) AS n_categories,
           coalesce(sum(orders) FILTER (s AND day > DATE '{c}' - 30), 0) AS orders_30d,
           coalesce(sum(orders) FILTER (s AND day > DATE '{c}' - 90), 0) AS orders_90d,
           coalesce(sum(orders) FILTER (s AND day > DATE '{c}' - 365), 0) AS orders_365d,
           coalesce(sum(spend) FILTER (s AND day > DATE '{c}' - 30), 0) AS spend_30d,
           coalesce(sum(spend) FILTER (s AND day > DATE '{c}' - 90), 0) AS spend_90d,
           coalesce(sum(spend) FILTER (s AND day > DATE '{c}' - 365), 0) AS spend_365d,
           coalesce(sum(orders_online) FILTER (s), 0) AS o_online,
           coalesce(sum(orders_offline) FILTER (s), 0) AS o_offline,
           coalesce(sum(orders_app) FILTER (s), 0) AS o_app,
           coalesce(sum(orders_other) FILTER (s), 0) AS o_other,
           count(*) FILTER (day > DATE '{c}' AND purchase_rows > 0) AS ahead
    FROM (SELECT *, day <= DATE '{c}' AS s, day <= DATE '{c}' AND purchase_rows > 0 AS b
          FROM daily WHERE day <= DATE '{c}' + {h})
    GROUP BY customer_id
    HAVING count(*) FILTER (b) > 0
)
SELECT customer_id, DATE '{c}' AS cutoff_date,
       purchase_days - 1 AS frequency,
       last_purchase - first_purchase AS recency,
       DATE '{c}' - first_purchase AS "T",
       CASE WHEN purchase_days > 1
            THEN CAST(spend_total - first_day_spend AS DOUBLE) / (purchase_days - 1)
            ELSE 0 END AS monetary_value,
       orders_30d, orders_90d, orders_365d,
       CAST(spend_30d AS DOUBLE) AS spend_30d, CAST(spend_90d AS DOUBLE) AS spend_90d,
       CAST(spend_365d AS DOUBLE) AS spend_365d,
       DATE '{c}' - last_purchase AS days_since_last_purchase,
       orders_total, CAST(spend_total AS DOUBLE) AS spend_total,
       CAST(spend_total AS DOUBLE) / orders_total AS avg_basket,
       n_categories,
       o_online / orders_total AS channel_share_online,
       o_offline / orders_total AS channel_share_offline,
       o_app / orders_total AS channel_share_app,
       o_other / orders_total AS channel_share_other,
       refund_count_365d, CAST(refund_amount_365d AS DOUBLE) AS refund_amount_365d,
       CASE WHEN purchase_rows + refund_rows > 0
            THEN refund_rows / (purchase_rows + refund_rows) ELSE 0 END AS refund_rate,
       CASE WHEN purchase_90 + refund_90 > 0
            THEN refund_90 / (purchase_90 + refund_90) ELSE 0 END AS refund_rate_90d,
       zero_amount_rows,
       DATE '{c}' - first_event AS tenure_days,
       CASE WHEN spend_365d > 0
            THEN (CAST(spend_90d AS DOUBLE) / least(90, DATE '{c}' - first_purchase + 1))
               / (CAST(spend_365d AS DOUBLE) / least(365, DATE '{c}' - first_purchase + 1))
            ELSE 0 END AS spend_trend_90d,
       orders_prev_90d,
       orders_90d - orders_prev_90d AS orders_change_90d
       {label}
FROM per_customer
"""


def duckdb_features(curated: Path, out: Path, threads: int) -> dict[str, Any]:
    """Both snapshots with DuckDB; returns timings and the cutoffs."""
    start = time.perf_counter()
    con = duckdb.connect(config={"threads": str(threads)})
    glob = layout.curated_transactions_glob(str(curated))
    con.execute(DAILY_SQL.format(tz=TIMEZONE, glob=glob))
    row = con.execute("SELECT max(day) FROM daily").fetchall()[0]
    last_day: dt.date = row[0]
    train_cutoff = last_day - dt.timedelta(days=HORIZON)
    days_s = time.perf_counter() - start
    for kind, cutoff, horizon, label in (
        ("train", train_cutoff, HORIZON, ", CASE WHEN ahead > 0 THEN 0 ELSE 1 END AS churned"),
        ("score", last_day, 0, ""),
    ):
        target = out / f"{kind}.parquet"
        query = SNAPSHOT_SQL.format(c=cutoff.isoformat(), h=horizon, label=label)
        con.execute(
            f"COPY ({query} ORDER BY customer_id) TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
        )
    con.close()
    return {
        "days_s": round(days_s, 2),
        "total_s": round(time.perf_counter() - start, 2),
        "train_cutoff": train_cutoff.isoformat(),
        "score_cutoff": last_day.isoformat(),
    }


def compare(spark_dir: str, duck_file: Path, label: bool) -> dict[str, Any]:
    """Every column of every customer: integers equal, doubles within 1e-9 relative."""
    columns = [*transform.FEATURE_COLUMNS, *(["churned"] if label else [])]
    con = duckdb.connect()
    con.execute(f"CREATE VIEW s AS SELECT * FROM read_parquet('{spark_dir}/*.parquet')")
    con.execute(f"CREATE VIEW d AS SELECT * FROM read_parquet('{duck_file}')")
    counts = con.execute(
        "SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM d), "
        "(SELECT count(*) FROM s JOIN d USING (customer_id))"
    ).fetchall()[0]
    mismatches: dict[str, int] = {}
    for name in columns[1:]:
        quoted = f'"{name}"'
        test = (
            f"abs(s.{quoted} - d.{quoted}) > 1e-9 * greatest(1, abs(d.{quoted}))"
            if name not in ("cutoff_date",)
            else f"s.{quoted} <> d.{quoted}"
        )
        bad = con.execute(
            f"SELECT count(*) FROM s JOIN d USING (customer_id) WHERE {test} "
            f"OR (s.{quoted} IS NULL) <> (d.{quoted} IS NULL)"
        ).fetchall()[0][0]
        if bad:
            mismatches[name] = int(bad)
    con.close()
    return {
        "spark_rows": counts[0],
        "duckdb_rows": counts[1],
        "joined": counts[2],
        "columns_compared": len(columns) - 1,
        "mismatches": mismatches,
        "agree": counts[0] == counts[1] == counts[2] and not mismatches,
    }


def prepare_lake(rows: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """A local lake with ``rows`` generated rows ingested (reused when already there)."""
    lake = LocalLake(OUT / f"lake-{rows}-{seed}")
    done = lake.root / "ingested.json"
    if done.is_file():
        return lake.curated, json.loads(done.read_text("utf-8"))
    lake.ensure()
    csv = lake.root / f"transactions-{rows}.csv"
    start = time.perf_counter()
    report = generate(csv, GenerateSpec(rows=rows, seed=seed))
    generate_s = time.perf_counter() - start
    key = f"transactions/{csv.name}"
    put_in_landing(lake, csv, key)
    os.environ.update(lake.ingest_environment())
    start = time.perf_counter()
    result = drop(lake, key)
    if result["status"] != "curated":
        raise SystemExit(f"ingest failed: {result.get('reason')}")
    info = {
        "rows": rows,
        "customers": report.customers,
        "csv_bytes": report.bytes_written,
        "curated_bytes": sum(p.stat().st_size for p in lake.curated.rglob("*.parquet")),
        "generate_s": round(generate_s, 1),
        "ingest_s": round(time.perf_counter() - start, 1),
    }
    csv.unlink()
    (lake.landing / key).unlink()
    done.write_text(json.dumps(info), "utf-8")
    return lake.curated, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=2, help="runs per engine and size")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--shuffle-partitions", type=int, default=job.LOCAL_SHUFFLE_PARTITIONS)
    parser.add_argument("--out", type=Path, default=OUT / "features_spark_vs_duckdb.json")
    ns = parser.parse_args(argv)
    threads = os.cpu_count() or 1
    load_at_start = os.getloadavg()[0]  # other work on the machine skews every figure

    start = time.perf_counter()
    spark = job.start_spark(
        "features-benchmark",
        "local[*]",
        driver_memory=ns.driver_memory,
        shuffle_partitions=ns.shuffle_partitions,
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark_start_s = time.perf_counter() - start

    results: list[dict[str, Any]] = []
    for rows in ns.rows:
        curated, data = prepare_lake(rows, ns.seed)
        print(f"\n{rows:,} rows, {data['customers']:,} customers: {curated}", flush=True)
        analytics = OUT / f"analytics-{rows}-{ns.seed}"
        spark_runs: list[dict[str, Any]] = []
        for n in range(ns.repeat):
            # one training cutoff, as the DuckDB side computes (the job's default is a backtest
            # of several, which would make Spark do four times the training snapshot's work)
            args = FeaturesArgs(
                str(curated), str(analytics), f"bench-{n}", keep_runs=ns.repeat, backtest_cutoffs=1
            )
            report = job.run(spark, args)
            spark_runs.append({"total_s": report["duration_s"], "timings_s": report["timings_s"]})
            print(f"  spark  run {n + 1}: {report['duration_s']:7.1f} s {report['timings_s']}")
        duck_runs: list[dict[str, Any]] = []
        duck_out = OUT / f"duckdb-{rows}-{ns.seed}"
        duck_out.mkdir(parents=True, exist_ok=True)
        for n in range(ns.repeat):
            duck_runs.append(duckdb_features(curated, duck_out, threads))
            print(f"  duckdb run {n + 1}: {duck_runs[-1]['total_s']:7.1f} s")
        if (report["snapshots"]["train"]["cutoff"], report["snapshots"]["score"]["cutoff"]) != (
            duck_runs[-1]["train_cutoff"],
            duck_runs[-1]["score_cutoff"],
        ):
            raise SystemExit("the engines chose different cutoffs")
        agreement = {
            kind: compare(report["snapshots"][kind]["path"], duck_out / f"{kind}.parquet", k == 0)
            for k, kind in enumerate(layout.KINDS)
        }
        for kind, result in agreement.items():
            state = "agree" if result["agree"] else f"DIFFER {result['mismatches']}"
            print(f"  {kind}: {result['spark_rows']:,} customers, {state}")
        spark_best = min(r["total_s"] for r in spark_runs)
        duck_best = min(r["total_s"] for r in duck_runs)
        results.append(
            {
                "data": data,
                "spark": {"runs": spark_runs, "first_s": spark_runs[0]["total_s"],
                          "best_s": spark_best},
                "duckdb": {"runs": duck_runs, "first_s": duck_runs[0]["total_s"],
                           "best_s": duck_best},
                "spark_over_duckdb": round(spark_best / duck_best, 1),
                "train_positive_rate": report["snapshots"]["train"]["positive_rate"],
                "agreement": agreement,
            }
        )  # fmt: skip
        if not all(a["agree"] for a in agreement.values()):
            print("the two engines disagree: these timings do not count", file=sys.stderr)
    spark.stop()

    summary = {
        "benchmark": "features_spark_vs_duckdb",
        "ran_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": threads, "platform": platform.platform()},
        "versions": {"spark": spark.version, "duckdb": duckdb.__version__,
                     "python": platform.python_version()},
        "spark_settings": {"master": "local[*]", "driver_memory": ns.driver_memory,
                           "shuffle_partitions": ns.shuffle_partitions},
        "spark_session_start_s": round(spark_start_s, 1),
        "load_average_1m": {"start": load_at_start, "end": os.getloadavg()[0]},
        "results": results,
    }  # fmt: skip
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(summary, indent=2), "utf-8")
    print(f"\nspark session start: {spark_start_s:.1f} s")
    print(f"{'rows':>12} {'customers':>10} {'spark best':>11} {'duckdb best':>12} {'ratio':>6}")
    for r in results:
        print(
            f"{r['data']['rows']:>12,} {r['data']['customers']:>10,} "
            f"{r['spark']['best_s']:>10.1f}s {r['duckdb']['best_s']:>11.1f}s "
            f"{r['spark_over_duckdb']:>5.1f}x"
        )
    print(f"written: {ns.out}")
    return 0 if all(a["agree"] for r in results for a in r["agreement"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
