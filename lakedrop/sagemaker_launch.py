"""Launch the churn training as a SageMaker job (SDK v3 ``ModelTrainer``), then publish it.

    python -m lakedrop.sagemaker_launch --analytics s3://<analytics-bucket> \
        --role arn:aws:iam::<account>:role/<sagemaker-role> [--instance-type ml.c5.18xlarge] \
        [--wait]                       # wait for the job, then publish its outputs
    python -m lakedrop.sagemaker_launch --analytics s3://… --role … --publish <job-name> \
        --run-id <run-id>              # publish a finished job later

The job runs ``training/train.py`` (the same script ``lakedrop train`` runs locally) in AWS's
prebuilt scikit-learn image, retrieved through the SDK for the region, with:

* channels ``train`` and ``score``: the features run folders the ``_LATEST.json`` pointers name;
* the source folder ``training/`` (entry ``train.py``, ``requirements.txt``) uploaded under
  ``<analytics>/sagemaker/``, where the job's outputs go too
  (``sagemaker/jobs/<job>/output/model.tar.gz`` and ``output.tar.gz``);
* hyperparameters from ``lakedrop.training.hyperparameters`` (the local runner's);
* one many-core instance (default ``ml.c5.18xlarge``, 72 vCPUs: ``n_jobs=-1`` uses them all)
  and a time limit.

Publishing (``publish_job``) downloads the two archives, unpacks them and hands the folders
to ``lakedrop.training.publish``: the same keys as a local run, pointer last. The SDK is
imported only here (``make sagemaker-venv``: its own environment, see docs/training.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlparse

from ingest.storage import open_storage
from lakedrop import training

if TYPE_CHECKING:
    import boto3

FRAMEWORK: Final = "sklearn"
FRAMEWORK_VERSION: Final = "1.9-0"  # the image whose scikit-learn training/requirements.txt pins
DEFAULT_INSTANCE_TYPE: Final = "ml.c5.18xlarge"
DEFAULT_MAX_RUNTIME_S: Final = 2 * 3600
DEFAULT_VOLUME_GB: Final = 30
BASE_JOB_NAME: Final = "lakedrop-churn"
STAGING_PREFIX: Final = "sagemaker"


@dataclass(frozen=True)
class LaunchSettings:
    """Everything a launch needs, read once (``main``) and passed down."""

    analytics_uri: str  # s3://bucket[/prefix]
    role_arn: str
    region: str
    instance_type: str = DEFAULT_INSTANCE_TYPE
    max_runtime_s: int = DEFAULT_MAX_RUNTIME_S
    volume_gb: int = DEFAULT_VOLUME_GB
    seed: int = 42
    extra: Mapping[str, str | int | float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if urlparse(self.analytics_uri).scheme != "s3":
            raise ValueError(
                f"analytics zone must be s3://bucket[/prefix], got {self.analytics_uri}"
            )
        if not self.role_arn.startswith("arn:"):
            raise ValueError(f"role must be an IAM role ARN, got {self.role_arn!r}")
        if self.max_runtime_s < 60:
            raise ValueError("max runtime must be at least 60 seconds")

    @property
    def bucket(self) -> str:
        return urlparse(self.analytics_uri).netloc

    @property
    def prefix(self) -> str:
        """The zone's key prefix: "" or "some/prefix/"."""
        path = urlparse(self.analytics_uri).path.strip("/")
        return f"{path}/" if path else ""

    @property
    def output_path(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}{STAGING_PREFIX}/jobs/"


def s3_features(client: Any, settings: LaunchSettings) -> training.FeaturesRun:
    """The features pointers (and the train run's report) of an S3 analytics zone."""
    from glue_jobs.features import layout  # noqa: PLC0415

    def load(key: str) -> Any | None:
        try:
            body = client.get_object(Bucket=settings.bucket, Key=settings.prefix + key)["Body"]
        except client.exceptions.NoSuchKey:
            return None
        return json.loads(body.read())

    pointers: dict[str, Any] = {k: load(layout.latest_key(k)) for k in training.CHANNELS}
    train = pointers.get("train") or {}
    report = load(layout.report_key(train["run_id"])) if train.get("run_id") else None
    return training.read_features(pointers, report, settings.analytics_uri)


def image_uri(settings: LaunchSettings) -> str:
    """The prebuilt scikit-learn training image for the region, from the SDK's own table."""
    from sagemaker.core import image_uris  # noqa: PLC0415

    uri: str = image_uris.retrieve(
        FRAMEWORK,
        region=settings.region,
        version=FRAMEWORK_VERSION,
        py_version="py3",
        instance_type=settings.instance_type,
        image_scope="training",
    )
    return uri


def build_trainer(
    settings: LaunchSettings,
    features: training.FeaturesRun,
    run_id: str,
    boto_session: boto3.Session,
    source_dir: Path = training.TRAINING_DIR,
) -> tuple[Any, list[Any]]:
    """The ``ModelTrainer`` and its input channels (constructing it calls STS and S3)."""
    from sagemaker.core.helper.session_helper import Session  # noqa: PLC0415
    from sagemaker.core.training.configs import (  # noqa: PLC0415
        Compute,
        InputData,
        OutputDataConfig,
        SourceCode,
        StoppingCondition,
    )
    from sagemaker.train import ModelTrainer  # noqa: PLC0415

    session = Session(
        boto_session=boto_session,
        default_bucket=settings.bucket,
        default_bucket_prefix=f"{settings.prefix}{STAGING_PREFIX}",
    )
    trainer = ModelTrainer(
        training_image=image_uri(settings),
        source_code=SourceCode(
            source_dir=str(source_dir),
            entry_script=training.ENTRY_SCRIPT,
            requirements="requirements.txt",
        ),
        compute=Compute(
            instance_type=settings.instance_type,
            instance_count=1,  # a forest fits on one node: scale up, not out
            volume_size_in_gb=settings.volume_gb,
        ),
        stopping_condition=StoppingCondition(max_runtime_in_seconds=settings.max_runtime_s),
        output_data_config=OutputDataConfig(s3_output_path=settings.output_path),
        role=settings.role_arn,
        base_job_name=BASE_JOB_NAME,
        hyperparameters=training.hyperparameters(
            run_id, features, seed=settings.seed, n_jobs=-1, extra=settings.extra
        ),
        sagemaker_session=session,
    )
    channels = [
        InputData(channel_name="train", data_source=_folder(features.train_path)),
        InputData(channel_name="score", data_source=_folder(features.score_path)),
    ]
    return trainer, channels


