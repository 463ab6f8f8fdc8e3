"""Executing the state machines' definitions under moto (``execute_state_machine``).

The definitions in ``statemachine/`` are rendered with test values for their
``DefinitionSubstitutions`` and run by moto's Step Functions interpreter, which calls moto's
own Glue, SNS, S3, Step Functions and (Docker-free) Lambda. What moto cannot execute:

* ``sagemaker:createTrainingJob.sync`` and ``emr-serverless:startJobRun.sync`` (moto lists both
  integrations as unsupported): the tests run the same state with the ``aws-sdk:`` variant of
  the same API call (same parameters; no waiting for the job), and ``MOTO_VARIANTS`` says so;
* Lambda code (moto's Docker-free Lambda returns canned answers): the ``PublishFunction``
  invocation is answered by running ``lakedrop.publish_function.lambda_handler`` in-process;
* the training job itself: creating it writes the two archives a finished job uploads.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lakedrop.pipeline import PIPELINE_DEFINITION, TRIGGER_DEFINITION

REGION = "ap-northeast-2"
ACCOUNT = "123456789012"
ANALYTICS = "lakedrop-analytics-test"
CURATED = "lakedrop-curated-test"
GLUE_JOB = "lakedrop-features"
TRAINING_IMAGE = (
    "366743142698.dkr.ecr.ap-northeast-2.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
)

# optimised integrations moto does not run -> the aws-sdk integration of the same API call
MOTO_VARIANTS = {
    "arn:aws:states:::sagemaker:createTrainingJob.sync": (
        "arn:aws:states:::aws-sdk:sagemaker:createTrainingJob"
    ),
    "arn:aws:states:::emr-serverless:startJobRun.sync": (
        # AWS names the SDK integration "emrserverless"; moto knows only boto3's name
        "arn:aws:states:::aws-sdk:emr-serverless:startJobRun"
    ),
}


def placeholders(path: Path) -> set[str]:
    import re

    return set(re.findall(r"\$\{([A-Za-z0-9]+)\}", path.read_text(encoding="utf-8")))


def render(path: Path, values: dict[str, str], variants: dict[str, str] | None = None) -> str:
    """The definition as CloudFormation substitutes it, with moto's variants swapped in."""
    text = path.read_text(encoding="utf-8")
    assert placeholders(path) <= set(values), placeholders(path) - set(values)
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    for resource, variant in (variants or {}).items():
        assert f'"{resource}"' in text, resource
        text = text.replace(f'"{resource}"', f'"{variant}"')
    definition = json.loads(text)
    for state in definition["States"].values():
        service = str(state.get("Resource", "")).split(":")[6:7]
        if (
            str(state.get("Resource", "")).startswith("arn:aws:states:::aws-sdk:")
            and set(service) & CAMEL_CASE_APIS
        ):
            # AWS takes and gives PascalCase names in SDK integrations, whatever the API's
            # casing; moto passes them to boto3 as written and returns boto3's camelCase
            state["Parameters"] = camel_keys(state["Parameters"])
            selector = json.dumps(state.get("ResultSelector", {}))
            for name in ("Executions", "ExecutionArn"):
                selector = selector.replace(f".{name}", f".{name[0].lower()}{name[1:]}")
            state["ResultSelector"] = json.loads(selector) or state.pop("ResultSelector", None)
            if state["ResultSelector"] is None:
                del state["ResultSelector"]
    return json.dumps(definition)


CAMEL_CASE_APIS = {"sfn", "emr-serverless"}


def camel_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k[0].lower() + k[1:]: camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


def archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    # mtime 0 everywhere: the same files give the same bytes (a rerun's job is this fake's)
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as packed,
        tarfile.open(fileobj=packed, mode="w") as tar,
    ):
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def job_outputs(run_id: str) -> tuple[bytes, bytes]:
    """What train.py leaves in SM_MODEL_DIR and SM_OUTPUT_DATA_DIR, as SageMaker archives them."""
    metrics = {
        "run_id": run_id,
        "created_at": "2026-11-28T03:15:00+00:00",
        "cutoffs": {"score": "2026-11-30"},
        "features": {"train_run_id": run_id, "score_run_id": run_id},
    }
    model = archive({"model.joblib": b"a fitted forest"})
    output = archive(
        {
            "metrics.json": json.dumps(metrics).encode(),
            "predictions.parquet": b"PAR1 rows PAR1",
            "_summary.json": json.dumps({"run_id": run_id, "customers": 3}).encode(),
        }
    )
    return model, output


