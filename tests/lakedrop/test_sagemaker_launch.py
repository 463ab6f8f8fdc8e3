"""The SageMaker launch, inside moto: the CreateTrainingJob request ModelTrainer sends, and
publishing a finished job's archives to the contract's keys.

Needs the SageMaker SDK (``sagemaker-train``), which lives in its own environment
(``.venv-sagemaker``, ``make test-sagemaker``): skipped where it is not installed. The SDK
checks the role with ``iam:SimulatePrincipalPolicy``, which moto does not implement:
``SAGEMAKER_VALIDATE_ROLE=false`` turns that client-side check off (AWS still checks the role
when the job starts).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sagemaker.train", reason="sagemaker-train: make test-sagemaker")

import boto3
from moto import mock_aws

from lakedrop import sagemaker_launch, training

BUCKET = "lakedrop-analytics"
FEATURES = {
    "train": f"s3://{BUCKET}/zone/features/train/run=f1",
    "score": f"s3://{BUCKET}/zone/features/score/run=f1",
}


@pytest.fixture
def aws(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
    with mock_aws():
        s3 = boto3.client("s3", region_name=aws_env)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": aws_env})
        for kind, path in FEATURES.items():
            pointer = {"run_id": "f1", "path": path, "cutoff": "2026-09-01", "rows": 10}
            s3.put_object(
                Bucket=BUCKET, Key=f"zone/features/{kind}/_LATEST.json", Body=json.dumps(pointer)
            )
        report = {"parameters": {"horizon_days": 90}}
        s3.put_object(Bucket=BUCKET, Key="zone/features/_runs/f1.json", Body=json.dumps(report))
        iam = boto3.client("iam", region_name=aws_env)
        role = iam.create_role(RoleName="lakedrop-training", AssumeRolePolicyDocument="{}")
        yield {"region": aws_env, "role": role["Role"]["Arn"], "s3": s3}


def _settings(aws: Any, **kw: Any) -> sagemaker_launch.LaunchSettings:
    return sagemaker_launch.LaunchSettings(
        analytics_uri=f"s3://{BUCKET}/zone", role_arn=aws["role"], region=aws["region"], **kw
    )


def test_launch_sends_the_expected_create_training_job(aws: Any) -> None:
    session = boto3.Session(region_name=aws["region"])
    requests: list[dict[str, Any]] = []
    session.events.register(
        "provide-client-params.sagemaker.CreateTrainingJob",
        lambda params, **_: requests.append(params),
    )
    settings = _settings(aws, seed=5, max_runtime_s=5400, extra={"n-estimators": 500})
    job_name, run_id = sagemaker_launch.launch(settings, session, run_id="run-1")

    assert run_id == "run-1" and job_name.startswith("lakedrop-churn-")
    (request,) = requests
    assert request["TrainingJobName"] == job_name
    image = request["AlgorithmSpecification"]["TrainingImage"]
    # the prebuilt scikit-learn image of the SDK's table for ap-northeast-2
    assert image == (
        "366743142698.dkr.ecr.ap-northeast-2.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
    )
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.c5.18xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30,
    }  # fmt: skip
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 5400}
    assert request["RoleArn"] == aws["role"]
    assert request["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/zone/sagemaker/jobs/"
    assert request["HyperParameters"] == {
        "run-id": "run-1", "seed": "5", "n-jobs": "-1", "features-train-run": "f1",
        "features-score-run": "f1", "horizon-days": "90", "n-estimators": "500",
    }  # fmt: skip
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
        for c in request["InputDataConfig"]
    }
    assert channels["train"] == FEATURES["train"] + "/"
    assert channels["score"] == FEATURES["score"] + "/"
    code = channels["code"]
    assert code.startswith(f"s3://{BUCKET}/zone/sagemaker/")
    # the uploaded source folder: the entry script, the pure package, the requirements
    prefix = code.removeprefix(f"s3://{BUCKET}/").rstrip("/") + "/"
    listed = aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]
    uploaded = {o["Key"].removeprefix(prefix) for o in listed}
    assert {"train.py", "requirements.txt", "churn_model/pipeline.py"} <= uploaded


def test_instance_type_is_configurable(aws: Any) -> None:
    session = boto3.Session(region_name=aws["region"])
    requests: list[dict[str, Any]] = []
    session.events.register(
        "provide-client-params.sagemaker.CreateTrainingJob",
        lambda params, **_: requests.append(params),
    )
    sagemaker_launch.launch(_settings(aws, instance_type="ml.m5.4xlarge"), session)
    assert requests[0]["ResourceConfig"]["InstanceType"] == "ml.m5.4xlarge"


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_publish_job_puts_the_archives_at_the_contract_keys(aws: Any) -> None:
    session = boto3.Session(region_name=aws["region"])
    job_name, run_id = sagemaker_launch.launch(_settings(aws), session, run_id="run-2")
    job = session.client("sagemaker").describe_training_job(TrainingJobName=job_name)
    model_key = job["ModelArtifacts"]["S3ModelArtifacts"].removeprefix(f"s3://{BUCKET}/")
    metrics = {"run_id": "run-2", "created_at": "2026-11-28T03:00:00+00:00",
               "cutoffs": {"score": "2026-11-30"}}  # fmt: skip
    s3 = aws["s3"]
    s3.put_object(Bucket=BUCKET, Key=model_key, Body=_tar({"model.joblib": b"m"}))
    s3.put_object(
        Bucket=BUCKET,
        Key=model_key.replace("model.tar.gz", "output.tar.gz"),
        Body=_tar({
            "metrics.json": json.dumps(metrics).encode(),
            "predictions.parquet": b"p",
            "_summary.json": b"{}",
        }),
    )  # fmt: skip
    pointer = sagemaker_launch.publish_job(_settings(aws), job_name, run_id, session)

    assert pointer["metrics"] == "metrics/run-2.json"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="zone/")["Contents"]}
    assert {
        "zone/models/run-2/model.joblib",
        "zone/models/run-2/model.tar.gz",
        "zone/metrics/run-2.json",
        "zone/predictions/run-2/predictions.parquet",
        "zone/predictions/run-2/_summary.json",
        "zone/models/_LATEST.json",
    } <= keys
    body = s3.get_object(Bucket=BUCKET, Key="zone/models/_LATEST.json")["Body"].read()
    assert json.loads(body)["run_id"] == "run-2"


def test_settings_refuse_local_zones_and_bad_roles(aws: Any) -> None:
    with pytest.raises(ValueError, match="s3://"):
        sagemaker_launch.LaunchSettings("/tmp/lake", aws["role"], aws["region"])
    with pytest.raises(ValueError, match="role ARN"):
        sagemaker_launch.LaunchSettings(f"s3://{BUCKET}", "my-role", aws["region"])


def test_no_features_no_launch(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name=aws_env)
        s3.create_bucket(Bucket="empty", CreateBucketConfiguration={"LocationConstraint": aws_env})
        settings = sagemaker_launch.LaunchSettings(
            "s3://empty", "arn:aws:iam::123456789012:role/x", aws_env
        )
        with pytest.raises(training.NoFeaturesError):
            sagemaker_launch.launch(settings, boto3.Session(region_name=aws_env))


def test_source_dir_is_the_training_folder() -> None:
    assert (training.TRAINING_DIR / "train.py").is_file()
    assert Path(training.TRAINING_DIR / "requirements.txt").is_file()


def test_main_reports_plain_errors(aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--role", aws["role"], "--region", aws["region"]]
    assert sagemaker_launch.main(["--analytics", "/tmp/lake", *base]) == 1
    assert "error: analytics zone must be s3://" in capsys.readouterr().err
    aws["s3"].create_bucket(
        Bucket="no-features", CreateBucketConfiguration={"LocationConstraint": aws["region"]}
    )
    assert sagemaker_launch.main(["--analytics", "s3://no-features", *base]) == 1
    assert "error: no published train and score snapshot" in capsys.readouterr().err


def test_a_failed_job_is_a_plain_error(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # moto's jobs never fail: the SDK's waiter raising is what a failed job looks like
    from sagemaker.core.utils.exceptions import FailedStatusError
    from sagemaker.train import ModelTrainer

    def failing(self: Any, **_: Any) -> None:
        raise FailedStatusError(
            resource_type="TrainingJob", status="Failed", reason="AlgorithmError: no Parquet"
        )

    monkeypatch.setattr(ModelTrainer, "train", failing)
    session = boto3.Session(region_name=aws["region"])
    with pytest.raises(training.TrainingError, match="AlgorithmError: no Parquet"):
        sagemaker_launch.launch(_settings(aws), session, wait=True)
