"""Run the ingest Lambda's handler on the local lake, with the event S3 would send."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from lakedrop.config import LOCAL_BUCKET, LocalLake


@dataclass(frozen=True)
class LocalContext:
    """The parts of a Lambda context that Powertools reads."""

    function_name: str = "lakedrop-ingest-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 3008
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:lakedrop-ingest-local"
    aws_request_id: str = ""
    log_group_name: str = "local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def s3_put_event(key: str, size: int, etag: str, bucket: str = LOCAL_BUCKET) -> dict[str, Any]:
    """An S3 ObjectCreated:Put notification as S3 sends it (the key URL-encoded)."""
    now = datetime.now(UTC)
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "local",
                "eventTime": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "local"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper()},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "lakedrop-local",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "local"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": etag,
                        "sequencer": f"{now.timestamp() * 1e6:020.0f}",
                    },
                },
            }
        ]
    }


def invoke_ingest(lake: LocalLake, event: dict[str, Any], verbose: bool = False) -> dict[str, Any]:
    """Call the ingest Lambda's handler in this process, configured for the local lake."""
    lake.ensure()
    os.environ.update(lake.ingest_environment(verbose))
    from ingest import handler  # noqa: PLC0415 (after the environment is set)

    handler.get_runtime.cache_clear()
    result: dict[str, Any] = handler.lambda_handler(
        event, LocalContext(aws_request_id=str(uuid.uuid4()))
    )
    return result


def landing_key(path: Path, dataset: str) -> str:
    return f"{dataset}/{path.name}"


def put_in_landing(
    lake: LocalLake, source: Path, key: str, progress: Callable[[int], None] | None = None
) -> Path:
    """Copy a file into the landing folder under ``key`` (atomically, like an S3 PUT).

    A key whose path would leave the landing folder (``..``, an absolute path) is refused."""
    landing = lake.landing.resolve()
    target = (landing / key).resolve()
    if not target.is_relative_to(landing) or target == landing:
        raise ValueError(f"key {key!r} is outside the landing folder {landing}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    with source.open("rb") as src, partial.open("wb") as dst:
        while chunk := src.read(8 << 20):
            dst.write(chunk)
            if progress:
                progress(len(chunk))
    shutil.copystat(source, partial)
    partial.replace(target)
    return target


def drop(lake: LocalLake, key: str, verbose: bool = False) -> dict[str, Any]:
    """Ingest an object already in the local landing zone, exactly as the Lambda would."""
    path = lake.landing / key
    event = s3_put_event(key, path.stat().st_size, local_etag(path))
    result = invoke_ingest(lake, event, verbose)
    results: list[dict[str, Any]] = result["results"]
    return results[0]


def landed_keys(lake: LocalLake) -> Iterator[str]:
    """Keys of the objects in the local landing zone (partial copies excluded)."""
    if not lake.landing.is_dir():
        return
    for path in sorted(lake.landing.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            yield path.relative_to(lake.landing).as_posix()


def local_etag(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_mtime_ns:x}-{stat.st_size:x}"


def pending_keys(lake: LocalLake) -> list[str]:
    """Landed objects with no manifest yet, or whose manifest is of an older version of them."""
    from ingest import layout  # noqa: PLC0415

    pending = []
    for key in landed_keys(lake):
        manifest_path = lake.curated / layout.manifest_key(
            layout.dataset_of(key) or "_unknown", layout.source_id(key)
        )
        if manifest_path.is_file():
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            if manifest.get("source", {}).get("etag") == local_etag(lake.landing / key):
                continue
        pending.append(key)
    return pending
