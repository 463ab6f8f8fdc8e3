"""The pipeline state machine, executed by moto: order, publish rule, failures, reruns, the guard."""

from __future__ import annotations

import json
import time

from lakedrop.pipeline import PIPELINE_DEFINITION, STEPS
from tests.statemachine.conftest import ANALYTICS, GLUE_JOB, TRAINING_IMAGE, Aws

PREVIOUS = {"run_id": "r-previous", "metrics": "metrics/r-previous.json"}


def seed_previous_run(aws: Aws) -> bytes:
    body = json.dumps(PREVIOUS).encode()
    aws.s3.put_object(Bucket=ANALYTICS, Key="models/_LATEST.json", Body=body)
    return body


def steps_entered(aws: Aws, execution: str) -> list[str]:
    return [name for name in aws.entered(execution) if name in STEPS]


def start(aws: Aws, machine: str, run_id: str, name: str | None = None) -> str:
    arn: str = aws.sfn.start_execution(
        stateMachineArn=machine, name=name or f"{run_id}-1", input=json.dumps({"run_id": run_id})
    )["executionArn"]
    return arn


def published(aws: Aws) -> set[str]:
    return {k for k in aws.objects() if k.startswith(("models/", "metrics/", "predictions/"))}


def test_happy_path_runs_the_steps_in_order_and_publishes_last(aws: Aws, pipeline: str) -> None:
    seed_previous_run(aws)
    execution = start(aws, pipeline, "r20261128-a")
    result = aws.wait(execution)
    assert result["status"] == "SUCCEEDED", result
    assert steps_entered(aws, execution) == ["Features", "Training", "Publish"]
    entered = aws.entered(execution)
    assert entered[-2:] == ["Publish", "Done"]
    assert entered.index("FeaturesOnGlue") < entered.index("Training")

    # the Glue job got this run's id
    (run,) = aws.glue.get_job_runs(JobName=GLUE_JOB)["JobRuns"]
    assert run["Arguments"] == {"--run_id": "r20261128-a"}
    # the training job read this run's snapshots and was told its run id
    (job,) = aws.fakes.training_jobs
    assert job["TrainingJobName"].startswith("lakedrop-r20261128-a-")
    assert len(job["TrainingJobName"]) == len("lakedrop-r20261128-a-") + 8
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["input_data_config"]
    }
    assert channels == {
        "train": f"s3://{ANALYTICS}/features/train/run=r20261128-a/",
        "score": f"s3://{ANALYTICS}/features/score/run=r20261128-a/",
    }
    assert job["hyper_parameters"]["run-id"] == "r20261128-a"
    assert job["hyper_parameters"]["features-train-run"] == "r20261128-a"
    assert job["hyper_parameters"]["sagemaker_program"] == "train.py"
    assert job["algorithm_specification"]["TrainingImage"] == TRAINING_IMAGE
    assert job["resource_config"] == {
        "InstanceType": "ml.c5.18xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
    }
    # published: exactly the run's keys, and the pointer names it
    assert published(aws) == {
        "models/_LATEST.json",
        "models/r20261128-a/model.joblib",
        "models/r20261128-a/model.tar.gz",
        "metrics/r20261128-a.json",
        "predictions/r20261128-a/predictions.parquet",
        "predictions/r20261128-a/_summary.json",
    }
    pointer = json.loads(aws.objects("models/_LATEST.json")["models/_LATEST.json"])
    assert pointer == {
        "run_id": "r20261128-a",
        "metrics": "metrics/r20261128-a.json",
        "predictions": "predictions/r20261128-a/",
        "model": "models/r20261128-a/",
        "created_at": "2026-11-28T03:15:00+00:00",
        "score_cutoff": "2026-11-30",
        "features": {"train_run_id": "r20261128-a", "score_run_id": "r20261128-a"},
    }
    assert json.loads(result["output"])["published"]["pointer"] == pointer
    assert aws.alerts() == []


def test_failing_features_step_publishes_nothing_and_alerts(aws: Aws, pipeline: str) -> None:
    before = seed_previous_run(aws)
    aws.fakes.glue_fails = True
    execution = start(aws, pipeline, "r20261128-b")
    result = aws.wait(execution)
    assert result["status"] == "FAILED"
    assert result["error"] == "lakedrop.PipelineFailed"
    assert steps_entered(aws, execution) == ["Features"]
    assert aws.entered(execution)[-2:] == ["NotifyFailure", "Failed"]
    assert aws.fakes.training_jobs == [] and aws.fakes.publish_calls == []
    # the previous run stays the current one, byte for byte, and nothing of this run exists
    assert aws.objects("models/_LATEST.json") == {"models/_LATEST.json": before}
    assert published(aws) == {"models/_LATEST.json"}
    (alert,) = aws.alerts()
    assert alert.startswith("lakedrop pipeline run r20261128-b failed: States.TaskFailed: ")
    assert "NotEnoughHistoryError" in alert and execution in alert


