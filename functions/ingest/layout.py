"""The lake layout of the zones ingest writes: the one place their key patterns are defined.

    landing     <dataset>/<any name>.csv[.gz]
    curated     <dataset>/<partition key>=<value>/<source-id>-<version>-<n>.parquet
                _manifests/<dataset>/<source-id>.json
                _index/<dataset>/content/<sha256>.json   which source holds this content
                _index/<dataset>/keys/<source-id>.parquet the contract keys a source published
                _index/<dataset>/keys-compacted.parquet  many sources' keys merged (a shortcut)
                _locks/<dataset>/<source-id>.json        lease: one ingest of a source at a time
                _index/manifests.jsonl.gz                every manifest in one object (readers)
    quarantine  <landing key>                       untouched copy of a file that failed whole
                <landing key>.error.json            why, in plain words (no row values)
                <landing key>.rejected-rows.jsonl   rows that could not be parsed or typed

``source-id`` is derived from the landing key only, so a re-uploaded object replaces its earlier
outputs instead of duplicating them. ``version`` is derived from what was ingested (content,
contract, key): a retry of the same content overwrites its own files, a new version of the
object is written beside the old one and the old files are removed only after the manifest
names the new ones, so a reader following the manifests never sees a half-replaced source.
docs/lake.md describes the same layout for readers; tests/functions/ingest/test_layout.py pins it.
"""

from __future__ import annotations

import hashlib

MANIFEST_PREFIX = "_manifests"
INDEX_PREFIX = "_index"
# every manifest in one object, for readers that need them all (ingest.manifest_index)
MANIFEST_INDEX_KEY = f"{INDEX_PREFIX}/manifests.jsonl.gz"
LOCK_PREFIX = "_locks"
ERROR_SUFFIX = ".error.json"
REJECTS_SUFFIX = ".rejected-rows.jsonl"
CONFLICTS_SUFFIX = ".conflicting-rows.jsonl"


def dataset_of(landing_key: str) -> str | None:
    """The dataset a landing key belongs to: its first path segment (None at the top level).

    None too for a key with a ``.`` or ``..`` segment: S3 keeps such a key as it is, but a
    folder (the local lake) or a tool that syncs a bucket to disk resolves it to another
    place, so it is in no dataset (quarantined as ``no_dataset``).
    """
    head, sep, _ = landing_key.partition("/")
    if not sep or not head or {".", ".."} & set(landing_key.split("/")):
        return None
    return head


def is_folder_marker(landing_key: str) -> bool:
    return landing_key.endswith("/")


def source_id(landing_key: str) -> str:
    """Deterministic id of a landed object's outputs (20 hex characters of SHA-256 of its key)."""
    return hashlib.sha256(landing_key.encode("utf-8")).hexdigest()[:20]


def output_name(sid: str, version: str) -> str:
    """The file-name stem of one version of a source's curated files."""
    return f"{sid}-{version}"


def output_version(content_sha256: str, contract_sha256: str, key_id: str) -> str:
    """Deterministic version token of a source's outputs (12 hex characters)."""
    text = f"{content_sha256}:{contract_sha256}:{key_id}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def curated_key(dataset: str, partition_key: str, partition_value: str, name: str, n: int) -> str:
    """``name`` is ``output_name(sid, version)``."""
    return f"{dataset}/{partition_key}={partition_value}/{name}-{n}.parquet"


def manifest_key(dataset: str, sid: str) -> str:
    return f"{MANIFEST_PREFIX}/{dataset}/{sid}.json"


def manifest_prefix(dataset: str) -> str:
    return f"{MANIFEST_PREFIX}/{dataset}/"


def content_index_key(dataset: str, sha256: str) -> str:
    return f"{INDEX_PREFIX}/{dataset}/content/{sha256}.json"


def keys_index_prefix(dataset: str) -> str:
    return f"{INDEX_PREFIX}/{dataset}/keys/"


def keys_index_key(dataset: str, sid: str) -> str:
    return f"{keys_index_prefix(dataset)}{sid}.parquet"


def keys_compacted_key(dataset: str) -> str:
    """The key files merged (ingest.keyindex); beside ``keys/``, never inside it."""
    return f"{INDEX_PREFIX}/{dataset}/keys-compacted.parquet"


def sid_of_keys_index(key: str) -> str:
    """``_index/<dataset>/keys/<sid>.parquet`` → ``<sid>``."""
    return key.rsplit("/", 1)[-1].removesuffix(".parquet")


def lock_key(dataset: str, sid: str) -> str:
    return f"{LOCK_PREFIX}/{dataset}/{sid}.json"


def quarantine_key(landing_key: str) -> str:
    """Quarantine mirrors landing: the copy keeps the key it landed under."""
    return landing_key


def error_key(landing_key: str) -> str:
    return quarantine_key(landing_key) + ERROR_SUFFIX


def rejects_key(landing_key: str) -> str:
    return quarantine_key(landing_key) + REJECTS_SUFFIX


def conflicts_key(landing_key: str) -> str:
    """Rows whose contract key was already curated from another source with other values."""
    return quarantine_key(landing_key) + CONFLICTS_SUFFIX
