"""The Glue entry script maps Glue job parameters onto the job's argv, and imports awsglue
only when it runs (awsglue exists only on Glue: it is not installed here)."""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence

import pytest

from glue_jobs import glue_entry
from glue_jobs.features import job


def _fake_get_resolved_options(argv: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """What awsglue.utils.getResolvedOptions does: each name must be passed as --name."""
    values = {}
    for name in names:
        flag = f"--{name}"
        if flag not in argv:
            raise RuntimeError(f"argument {flag} is required")
        values[name] = argv[list(argv).index(flag) + 1]
    return values


@pytest.fixture
def glue(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    utils = types.ModuleType("awsglue.utils")
    utils.getResolvedOptions = _fake_get_resolved_options  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "awsglue", types.ModuleType("awsglue"))
    monkeypatch.setitem(sys.modules, "awsglue.utils", utils)
    calls: list[list[str]] = []

    def fake_main(argv: Sequence[str]) -> int:
        calls.append(list(argv))
        return 0

    monkeypatch.setattr(job, "main", fake_main)
    return calls


def test_importing_the_entry_script_does_not_need_awsglue() -> None:
    assert "awsglue" not in sys.modules  # the import at the top of this file succeeded


def test_required_parameters_only(glue: list[list[str]]) -> None:
    # Glue puts its own parameters first (script name, --JOB_NAME, …)
    argv = ["glue_entry.py", "--JOB_NAME", "lakedrop-features", "--job-bookmark-option",
            "job-bookmark-disable", "--curated_uri", "s3://b/curated",
            "--analytics_uri", "s3://b/analytics"]  # fmt: skip
    assert glue_entry.main(argv) == 0
    assert glue == [["--curated", "s3://b/curated", "--analytics", "s3://b/analytics"]]


def test_optional_parameters_are_passed_on(glue: list[list[str]]) -> None:
    argv = ["glue_entry.py", "--curated_uri", "s3://b/c", "--analytics_uri", "s3://b/a",
            "--horizon_days", "60", "--timezone", "UTC", "--run_id", "exec-1",
            "--as_of", "2025-12-31", "--keep_runs", "5", "--output_files", "2",
            "--backtest_cutoffs", "3", "--backtest_step_days", "30"]  # fmt: skip
    glue_entry.main(argv)
    assert glue == [
        ["--curated", "s3://b/c", "--analytics", "s3://b/a", "--run-id", "exec-1",
         "--horizon-days", "60", "--timezone", "UTC", "--as-of", "2025-12-31",
         "--keep-runs", "5", "--output-files", "2", "--backtest-cutoffs", "3",
         "--backtest-step-days", "30"]
    ]  # fmt: skip


def test_job_argv_is_valid_for_the_job_parser() -> None:
    from glue_jobs.features.settings import parse_args

    argv = glue_entry.job_argv(
        {"curated_uri": "s3://b/c", "analytics_uri": "s3://b/a", "horizon_days": "30",
         "run_id": "", "timezone": "Asia/Seoul"}
    )  # fmt: skip
    args, _ = parse_args(argv)
    assert (args.horizon_days, args.timezone) == (30, "Asia/Seoul")
