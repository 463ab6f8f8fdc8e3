"""Lambda entry point: parse the event, then one call into the service per landed object.

Accepted events:
- an SQS batch whose messages carry S3 notifications (the deployed path; failed messages are
  reported back individually so only they are retried and, in the end, dead-lettered),
- an S3 notification invoking the function directly,
- an EventBridge "Object Created" event from S3.

S3 test events and "folder" marker objects are acknowledged and ignored. Keys in S3
notifications are URL-encoded (every record's key is decoded); EventBridge keys are not.
No log line carries a row value or key material: the service returns counts and reasons
built from column names only, and this module logs those.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from ingest import events, layout, manifest_index
from ingest.contracts import ContractRegistry
from ingest.events import EventBridgePublisher
from ingest.keys import key_from_file, key_from_secret
from ingest.pseudonymise import HmacKey
from ingest.service import LandedObject, Options, Outcome, SourceBusy, Zones, ingest_object
from ingest.settings import Settings
from ingest.storage import S3Storage, Storage, open_storage

logger = Logger(service="lakedrop-ingest")
tracer = Tracer(service="lakedrop-ingest")
metrics = Metrics(namespace="lakedrop", service="lakedrop-ingest")
processor = BatchProcessor(event_type=EventType.SQS)


class UnsupportedEvent(ValueError):
    """The event is none of the shapes this function accepts."""


class WrongBucket(ValueError):
    """An event names a bucket other than the configured landing zone."""


@dataclass(frozen=True)
class Runtime:
    """What one execution environment builds once: settings, zones, contracts.

    The key is looked up per object (``key()``): Powertools caches the secret for
    SECRET_MAX_AGE_SECONDS, so a corrected secret reaches warm environments within minutes.
    """

    settings: Settings
    zones: Zones
    key: Callable[[], HmacKey]
    contracts: ContractRegistry
    publisher: EventBridgePublisher | None = None  # EVENT_BUS_NAME set: events are sent


@lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    """Build the runtime on first use (never at import), from the environment."""
    settings = Settings.from_env(os.environ)
    s3 = None
    uris = (settings.landing_uri, settings.curated_uri, settings.quarantine_uri)
    if any(uri.startswith("s3://") for uri in uris):
        import boto3  # noqa: PLC0415 (only when a zone is on S3)

        s3 = boto3.client("s3")
    zones = Zones(*(open_storage(uri, s3) for uri in uris))
    if settings.hmac_key_file is not None:
        key = partial(key_from_file, settings.hmac_key_file)
    else:  # Settings guarantees exactly one of the two
        key = partial(key_from_secret, str(settings.hmac_key_secret_id))
    key()  # fail at the first event if the key is missing, not halfway through a batch
    return Runtime(
        settings,
        zones,
        key,
        ContractRegistry(settings.contracts_dir),
        events.publisher(settings.event_bus_name),
    )


# --- event parsing (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class Announced:
    bucket: str
    obj: LandedObject


def objects_in_s3_notification(notification: dict[str, Any]) -> list[Announced]:
    """Created objects in an S3 notification; [] for a test event. Decodes every record's key."""
    if notification.get("Event") == "s3:TestEvent":
        return []
    records = notification.get("Records")
    if not isinstance(records, list):
        raise UnsupportedEvent("an S3 notification has a Records list")
    found = []
    for record in records:
        if record.get("eventSource") != "aws:s3":
            raise UnsupportedEvent(f"not an S3 record: {record.get('eventSource')!r}")
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record["s3"]
        item = s3["object"]
        found.append(
            Announced(
                s3["bucket"]["name"],
                LandedObject(
                    key=unquote_plus(item["key"]),
                    size=item.get("size"),
                    etag=item.get("eTag"),
                    version_id=item.get("versionId"),
                    sequencer=item.get("sequencer"),
                ),
            )
        )
    return found


def objects_in_eventbridge(event: dict[str, Any]) -> list[Announced]:
    """The object of an EventBridge "Object Created" event (its key is not URL-encoded)."""
    detail = event["detail"]
    item = detail["object"]
    return [
        Announced(
            detail["bucket"]["name"],
            LandedObject(
                key=item["key"],
                size=item.get("size"),
                etag=item.get("etag"),
                version_id=item.get("version-id"),
                sequencer=item.get("sequencer"),
            ),
        )
    ]


