"""The sample events in events/ have the shape AWS sends and say what their names promise.

They are what users pass to ``sam local invoke IngestFunction -e events/...`` and what the
handler tests load, so each one is checked twice: with Powertools' data classes (the accessors
the handler uses) and with Powertools' pydantic parser models (which reject a missing or
mistyped field that a data class would only trip over at run time).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import pytest
from aws_lambda_powertools.utilities.data_classes import (
    EventBridgeEvent,
    S3Event,
    S3EventBridgeNotificationEvent,
    SQSEvent,
)
from aws_lambda_powertools.utilities.parser.models import (
    S3EventNotificationEventBridgeModel,
    S3Model,
    S3SqsEventNotificationModel,
)

from tests.helpers import EVENTS_DIR, load_event

LANDING_BUCKET = "lakedrop-landing"
REGION = "ap-northeast-2"
SAMPLE_EVENTS = sorted(p.name for p in EVENTS_DIR.glob("*.json") if p.name != "env.json")


def decoded_keys(event: S3Event) -> list[str]:
    """Every record's key, URL-decoded (S3Event.object_key only decodes the first record)."""
    return [unquote_plus(record.s3.get_object.key) for record in event.records]


# --- every file ----------------------------------------------------------------------------


def test_the_expected_sample_events_exist() -> None:
    assert set(SAMPLE_EVENTS) >= {
        "s3_put.json",
        "s3_put_urlencoded.json",
        "s3_put_folder_marker.json",
        "s3_test_event.json",
        "sqs_s3_put.json",
        "eventbridge_object_created.json",
    }


@pytest.mark.parametrize("name", SAMPLE_EVENTS)
def test_event_file_names_follow_the_convention(name: str) -> None:
    # events/<source>_<event>[_<variant>].json
    assert re.fullmatch(r"(s3|sqs|eventbridge)_[a-z0-9]+(_[a-z0-9]+)*\.json", name)


@pytest.mark.parametrize("name", SAMPLE_EVENTS)
def test_every_event_is_about_the_landing_bucket_in_the_documented_region(name: str) -> None:
    text = json.dumps(load_event(name), ensure_ascii=False)
    assert LANDING_BUCKET in text
    regions = set(re.findall(r"\b(?:af|ap|ca|cn|eu|il|me|mx|sa|us)-[a-z]+-\d\b", text))
    assert regions <= {REGION}


def test_load_event_accepts_the_name_with_or_without_suffix_and_returns_a_fresh_copy() -> None:
    first = load_event("s3_put")
    first["Records"].clear()
    assert load_event("s3_put.json")["Records"]


def test_load_event_names_a_missing_event() -> None:
    with pytest.raises(FileNotFoundError, match="no_such_event"):
        load_event("no_such_event")


# --- direct S3 notifications ---------------------------------------------------------------


def test_s3_put_is_one_object_created_record() -> None:
    raw = load_event("s3_put")
    S3Model.model_validate(raw)
    event = S3Event(raw)

    records = list(event.records)
    assert len(records) == 1
    record = records[0]
    assert record.event_source == "aws:s3"
    assert record.event_name == "ObjectCreated:Put"
    assert record.aws_region == REGION
    assert record.s3.bucket.name == LANDING_BUCKET
    assert record.s3.bucket.arn == f"arn:aws:s3:::{LANDING_BUCKET}"
    assert decoded_keys(event) == ["transactions/2026-11-27.csv"]
    obj = record.s3.get_object
    assert obj.size > 0
    assert re.fullmatch(r"[0-9a-f]{32}", obj.etag)
    assert re.fullmatch(r"[0-9A-F]+", obj.sequencer)