def _folder(uri: str) -> str:
    if urlparse(uri).scheme != "s3":
        raise ValueError(f"a SageMaker channel must be in S3, the features pointer says {uri}")
    return uri.rstrip("/") + "/"


def launch(
    settings: LaunchSettings,
    boto_session: boto3.Session,
    *,
    run_id: str | None = None,
    wait: bool = False,
) -> tuple[str, str]:
    """Start the training job; returns (job name, run id). ``wait``: until it has finished
    (a failed job raises :class:`training.TrainingError` with SageMaker's failure reason)."""
    from sagemaker.core.utils.exceptions import WaiterError  # noqa: PLC0415

    try:
        run = training.check_hyperparameter_run_id(run_id) if run_id else training.new_run_id()
    except ValueError as error:
        raise training.TrainingError(str(error)) from error
    features = s3_features(boto_session.client("s3"), settings)
    trainer, channels = build_trainer(settings, features, run, boto_session)
    try:
        trainer.train(input_data_config=channels, wait=wait, logs=wait)
    except WaiterError as error:
        raise training.TrainingError(str(error)) from error
    return str(trainer._latest_training_job.training_job_name), run


def publish_job(
    settings: LaunchSettings, job_name: str, run_id: str, boto_session: boto3.Session
) -> dict[str, Any]:
    """Copy a finished job's ``model.tar.gz`` and ``output.tar.gz`` to the contract's keys."""
    sm = boto_session.client("sagemaker")
    s3 = boto_session.client("s3")
    job = sm.describe_training_job(TrainingJobName=job_name)
    if job["TrainingJobStatus"] != "Completed":
        raise training.TrainingError(
            f"training job {job_name} is {job['TrainingJobStatus']}: "
            f"{job.get('FailureReason', 'not finished')}"
        )
    model_uri = urlparse(job["ModelArtifacts"]["S3ModelArtifacts"])
    model_key = model_uri.path.lstrip("/")
    output_key = model_key.rsplit("/", 1)[0] + "/output.tar.gz"
    with tempfile.TemporaryDirectory(prefix="lakedrop-publish-") as tmp:
        folder = Path(tmp)
        model_dir, output_dir = folder / "model", folder / "output"
        for key, target in ((model_key, model_dir), (output_key, output_dir)):
            archive = folder / Path(key).name
            s3.download_file(model_uri.netloc, key, str(archive))
            target.mkdir()
            with tarfile.open(archive) as tar:
                tar.extractall(target, filter="data")  # no absolute paths or links out
        (folder / "model.tar.gz").replace(model_dir / "model.tar.gz")
        zone = open_storage(settings.analytics_uri, s3)
        return training.publish(zone, run_id, model_dir, output_dir)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lakedrop.sagemaker_launch", description=__doc__.split("\n")[0]
    )
    env = os.environ.get
    p.add_argument(
        "--analytics", default=env("LAKEDROP_ANALYTICS_URI"), help="s3://bucket[/prefix]"
    )
    p.add_argument("--role", default=env("LAKEDROP_SAGEMAKER_ROLE_ARN"), help="execution role ARN")
    p.add_argument("--region", default=env("AWS_REGION") or env("AWS_DEFAULT_REGION"))
    p.add_argument("--instance-type", default=DEFAULT_INSTANCE_TYPE)
    p.add_argument("--max-runtime", type=int, default=DEFAULT_MAX_RUNTIME_S, help="seconds")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--n-estimators", type=int, default=300)
    p.add_argument("--run-id", help="default: UTC time + random")
    p.add_argument("--wait", action="store_true", help="wait for the job, then publish")
    p.add_argument("--publish", metavar="JOB_NAME", help="publish a finished job (needs --run-id)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if not (args.analytics and args.role and args.region):
        parser().error(
            "--analytics, --role and --region (or their environment variables) are needed"
        )
    if args.publish and not args.run_id:
        parser().error("--publish needs the job's --run-id")
    import boto3  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        settings = LaunchSettings(
            analytics_uri=args.analytics,
            role_arn=args.role,
            region=args.region,
            instance_type=args.instance_type,
            max_runtime_s=args.max_runtime,
            seed=args.seed,
            extra={"n-estimators": args.n_estimators},
        )
        session = boto3.Session(region_name=settings.region)
        if args.publish:
            pointer = publish_job(settings, args.publish, args.run_id, session)
            print(f"published run {pointer['run_id']} to {settings.analytics_uri}")
            return 0
        job_name, run_id = launch(settings, session, run_id=args.run_id, wait=args.wait)
        print(f"training job {job_name} (run {run_id})")
        if args.wait:
            publish_job(settings, job_name, run_id, session)
            print(f"published run {run_id} to {settings.analytics_uri}")
    except (
        training.NoFeaturesError,
        training.TrainingError,
        ValueError,
        BotoCoreError,
        ClientError,
    ) as error:
        print(f"{parser().prog}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
