"""Many files landing at once: every one processed exactly once, counted, timed.

    .venv/bin/python benchmarks/many_files.py                        # 1,000 files, moto server
    .venv/bin/python benchmarks/many_files.py --files 200 --local    # the local lake as well

The deployed path, end to end on this machine: a moto server (S3, SQS, Secrets Manager) on
127.0.0.1 with the landing bucket's ObjectCreated notifications going to a queue, as
template.yaml wires them. ``--files`` CSVs (``--rows`` transactions each, their own
transaction ids) are uploaded at once; ``--workers`` processes then play the Lambda service:
each receives one message at a time (BatchSize 1, as the event source mapping), invokes the
ingest handler with the SQS event the service would build, and deletes the message when the
handler reports no failure. A message that fails comes back after the visibility timeout
(``ApproximateReceiveCount`` grows), as on AWS.

Checked afterwards: one manifest per file, each ``curated``; rows written = files x rows; no
transaction written twice; every file curated by exactly one invocation (a redelivery shows
as ``unchanged`` or ``busy``); the queue empty. With ``--local`` the same files are also
dropped into a local lake (``lakedrop.local.drop``, one after another as ``lakedrop watch``
does). Prints PASS/FAIL and writes JSON to ``benchmarks/out/``; docs/reliability.md has the
figures. ``tests/functions/ingest/test_many_files.py`` runs a small variant in the suite.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
REGION = "ap-northeast-2"
LANDING, CURATED, QUARANTINE = "bench-landing", "bench-curated", "bench-quarantine"
KEY_MATERIAL = "benchmark key, not a secret: 0123456789abcdef0123456789abcdef"
HEADER = (
    "transaction_id,customer_id,customer_name,email,phone,event_time,amount,quantity,"
    "category,channel,country,is_refund\n"
)


def csv_file(n: int, rows: int) -> bytes:
    """File ``n``: ``rows`` transactions with ids of its own, customers shared across files."""
    lines = [HEADER]
    for i in range(rows):
        customer = (n * 7 + i) % 500
        lines.append(
            f"F{n:05d}-{i:05d},C{customer:05d},고객{customer},c{customer}@example.com,"
            f"010-{customer:04d}-{i % 10000:04d},2025-{1 + n % 12:02d}-{1 + i % 28:02d} "
            f"{i % 24:02d}:00:00,{1000 + i}.50,1,식품,online,KR,N\n"
        )
    return "".join(lines).encode("utf-8")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _aws_environment(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


def _function_environment(secret_arn: str, work: Path) -> dict[str, str]:
    return {
        "LANDING_URI": f"s3://{LANDING}",
        "CURATED_URI": f"s3://{CURATED}",
        "QUARANTINE_URI": f"s3://{QUARANTINE}",
        "HMAC_KEY_SECRET_ID": secret_arn,
        "DUCKDB_MEMORY_LIMIT": "300MB",
        "DUCKDB_THREADS": "1",
        "WORK_DIR": str(work),
        "POWERTOOLS_SERVICE_NAME": "lakedrop-ingest",
        "POWERTOOLS_METRICS_NAMESPACE": "lakedrop",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def _set_up(s3: Any, sqs: Any, secrets: Any) -> tuple[str, str]:
    """Buckets, the queue the landing bucket notifies, the key secret: (queue URL, secret ARN)."""
    for bucket in (LANDING, CURATED, QUARANTINE):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=LANDING, VersioningConfiguration={"Status": "Enabled"})
    queue_url = sqs.create_queue(QueueName="bench-ingest", Attributes={"VisibilityTimeout": "30"})[
        "QueueUrl"
    ]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=LANDING,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    secret = secrets.create_secret(Name="bench/hmac", SecretString=KEY_MATERIAL)
    return queue_url, str(secret["ARN"])


def _sqs_event(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """The event the Lambda service builds for one received message."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
        ]
    }


def _worker(environment: dict[str, str], queue_url: str, results: Any) -> None:
    """One 'Lambda': receive a message, invoke the handler, delete the message if it passed."""
    os.environ.update(environment)
    import boto3  # noqa: PLC0415 (after the environment is set)

    from ingest import handler  # noqa: PLC0415
    from lakedrop.local import LocalContext  # noqa: PLC0415 (the context lakedrop drop passes)

    sqs = boto3.client("sqs")
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    empty = 0
    while empty < 3:
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        if not received:
            empty += 1
            continue
        empty = 0
        message = received[0]
        try:
            response = handler.lambda_handler(
                _sqs_event(message, queue_arn), LocalContext(aws_request_id=str(uuid.uuid4()))
            )
            failed = bool(response.get("batchItemFailures"))
        except Exception as exc:  # the whole batch (one message) failed: SQS redelivers
            results.append({"outcome": "failed", "error": type(exc).__name__})
            continue
        if failed:
            results.append({"outcome": "failed", "error": "batch item failure"})
            continue
        for body_record in json.loads(message["Body"]).get("Records", []):
            key = body_record["s3"]["object"]["key"]
            results.append({"outcome": "done", "key": key})
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def run_moto(files: int, rows: int, workers: int, work: Path) -> dict[str, Any]:
    """Land ``files`` at once on a moto server and ingest them with ``workers`` processes."""
    import boto3  # noqa: PLC0415
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved = dict(os.environ)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        os.environ.update(_aws_environment(endpoint))
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        queue_url, secret_arn = _set_up(s3, sqs, boto3.client("secretsmanager"))

        started = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(
                    lambda n: s3.put_object(
                        Bucket=LANDING, Key=f"transactions/drop {n:05d}.csv", Body=csv_file(n, rows)
                    ),
                    range(files),
                )
            )
        landed = time.perf_counter() - started

        environment = {**_aws_environment(endpoint), **_function_environment(secret_arn, work)}
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager:
            results = manager.list()
            processes = [
                context.Process(target=_worker, args=(environment, queue_url, results))
                for _ in range(workers)
            ]
            for process in processes:
                process.start()
            for process in processes:
                process.join()
            outcomes = list(results)
        seconds = time.perf_counter() - started - landed
        return _check(s3, sqs, queue_url, files, rows, outcomes, landed, seconds)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()


