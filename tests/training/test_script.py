"""``python train.py`` run the way SageMaker's scikit-learn container runs it: a subprocess of
the current interpreter in the code directory, channels and output folders given by ``SM_*``
variables, hyperparameters as ``--name value`` strings.

It needs nothing but the training unit and what the container has (numpy, scikit-learn,
pyarrow, joblib), so ``make test-runtimes`` also runs it on the container's Python (3.12).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from churn_model import features
from tests.training.churn_model.test_pipeline import frame
from tests.training.conftest import TRAINING_DIR


def write_spark_like_snapshot(folder: Path, columns: dict[str, Any], parts: int) -> None:
    """Columns as Spark writes a snapshot: part files, a _SUCCESS marker, hidden .crc files."""
    folder.mkdir(parents=True)
    table = pa.table(columns)
    step = -(-table.num_rows // parts)
    for i in range(parts):
        pq.write_table(table.slice(i * step, step), folder / f"part-{i:05d}.snappy.parquet")
        (folder / f".part-{i:05d}.snappy.parquet.crc").write_bytes(b"not parquet")
    (folder / "_SUCCESS").write_bytes(b"")


def test_train_py_runs_as_sagemaker_runs_it(tmp_path: Path) -> None:
    train = frame(600, ["2026-01-01", "2026-04-01"], seed=11)
    score = frame(80, ["2026-07-01"], seed=12, labelled=False)
    write_spark_like_snapshot(tmp_path / "channels/train", train, parts=3)
    write_spark_like_snapshot(tmp_path / "channels/score", score, parts=2)
    model_dir, output_dir = tmp_path / "model", tmp_path / "output/data"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SM_CHANNEL_TRAIN": str(tmp_path / "channels/train"),
        "SM_CHANNEL_SCORE": str(tmp_path / "channels/score"),
        "SM_MODEL_DIR": str(model_dir),
        "SM_OUTPUT_DATA_DIR": str(output_dir),
        "SM_NUM_CPUS": "2",
    }
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    done = subprocess.run(
        [sys.executable, "train.py", "--run-id", "r-script", "--seed", "3", "--n-jobs", "1",
         "--n-estimators", "20", "--permutation-repeats", "2", "--horizon-days", "90"],
        cwd=TRAINING_DIR, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("run r-script: validated on 2026-04-01 (300 customers)")

    metrics = json.loads((output_dir / "metrics.json").read_text("utf-8"))
    assert metrics["run_id"] == "r-script"
    assert metrics["cutoffs"]["score"] == "2026-07-01"
    assert (metrics["data"]["n_validation"], metrics["data"]["n_scored"]) == (300, 80)
    assert metrics["model"]["roc_auc"] > 0.8  # the synthetic label follows recency
    assert (metrics["horizon_days"], metrics["num_cpus"]) == (90, "2")
    created = dt.datetime.fromisoformat(metrics["created_at"])
    assert created.utcoffset() == dt.timedelta(0)
    assert started <= created <= dt.datetime.now(dt.UTC)

    predictions = pq.read_table(output_dir / "predictions.parquet").to_pydict()
    assert predictions["customer_id"] == score["customer_id"].tolist()
    assert set(predictions["run_id"]) == {"r-script"}
    assert set(predictions["score_cutoff"]) == {dt.date(2026, 7, 1)}

    # the model file is the one that scored: loaded here, it gives the same probabilities
    model = joblib.load(model_dir / "model.joblib")
    probabilities = model.predict_proba(features.matrix(score, model.feature_names))
    np.testing.assert_allclose(probabilities, predictions["churn_probability"], rtol=1e-12)
    summary = json.loads((output_dir / "_summary.json").read_text("utf-8"))
    assert summary["customers"] == 80


def test_train_py_says_which_channel_is_missing(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_OUTPUT_DATA_DIR": str(tmp_path / "output"),
        "SM_CHANNEL_SCORE": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "train.py"], cwd=TRAINING_DIR, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "no train channel: set SM_CHANNEL_TRAIN or --train" in done.stderr
    assert not (tmp_path / "output").exists()
