"""The corpus's keys (issue 14, docs/reliability.md "Bad-input corpus"): landed objects whose
keys hold spaces, Unicode, ``+``, ``%``, already-encoded text, no dataset folder or ``..``
segments, ingested through the Lambda handler with S3 events, against moto.

S3 URL-encodes the key in its notifications as ``quote_plus`` does (space → ``+``, ``+`` →
``%2B``, UTF-8 bytes → ``%XX``); the event is ``events/s3_put.json`` (and its SQS-wrapped
twin) with the key replaced by that form. For each: the outcome, the manifest under the
decoded key, the landed object unchanged, counts that reconcile, and a quarantined file's
untouched copy under the same key in quarantine.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

import pytest

from ingest import layout
from tests.functions.ingest import test_handler
from tests.functions.ingest.test_handler import CURATED, LANDING, QUARANTINE, Lake, invoke
from tests.helpers import load_event

lake = test_handler.lake  # the moto buckets and the function's environment (a fixture)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

HEADER = (
    "transaction_id,customer_id,customer_name,email,phone,event_time,amount,quantity,"
    "category,channel,country,is_refund\n"
)


def data(key: str) -> bytes:
    """Four rows with transaction ids of their own: other keys' files are not duplicates."""
    tag = layout.source_id(key)[:8]
    return (
        HEADER
        + "".join(
            f"{tag}-{i},C{i},김민수,kim@naver.com,010-1234-5678,2025-06-10 10:00:00,1000,1,"
            "식품,online,KR,N\n"
            for i in range(4)
        )
    ).encode("utf-8")


KEYS = [
    # (key as landed, expected status, code)
    ("transactions/export (1).csv", "curated", None),
    ("transactions/거래 내역 6월.csv", "curated", None),
    ("transactions/a+b=c&d.csv", "curated", None),
    ("transactions/100% done.csv", "curated", None),
    ("transactions/already%20encoded.csv", "curated", None),
    ("transactions/café/naïve ümlaut.csv", "curated", None),
    ("transactions/sub folder/deeper/x.csv", "curated", None),
    ("export.csv", "quarantined", "no_dataset"),
    ("customers/x.csv", "quarantined", "unknown_dataset"),
    ("transactions/../x.csv", "quarantined", "no_dataset"),
    ("../transactions/x.csv", "quarantined", "no_dataset"),
    ("transactions/./x.csv", "quarantined", "no_dataset"),
]


def s3_event(key: str, size: int) -> dict[str, Any]:
    event = load_event("s3_put")
    event["Records"][0]["s3"]["object"].update(key=quote_plus(key, safe="/"), size=size)
    return event


@pytest.mark.parametrize(("key", "status", "code"), KEYS, ids=[k for k, _s, _c in KEYS])
def test_a_key_as_s3_sends_it(lake: Lake, key: str, status: str, code: str | None) -> None:
    landed = data(key)
    lake.land(key, landed)
    event = s3_event(key, len(landed))
    assert "%" in event["Records"][0]["s3"]["object"]["key"] or key.isascii()

    (result,) = invoke(event)["results"]

    assert result["key"] == key  # decoded once: "%20" in a key stays "%20"
    assert (result["status"], result["code"]) == (status, code), result["reason"]
    assert lake.read(LANDING, key) == landed
    manifest = lake.manifest(key)
    assert manifest["status"] == status
    rows = manifest.get("rows") or {}
    if status == "curated":
        assert rows["read"] == 4 == rows["written"] + rows["rejected"] + rows["duplicates"]
        assert len(lake.curated_rows([o["key"] for o in manifest["outputs"]])) == 4
    else:
        assert lake.read(QUARANTINE, layout.quarantine_key(key)) == landed
        error = json.loads(lake.read(QUARANTINE, layout.error_key(key)))
        assert error["code"] == code
        # no curated object is named after a key the dataset cannot hold
        assert not [k for k in lake.keys(CURATED) if ".." in k.split("/")]


def test_keys_in_one_sqs_batch_are_each_decoded(lake: Lake) -> None:
    """Powertools' S3Event decodes only the first record's key; every record is decoded here."""
    keys = [k for k, status, _c in KEYS if status == "curated"][:3]
    notification = load_event("s3_put")
    template = notification["Records"][0]
    records = []
    for key in keys:
        lake.land(key, data(key))
        record = json.loads(json.dumps(template))
        record["s3"]["object"].update(key=quote_plus(key, safe="/"), size=len(data(key)))
        records.append(record)
    notification["Records"] = records
    event = load_event("sqs_s3_put")
    message = event["Records"][0]
    message["body"] = json.dumps(notification)
    event["Records"] = [message]

    response = invoke(event)

    assert response == {"batchItemFailures": []}
    for key in keys:
        assert lake.manifest(key)["status"] == "curated"
        assert lake.read(LANDING, key) == data(key)