@dataclass
class Fakes:
    """Switches the tests flip to make a step fail, and what the fakes saw."""

    glue_fails: bool = False
    training_fails: bool = False
    archives_missing: bool = False
    training_jobs: list[dict[str, Any]] = field(default_factory=list)
    publish_calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Aws:
    sfn: Any
    s3: Any
    sqs: Any
    glue: Any
    emr: Any
    alerts_queue_url: str
    values: dict[str, str]
    fakes: Fakes

    def create_machine(self, name: str, path: Path, variants: dict[str, str] | None) -> str:
        arn: str = self.sfn.create_state_machine(
            name=name,
            definition=render(path, self.values, variants),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}",
        )["stateMachineArn"]
        return arn

    def wait(self, execution_arn: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.2)
        raise AssertionError(f"{execution_arn} still running after {timeout} s")

    def entered(self, execution_arn: str) -> list[str]:
        events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in events["events"]
            if "stateEnteredEventDetails" in e
        ]

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        found = {}
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=ANALYTICS, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                body = self.s3.get_object(Bucket=ANALYTICS, Key=item["Key"])["Body"].read()
                found[item["Key"]] = body
        return found

    def alerts(self) -> list[str]:
        messages = self.sqs.receive_message(
            QueueUrl=self.alerts_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        return [json.loads(m["Body"])["Message"] for m in messages]


def _repair_moto_glue_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2.6 ends every ``glue:startJobRun.sync`` task in an AttributeError: the task's
    ``finally`` calls ``interrupt_all()`` on a callback endpoint that exists only for
    integrations that support ``.waitForTaskToken``. Give the Glue task one (its token is never
    used), so moto's own StartJobRun + GetJobRun polling runs as written."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceCondition,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue import (
        StateTaskServiceGlue,
    )

    original = StateTaskServiceGlue._eval_integration_pattern

    def patched(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
        env.callback_pool_manager.add(env.states.context_object.update_task_token())
        self._supported_integration_patterns = {
            *self._supported_integration_patterns,
            ResourceCondition.WaitForTaskToken,
        }
        original(self, env, *args, **kwargs)

    monkeypatch.setattr(StateTaskServiceGlue, "_eval_integration_pattern", patched)


def _repair_moto_sfn_start_execution(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2.6 hands ``states:startExecution``'s parameters (PascalCase, as AWS documents
    them) to boto3 unchanged, and its own Step Functions then finds no ``stateMachineArn``:
    call boto3 with the API's camelCase names, after moto serialised ``Input``."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
        StateTaskServiceSfn,
    )

    original = StateTaskServiceSfn._eval_service_task

    def patched(self: Any, env: Any, **kwargs: Any) -> None:
        parameters = kwargs.pop("normalised_parameters")
        camel = {key[0].lower() + key[1:]: value for key, value in parameters.items()}
        original(self, env=env, normalised_parameters=camel, **kwargs)
        response = env.stack.pop()
        env.stack.append({key[0].upper() + key[1:]: value for key, value in response.items()})

    monkeypatch.setattr(StateTaskServiceSfn, "_eval_service_task", patched)