def _check(
    s3: Any,
    sqs: Any,
    queue_url: str,
    files: int,
    rows: int,
    outcomes: list[dict[str, Any]],
    landed: float,
    seconds: float,
) -> dict[str, Any]:
    import duckdb  # noqa: PLC0415

    manifests = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=CURATED, Prefix="_manifests/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=CURATED, Key=item["Key"])["Body"].read()
            manifests.append(json.loads(body))
    statuses = Counter(m["status"] for m in manifests)
    written = sum(m["rows"]["written"] for m in manifests if m["status"] == "curated")
    ids: list[str] = []
    for m in manifests:
        for output in m.get("outputs", []):
            data = s3.get_object(Bucket=CURATED, Key=output["key"])["Body"].read()
            with tempfile.NamedTemporaryFile(suffix=".parquet") as handle:
                handle.write(data)
                handle.flush()
                ids += [
                    r[0]
                    for r in duckdb.sql(f"SELECT transaction_id FROM '{handle.name}'").fetchall()
                ]
    done = Counter(o["key"] for o in outcomes if o["outcome"] == "done")
    left = int(
        sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
    )
    checks = {
        "one manifest per file": len(manifests) == files,
        "every file curated": statuses.get("curated", 0) == files,
        "rows written = files x rows": written == files * rows,
        "no transaction written twice": len(ids) == len(set(ids)) == files * rows,
        "every file's message done once": len(done) == files and set(done.values()) == {1},
        "queue empty": left == 0,
    }
    return {
        "files": files,
        "rows_per_file": rows,
        "upload_seconds": round(landed, 2),
        "ingest_seconds": round(seconds, 2),
        "files_per_second": round(files / seconds, 2),
        "rows_per_second": round(files * rows / seconds),
        "invocations": len(outcomes),
        "failed_invocations": sum(o["outcome"] == "failed" for o in outcomes),
        "statuses": dict(statuses),
        "checks": checks,
    }


def run_local(files: int, rows: int, root: Path) -> dict[str, Any]:
    """The same files dropped into a local lake, one after another (``lakedrop watch``)."""
    from lakedrop.config import LocalLake  # noqa: PLC0415
    from lakedrop.local import drop, put_in_landing  # noqa: PLC0415

    lake = LocalLake(root)
    lake.ensure()
    sources = root / "sources"
    sources.mkdir()
    keys = []
    for n in range(files):
        path = sources / f"drop {n:05d}.csv"
        path.write_bytes(csv_file(n, rows))
        put_in_landing(lake, path, f"transactions/{path.name}")
        keys.append(f"transactions/{path.name}")
    saved = dict(os.environ)
    os.environ.update({"POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR"})
    try:
        started = time.perf_counter()
        results = [drop(lake, key) for key in keys]
        seconds = time.perf_counter() - started
    finally:
        os.environ.clear()
        os.environ.update(saved)
    statuses = Counter(r["status"] for r in results)
    written = sum((r.get("rows") or {}).get("written", 0) for r in results)
    return {
        "files": files,
        "ingest_seconds": round(seconds, 2),
        "files_per_second": round(files / seconds, 2),
        "statuses": dict(statuses),
        "checks": {
            "every file curated": statuses.get("curated", 0) == files,
            "rows written = files x rows": written == files * rows,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=50, help="transactions per file")
    parser.add_argument("--workers", type=int, default=2, help="concurrent 'Lambdas'")
    parser.add_argument("--local", action="store_true", help="also the local lake")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="many-files-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        print(f"moto server: {args.files} files x {args.rows} rows, {args.workers} workers ...")
        report["moto"] = run_moto(args.files, args.rows, args.workers, work)
        if args.local:
            print(f"local lake: {args.files} files ...")
            report["local"] = run_local(args.files, args.rows, Path(tmp) / "lake")
    ok = True
    for name in ("moto", "local"):
        if name not in report:
            continue
        part = report[name]
        figures = {k: v for k, v in part.items() if k != "checks"}
        print(f"\n{name}: {json.dumps(figures)}")
        for check, passed in part["checks"].items():
            print(f"  {'PASS' if passed else 'FAIL'}  {check}")
            ok = ok and passed
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"many_files-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"  written to {path.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
