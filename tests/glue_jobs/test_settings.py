"""The job's argv: defaults, validation, and the names Glue and EMR pass."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from glue_jobs.features import layout
from glue_jobs.features.settings import FeaturesArgs, SparkSettings, new_run_id, parse_args

BASE = ["--curated", "s3://b/curated", "--analytics", "s3://b/analytics"]


def test_defaults() -> None:
    args, spark = parse_args(BASE)
    assert (args.curated_uri, args.analytics_uri) == ("s3://b/curated", "s3://b/analytics")
    assert (args.horizon_days, args.timezone, args.keep_runs) == (90, "Asia/Seoul", 3)
    assert args.as_of is None and args.output_files == 1
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", args.run_id)
    assert spark == SparkSettings(None, None, None)  # on a cluster: the cluster decides


def test_every_option() -> None:
    args, spark = parse_args(
        [
            *BASE,
            "--run-id", "sfn-exec-42",
            "--horizon-days", "60",
            "--timezone", "UTC",
            "--as-of", "2025-12-31",
            "--keep-runs", "5",
            "--output-files", "4",
            "--master", "local[*]",
            "--driver-memory", "6g",
            "--shuffle-partitions", "16",
        ]
    )  # fmt: skip
    assert args == FeaturesArgs(
        "s3://b/curated", "s3://b/analytics", "sfn-exec-42", 60, "UTC",
        dt.date(2025, 12, 31), 5, 4,
    )  # fmt: skip
    assert spark == SparkSettings("local[*]", "6g", 16)


@pytest.mark.parametrize(
    "extra",
    [
        ["--horizon-days", "0"],
        ["--keep-runs", "-1"],
        ["--as-of", "31.12.2025"],
        ["--timezone", "Mars/Olympus"],
        ["--run-id", "../escape"],
        ["--run-id", "a b"],
    ],
)
def test_bad_values_are_refused(extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args([*BASE, *extra])
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_required() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--curated", "x"])


def test_run_ids_sort_by_time_and_are_valid_keys() -> None:
    early = new_run_id(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc))
    late = new_run_id(dt.datetime(2026, 1, 2, 12, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=9))))
    assert early.startswith("20260102T030405Z-") and late.startswith("20260102T030405Z-")
    assert layout.check_run_id(early) == early


def test_backtest_cutoffs() -> None:
    args, _ = parse_args(BASE)
    assert (args.backtest_cutoffs, args.backtest_step_days, args.step_days) == (4, None, 90)
    # last day 2026-11-30: C = 2026-09-01, then 90 days apart, oldest first
    assert args.train_cutoffs(dt.date(2026, 11, 30)) == [
        dt.date(2025, 12, 5),
        dt.date(2026, 3, 5),
        dt.date(2026, 6, 3),
        dt.date(2026, 9, 1),
    ]
    args, _ = parse_args(
        [*BASE, "--horizon-days", "30", "--backtest-cutoffs", "2", "--backtest-step-days", "7"]
    )
    # horizon 30: C = 2026-01-31 - 30 days = 2026-01-01; one week before it
    assert args.train_cutoffs(dt.date(2026, 1, 31)) == [dt.date(2025, 12, 25), dt.date(2026, 1, 1)]
    with pytest.raises(ValueError, match="backtest_cutoffs"):
        FeaturesArgs("c", "a", "r", backtest_cutoffs=0)
    with pytest.raises(ValueError, match="backtest_step_days"):
        FeaturesArgs("c", "a", "r", backtest_step_days=0)