def test_s3_put_urlencoded_key_is_encoded_the_way_s3_encodes_it() -> None:
    raw = load_event("s3_put_urlencoded")
    S3Model.model_validate(raw)
    event = S3Event(raw)
    expected = "transactions/거래 내역 2026-11.csv"

    raw_key = raw["Records"][0]["s3"]["object"]["key"]
    # S3 form-encodes keys in notifications: spaces become "+", UTF-8 bytes become %XX,
    # "/" stays as it is.
    assert raw_key == quote_plus(expected, safe="/")
    assert " " not in raw_key
    assert "+" in raw_key
    assert raw_key.isascii()
    assert decoded_keys(event) == [expected]
    assert event.object_key == expected
    assert event.bucket_name == LANDING_BUCKET


def test_s3_put_folder_marker_is_an_empty_object_whose_key_ends_with_a_slash() -> None:
    raw = load_event("s3_put_folder_marker")
    S3Model.model_validate(raw)
    event = S3Event(raw)

    assert decoded_keys(event) == ["transactions/"]
    obj = event.record.s3.get_object
    assert obj.size == 0
    assert obj.etag == hashlib.md5(b"", usedforsecurity=False).hexdigest()
    assert event.record.event_name.startswith("ObjectCreated:")


def test_s3_test_event_is_not_a_records_event() -> None:
    raw = load_event("s3_test_event")

    # S3 sends this once, when the notification is configured; it has no Records, so a
    # handler that looks for Records must recognise it instead of failing on it.
    assert "Records" not in raw
    assert raw["Service"] == "Amazon S3"
    assert raw["Event"] == "s3:TestEvent"
    assert raw["Bucket"] == LANDING_BUCKET
    assert {"Time", "RequestId", "HostId"} <= raw.keys()
    with pytest.raises(ValueError):
        S3Model.model_validate(raw)


# --- S3 notifications through the ingest queue ---------------------------------------------


def test_sqs_s3_put_carries_two_s3_notifications() -> None:
    raw = load_event("sqs_s3_put")
    S3SqsEventNotificationModel.model_validate(raw)
    event = SQSEvent(raw)

    records = list(event.records)
    assert len(records) == 2
    assert len({r.message_id for r in records}) == 2
    assert len({r.receipt_handle for r in records}) == 2

    keys: list[str] = []
    for record in records:
        assert record.event_source == "aws:sqs"
        assert record.aws_region == REGION
        assert re.fullmatch(
            rf"arn:aws:sqs:{REGION}:\d{{12}}:lakedrop-IngestQueue-\w+", record.event_source_arn
        )
        assert record.attributes.approximate_receive_count == "1"
        assert int(record.attributes.sent_timestamp) > 0
        # what SQS computes for every message: the MD5 of the body as sent
        assert (
            record.md5_of_body
            == hashlib.md5(record.body.encode("utf-8"), usedforsecurity=False).hexdigest()
        )

        nested = record.decoded_nested_s3_event
        assert nested.bucket_name == LANDING_BUCKET
        keys.extend(decoded_keys(nested))

    assert keys == ["transactions/2026-11-27.csv", "transactions/2026-11-28.csv.gz"]


def test_sqs_messages_hold_the_same_notification_as_the_direct_s3_event() -> None:
    first_body: dict[str, Any] = json.loads(load_event("sqs_s3_put")["Records"][0]["body"])
    assert first_body == load_event("s3_put")


# --- EventBridge ---------------------------------------------------------------------------


def test_eventbridge_object_created_names_the_landing_object() -> None:
    raw = load_event("eventbridge_object_created")
    S3EventNotificationEventBridgeModel.model_validate(raw)
    generic = EventBridgeEvent(raw)
    event = S3EventBridgeNotificationEvent(raw)

    assert generic.source == "aws.s3"
    assert generic.detail_type == "Object Created"
    assert generic.region == REGION
    assert generic.resources == [f"arn:aws:s3:::{LANDING_BUCKET}"]
    assert event.detail.bucket.name == LANDING_BUCKET
    assert event.detail.reason == "PutObject"
    assert (event.detail.object.size or 0) > 0
    # EventBridge carries the key as stored (AWS documents URL-encoding only for the direct
    # notification format): the raw field already is the key.
    assert raw["detail"]["object"]["key"] == "transactions/2026-11-27.csv"
    assert event.detail.object.key == "transactions/2026-11-27.csv"
