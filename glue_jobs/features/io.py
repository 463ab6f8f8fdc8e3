"""The edge of the features job: read the curated zone, write the analytics zone.

Spark reads and writes the Parquet (local paths here; ``s3://`` natively on Glue and EMR).
The small JSON objects around the snapshots — the ``_LATEST.json`` pointers and the run
reports — go through a ``Zone``: a folder (write to a temporary name, then rename) or an S3
prefix (one ``PutObject``; boto3, created only for an ``s3://`` zone). Either way a reader sees
the old pointer or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from glue_jobs.features import layout

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import ObjectIdentifierTypeDef

# The curated ``transactions`` schema as docs/lake.md defines it (ingest writes it; the
# contract test in tests/glue_jobs/test_contract.py reads what ingest really writes).
CURATED_SCHEMA = T.StructType(
    [
        T.StructField("transaction_id", T.StringType()),
        T.StructField("customer_id", T.StringType()),
        T.StructField("customer_name", T.StringType()),
        T.StructField("email", T.StringType()),
        T.StructField("phone", T.StringType()),
        T.StructField("event_time", T.TimestampType()),
        T.StructField("amount", T.DecimalType(18, 2)),
        T.StructField("quantity", T.LongType()),
        T.StructField("category", T.StringType()),
        T.StructField("channel", T.StringType()),
        T.StructField("country", T.StringType()),
        T.StructField("is_refund", T.BooleanType()),
    ]
)


def curated_files(curated: Zone) -> list[str]:
    """The keys of the curated transaction files the manifests name: the lake's consistent view.

    Ingest writes a new version of a source beside the old one and switches the source's
    manifest in one write, so the files listed here are whole versions, never a mix; files no
    manifest names (a version being written, one being removed) are not read. A manifest that
    is not ``curated`` (quarantined, a duplicate of another file) contributes nothing.
    """
    keys: list[str] = []
    for key in curated.keys(layout.manifest_prefix()):
        if not key.endswith(".json"):
            continue
        manifest = curated.get_json(key)
        if isinstance(manifest, dict) and manifest.get("status") == "curated":
            keys += [str(o["key"]) for o in manifest.get("outputs", [])]
    return sorted(keys)


def read_curated_transactions(
    spark: SparkSession, curated: Zone, columns: tuple[str, ...] | None = None
) -> tuple[DataFrame, int]:
    """The curated transactions the manifests name, read with the documented schema (not
    inferred), and how many files that is.

    A file whose columns have other types fails the read instead of being silently cast. The
    partition folder (``event_month=…``) is not a column: ``event_time`` carries the time.
    A file removed after the manifests were read (its source re-ingested meanwhile) fails the
    read: the job fails and its retry reads the new manifests.
    """
    keys = curated_files(curated)
    if keys:
        frame = spark.read.schema(CURATED_SCHEMA).parquet(*(spark_uri(curated, k) for k in keys))
    else:
        frame = spark.createDataFrame([], CURATED_SCHEMA)
    return frame.select(*(columns or CURATED_SCHEMA.fieldNames())), len(keys)


def write_snapshot(frame: DataFrame, uri: str, files: int = 1) -> None:
    """Write one snapshot folder as zstd Parquet, sorted by customer and cutoff (deterministic
    output: a training snapshot has one row per customer and cutoff).

    ``overwrite``: a retried run with the same run id replaces its own unpublished folder.
    """
    (
        frame.repartition(files)
        .sortWithinPartitions("customer_id", "cutoff_date")
        .write.mode("overwrite")
        .option("compression", "zstd")
        .parquet(uri)
    )


# --------------------------------------------------------------------------------------------
# Small objects in a zone: pointers, run reports, listing and removing old runs


class Zone(Protocol):
    """A zone (a folder or an ``s3://bucket/prefix``) for small JSON objects and run folders."""

    @property
    def uri(self) -> str: ...

    def put_json(self, key: str, value: Any) -> None:
        """Publish ``value`` under ``key`` atomically (readers see old or new, whole)."""
        ...

    def get_json(self, key: str) -> Any | None:
        """The JSON object under ``key``; None when there is none."""
        ...

    def folders(self, prefix: str) -> list[str]:
        """Names of the sub-folders directly below ``prefix`` (which ends with ``/``)."""
        ...

    def delete_folder(self, key: str) -> None:
        """Remove everything below ``key`` (a folder; nothing happens if it is not there)."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """The keys of the objects directly below ``prefix`` (which ends with ``/``)."""
        ...


def _dumps(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")


@dataclass(frozen=True)
class LocalZone:
    root: Path

    @property
    def uri(self) -> str:
        return str(self.root)

    def put_json(self, key: str, value: Any) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            partial.write_bytes(_dumps(value))
            partial.replace(target)  # atomic on one file system
        finally:
            partial.unlink(missing_ok=True)

    def get_json(self, key: str) -> Any | None:
        path = self.root / key
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def folders(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir())

    def delete_folder(self, key: str) -> None:
        shutil.rmtree(self.root / key, ignore_errors=True)

    def keys(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(
            f"{prefix}{p.name}" for p in folder.iterdir() if p.is_file() and p.name[0] != "."
        )


@dataclass(frozen=True)
class S3Zone:
    bucket: str
    prefix: str  # "" or "some/prefix/"
    client: S3Client

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def put_json(self, key: str, value: Any) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(key),
            Body=_dumps(value),
            ContentType="application/json",
        )

    def get_json(self, key: str) -> Any | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None
        return json.loads(body)

    def _pages(self, prefix: str, delimiter: str | None) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._key(prefix)}
        if delimiter:
            arguments["Delimiter"] = delimiter
        yield from paginator.paginate(**arguments)  # type: ignore[misc]

    def folders(self, prefix: str) -> list[str]:
        start = len(self._key(prefix))
        names = {
            common["Prefix"][start:].rstrip("/")
            for page in self._pages(prefix, "/")
            for common in page.get("CommonPrefixes", [])
        }
        return sorted(names)

    def keys(self, prefix: str) -> list[str]:
        start = len(self.prefix)
        return sorted(
            item["Key"][start:]
            for page in self._pages(prefix, "/")
            for item in page.get("Contents", [])
        )

    def delete_folder(self, key: str) -> None:
        for page in self._pages(key.rstrip("/") + "/", None):
            keys: list[ObjectIdentifierTypeDef] = [
                {"Key": item["Key"]} for item in page.get("Contents", [])
            ]
            if keys:  # a page holds at most 1,000 keys: one DeleteObjects call
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                )


S3ClientFactory = Callable[[], "S3Client"]


def _boto3_s3_client() -> S3Client:
    import boto3  # noqa: PLC0415 (only an s3:// zone needs it)

    return boto3.client("s3")


def open_zone(uri: str, s3_client: S3ClientFactory = _boto3_s3_client) -> Zone:
    """A ``Zone`` for a folder path or an ``s3://bucket[/prefix]`` URI."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        prefix = parsed.path.strip("/")
        return S3Zone(parsed.netloc, f"{prefix}/" if prefix else "", s3_client())
    if parsed.scheme in ("", "file"):
        return LocalZone(Path(parsed.path if parsed.scheme else uri).resolve())
    raise ValueError(f"unsupported zone URI {uri!r}: use a folder or s3://bucket[/prefix]")


def spark_uri(zone: Zone, key: str) -> str:
    """What Spark is given to read or write ``key`` of ``zone``."""
    if isinstance(zone, S3Zone):  # Glue and EMR read s3:// natively (EMRFS)
        return layout.join(f"s3://{zone.bucket}", zone._key(key))
    return os.fspath(Path(zone.uri) / key)


def publish(zone: Zone, kind: layout.Kind, pointer: dict[str, Any], keep_runs: int) -> list[str]:
    """Point ``features/<kind>/_LATEST.json`` at a written run, then remove old runs.

    The pointer is written last, in one atomic write: until then readers keep reading the
    previous run. Afterwards every ``run=`` folder that is not among the ``keep_runs`` most
    recently published (the pointer lists them) is removed, including folders of runs that
    failed before publishing. One features job at a time per zone (the state machine runs
    it serially): a run still writing would lose its folder. Returns the removed run ids.
    """
    if keep_runs < 1:
        raise ValueError(f"keep_runs must be >= 1, got {keep_runs}")
    run_id = str(pointer["run_id"])
    latest = layout.latest_key(kind)
    previous = zone.get_json(latest) or {}
    history = [str(previous["run_id"])] if previous.get("run_id") else []
    history += [str(r) for r in previous.get("previous_runs", [])]
    kept = [run_id, *(r for r in dict.fromkeys(history) if r != run_id)][:keep_runs]
    zone.put_json(latest, {**pointer, "previous_runs": kept[1:]})
    removed = []
    for folder in zone.folders(layout.snapshot_prefix(kind)):
        old = layout.run_id_of(folder)
        if old is not None and old not in kept:
            zone.delete_folder(layout.run_key(kind, old))
            removed.append(old)
    return removed
