"""The real pipeline into a fresh local lake, for tests that need a lake with everything in it.

``build_lake(root)`` runs, in order, what a user runs on a laptop:

    lakedrop.generate (seeded CSV) → landing → the ingest Lambda's handler (lakedrop.local.drop)
      → the features job (glue_jobs.features.job.run, Spark local[2])
      → training (lakedrop.training.run_local: training/train.py as a subprocess with the
        SM_* environment, then the publish step), when ``train=True``

and returns the ``LocalLake``. Nothing is faked: the report's tests read what the real units
wrote. ``tests/conftest.py`` has a session-scoped fixture (``pipeline_lake``) that builds one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from lakedrop.config import LocalLake

DEFAULT_ROWS = 60_000
DEFAULT_SEED = 5
FEATURES_RUN_ID = "pipeline-features"
TRAINING_RUN_ID = "pipeline-training"


def land_and_ingest(lake: LocalLake, source: Path, key: str) -> dict[str, Any]:
    """Put ``source`` into the lake's landing zone as ``key`` and run the ingest Lambda's
    handler on it, as ``lakedrop drop`` does; returns the handler's result for the object.

    The handler reads its settings from the environment: they are set for this call only.
    """
    from lakedrop.local import drop, put_in_landing

    put_in_landing(lake, source, key)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in lake.ingest_environment().items():
            mp.setenv(name, value)
        return drop(lake, key)


def _ingest(lake: LocalLake, rows: int, seed: int) -> None:
    from lakedrop.generate import GenerateSpec, generate

    source = lake.root / "source" / f"transactions-{rows}-{seed}.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    generate(source, GenerateSpec(rows=rows, seed=seed))
    result = land_and_ingest(lake, source, f"transactions/{source.name}")
    if result["status"] != "curated":
        raise RuntimeError(f"ingest of the generated file failed: {result}")


def _features(lake: LocalLake) -> None:
    from pyspark.sql import SparkSession

    from glue_jobs.features import job
    from glue_jobs.features.settings import FeaturesArgs

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    existing = SparkSession.getActiveSession()
    spark = existing or job.start_spark(
        "lakedrop-tests-pipeline", "local[2]", driver_memory="1g", shuffle_partitions=2
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        job.run(spark, FeaturesArgs(str(lake.curated), str(lake.analytics), FEATURES_RUN_ID))
    finally:
        if existing is None:  # a session this call started (not a test session's)
            spark.stop()


def _train(lake: LocalLake, seed: int) -> None:
    from lakedrop.training import run_local

    run_local(lake, run_id=TRAINING_RUN_ID, seed=seed)


def build_lake(
    root: Path, *, rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED, train: bool = True
) -> LocalLake:
    """Generate ``rows`` transactions (``seed``), ingest, compute features and (``train``)
    train, score and publish into a new lake at ``root``; returns it.

    Run ids are fixed (``pipeline-features``, ``pipeline-training``) so tests can name paths.
    """
    lake = LocalLake(root.resolve())
    lake.ensure()
    _ingest(lake, rows, seed)
    _features(lake)
    if train:
        _train(lake, seed)
    return lake