def test_failing_training_step_publishes_nothing_and_alerts(aws: Aws, pipeline: str) -> None:
    before = seed_previous_run(aws)
    aws.fakes.training_fails = True
    execution = start(aws, pipeline, "r20261128-c")
    result = aws.wait(execution)
    assert result["status"] == "FAILED"
    assert steps_entered(aws, execution) == ["Features", "Training"]
    assert aws.fakes.publish_calls == []
    assert aws.objects("models/_LATEST.json") == {"models/_LATEST.json": before}
    assert published(aws) == {"models/_LATEST.json"}
    (alert,) = aws.alerts()
    assert "lakedrop pipeline run r20261128-c failed" in alert
    assert "one class only in the training rows" in alert


def test_a_failing_publish_leaves_the_previous_pointer(aws: Aws, pipeline: str) -> None:
    before = seed_previous_run(aws)
    aws.fakes.archives_missing = True  # the job "completed" without uploading its outputs
    execution = start(aws, pipeline, "r20261128-d")
    result = aws.wait(execution)
    assert result["status"] == "FAILED"
    assert steps_entered(aws, execution) == list(STEPS)
    assert [c["run_id"] for c in aws.fakes.publish_calls] == ["r20261128-d"]
    assert aws.objects("models/_LATEST.json") == {"models/_LATEST.json": before}
    assert published(aws) == {"models/_LATEST.json"}
    (alert,) = aws.alerts()
    assert "lakedrop pipeline run r20261128-d failed" in alert


def test_rerun_of_the_same_input_writes_the_same_keys(aws: Aws, pipeline: str) -> None:
    first = start(aws, pipeline, "r20261128-f", name="r20261128-f-1")
    assert aws.wait(first)["status"] == "SUCCEEDED"
    after_first = aws.objects()
    second = start(aws, pipeline, "r20261128-f", name="r20261128-f-2")
    assert aws.wait(second)["status"] == "SUCCEEDED"
    after_second = aws.objects()

    def outputs(keys: dict[str, bytes]) -> dict[str, bytes]:
        return {k: v for k, v in keys.items() if not k.startswith("sagemaker/")}

    # the published outputs: the same six keys with the same bytes, no second copy
    assert outputs(after_second) == outputs(after_first)
    assert len(outputs(after_second)) == 6
    # each attempt's job keeps its own staging folder (SageMaker never reuses a job name)
    jobs = {k.split("/")[2] for k in after_second if k.startswith("sagemaker/jobs/")}
    assert len(jobs) == 2
    assert [r["Arguments"] for r in aws.glue.get_job_runs(JobName=GLUE_JOB)["JobRuns"]] == [
        {"--run_id": "r20261128-f"},
        {"--run_id": "r20261128-f"},
    ]


def test_a_second_run_while_one_is_in_progress_is_skipped(aws: Aws, pipeline: str) -> None:
    first = start(aws, pipeline, "r20261128-g")
    deadline = time.monotonic() + 20
    while "FeaturesOnGlue" not in aws.entered(first):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = start(aws, pipeline, "r20261128-h")
    skipped = aws.wait(second)
    assert skipped["status"] == "SUCCEEDED"
    assert aws.entered(second)[-1] == "SkippedAnotherRunInProgress"
    assert steps_entered(aws, second) == []
    assert aws.wait(first)["status"] == "SUCCEEDED"
    assert [r["Arguments"] for r in aws.glue.get_job_runs(JobName=GLUE_JOB)["JobRuns"]] == [
        {"--run_id": "r20261128-g"}
    ]


def test_emr_serverless_branch_starts_the_same_job_with_the_run_id(aws: Aws) -> None:
    from tests.statemachine.conftest import MOTO_VARIANTS

    aws.values["FeaturesRuntime"] = "emr-serverless"
    machine = aws.create_machine("lakedrop-pipeline-emr", PIPELINE_DEFINITION, MOTO_VARIANTS)
    execution = start(aws, machine, "r20261128-i")
    assert aws.wait(execution)["status"] == "SUCCEEDED"
    assert "FeaturesOnEmrServerless" in aws.entered(execution)
    assert steps_entered(aws, execution) == list(STEPS)
    application = aws.values["FeaturesEmrApplicationId"]
    (run,) = aws.emr.list_job_runs(applicationId=application)["jobRuns"]
    described = aws.emr.get_job_run(applicationId=application, jobRunId=run["id"])["jobRun"]
    driver = described["jobDriver"]["sparkSubmit"]
    code = aws.values["FeaturesCodeUri"]
    assert driver["entryPoint"] == f"{code}/job.py"
    assert driver["entryPointArguments"] == [
        "--curated", aws.values["CuratedUri"],
        "--analytics", aws.values["AnalyticsUri"],
        "--run-id", "r20261128-i",
    ]  # fmt: skip
    assert f"spark.submit.pyFiles={code}/glue_jobs.zip" in driver["sparkSubmitParameters"]
    assert aws.glue.get_job_runs(JobName=GLUE_JOB)["JobRuns"] == []
