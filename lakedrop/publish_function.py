"""The state machine's Publish step: the Lambda function ``PublishFunction``.

Invoked with ``{"run_id": …, "training_job_name": …}`` after the training job completed. It
checks the job, downloads its ``model.tar.gz`` and ``output.tar.gz`` and publishes them with
``lakedrop.sagemaker_launch.publish_job`` — ``lakedrop.training.publish``: model, predictions,
summary, metrics, then ``models/_LATEST.json`` in one write. The same code the launcher's
``--publish`` and the local ``lakedrop train`` use; nothing here decides a key.

Configuration (read once per invocation from the environment the template sets):
``ANALYTICS_URI`` (s3://bucket[/prefix]), ``TRAINING_ROLE_ARN``, ``AWS_REGION``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from lakedrop import sagemaker_launch


class PublishEventError(ValueError):
    """The invocation does not name a run and a training job."""


def settings_from_env(environ: Mapping[str, str]) -> sagemaker_launch.LaunchSettings:
    return sagemaker_launch.LaunchSettings(
        analytics_uri=environ["ANALYTICS_URI"],
        role_arn=environ["TRAINING_ROLE_ARN"],
        region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "",
    )


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    run_id, job_name = event.get("run_id"), event.get("training_job_name")
    if not isinstance(run_id, str) or not isinstance(job_name, str):
        raise PublishEventError('expected {"run_id": "...", "training_job_name": "..."}')
    import boto3  # noqa: PLC0415 (the Lambda runtime's; only when invoked)

    settings = settings_from_env(os.environ)
    return sagemaker_launch.publish_job(
        settings, job_name, run_id, boto3.Session(region_name=settings.region or None)
    )
