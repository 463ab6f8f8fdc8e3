"""Train, evaluate and score the churn model: the SageMaker script-mode entry point.

SageMaker's prebuilt scikit-learn container runs ``python train.py --<hyperparameter> value …``
with the channels downloaded to ``SM_CHANNEL_<NAME>`` and uploads ``SM_MODEL_DIR`` (as
``model.tar.gz``) and ``SM_OUTPUT_DATA_DIR`` (as ``output.tar.gz``) when it exits. Locally,
``lakedrop train`` runs this same file with the same environment pointing at folders
(docs/training.md). Channels:

    train   the features job's training snapshot (Parquet; labelled; several cutoffs)
    score   the scoring snapshot (Parquet; features at the last day)

Writes:

    $SM_MODEL_DIR/model.joblib               the scoring model (churn_model.model.ChurnForest)
    $SM_OUTPUT_DATA_DIR/metrics.json         evaluation, data, cutoffs, hyperparameters
    $SM_OUTPUT_DATA_DIR/predictions.parquet  one row per scored customer (zstd)
    $SM_OUTPUT_DATA_DIR/_summary.json        pre-aggregates for the report

This file only reads, parses and writes; the modelling is ``churn_model`` (pure).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from churn_model import features as fx
from churn_model.model import Hyperparameters
from churn_model.pipeline import Result, train_and_score

PREDICTIONS_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("churn_probability", pa.float64()),
        ("risk_band", pa.string()),
        ("segment", pa.string()),
        ("main_channel", pa.string()),
        ("days_since_last_purchase", pa.int32()),
        ("orders_total", pa.int64()),
        ("spend_total", pa.float64()),
        ("spend_365d", pa.float64()),
        ("top_factors", pa.string()),
        ("score_cutoff", pa.date32()),
        ("run_id", pa.string()),
    ]
)
MODEL_FILE = "model.joblib"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.parquet"
SUMMARY_FILE = "_summary.json"


class InputError(ValueError):
    """A channel is missing or holds no Parquet."""


def _optional_int(text: str) -> int | None:
    return None if text.strip().lower() in ("", "none", "null") else int(text)


def _optional_str(text: str) -> str | None:
    return None if text.strip().lower() in ("", "none", "null") else text


def _max_features(text: str) -> str | float | int | None:
    """scikit-learn's meanings: ``5`` → 5 features, ``0.5`` → half of them, ``sqrt``/``log2``,
    ``None`` → all of them."""
    if text.strip().lower() in ("", "none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    """Hyperparameters are arguments; channels and output folders default to the SM_* env."""
    env = environ.get
    p = argparse.ArgumentParser(prog="train.py", description=__doc__.split("\n")[0])
    p.add_argument("--run-id", default=dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ"))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--n-jobs", type=int, default=-1, help="-1: every core of the instance")
    p.add_argument("--n-estimators", type=int, default=Hyperparameters.n_estimators)
    p.add_argument("--max-depth", type=_optional_int, default=None)
    p.add_argument("--min-samples-leaf", type=int, default=Hyperparameters.min_samples_leaf)
    p.add_argument("--max-features", type=_max_features, default=Hyperparameters.max_features)
    p.add_argument("--class-weight", type=_optional_str, default=Hyperparameters.class_weight)
    p.add_argument("--permutation-repeats", type=int, default=Hyperparameters.permutation_repeats)
    p.add_argument("--top-factors", type=int, default=Hyperparameters.top_factors)
    # where the data came from (written into metrics.json; the launcher knows them)
    p.add_argument("--features-train-run", default=None)
    p.add_argument("--features-score-run", default=None)
    p.add_argument("--horizon-days", type=_optional_int, default=None)
    p.add_argument("--train", default=env("SM_CHANNEL_TRAIN"), help="training snapshot folder")
    p.add_argument("--score", default=env("SM_CHANNEL_SCORE"), help="scoring snapshot folder")
    p.add_argument("--model-dir", default=env("SM_MODEL_DIR"))
    p.add_argument("--output-data-dir", default=env("SM_OUTPUT_DATA_DIR"))
    return p


def read_snapshot(folder: str | None, channel: str) -> dict[str, Any]:
    """A snapshot folder (Spark's part files) → ``{column: numpy array}``."""
    if not folder:
        raise InputError(f"no {channel} channel: set SM_CHANNEL_{channel.upper()} or --{channel}")
    path = Path(folder)
    files = sorted(p for p in path.rglob("*.parquet") if not p.name.startswith((".", "_")))
    if not files:
        raise InputError(f"the {channel} channel ({path}) holds no Parquet file")
    table = pa.concat_tables([pq.read_table(f) for f in files])
    columns: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_date(column.type):
            columns[name] = np.asarray(column.to_numpy(), dtype="datetime64[D]")
        else:
            columns[name] = column.to_numpy(zero_copy_only=False)
    return columns


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_outputs(result: Result, model_dir: Path, output_dir: Path) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(result.model, model_dir / MODEL_FILE, compress=3)
    table = pa.table(
        {name: pa.array(result.predictions[name]) for name in PREDICTIONS_SCHEMA.names}
    ).cast(PREDICTIONS_SCHEMA)
    pq.write_table(table, output_dir / PREDICTIONS_FILE, compression="zstd")
    _write_json(output_dir / SUMMARY_FILE, result.summary)
    _write_json(output_dir / METRICS_FILE, result.metrics)  # last: its presence means done


def headline(metrics: dict[str, Any], summary: dict[str, Any]) -> str:
    m, b = metrics["model"], metrics["baseline"]
    return (
        f"run {metrics['run_id']}: validated on {metrics['cutoffs']['validation']} "
        f"({metrics['data']['n_validation']:,} customers) — ROC AUC {m['roc_auc']:.3f} "
        f"(baseline {b['roc_auc']:.3f}), PR AUC {m['pr_auc']:.3f} (baseline {b['pr_auc']:.3f}), "
        f"Brier {m['brier']:.3f} (baseline {b['brier']:.3f}); threshold "
        f"{metrics['threshold']:.3f}; {summary['by_band']['high']['customers']:,} of "
        f"{summary['customers']:,} customers at high risk on {summary['score_cutoff']}"
    )


PROGRESS_PREFIX = "train.py: progress: "


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    args = parser(env).parse_args(sys.argv[1:] if argv is None else argv)
    if not args.model_dir or not args.output_data_dir:
        print("train.py: error: set SM_MODEL_DIR and SM_OUTPUT_DATA_DIR", file=sys.stderr)
        return 2
    try:
        hp = Hyperparameters(
            n_estimators=args.n_estimators,
            max_depth=args.max_depth,
            min_samples_leaf=args.min_samples_leaf,
            max_features=args.max_features,
            class_weight=args.class_weight,
            permutation_repeats=args.permutation_repeats,
            top_factors=args.top_factors,
        )
        train = read_snapshot(args.train, "train")
        score = read_snapshot(args.score, "score")
        result = train_and_score(
            train,
            score,
            hp,
            seed=args.seed,
            n_jobs=args.n_jobs,
            run_id=args.run_id,
            horizon_days=args.horizon_days,
            # progress on stderr: the job's log on SageMaker, the spinner of `lakedrop train`
            on_step=lambda what: print(f"{PROGRESS_PREFIX}{what}", file=sys.stderr, flush=True),
        )
    except (InputError, fx.SnapshotError, ValueError) as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 1
    result.metrics.update(
        {
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "features": {
                "train_run_id": args.features_train_run,
                "score_run_id": args.features_score_run,
            },
            "horizon_days": args.horizon_days,
            "num_cpus": env.get("SM_NUM_CPUS"),
        }
    )
    write_outputs(result, Path(args.model_dir), Path(args.output_data_dir))
    print(headline(result.metrics, result.summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
