"""Training outputs in the analytics zone: keys, publish (folder and S3), the local runner
and `lakedrop train`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from ingest.storage import LocalStorage, open_storage
from lakedrop import training
from lakedrop.cli import app
from lakedrop.config import LocalLake

runner = CliRunner()


def test_keys() -> None:
    assert training.model_prefix("r1") == "models/r1/"
    assert training.metrics_key("r1") == "metrics/r1.json"
    assert training.predictions_prefix("r1") == "predictions/r1/"
    with pytest.raises(ValueError, match="run id"):
        training.metrics_key("../etc")
    assert training.new_run_id().startswith("20")


def test_cli_args_as_sagemaker_passes_them() -> None:
    assert training.cli_args({"seed": "5", "run-id": "r"}) == ["--seed", "5", "--run-id", "r"]


def _outputs(tmp_path: Path, run_id: str = "r1") -> tuple[Path, Path]:
    model_dir, output_dir = tmp_path / "model", tmp_path / "output"
    (model_dir / "extra").mkdir(parents=True)
    output_dir.mkdir()
    (model_dir / "model.joblib").write_bytes(b"model")
    (model_dir / "extra" / "notes.txt").write_text("x")
    (output_dir / "predictions.parquet").write_bytes(b"parquet")
    (output_dir / "_summary.json").write_text('{"customers": 1}')
    metrics = {"run_id": run_id, "created_at": "2026-11-28T03:00:00+00:00",
               "cutoffs": {"score": "2026-11-30"}, "features": {"train_run_id": "f"}}  # fmt: skip
    (output_dir / "metrics.json").write_text(json.dumps(metrics))
    return model_dir, output_dir


def test_publish_to_a_folder(tmp_path: Path) -> None:
    model_dir, output_dir = _outputs(tmp_path)
    root = tmp_path / "analytics"
    pointer = training.publish(LocalStorage(root), "r1", model_dir, output_dir)
    assert pointer == {
        "run_id": "r1",
        "metrics": "metrics/r1.json",
        "predictions": "predictions/r1/",
        "model": "models/r1/",
        "created_at": "2026-11-28T03:00:00+00:00",
        "score_cutoff": "2026-11-30",
        "features": {"train_run_id": "f"},
    }
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == [
        "metrics/r1.json",
        "models/_LATEST.json",
        "models/r1/extra/notes.txt",
        "models/r1/model.joblib",
        "predictions/r1/_summary.json",
        "predictions/r1/predictions.parquet",
    ]
    assert json.loads((root / "models/_LATEST.json").read_text()) == pointer
    # metrics as one JSON object on one line (Athena's JSON SerDe), same content
    metrics_text = (root / "metrics/r1.json").read_text()
    assert metrics_text.count("\n") == 1
    assert json.loads(metrics_text) == json.loads((output_dir / "metrics.json").read_text())


def test_publish_refuses_unfinished_or_foreign_outputs(tmp_path: Path) -> None:
    model_dir, output_dir = _outputs(tmp_path, run_id="other")
    target = LocalStorage(tmp_path / "analytics")
    with pytest.raises(training.TrainingError, match="of run 'other', not 'r1'"):
        training.publish(target, "r1", model_dir, output_dir)
    (output_dir / "metrics.json").unlink()
    with pytest.raises(training.TrainingError, match="did not finish"):
        training.publish(target, "r1", model_dir, output_dir)
    assert not (tmp_path / "analytics" / "models" / "_LATEST.json").exists()


def test_publish_to_s3(aws_env: str, tmp_path: Path) -> None:
    model_dir, output_dir = _outputs(tmp_path)
    with mock_aws():
        s3 = boto3.client("s3", region_name=aws_env)
        s3.create_bucket(
            Bucket="analytics", CreateBucketConfiguration={"LocationConstraint": aws_env}
        )
        target = open_storage("s3://analytics/lake", s3)
        training.publish(target, "r1", model_dir, output_dir)
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="analytics")["Contents"])
        latest = json.loads(
            s3.get_object(Bucket="analytics", Key="lake/models/_LATEST.json")["Body"].read()
        )
    assert keys == [
        "lake/metrics/r1.json",
        "lake/models/_LATEST.json",
        "lake/models/r1/extra/notes.txt",
        "lake/models/r1/model.joblib",
        "lake/predictions/r1/_summary.json",
        "lake/predictions/r1/predictions.parquet",
    ]
    assert latest["metrics"] == "metrics/r1.json"  # keys relative to the zone
    assert target.uri == "s3://analytics/lake"


def test_read_features_needs_both_pointers() -> None:
    with pytest.raises(training.NoFeaturesError, match="no published score snapshot"):
        training.read_features(
            {"train": {"path": "p", "run_id": "r"}, "score": None}, None, "/lake/analytics"
        )
    # paths relative to the zone are resolved against it; a full one (older pointers) is kept
    run = training.read_features(
        {"train": {"path": "t", "run_id": "a"}, "score": {"path": "s3://b/s", "run_id": "b"}},
        {"parameters": {"horizon_days": 60}},
        "s3://bucket/zone/",
    )
    assert run == training.FeaturesRun("s3://bucket/zone/t", "s3://b/s", "a", "b", 60)
    hps = training.hyperparameters("run1", run, seed=3, extra={"n-estimators": 10})
    assert hps == {
        "run-id": "run1", "seed": "3", "n-jobs": "-1", "features-train-run": "a",
        "features-score-run": "b", "horizon-days": "60", "n-estimators": "10",
    }  # fmt: skip


def test_container_environment() -> None:
    env = training.container_environment(
        {"train": "/t", "score": "/s"}, Path("/m"), Path("/o"), {"seed": "1"}
    )
    assert env["SM_CHANNEL_TRAIN"] == "/t" and env["SM_CHANNEL_SCORE"] == "/s"
    assert (env["SM_MODEL_DIR"], env["SM_OUTPUT_DATA_DIR"]) == ("/m", "/o")
    assert json.loads(env["SM_HPS"]) == {"seed": "1"}
    assert json.loads(env["SM_CHANNELS"]) == ["score", "train"]
    assert int(env["SM_NUM_CPUS"]) >= 1


def test_lakedrop_train_without_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEDROP_HOME", str(tmp_path / "lake"))
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 1
    assert "no features yet" in result.output and "lakedrop features" in result.output


@pytest.fixture
def lake_with_features(pipeline_lake: LocalLake, tmp_path: Path) -> LocalLake:
    """A copy of the pipeline lake's features (the session's lake stays untouched)."""
    lake = LocalLake(tmp_path / "lake")
    lake.ensure()
    shutil.copytree(pipeline_lake.analytics / "features", lake.analytics / "features")
    return lake


def test_lakedrop_train_publishes_and_prints_headline_metrics(
    lake_with_features: LocalLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEDROP_HOME", str(lake_with_features.root))
    result = runner.invoke(
        app, ["train", "--seed", "5", "--run-id", "cli-run", "--n-estimators", "60"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "model (random_forest)" in out and "baseline (recency_decile_rate)" in out
    assert "at high risk" in out and "validated on" in out
    analytics = lake_with_features.analytics
    pointer: dict[str, Any] = json.loads((analytics / "models/_LATEST.json").read_text())
    assert pointer["run_id"] == "cli-run"
    metrics = json.loads((analytics / "metrics/cli-run.json").read_text())
    assert metrics["hyperparameters"]["n_estimators"] == 60 and metrics["seed"] == 5
    assert (analytics / "predictions/cli-run/predictions.parquet").is_file()
    assert not (lake_with_features.work_dir / "training" / "cli-run").exists()  # cleaned up


def test_a_copied_lake_trains(
    pipeline_lake: LocalLake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole lake the real pipeline built, copied to another folder: its pointers name
    keys relative to their zone, so `lakedrop train` on the copy reads the copy's snapshots
    (none of its pointers mentions where the lake was built) and publishes into it."""
    moved = LocalLake(tmp_path / "elsewhere" / "lake")
    shutil.copytree(pipeline_lake.root, moved.root)
    old_root = str(pipeline_lake.root)
    for kind in ("train", "score"):
        pointer_text = (moved.analytics / f"features/{kind}/_LATEST.json").read_text("utf-8")
        assert old_root not in pointer_text
        pointer = json.loads(pointer_text)
        assert pointer["path"] == f"features/{kind}/run=pipeline-features"
        assert (moved.analytics / pointer["path"]).is_dir()
        assert (moved.analytics / pointer["report"]).is_file()
    assert old_root not in (moved.analytics / "models/_LATEST.json").read_text("utf-8")

    monkeypatch.setenv("LAKEDROP_HOME", str(moved.root))
    result = runner.invoke(app, ["train", "--run-id", "moved", "--n-estimators", "20"])
    assert result.exit_code == 0, result.output
    pointer = json.loads((moved.analytics / "models/_LATEST.json").read_text("utf-8"))
    assert pointer["run_id"] == "moved"
    metrics = json.loads((moved.analytics / "metrics/moved.json").read_text("utf-8"))
    assert metrics["features"] == {
        "train_run_id": "pipeline-features",
        "score_run_id": "pipeline-features",
    }
    assert (moved.analytics / "predictions/moved/predictions.parquet").is_file()
    assert not (pipeline_lake.analytics / "metrics/moved.json").exists()  # the copy only


