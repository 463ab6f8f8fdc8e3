"""Training outputs in the analytics zone: their keys, the publish step, the local runner.

Keys (docs/lake.md "Analytics zone"; defined here and nowhere else):

    models/<run_id>/model.joblib                 the scoring model (+ model.tar.gz from SageMaker)
    metrics/<run_id>.json                        evaluation, cutoffs, hyperparameters, …
    predictions/<run_id>/predictions.parquet     one row per scored customer (zstd)
    predictions/<run_id>/_summary.json           pre-aggregates for the report
    models/_LATEST.json                          pointer, written last

``training/train.py`` writes a model folder (``SM_MODEL_DIR``) and an output folder
(``SM_OUTPUT_DATA_DIR``); :func:`publish` copies them to those keys and moves the pointer —
the same function for a local run (the folders themselves) and a SageMaker job (its
``model.tar.gz`` and ``output.tar.gz``, unpacked: ``lakedrop.sagemaker_launch``). So local and
AWS produce the same analytics keys.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from glue_jobs.features import layout as features_layout
from ingest.storage import LocalStorage, Storage
from lakedrop.config import LocalLake

# the training source folder: SageMaker's source_dir, and what `lakedrop train` runs
TRAINING_DIR: Final = Path(__file__).resolve().parent.parent / "training"
ENTRY_SCRIPT: Final = "train.py"
MODEL_FILE: Final = "model.joblib"
METRICS_FILE: Final = "metrics.json"
PREDICTIONS_FILE: Final = "predictions.parquet"
SUMMARY_FILE: Final = "_summary.json"
LATEST_KEY: Final = "models/_LATEST.json"
JSON: Final = "application/json"
CHANNELS: Final[tuple[features_layout.Kind, ...]] = ("train", "score")


def model_prefix(run_id: str) -> str:
    return f"models/{features_layout.check_run_id(run_id)}/"


def metrics_key(run_id: str) -> str:
    return f"metrics/{features_layout.check_run_id(run_id)}.json"


def predictions_prefix(run_id: str) -> str:
    return f"predictions/{features_layout.check_run_id(run_id)}/"


def new_run_id(now: dt.datetime | None = None) -> str:
    """``20261128T031500Z-ab12cd``: sortable, unique, a valid key part."""
    moment = now or dt.datetime.now(dt.UTC)
    return f"{moment.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def check_hyperparameter_run_id(run_id: str) -> str:
    """A run id that survives SageMaker's script driver unchanged, which passes every
    hyperparameter through ``json.loads`` and back: ``2026.10`` would reach train.py as
    ``2026.1`` (and ``true`` as ``True``), and its outputs would not match the launched run."""
    try:
        json.loads(run_id)
    except ValueError:
        return features_layout.check_run_id(run_id)
    raise ValueError(
        f"run id {run_id!r} reads as a JSON value, which SageMaker would pass on changed: "
        "add a letter (e.g. 'r2026.10')"
    )


class NoFeaturesError(LookupError):
    """The analytics zone has no published features snapshot to train on."""


class TrainingError(RuntimeError):
    """train.py failed; the message is its own last error line."""


@dataclass(frozen=True)
class FeaturesRun:
    """What the features pointers say: where the snapshots are and how they were made."""

    train_path: str
    score_path: str
    train_run_id: str
    score_run_id: str
    horizon_days: int | None


def read_features(
    pointers: Mapping[str, Any | None], report: Any | None, zone_uri: str
) -> FeaturesRun:
    """Both ``features/<kind>/_LATEST.json`` (and the train run's report, for the horizon);
    their paths, relative to the analytics zone ``zone_uri``, resolved against it."""
    missing = [kind for kind in CHANNELS if not pointers.get(kind)]
    if missing:
        raise NoFeaturesError(
            f"no published {' and '.join(missing)} snapshot: run the features job first "
            "(`lakedrop features`)"
        )
    train: Any = pointers["train"]
    score: Any = pointers["score"]
    horizon = ((report or {}).get("parameters") or {}).get("horizon_days")
    return FeaturesRun(
        train_path=features_layout.resolve(zone_uri, str(train["path"])),
        score_path=features_layout.resolve(zone_uri, str(score["path"])),
        train_run_id=str(train["run_id"]),
        score_run_id=str(score["run_id"]),
        horizon_days=int(horizon) if horizon is not None else None,
    )


def local_features(analytics: Path) -> FeaturesRun:
    def load(key: str) -> Any | None:
        path = analytics / key
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    pointers: dict[str, Any] = {k: load(features_layout.latest_key(k)) for k in CHANNELS}
    train = pointers.get("train") or {}
    report = load(features_layout.report_key(train["run_id"])) if train.get("run_id") else None
    return read_features(pointers, report, str(analytics))


def hyperparameters(
    run_id: str,
    features: FeaturesRun,
    *,
    seed: int,
    n_jobs: int = -1,
    extra: Mapping[str, str | int | float] | None = None,
) -> dict[str, str]:
    """The hyperparameters train.py gets (as ``--key value``), locally and on SageMaker."""
    values: dict[str, str | int | float | None] = {
        "run-id": features_layout.check_run_id(run_id),
        "seed": seed,
        "n-jobs": n_jobs,
        "features-train-run": features.train_run_id,
        "features-score-run": features.score_run_id,
        "horizon-days": features.horizon_days,
        **(extra or {}),
    }
    return {k: str(v) for k, v in values.items() if v is not None}


def cli_args(hps: Mapping[str, str]) -> list[str]:
    """``{"seed": "5"}`` → ``["--seed", "5"]``, as SageMaker's script driver passes them."""
    return [part for key, value in hps.items() for part in (f"--{key}", value)]


# --------------------------------------------------------------------------------------------
# publish: model and output folders → analytics keys, pointer last


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n").encode()


def _json_line(value: Any) -> bytes:
    return (
        json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
    ).encode()


def publish(
    target: Storage,
    run_id: str,
    model_dir: Path,
    output_dir: Path,
    *,
    created_at: str | None = None,
) -> dict[str, Any]:
    """Copy one training run's outputs to the contract's keys; the pointer moves last.

    Order: every file of the model folder → predictions → summary → metrics → ``_LATEST.json``
    (one atomic write). A reader that follows the pointer finds everything; a crash before
    the pointer leaves the previous run current. Returns the pointer.
    """
    metrics_path = output_dir / METRICS_FILE
    if not metrics_path.is_file():
        raise TrainingError(f"{metrics_path} is missing: the training run did not finish")
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    if metrics.get("run_id") != run_id:
        raise TrainingError(f"{metrics_path} is of run {metrics.get('run_id')!r}, not {run_id!r}")
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        target.upload(path, model_prefix(run_id) + path.relative_to(model_dir).as_posix())
    predictions = predictions_prefix(run_id)
    target.upload(output_dir / PREDICTIONS_FILE, predictions + PREDICTIONS_FILE)
    target.upload(output_dir / SUMMARY_FILE, predictions + SUMMARY_FILE, JSON)
    # one object on one line: Athena's JSON SerDe reads a line per row (the metrics table)
    target.put_bytes(metrics_key(run_id), _json_line(metrics), JSON)
    pointer = {
        "run_id": run_id,
        "metrics": metrics_key(run_id),
        "predictions": predictions,
        "model": model_prefix(run_id),
        "created_at": created_at or metrics.get("created_at"),
        "score_cutoff": (metrics.get("cutoffs") or {}).get("score"),
        "features": metrics.get("features"),
    }
    target.put_bytes(LATEST_KEY, _json_bytes(pointer), JSON)  # atomic locally, as an S3 PUT
    return pointer


# --------------------------------------------------------------------------------------------
# the local runner: train.py as a subprocess with the environment a container would have
PROGRESS_PREFIX = "train.py: progress: "  # training/train.py's progress lines on stderr


def container_environment(
    channels: Mapping[str, str], model_dir: Path, output_dir: Path, hps: Mapping[str, str]
) -> dict[str, str]:
    """The ``SM_*`` variables SageMaker sets in a training container, for local folders."""
    return {
        **{f"SM_CHANNEL_{name.upper()}": path for name, path in channels.items()},
        "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_MODEL_DIR": str(model_dir),
        "SM_OUTPUT_DATA_DIR": str(output_dir),
        "SM_NUM_CPUS": str(os.cpu_count() or 1),
        "SM_NUM_GPUS": "0",
        "SM_HOSTS": json.dumps(["algo-1"]),
        "SM_CURRENT_HOST": "algo-1",
        "SM_HPS": json.dumps(dict(hps)),
        "SM_ENTRY_SCRIPT": ENTRY_SCRIPT,
    }


@dataclass(frozen=True)
class TrainedRun:
    """A finished local training run, not yet published: train.py's two output folders."""

    run_id: str
    work_dir: Path
    model_dir: Path
    output_dir: Path
    stdout: str


def train_local(
    lake: LocalLake,
    *,
    run_id: str | None = None,
    seed: int = 42,
    n_jobs: int = -1,
    extra: Mapping[str, str | int | float] | None = None,
    python: str = sys.executable,
    progress: Callable[[str], None] | None = None,
) -> TrainedRun:
    """The pipeline's Training step on the local lake: nothing in the analytics zone changes.

    Runs ``training/train.py`` in a child process exactly as the container would (hyper-
    parameters as arguments, channels and output folders in ``SM_*``) on the lake's current
    features; its outputs stay in the lake's work folder until :func:`publish_local`.
    ``progress`` hears each step the script reports as it starts (``train.py: progress: …``).
    """
    run = run_id or new_run_id()
    features = local_features(lake.analytics)
    if not (TRAINING_DIR / ENTRY_SCRIPT).is_file():
        raise TrainingError(
            f"{TRAINING_DIR / ENTRY_SCRIPT} not found (a source checkout is needed)"
        )
    work = lake.work_dir / "training" / run
    model_dir, output_dir = work / "model", work / "output" / "data"
    shutil.rmtree(work, ignore_errors=True)
    model_dir.mkdir(parents=True)
    output_dir.mkdir(parents=True)
    hps = hyperparameters(run, features, seed=seed, n_jobs=n_jobs, extra=extra)
    channels = {"train": features.train_path, "score": features.score_path}
    env = {**os.environ, **container_environment(channels, model_dir, output_dir, hps)}
    errors: list[str] = []
    try:
        with subprocess.Popen(  # noqa: S603 (our own script, arguments from typed values)
            [python, str(TRAINING_DIR / ENTRY_SCRIPT), *cli_args(hps)],
            cwd=TRAINING_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as child:
            if child.stderr is None or child.stdout is None:  # pragma: no cover (PIPE given)
                raise TrainingError("train.py's output could not be read")
            for line in child.stderr:  # the progress lines as they come, errors kept
                if line.startswith(PROGRESS_PREFIX):
                    if progress is not None:
                        progress(line.removeprefix(PROGRESS_PREFIX).strip())
                elif line.strip():
                    errors.append(line.rstrip())
            stdout = child.stdout.read()
            returncode = child.wait()
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise TrainingError(errors[-1] if errors else f"train.py exited with {returncode}")
    return TrainedRun(run, work, model_dir, output_dir, stdout)


def publish_local(lake: LocalLake, trained: TrainedRun) -> dict[str, Any]:
    """The pipeline's Publish step on the local lake: :func:`publish` (pointer last), then the
    work folder goes. Returns ``{"pointer", "metrics", "summary", "stdout"}``."""
    try:
        pointer = publish(
            LocalStorage(lake.analytics), trained.run_id, trained.model_dir, trained.output_dir
        )
        metrics = json.loads((trained.output_dir / METRICS_FILE).read_text(encoding="utf-8"))
        summary = json.loads((trained.output_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(trained.work_dir, ignore_errors=True)
    return {"pointer": pointer, "metrics": metrics, "summary": summary, "stdout": trained.stdout}


def run_local(
    lake: LocalLake,
    *,
    run_id: str | None = None,
    seed: int = 42,
    n_jobs: int = -1,
    extra: Mapping[str, str | int | float] | None = None,
    python: str = sys.executable,
) -> dict[str, Any]:
    """Train on the local lake's current features and publish into its analytics zone
    (:func:`train_local`, then :func:`publish_local`): ``lakedrop train``."""
    trained = train_local(lake, run_id=run_id, seed=seed, n_jobs=n_jobs, extra=extra, python=python)
    return publish_local(lake, trained)
