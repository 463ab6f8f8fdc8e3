"""AWS Glue entry script (the job's ScriptLocation); ``glue_jobs.zip`` comes via --extra-py-files.

The only module that knows about Glue: it reads the job parameters with ``getResolvedOptions``
— inside ``main()``, never at import time — turns them into the argv of
``glue_jobs.features.job`` and runs that. Glue job parameters (docs/features.md):

    --curated_uri s3://…/curated      required
    --analytics_uri s3://…/analytics  required
    --horizon_days 90  --timezone Asia/Seoul  --run_id …  --as_of YYYY-MM-DD  --keep_runs 3
    --output_files 1  --backtest_cutoffs 4  --backtest_step_days 90                optional
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from glue_jobs.features import job

REQUIRED = ("curated_uri", "analytics_uri")
OPTIONAL = (
    "run_id",
    "horizon_days",
    "timezone",
    "as_of",
    "keep_runs",
    "output_files",
    "backtest_cutoffs",
    "backtest_step_days",
)


def job_argv(options: dict[str, str]) -> list[str]:
    """Glue's ``{"curated_uri": …}`` → ``["--curated", …]`` for ``glue_jobs.features.job``."""
    argv = ["--curated", options["curated_uri"], "--analytics", options["analytics_uri"]]
    for name in OPTIONAL:
        value = options.get(name)
        if value not in (None, ""):
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    # Glue only, and never at import time; no stubs exist for awsglue
    from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]  # noqa: PLC0415

    args = list(sys.argv if argv is None else argv)
    # getResolvedOptions fails on a missing name: ask only for the optional ones passed
    present = [name for name in OPTIONAL if f"--{name}" in args]
    options: dict[str, str] = getResolvedOptions(args, [*REQUIRED, *present])
    return job.main(job_argv(options))


if __name__ == "__main__":
    sys.exit(main())
