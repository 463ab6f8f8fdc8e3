"""The Lambda handler, invoked with the very files in ``events/`` against moto.

Each test builds the three buckets and the key secret in moto (region ap-northeast-2), configures
the function through its environment variables as template.yaml does, lands real objects and
calls ``ingest.handler.lambda_handler``. What the function wrote is read back from the buckets:
manifests as JSON, curated Parquet with pyarrow. Expected numbers are counted from the landed
files themselves, not taken from the code under test.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import hmac
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import duckdb
import pyarrow.parquet as pq
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError
from moto import mock_aws

from ingest import handler
from tests.helpers import load_event

# Powertools warns when an invocation adds no metric (test events, failures): expected here
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

LANDING = "lakedrop-landing"
CURATED = "lakedrop-curated"
QUARANTINE = "lakedrop-quarantine"
# 64 characters, as the template's generated secret: the pseudonyms below are checked with it
KEY_MATERIAL = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

# the objects the sample events name
PUT_KEY = "transactions/2026-11-27.csv"  # s3_put, eventbridge_object_created, 1st SQS message
GZ_KEY = "transactions/2026-11-28.csv.gz"  # 2nd SQS message
KOREAN_KEY = "transactions/거래 내역 2026-11.csv"  # s3_put_urlencoded (URL-encoded there)


@dataclass(frozen=True)
class FakeContext:
    """The Lambda context attributes Powertools reads."""

    function_name: str = "lakedrop-IngestFunction-Test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 3008
    invoked_function_arn: str = (
        "arn:aws:lambda:ap-northeast-2:123456789012:function:lakedrop-IngestFunction-Test"
    )
    aws_request_id: str = "5e2f7c1a-9b3d-4e8f-a6c2-0d1b3a5c7e9f"
    log_group_name: str = "/aws/lambda/lakedrop-IngestFunction-Test"
    log_stream_name: str = "2026/11/27/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def invoke(event: dict[str, Any]) -> Any:
    return handler.lambda_handler(event, FakeContext())


@dataclass(frozen=True)
class Sample:
    """The small generated CSV, with what the tests expect of it (counted here, independently)."""

    path: Path
    data: bytes
    rows: int
    customer_ids: frozenset[str]


@pytest.fixture(scope="module")
def sample(small_transactions_csv: Path) -> Sample:
    data = small_transactions_csv.read_bytes()
    reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
    records = list(reader)
    return Sample(
        small_transactions_csv,
        data,
        len(records),
        frozenset(r["customer_id"].strip() for r in records),
    )


class Lake:
    """The moto buckets the function works on, with helpers to land and read objects."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def land(self, key: str, data: bytes, **extra: Any) -> None:
        self.s3.put_object(Bucket=LANDING, Key=key, Body=data, **extra)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def manifest(self, source_key: str) -> dict[str, Any]:
        """The one manifest in the curated zone whose source is ``source_key``."""
        found: list[dict[str, Any]] = []
        for key in self.keys(CURATED, "_manifests/"):
            manifest = json.loads(self.read(CURATED, key))
            if manifest["source"]["key"] == source_key:
                found.append(manifest)
        assert len(found) == 1, f"{len(found)} manifests for {source_key!r}"
        return found[0]

    def parquet_keys(self) -> list[str]:
        return [k for k in self.keys(CURATED, "transactions/") if k.endswith(".parquet")]

    def curated_rows(self, keys: list[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for key in keys:
            rows += pq.read_table(io.BytesIO(self.read(CURATED, key))).to_pylist()
        return rows


@pytest.fixture
def lake(aws_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Lake]:
    """Buckets and key secret in moto; the function configured as template.yaml configures it."""
    with mock_aws():
        s3: Any = boto3.client("s3", region_name=aws_env)
        for bucket in (LANDING, CURATED, QUARANTINE):
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": aws_env}
            )
        secret = boto3.client("secretsmanager", region_name=aws_env).create_secret(
            Name="lakedrop/HmacKeySecret", SecretString=KEY_MATERIAL
        )
        work = tmp_path / "work"
        work.mkdir()
        for name, value in {
            "LANDING_URI": f"s3://{LANDING}",
            "CURATED_URI": f"s3://{CURATED}",
            "QUARANTINE_URI": f"s3://{QUARANTINE}",
            "HMAC_KEY_SECRET_ID": secret["ARN"],
            "DUCKDB_MEMORY_LIMIT": "500MB",
            "DUCKDB_THREADS": "2",
            "WORK_DIR": str(work),
            "POWERTOOLS_SERVICE_NAME": "lakedrop-ingest",
            "POWERTOOLS_METRICS_NAMESPACE": "lakedrop",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("HMAC_KEY_FILE", raising=False)
        # the runtime (and Powertools' secret cache) live for an execution environment
        handler.get_runtime.cache_clear()
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        yield Lake(s3)
        handler.get_runtime.cache_clear()
        parameters.clear_caches()  # type: ignore[no-untyped-call]
    assert not list(work.iterdir()), "the function left files in WORK_DIR"


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the function's Powertools logger writes (its handler keeps the stream it was given)."""
    stream = io.StringIO()
    monkeypatch.setattr(handler.logger.registered_handler, "stream", stream)
    return stream


def log_records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def emf_metrics(stdout: str) -> dict[str, float]:
    """The metric values of the one EMF document Powertools printed for an invocation."""
    documents = [
        d
        for d in (json.loads(line) for line in stdout.splitlines() if line.startswith("{"))
        if "_aws" in d
    ]
    assert len(documents) == 1, stdout
    document = documents[0]
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "lakedrop"
    values = {}
    for metric in directive["Metrics"]:
        value = document[metric["Name"]]
        values[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return values


def expected_pseudonym(value: str) -> str:
    """HMAC-SHA256 with the secret's key, by Python's hmac, truncated to 128 bits."""
    digest = hmac.new(KEY_MATERIAL.encode(), value.encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()[:32]


def sqs_event_with(bodies: list[dict[str, Any] | None]) -> dict[str, Any]:
    """sqs_s3_put.json with message bodies replaced where ``bodies`` has one (None: keep)."""
    event = load_event("sqs_s3_put")
    for record, body in zip(event["Records"], bodies, strict=True):
        if body is not None:
            record["body"] = json.dumps(body)
    return event


def message_ids(event: dict[str, Any]) -> list[str]:
    return [r["messageId"] for r in event["Records"]]


def assert_curated(lake: Lake, key: str, sample: Sample) -> dict[str, Any]:
    """``key`` was curated: manifest, reconciled counts, Parquet with every row, pseudonymised."""
    manifest = lake.manifest(key)
    assert manifest["status"] == "curated"
    rows = manifest["rows"]
    assert rows["read"] == sample.rows
    assert rows["read"] == rows["written"] + rows["rejected"]
    assert rows["rejected"] == 0  # the generated file is clean
    output_keys = sorted(o["key"] for o in manifest["outputs"])
    assert output_keys
    assert all(lake.s3.head_object(Bucket=CURATED, Key=k) for k in output_keys)
    parquet = lake.curated_rows(output_keys)
    assert len(parquet) == rows["written"] == sample.rows
    customers = {r["customer_id"] for r in parquet}
    assert customers == {expected_pseudonym(c) for c in sample.customer_ids}
    return manifest


# --- S3 notification invoking the function directly ----------------------------------------


def test_s3_put_event_curates_the_object(lake: Lake, sample: Sample) -> None:
    lake.land(PUT_KEY, sample.data)

    response = invoke(load_event("s3_put"))

    (result,) = response["results"]
    assert result["key"] == PUT_KEY
    assert result["status"] == "curated"
    manifest = assert_curated(lake, PUT_KEY, sample)
    assert result["manifest"].startswith(f"s3://{CURATED}/_manifests/transactions/")
    assert result["outputs"] == len(manifest["outputs"])
    assert manifest["source"]["size"] == len(sample.data)  # from S3, not the event's 5 MB
    assert set(lake.parquet_keys()) == {o["key"] for o in manifest["outputs"]}
    assert lake.keys(QUARANTINE) == []


def test_a_repeated_event_replaces_instead_of_duplicating(lake: Lake, sample: Sample) -> None:
    lake.land(PUT_KEY, sample.data)
    invoke(load_event("s3_put"))
    first = lake.keys(CURATED)

    invoke(load_event("s3_put"))  # S3 delivers at least once

    assert lake.keys(CURATED) == first
    assert len(lake.curated_rows(lake.parquet_keys())) == sample.rows


def test_url_encoded_key_is_processed_under_the_decoded_key(
    lake: Lake, sample: Sample, logs: io.StringIO
) -> None:
    event = load_event("s3_put_urlencoded")
    assert event["Records"][0]["s3"]["object"]["key"] != KOREAN_KEY  # the file is encoded
    lake.land(KOREAN_KEY, sample.data)

    (result,) = invoke(event)["results"]

    assert result["key"] == KOREAN_KEY
    assert result["status"] == "curated"
    manifest = assert_curated(lake, KOREAN_KEY, sample)
    assert manifest["source"]["uri"] == f"s3://{LANDING}/{KOREAN_KEY}"
    curated_lines = [r for r in log_records(logs) if r.get("message") == "file curated"]
    assert [r["correlation_id"] for r in curated_lines] == [KOREAN_KEY]


def test_one_invocation_emits_its_metrics_and_logs_by_key(
    lake: Lake, sample: Sample, logs: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    lake.land(PUT_KEY, sample.data)
    capsys.readouterr()

    invoke(load_event("s3_put"))

    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["FilesCurated"] == 1
    assert metrics["RowsRead"] == sample.rows
    assert metrics["RowsWritten"] == sample.rows
    assert metrics["RowsRejected"] == 0
    assert metrics["BytesIn"] == len(sample.data)
    assert "FilesQuarantined" not in metrics

    records = log_records(logs)
    (curated,) = [r for r in records if r["message"] == "file curated"]
    assert curated["correlation_id"] == PUT_KEY
    assert curated["function_request_id"] == FakeContext.aws_request_id
    assert curated["rows"]["written"] == sample.rows
    text = logs.getvalue()
    assert KEY_MATERIAL not in text
    leaked = [c for c in sample.customer_ids if c in text]
    assert leaked == [], "customer ids in the logs"


def test_rows_that_cannot_be_typed_are_counted_and_set_aside(lake: Lake, sample: Sample) -> None:
    rows = list(csv.reader(io.StringIO(sample.data.decode("utf-8"), newline="")))
    header, body = rows[0], rows[1:]
    amount = header.index("amount")
    broken = range(5, 2_000, 200)  # 10 rows, 0.5 %: under the contract's 5 % limit
    for i in broken:
        body[i][amount] = "twelve thousand"
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows([header, *body])
    lake.land(PUT_KEY, out.getvalue().encode("utf-8"))

    (result,) = invoke(load_event("s3_put"))["results"]

    assert result["status"] == "curated"
    manifest = lake.manifest(PUT_KEY)
    assert manifest["rows"]["read"] == len(body)
    assert manifest["rows"]["rejected"] == len(broken)
    assert manifest["rows"]["written"] == len(body) - len(broken)
    output_keys = [o["key"] for o in manifest["outputs"]]
    assert len(lake.curated_rows(output_keys)) == len(body) - len(broken)
    rejects = lake.read(QUARANTINE, f"{PUT_KEY}.rejected-rows.jsonl").decode().splitlines()
    assert len(rejects) == len(broken)
    assert lake.keys(QUARANTINE) == [f"{PUT_KEY}.rejected-rows.jsonl"]


def test_binary_garbage_is_quarantined_not_failed(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "transactions/garbage.csv"
    garbage = random.Random(3).randbytes(20_000) + b"\x00" * 64
    lake.land(key, garbage)
    event = load_event("s3_put")
    event["Records"][0]["s3"]["object"].update(key=quote_plus(key, safe="/"), size=len(garbage))
    capsys.readouterr()

    (result,) = invoke(event)["results"]

    assert result["status"] == "quarantined"
    assert result["reason"]
    assert result["code"]
    assert lake.read(QUARANTINE, key) == garbage  # an untouched copy
    error = json.loads(lake.read(QUARANTINE, f"{key}.error.json"))
    assert error["status"] == "quarantined"
    assert error["reason"] == result["reason"]
    assert error["source"]["key"] == key
    manifest = lake.manifest(key)
    assert manifest["status"] == "quarantined"
    assert manifest["outputs"] == []
    assert lake.parquet_keys() == []
    assert lake.read(LANDING, key) == garbage  # landing is never modified
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["FilesQuarantined"] == 1
    assert "FilesCurated" not in metrics


def test_missing_object_is_skipped(lake: Lake) -> None:
    (result,) = invoke(load_event("s3_put"))["results"]  # nothing landed: deleted since

    assert result["status"] == "skipped"
    assert result["key"] == PUT_KEY
    assert lake.keys(CURATED) == []
    assert lake.keys(QUARANTINE) == []


@pytest.mark.parametrize(
    ("name", "results"),
    [
        ("s3_test_event", []),
        ("s3_put_folder_marker", [{"key": "transactions/", "status": "ignored"}]),
    ],
)
def test_test_event_and_folder_marker_write_nothing(
    lake: Lake, name: str, results: list[dict[str, str]]
) -> None:
    lake.land("transactions/", b"")  # the console's "Create folder"

    response = invoke(load_event(name))

    assert response == {"results": results}
    assert lake.keys(CURATED) == []
    assert lake.keys(QUARANTINE) == []


def test_event_for_another_bucket_is_an_error(lake: Lake, sample: Sample) -> None:
    lake.land(PUT_KEY, sample.data)
    event = load_event("s3_put")
    event["Records"][0]["s3"]["bucket"].update(
        name="someone-elses-bucket", arn="arn:aws:s3:::someone-elses-bucket"
    )

    with pytest.raises(handler.WrongBucket, match="someone-elses-bucket"):
        invoke(event)
    assert lake.keys(CURATED) == []


@pytest.mark.parametrize(
    "event",
    [
        {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}},
        {"Records": [{"eventSource": "aws:sns", "Sns": {"Message": "{}"}}]},
        {},
    ],
    ids=["schedule", "sns", "empty"],
)
def test_unsupported_event_is_a_clear_error(lake: Lake, event: dict[str, Any]) -> None:
    with pytest.raises(handler.UnsupportedEvent, match=r"S3|SQS|EventBridge"):
        invoke(event)


def test_infrastructure_failure_propagates(lake: Lake, sample: Sample) -> None:
    lake.land(PUT_KEY, sample.data)
    lake.s3.delete_bucket(Bucket=CURATED)

    with pytest.raises(ClientError) as caught:
        invoke(load_event("s3_put"))

    assert caught.value.response["Error"]["Code"] == "NoSuchBucket"
    assert lake.keys(QUARANTINE) == []  # not mistaken for a problem with the file


# --- EventBridge -----------------------------------------------------------------------------


def test_eventbridge_object_created_is_processed(lake: Lake, sample: Sample) -> None:
    lake.land(PUT_KEY, sample.data)

    (result,) = invoke(load_event("eventbridge_object_created"))["results"]

    assert result["status"] == "curated"
    manifest = assert_curated(lake, PUT_KEY, sample)
    assert manifest["source"]["sequencer"] == "0069289A3E5C1D7F42"


# --- SQS batches (the deployed path) ---------------------------------------------------------


def test_sqs_batch_processes_every_message(lake: Lake, sample: Sample) -> None:
    lake.land(PUT_KEY, sample.data)
    lake.land(GZ_KEY, gzip.compress(sample.data))

    response = invoke(load_event("sqs_s3_put"))

    assert response == {"batchItemFailures": []}
    assert_curated(lake, PUT_KEY, sample)
    # the .gz holds the same transactions: processed, and every row counted as a duplicate
    gz = lake.manifest(GZ_KEY)
    assert gz["status"] == "curated"
    assert gz["format"]["compression"] == "gzip"
    assert gz["rows"] == {
        "read": sample.rows,
        "written": 0,
        "rejected": 0,
        "lines_rejected": 0,
        "duplicates": sample.rows,
    }
    assert gz["duplicates"]["identical"] == sample.rows
    assert gz["duplicates"]["earlier"] == [
        {"source_id": lake.manifest(PUT_KEY)["source_id"], "key": PUT_KEY, "rows": sample.rows}
    ]
    assert gz["outputs"] == []
    assert len(lake.curated_rows(lake.parquet_keys())) == sample.rows


def test_sqs_message_failing_on_storage_is_reported_and_others_processed(
    lake: Lake, sample: Sample, logs: io.StringIO
) -> None:
    event = load_event("sqs_s3_put")
    lake.land(PUT_KEY, sample.data)
    # archived by a lifecycle rule: S3 refuses to GET it until restored (InvalidObjectState),
    # a storage failure to retry later, nothing wrong with the file itself
    lake.land(GZ_KEY, gzip.compress(sample.data), StorageClass="GLACIER")

    response = invoke(event)

    assert response == {"batchItemFailures": [{"itemIdentifier": message_ids(event)[1]}]}
    assert_curated(lake, PUT_KEY, sample)
    assert len(lake.keys(CURATED, "_manifests/")) == 1  # no manifest claims the .gz is done
    assert lake.keys(QUARANTINE) == []  # not quarantined: the message will be retried
    (failed,) = [r for r in log_records(logs) if r["level"] == "ERROR"]
    assert failed["correlation_id"] == GZ_KEY
    assert failed["message_id"] == message_ids(event)[1]
    assert "InvalidObjectState" in failed["error"]


def test_sqs_batch_failing_entirely_raises_for_a_retry(lake: Lake, sample: Sample) -> None:
    lake.land(PUT_KEY, sample.data)
    lake.land(GZ_KEY, gzip.compress(sample.data))
    lake.s3.delete_bucket(Bucket=CURATED)

    with pytest.raises(BatchProcessingError):
        invoke(load_event("sqs_s3_put"))
    assert lake.keys(QUARANTINE) == []


def test_sqs_missing_object_is_skipped_not_failed(lake: Lake, sample: Sample) -> None:
    lake.land(PUT_KEY, sample.data)  # the .gz of the second message is gone

    response = invoke(load_event("sqs_s3_put"))

    assert response == {"batchItemFailures": []}
    assert_curated(lake, PUT_KEY, sample)
    assert len(lake.keys(CURATED, "_manifests/")) == 1


def test_sqs_test_event_message_is_acknowledged(lake: Lake, sample: Sample) -> None:
    # S3 sends s3:TestEvent to the queue when the notification is configured
    event = sqs_event_with([load_event("s3_test_event"), None])
    lake.land(GZ_KEY, gzip.compress(sample.data))

    response = invoke(event)

    assert response == {"batchItemFailures": []}
    assert_curated(lake, GZ_KEY, sample)
    assert len(lake.keys(CURATED, "_manifests/")) == 1


def test_sqs_message_that_is_not_an_s3_notification_fails_alone(
    lake: Lake, sample: Sample, logs: io.StringIO
) -> None:
    event = sqs_event_with([{"hello": "world"}, None])
    lake.land(GZ_KEY, gzip.compress(sample.data))

    response = invoke(event)

    assert response == {"batchItemFailures": [{"itemIdentifier": message_ids(event)[0]}]}
    assert_curated(lake, GZ_KEY, sample)
    (failed,) = [r for r in log_records(logs) if r["level"] == "ERROR"]
    assert failed["correlation_id"] == failed["message_id"] == message_ids(event)[0]
    assert "UnsupportedEvent" in failed["error"]
    (curated,) = [r for r in log_records(logs) if r["message"] == "file curated"]
    assert curated["correlation_id"] == GZ_KEY


def test_errors_are_described_without_row_values() -> None:
    with duckdb.connect() as con, pytest.raises(duckdb.Error) as conversion:
        con.execute("SELECT 'Kim Min-jun 010-1234-5678'::INTEGER")
    assert "Kim" in str(conversion.value)  # DuckDB quotes the value...

    described = handler.describe_error(conversion.value)

    assert "Kim" not in described  # ...the log line does not
    assert "duckdb" in described
    missing = ClientError({"Error": {"Code": "NoSuchBucket", "Message": "gone"}}, "GetObject")
    assert "NoSuchBucket" in handler.describe_error(missing)
    assert "'Records'" in handler.describe_error(KeyError("Records"))


# --- versions and concurrent deliveries (issue 10) -------------------------------------------


def _put_event_for(version_id: str, sequencer: str) -> dict[str, Any]:
    event = load_event("s3_put")
    item = event["Records"][0]["s3"]["object"]
    item.update(versionId=version_id, sequencer=sequencer)
    return event


def test_the_version_the_event_names_is_ingested_and_an_older_one_is_not(
    lake: Lake, sample: Sample
) -> None:
    lake.s3.put_bucket_versioning(Bucket=LANDING, VersioningConfiguration={"Status": "Enabled"})
    old = lake.s3.put_object(Bucket=LANDING, Key=PUT_KEY, Body=b"transaction_id\nnot the file\n")
    new = lake.s3.put_object(Bucket=LANDING, Key=PUT_KEY, Body=sample.data)

    # the newer upload's event is processed first; then the older one's arrives
    (first,) = invoke(_put_event_for(new["VersionId"], "0069289A3E5C1D7F50"))["results"]
    (late,) = invoke(_put_event_for(old["VersionId"], "0069289A3E5C1D7F42"))["results"]

    assert first["status"] == "curated"
    assert (late["status"], late["code"]) == ("skipped", "superseded")
    manifest = assert_curated(lake, PUT_KEY, sample)
    assert manifest["source"]["version_id"] == new["VersionId"]


def test_an_event_for_a_version_already_overwritten_is_skipped(lake: Lake, sample: Sample) -> None:
    lake.s3.put_bucket_versioning(Bucket=LANDING, VersioningConfiguration={"Status": "Enabled"})
    old = lake.s3.put_object(Bucket=LANDING, Key=PUT_KEY, Body=sample.data)
    lake.s3.put_object(Bucket=LANDING, Key=PUT_KEY, Body=sample.data + b"")  # a re-upload

    (result,) = invoke(_put_event_for(old["VersionId"], "0069289A3E5C1D7F42"))["results"]

    # the newer version has its own event: this one publishes nothing
    assert (result["status"], result["code"]) == ("skipped", "superseded")
    assert lake.keys(CURATED, "_manifests/") == []


def test_a_message_for_an_object_being_ingested_is_retried(lake: Lake, sample: Sample) -> None:
    from ingest import layout

    lake.land(PUT_KEY, sample.data)
    lake.land(GZ_KEY, gzip.compress(sample.data))
    # another invocation holds the lease on the first message's object
    lock = layout.lock_key("transactions", layout.source_id(PUT_KEY))
    lake.s3.put_object(Bucket=CURATED, Key=lock, Body=json.dumps({"token": "x", "expires_at": 4e9}))
    event = load_event("sqs_s3_put")

    response = invoke(event)

    assert response == {"batchItemFailures": [{"itemIdentifier": message_ids(event)[0]}]}
    held = json.loads(lake.read(CURATED, lock))
    assert held["token"] == "x"  # noqa: S105 (a lease holder id): not taken, not removed
    assert lake.manifest(GZ_KEY)["status"] == "curated"


# --- faults (issue 14): retried while it may pass, quarantined on the last delivery ----------


def _sqs_first_message(attempt: int) -> dict[str, Any]:
    """sqs_s3_put.json's first message alone, as SQS delivers it the ``attempt``-th time."""
    event = load_event("sqs_s3_put")
    event["Records"] = event["Records"][:1]
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = str(attempt)
    return event


def _fail_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest import service
    from ingest.transform import TransformFailed

    def out_of_memory(*_args: Any, **_kwargs: Any) -> None:
        raise TransformFailed("DuckDB failed: Out of Memory Error: could not allocate block")

    monkeypatch.setattr(service, "transform", out_of_memory)


def test_out_of_memory_is_retried_then_quarantined_on_the_last_delivery(
    lake: Lake, sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.land(PUT_KEY, sample.data)
    _fail_conversion(monkeypatch)

    for attempt in (1, 4):  # of the queue's 5 (MAX_RECEIVE_COUNT's default)
        with pytest.raises(BatchProcessingError):  # the batch's one message failed: retried
            invoke(_sqs_first_message(attempt))
        assert lake.keys(CURATED, "_manifests/") == []  # nothing published, nothing claimed
        assert lake.keys(QUARANTINE) == []

    assert invoke(_sqs_first_message(5)) == {"batchItemFailures": []}
    manifest = lake.manifest(PUT_KEY)
    assert (manifest["status"], manifest["code"]) == ("quarantined", "exhausted")
    assert "on 5 attempt(s)" in manifest["reason"]
    assert "Out of Memory" in manifest["reason"]
    assert lake.read(QUARANTINE, PUT_KEY) == sample.data  # the untouched copy
    assert lake.read(LANDING, PUT_KEY) == sample.data  # and the source is still there


def test_a_full_tmp_is_retried_then_quarantined(
    lake: Lake, sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from ingest.storage import S3Storage

    lake.land(PUT_KEY, sample.data)

    def disk_full(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(S3Storage, "download", disk_full)
    with pytest.raises(BatchProcessingError):
        invoke(_sqs_first_message(2))
    assert invoke(_sqs_first_message(5)) == {"batchItemFailures": []}
    manifest = lake.manifest(PUT_KEY)
    assert manifest["code"] == "exhausted"
    assert "more temporary disk than the function has" in manifest["reason"]


def test_a_file_over_the_size_limit_is_quarantined_unread(
    lake: Lake, sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest.storage import S3Storage

    monkeypatch.setenv("MAX_OBJECT_BYTES", str(len(sample.data) - 1))
    lake.land(PUT_KEY, sample.data)
    downloads: list[str] = []
    original = S3Storage.download
    monkeypatch.setattr(
        S3Storage,
        "download",
        lambda self, key, *a: downloads.append(key) or original(self, key, *a),
    )
    event = load_event("s3_put")
    event["Records"][0]["s3"]["object"]["size"] = len(sample.data)  # as S3 announces it

    (result,) = invoke(event)["results"]

    assert (result["status"], result["code"]) == ("quarantined", "too_large")
    assert f"the file is {len(sample.data):,} bytes" in result["reason"]
    assert downloads == []  # not downloaded: it would not fit
    assert lake.read(QUARANTINE, PUT_KEY) == sample.data
    assert lake.read(LANDING, PUT_KEY) == sample.data


def test_the_deadline_stops_the_work_retries_once_then_quarantines(
    lake: Lake, sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the invocation has 900 s left and keeps 900 s for reporting: the deadline is now
    monkeypatch.setenv("DEADLINE_MARGIN_SECONDS", "900")
    lake.land(PUT_KEY, sample.data)

    with pytest.raises(BatchProcessingError):
        invoke(_sqs_first_message(1))
    assert lake.keys(CURATED, "_manifests/") == []

    assert invoke(_sqs_first_message(2)) == {"batchItemFailures": []}  # missed twice: given up
    manifest = lake.manifest(PUT_KEY)
    assert manifest["code"] == "exhausted"
    assert "did not finish within the function's time limit" in manifest["reason"]


def test_secrets_manager_unavailable_fails_the_message_and_a_retry_succeeds(
    lake: Lake, sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import EndpointConnectionError

    lake.land(PUT_KEY, sample.data)
    real = handler.key_from_secret

    def unreachable(*_args: Any, **_kwargs: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://secretsmanager.example")

    monkeypatch.setattr(handler, "key_from_secret", unreachable)
    with pytest.raises(BatchProcessingError):
        invoke(_sqs_first_message(1))
    assert lake.keys(CURATED) == [] and lake.keys(QUARANTINE) == []

    monkeypatch.setattr(handler, "key_from_secret", real)
    handler.get_runtime.cache_clear()  # a new execution environment, or the secret back
    assert invoke(_sqs_first_message(2)) == {"batchItemFailures": []}
    assert_curated(lake, PUT_KEY, sample)


def test_a_re_upload_while_the_first_is_still_processing_ends_with_the_new_version(
    lake: Lake, sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest import service

    lake.s3.put_bucket_versioning(Bucket=LANDING, VersioningConfiguration={"Status": "Enabled"})
    first = lake.s3.put_object(Bucket=LANDING, Key=PUT_KEY, Body=sample.data)
    smaller = b"".join(sample.data.splitlines(keepends=True)[:11])  # header + 10 rows
    real_transform = service.transform
    second: dict[str, Any] = {}

    def re_uploaded_meanwhile(*args: Any, **kwargs: Any) -> Any:
        if not second:  # while the first upload is being converted, a second one lands
            second.update(lake.s3.put_object(Bucket=LANDING, Key=PUT_KEY, Body=smaller))
            event = _sqs_first_message(1)
            body = json.loads(event["Records"][0]["body"])
            body["Records"][0]["s3"]["object"].update(
                versionId=second["VersionId"], sequencer="0069289A3E5C1D7F99"
            )
            event["Records"][0]["body"] = json.dumps(body)
            second["event"] = event
            with pytest.raises(BatchProcessingError):  # busy: its message comes back later
                invoke(event)
        return real_transform(*args, **kwargs)

    monkeypatch.setattr(service, "transform", re_uploaded_meanwhile)
    event = _put_event_for(first["VersionId"], "0069289A3E5C1D7F42")
    (result,) = invoke(event)["results"]
    assert result["status"] == "curated"  # the first finished with what it had read
    assert lake.manifest(PUT_KEY)["source"]["version_id"] == first["VersionId"]

    assert invoke(second["event"]) == {"batchItemFailures": []}  # the redelivery
    manifest = lake.manifest(PUT_KEY)
    assert manifest["source"]["version_id"] == second["VersionId"]
    assert manifest["rows"]["written"] == 10
    assert len(lake.curated_rows(lake.parquet_keys())) == 10  # nothing of the first is left
