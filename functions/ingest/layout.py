"""The lake layout of the zones ingest writes: the one place their key patterns are defined.

    landing     <dataset>/<any name>.csv[.gz]
    curated     <dataset>/<partition key>=<value>/<source-id>-<n>.parquet
                _manifests/<dataset>/<source-id>.json
    quarantine  <landing key>                       untouched copy of a file that failed whole
                <landing key>.error.json            why, in plain words (no row values)
                <landing key>.rejected-rows.jsonl   rows that could not be parsed or typed

``source-id`` is derived from the landing key only, so a retried or re-uploaded object
overwrites its earlier outputs instead of duplicating them. docs/lake.md describes the same
layout for readers; tests/functions/ingest/test_layout.py pins it.
"""

from __future__ import annotations

import hashlib

MANIFEST_PREFIX = "_manifests"
ERROR_SUFFIX = ".error.json"
REJECTS_SUFFIX = ".rejected-rows.jsonl"


def dataset_of(landing_key: str) -> str | None:
    """The dataset a landing key belongs to: its first path segment (None at the top level)."""
    head, sep, _ = landing_key.partition("/")
    return head if sep and head else None


def is_folder_marker(landing_key: str) -> bool:
    return landing_key.endswith("/")


def source_id(landing_key: str) -> str:
    """Deterministic id of a landed object's outputs (20 hex characters of SHA-256 of its key)."""
    return hashlib.sha256(landing_key.encode("utf-8")).hexdigest()[:20]


def curated_key(dataset: str, partition_key: str, partition_value: str, sid: str, n: int) -> str:
    return f"{dataset}/{partition_key}={partition_value}/{sid}-{n}.parquet"


def manifest_key(dataset: str, sid: str) -> str:
    return f"{MANIFEST_PREFIX}/{dataset}/{sid}.json"


def quarantine_key(landing_key: str) -> str:
    """Quarantine mirrors landing: the copy keeps the key it landed under."""
    return landing_key


def error_key(landing_key: str) -> str:
    return quarantine_key(landing_key) + ERROR_SUFFIX


def rejects_key(landing_key: str) -> str:
    return quarantine_key(landing_key) + REJECTS_SUFFIX
