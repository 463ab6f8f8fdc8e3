"""The features job's arguments: parsed once from argv, then passed down as plain values.

The same argv works for ``spark-submit … job.py ARGS``, EMR Serverless ``entryPointArguments``,
``python -m glue_jobs.features.job ARGS`` and the Glue entry script (which maps Glue's
``--name value`` job parameters onto it). docs/features.md lists them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass

from glue_jobs.features import layout

DEFAULT_HORIZON_DAYS = 90
DEFAULT_TIMEZONE = "Asia/Seoul"
DEFAULT_KEEP_RUNS = 3
DEFAULT_BACKTEST_CUTOFFS = 4


@dataclass(frozen=True)
class FeaturesArgs:
    """What the job computes and where: everything ``run(spark, args)`` needs."""

    curated_uri: str
    analytics_uri: str
    run_id: str
    horizon_days: int = DEFAULT_HORIZON_DAYS
    timezone: str = DEFAULT_TIMEZONE
    as_of: dt.date | None = None  # ignore events after this local day (default: use all)
    keep_runs: int = DEFAULT_KEEP_RUNS
    output_files: int = 1
    # the training snapshot holds this many labelled cutoffs: C, C - step, C - 2·step, …
    # (C = last day - horizon; those before the first purchase are left out)
    backtest_cutoffs: int = DEFAULT_BACKTEST_CUTOFFS
    backtest_step_days: int | None = None  # None: the horizon (label windows tile, no overlap)

    def __post_init__(self) -> None:
        layout.check_run_id(self.run_id)
        if self.horizon_days < 1:
            raise ValueError(f"horizon_days must be >= 1, got {self.horizon_days}")
        if self.keep_runs < 1:
            raise ValueError(f"keep_runs must be >= 1, got {self.keep_runs}")
        if self.output_files < 1:
            raise ValueError(f"output_files must be >= 1, got {self.output_files}")
        if self.backtest_cutoffs < 1:
            raise ValueError(f"backtest_cutoffs must be >= 1, got {self.backtest_cutoffs}")
        if self.backtest_step_days is not None and self.backtest_step_days < 1:
            raise ValueError(f"backtest_step_days must be >= 1, got {self.backtest_step_days}")
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {self.timezone!r}") from error

    @property
    def step_days(self) -> int:
        return self.backtest_step_days or self.horizon_days

    def train_cutoffs(self, last_day: dt.date) -> list[dt.date]:
        """The labelled cutoffs for a last day, oldest first: ``C - k·step`` for k < n, where
        ``C = last_day - horizon``. Each needs its label window ``(c, c + horizon]`` observed,
        which ``c + horizon <= last_day`` guarantees."""
        latest = last_day - dt.timedelta(days=self.horizon_days)
        return [
            latest - dt.timedelta(days=k * self.step_days)
            for k in reversed(range(self.backtest_cutoffs))
        ]


@dataclass(frozen=True)
class SparkSettings:
    """How ``main()`` starts Spark. ``master=None``: on a cluster (Glue, EMR), which decides."""

    master: str | None = None
    driver_memory: str | None = None
    shuffle_partitions: int | None = None


def new_run_id(now: dt.datetime | None = None) -> str:
    """Sortable and unique: ``20260127T103000Z-1a2b3c``."""
    moment = now or dt.datetime.now(dt.timezone.utc)
    return f"{moment.astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="glue_jobs.features.job",
        description="Curated transactions → customer features (train + score snapshots).",
    )
    p.add_argument("--curated", required=True, help="curated zone: folder or s3://bucket[/prefix]")
    p.add_argument("--analytics", required=True, help="analytics zone: folder or s3://…")
    p.add_argument("--run-id", help="id of this run (default: UTC time + random suffix)")
    p.add_argument("--horizon-days", type=_positive, default=DEFAULT_HORIZON_DAYS)
    p.add_argument("--timezone", default=DEFAULT_TIMEZONE, help="whose calendar days count")
    p.add_argument(
        "--as-of", type=dt.date.fromisoformat, help="last day to use, YYYY-MM-DD (default: all)"
    )
    p.add_argument("--keep-runs", type=_positive, default=DEFAULT_KEEP_RUNS)
    p.add_argument("--output-files", type=_positive, default=1, help="Parquet files per snapshot")
    p.add_argument(
        "--backtest-cutoffs",
        type=_positive,
        default=DEFAULT_BACKTEST_CUTOFFS,
        help="labelled cutoffs in the training snapshot (out-of-time validation needs >= 2)",
    )
    p.add_argument(
        "--backtest-step-days",
        type=_positive,
        help="days between those cutoffs (default: the horizon)",
    )
    local = p.add_argument_group("local runs (leave out on Glue / EMR)")
    local.add_argument("--master", help="e.g. local[*]; default: the cluster's")
    local.add_argument("--driver-memory", help="e.g. 6g (only when Spark starts here)")
    local.add_argument("--shuffle-partitions", type=_positive)
    return p


def parse_args(argv: Sequence[str]) -> tuple[FeaturesArgs, SparkSettings]:
    ns = parser().parse_args(list(argv))
    try:
        args = FeaturesArgs(
            curated_uri=ns.curated,
            analytics_uri=ns.analytics,
            run_id=ns.run_id or new_run_id(),
            horizon_days=ns.horizon_days,
            timezone=ns.timezone,
            as_of=ns.as_of,
            keep_runs=ns.keep_runs,
            output_files=ns.output_files,
            backtest_cutoffs=ns.backtest_cutoffs,
            backtest_step_days=ns.backtest_step_days,
        )
    except ValueError as error:
        parser().error(str(error))
    return args, SparkSettings(ns.master, ns.driver_memory, ns.shuffle_partitions)