def is_sqs_batch(event: dict[str, Any]) -> bool:
    records = event.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def is_eventbridge_object_created(event: dict[str, Any]) -> bool:
    return event.get("source") == "aws.s3" and event.get("detail-type") == "Object Created"


# --- processing -----------------------------------------------------------------------------


def _landing_matches(landing: Storage, bucket: str) -> bool:
    # A local landing zone is one folder: the bucket of a locally made event is informational.
    return not isinstance(landing, S3Storage) or landing.bucket == bucket


@tracer.capture_method
@dataclass(frozen=True)
class Delivery:
    """How this object reached the function: which delivery it is and how long is left."""

    attempt: int = 1  # SQS ApproximateReceiveCount; 1 for a direct invocation
    from_queue: bool = False  # the queue dead-letters after Settings.max_receive_count
    remaining_ms: int | None = None  # the invocation's remaining time when the object starts


def _options(settings: Settings, delivery: Delivery) -> Options:
    deadline = None
    if delivery.remaining_ms is not None:
        budget = delivery.remaining_ms / 1000 - settings.deadline_margin_seconds
        deadline = time.monotonic() + max(budget, 0.0)
    return Options(
        settings.work_dir,
        settings.duckdb_memory_limit,
        settings.duckdb_threads,
        settings.lease_seconds,
        max_object_bytes=settings.max_object_bytes,
        deadline=deadline,
        attempt=delivery.attempt,
        # a direct invocation's retries are not counted here: never quarantined for that
        max_attempts=settings.max_receive_count if delivery.from_queue else None,
    )


def process(
    announced: Announced, runtime: Runtime, delivery: Delivery | None = None
) -> dict[str, Any]:
    obj = announced.obj
    logger.set_correlation_id(obj.key)
    if layout.is_folder_marker(obj.key):
        logger.info("ignored a folder marker", extra={"object_key": obj.key})
        return {"key": obj.key, "status": "ignored"}
    if not _landing_matches(runtime.zones.landing, announced.bucket):
        raise WrongBucket(
            f"event for bucket {announced.bucket!r}, but the landing zone is "
            f"{runtime.zones.landing.uri}"
        )
    settings = runtime.settings
    outcome = ingest_object(
        obj,
        runtime.zones,
        runtime.key(),
        runtime.contracts,
        _options(settings, delivery or Delivery()),
    )
    info = summary(outcome, runtime.zones)
    _record(outcome, info)
    if outcome.manifest_key and outcome.status != "skipped":
        _refresh_manifest_index(runtime.zones.curated)
    # after the manifest is final: the event announces it (a skipped object changed nothing)
    if runtime.publisher is not None and outcome.status != "skipped":
        runtime.publisher.publish(events.detail(outcome.manifest, outcome.manifest_key))
    return info


def _refresh_manifest_index(curated: Storage) -> None:
    """Keep the manifest index current (readers' shortcut); a failure here loses nothing: the
    manifest is written, and the next refresh or a reader's own listing catches up."""
    try:
        if not manifest_index.is_recent(curated, manifest_index.REFRESH_EVERY_S):
            manifest_index.refresh(curated)
    except Exception as exc:  # logged: the object itself is done
        logger.warning("manifest index not refreshed", extra={"error": describe_error(exc)})


def summary(outcome: Outcome, zones: Zones) -> dict[str, Any]:
    """What the function returns and logs per object: counts, places and reasons, no values."""
    manifest = outcome.manifest
    return {
        "key": outcome.key,
        "status": outcome.status,
        "reason": outcome.reason,
        "code": outcome.code,
        "manifest": zones.curated.location(outcome.manifest_key) if outcome.manifest_key else None,
        "rows": manifest.get("rows"),
        "bytes": manifest.get("bytes"),
        "outputs": len(manifest.get("outputs", [])),
        "quarantine": manifest.get("quarantine"),
        "duplicate_of": manifest.get("duplicate_of"),
        "timings_s": manifest.get("timings_s"),
    }