def _install_fakes(monkeypatch: pytest.MonkeyPatch, fakes: Fakes, s3: Any) -> None:
    _repair_moto_glue_sync(monkeypatch)
    _repair_moto_sfn_start_execution(monkeypatch)
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.glue.models import FakeJobRun
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import SageMakerModelBackend

    from lakedrop import publish_function

    def invoke(
        self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response: Any
    ) -> bytes:
        event = json.loads(body)
        fakes.publish_calls.append(event)
        try:
            result = publish_function.lambda_handler(event, None)
        except Exception as error:  # reported the way Lambda reports an unhandled error
            response["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {"errorType": type(error).__name__, "errorMessage": str(error)}
            ).encode()
        return json.dumps(result).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)

    original_as_dict = FakeJobRun.as_dict

    def job_run_as_dict(self: Any) -> dict[str, Any]:
        described: dict[str, Any] = original_as_dict(self)
        if fakes.glue_fails:
            described["JobRunState"] = "FAILED"
            described["ErrorMessage"] = "NotEnoughHistoryError: no purchase before the cutoff"
        return described

    monkeypatch.setattr(FakeJobRun, "as_dict", job_run_as_dict)

    original_create = SageMakerModelBackend.create_training_job

    def create_training_job(self: Any, training_job_name: str, **kwargs: Any) -> Any:
        if fakes.training_fails:
            raise ValidationError(message="train.py: error: one class only in the training rows")
        job = original_create(self, training_job_name=training_job_name, **kwargs)
        fakes.training_jobs.append({"TrainingJobName": training_job_name, **kwargs})
        if fakes.archives_missing:
            return job
        run_id = kwargs["hyper_parameters"]["run-id"]
        model, output = job_outputs(run_id)
        prefix = f"sagemaker/jobs/{training_job_name}/output/"
        s3.put_object(Bucket=ANALYTICS, Key=prefix + "model.tar.gz", Body=model)
        s3.put_object(Bucket=ANALYTICS, Key=prefix + "output.tar.gz", Body=output)
        return job

    monkeypatch.setattr(SageMakerModelBackend, "create_training_job", create_training_job)


@pytest.fixture
def aws(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    import boto3
    from moto import mock_aws

    config: Any = {
        "stepfunctions": {"execute_state_machine": True},
        "lambda": {"use_docker": False},
    }
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    with mock_aws(config=config):
        client: Callable[..., Any] = boto3.client
        s3, sqs, sns = client("s3"), client("sqs"), client("sns")
        glue, iam, lam, emr = (
            client("glue"),
            client("iam"),
            client("lambda"),
            client("emr-serverless"),
        )
        for bucket in (ANALYTICS, CURATED):
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
        role = iam.create_role(
            RoleName="lakedrop-test",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        glue.create_job(
            Name=GLUE_JOB,
            Role=role,
            Command={"Name": "glueetl", "ScriptLocation": f"s3://{ANALYTICS}/code/x.py"},
        )
        application = emr.create_application(
            name="lakedrop-features", releaseLabel="emr-7.5.0", type="SPARK"
        )["applicationId"]
        function = lam.create_function(
            FunctionName="lakedrop-publish",
            Runtime="python3.12",
            Role=role,
            Handler="lakedrop.publish_function.lambda_handler",
            Code={"ZipFile": b"not run: the test answers the invocation"},
        )["FunctionArn"]
        topic = sns.create_topic(Name="lakedrop-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        monkeypatch.setenv("ANALYTICS_URI", f"s3://{ANALYTICS}")
        monkeypatch.setenv("TRAINING_ROLE_ARN", role)
        fakes = Fakes()
        _install_fakes(monkeypatch, fakes, s3)
        values = {
            "FeaturesRuntime": "glue",
            "FeaturesGlueJobName": GLUE_JOB,
            "FeaturesEmrApplicationId": application,
            "FeaturesJobRoleArn": role,
            "FeaturesCodeUri": f"s3://{ANALYTICS}/code/features",
            "CuratedUri": f"s3://{CURATED}",
            "AnalyticsUri": f"s3://{ANALYTICS}",
            "TrainingRoleArn": role,
            "TrainingImage": TRAINING_IMAGE,
            "TrainingCodeUri": f"s3://{ANALYTICS}/sagemaker/code/sourcedir.tar.gz",
            "TrainingInstanceType": "ml.c5.18xlarge",
            "HorizonDays": "90",
            "PublishFunctionArn": function,
            "AlertsTopicArn": topic,
            # longer than starting the debounce test's 30 executions takes on a loaded machine
            # (at 3 s, one started late found itself newest and started a second run)
            "QuietSeconds": "20",
        }
        assert os.environ["AWS_DEFAULT_REGION"] == REGION
        yield Aws(client("stepfunctions"), s3, sqs, glue, emr, queue_url, values, fakes)


@pytest.fixture
def pipeline(aws: Aws) -> str:
    return aws.create_machine("lakedrop-pipeline", PIPELINE_DEFINITION, MOTO_VARIANTS)


@pytest.fixture
def trigger(aws: Aws, pipeline: str) -> str:
    aws.values["PipelineStateMachineArn"] = pipeline
    return aws.create_machine("lakedrop-pipeline-trigger", TRIGGER_DEFINITION, None)