def test_the_training_step_publishes_nothing_until_the_publish_step(
    lake_with_features: LocalLake,
) -> None:
    """The pipeline's Training and Publish steps, locally (`lakedrop run`): after Training the
    analytics zone is unchanged; only Publish writes the run's outputs, the pointer last."""
    lake = lake_with_features
    before = sorted(p.relative_to(lake.analytics) for p in lake.analytics.rglob("*"))
    heard: list[str] = []
    trained = training.train_local(
        lake, run_id="steps", seed=5, extra={"n-estimators": 20}, progress=heard.append
    )
    # train.py says what it is doing as it goes (the spinner of `lakedrop train` shows it)
    assert [step[-5:] for step in heard] == ["(1/4)", "(2/4)", "(3/4)", "(4/4)"]
    assert heard[0].startswith("fitting the forest on ")
    assert sorted(p.relative_to(lake.analytics) for p in lake.analytics.rglob("*")) == before
    assert (trained.output_dir / training.METRICS_FILE).is_file()
    result = training.publish_local(lake, trained)
    assert result["pointer"]["run_id"] == "steps"
    latest = json.loads((lake.analytics / training.LATEST_KEY).read_text("utf-8"))
    assert latest == result["pointer"]
    assert (lake.analytics / training.metrics_key("steps")).is_file()
    assert not trained.work_dir.exists()  # cleaned up after publishing


def test_lakedrop_train_reports_a_failed_script(
    lake_with_features: LocalLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEDROP_HOME", str(lake_with_features.root))
    result = runner.invoke(app, ["train", "--n-estimators", "0"])
    assert result.exit_code == 1
    assert "training failed" in result.output and "n_estimators must be >= 1" in result.output
    assert not (lake_with_features.analytics / "models").exists()


@pytest.mark.parametrize("run_id", ["2026.10", "1e3", "true", "null", "20261128"])
def test_a_run_id_that_reads_as_json_is_refused(run_id: str) -> None:
    """SageMaker's script driver json-loads every hyperparameter: 2026.10 arrives as 2026.1,
    true as True, 1e3 as 1000.0. A plain integer would survive, but is refused alike: one
    simple rule a user can follow ("add a letter")."""
    with pytest.raises(ValueError, match="reads as a JSON value"):
        training.check_hyperparameter_run_id(run_id)


def test_ordinary_run_ids_pass_unchanged() -> None:
    for run_id in ("r2026.10", "20261128T031500Z-ab12cd", training.new_run_id()):
        assert training.check_hyperparameter_run_id(run_id) == run_id