def _record(outcome: Outcome, info: dict[str, Any]) -> None:
    if outcome.status == "quarantined":
        logger.warning("file quarantined", extra=info)
        metrics.add_metric(name="FilesQuarantined", unit=MetricUnit.Count, value=1)
    elif outcome.status == "curated":
        logger.info("file curated", extra=info)
        metrics.add_metric(name="FilesCurated", unit=MetricUnit.Count, value=1)
    elif outcome.status == "duplicate":
        logger.info("file is a duplicate of one already curated", extra=info)
        metrics.add_metric(name="FilesDuplicate", unit=MetricUnit.Count, value=1)
    elif outcome.code in ("unchanged", "superseded"):  # a redelivery or an older upload
        logger.info("file skipped", extra=info)
    else:
        logger.warning("file skipped", extra=info)
    rows = outcome.rows if outcome.status != "skipped" else {}  # a skip counted them before
    for name, field in (
        ("RowsRead", "read"),
        ("RowsWritten", "written"),
        ("RowsRejected", "rejected"),
        ("RowsDuplicate", "duplicates"),
    ):
        if field in rows:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=rows[field])
    size = outcome.manifest.get("bytes") or {}
    if size.get("in") is not None and outcome.status != "skipped":
        metrics.add_metric(name="BytesIn", unit=MetricUnit.Bytes, value=size["in"])
        metrics.add_metric(name="BytesOut", unit=MetricUnit.Bytes, value=size.get("out") or 0)


# Exceptions from these packages name places (buckets, keys, files, variables), never row
# values; any other message (a DuckDB conversion error may quote a cell) is logged by type only.
_SAFE_MESSAGE_PACKAGES = ("botocore", "boto3", "s3transfer", "ingest", "json")


def describe_error(exc: BaseException) -> str:
    """What a log line may say about an exception: its type, and its message when safe."""
    kind = type(exc)
    name = f"{kind.__module__}.{kind.__qualname__}"
    if (
        isinstance(exc, OSError | KeyError)
        or kind.__module__.split(".")[0] in _SAFE_MESSAGE_PACKAGES
    ):
        return f"{name}: {exc}"
    return f"{name} (message withheld: it may quote row values)"


def _sqs_record_handler(record: SQSRecord, lambda_context: LambdaContext) -> list[dict[str, Any]]:
    # until process() names the object, log lines belong to the message
    logger.set_correlation_id(record.message_id)
    try:
        body = json.loads(record.body)
        runtime = get_runtime()
        return [
            process(a, runtime, _delivery(record, lambda_context))
            for a in objects_in_s3_notification(body)
        ]
    except SourceBusy as exc:
        logger.info(
            "object busy; SQS will deliver the message again",
            extra={"message_id": record.message_id, "error": describe_error(exc)},
        )
        raise
    except Exception as exc:
        # BatchProcessor reports the message as failed but logs nothing itself: without this
        # line a message retried into the DLQ would leave no reason in the function's logs
        logger.error(
            "message failed; SQS will deliver it again",
            extra={"message_id": record.message_id, "error": describe_error(exc)},
        )
        raise


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_sqs_batch(event):
        response: dict[str, Any] = process_partial_response(  # type: ignore[assignment]
            event=event, record_handler=_sqs_record_handler, processor=processor, context=context
        )
        return response
    if is_eventbridge_object_created(event):
        announced = objects_in_eventbridge(event)
    elif event.get("Event") == "s3:TestEvent" or "Records" in event:
        announced = objects_in_s3_notification(event)
    else:
        raise UnsupportedEvent(
            "expected an S3 notification, an SQS batch of them "
            "or an EventBridge Object Created event"
        )
    runtime = get_runtime()
    return {
        "results": [
            process(a, runtime, Delivery(remaining_ms=_remaining_ms(context))) for a in announced
        ]
    }


def _remaining_ms(context: LambdaContext | None) -> int | None:
    if context is None:
        return None
    return int(context.get_remaining_time_in_millis())


def _delivery(record: SQSRecord, context: LambdaContext | None) -> Delivery:
    try:
        attempt = int(record.attributes.approximate_receive_count)
    except (KeyError, TypeError, ValueError):
        attempt = 1
    return Delivery(attempt=attempt, from_queue=True, remaining_ms=_remaining_ms(context))
