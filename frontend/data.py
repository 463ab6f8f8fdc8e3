"""The report's one data-access module: where the zones are, how to read them, what is cached.

Zones are URIs, read from the environment once per server process (``zones()``):

    LAKEDROP_ANALYTICS_URI    features run reports, models/_LATEST.json, metrics, predictions
    LAKEDROP_CURATED_URI      the ingest manifests (_manifests/<dataset>/<source-id>.json)
    LAKEDROP_QUARANTINE_URI   where quarantined files are (shown, not read)

Each is a folder or ``s3://bucket[/prefix]``; unset, they default to the local lake
(``$LAKEDROP_HOME`` or ``.lakedrop``, then ``analytics/``, ``curated/``, ``quarantine/``), as
``lakedrop report`` sets them. S3 is read with boto3's default credential chain — the ECS task
role or App Runner instance role on AWS, a profile or SSO on a laptop; there are no keys here.

Nothing happens at import time. The cached readers (Streamlit's caches, with a TTL) live only
here: small "what is latest" documents expire after ``FRESH_TTL_S`` so a new run shows up within
a minute; documents of one run never change (run ids are unique) and are kept for
``RUN_TTL_S``. The predictions table is kept as one shared Arrow table (``cache_resource``: no
copy per rerun, at most ``MAX_TABLES`` of them), read with only the columns a page needs.
Every read failure surfaces as ``DataError`` with a plain message; a missing object is ``None``.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq
import streamlit as st

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

ENV_HOME: Final = "LAKEDROP_HOME"
ENV_ANALYTICS: Final = "LAKEDROP_ANALYTICS_URI"
ENV_CURATED: Final = "LAKEDROP_CURATED_URI"
ENV_QUARANTINE: Final = "LAKEDROP_QUARANTINE_URI"
DEFAULT_HOME: Final = ".lakedrop"

FRESH_TTL_S: Final = 60
RUN_TTL_S: Final = 3600
MAX_TABLES: Final = 4
S3_READ_THREADS: Final = 16

# Keys the report reads. Producers define them (glue_jobs/features/layout.py, the training
# unit, functions/ingest/layout.py); tests/frontend/test_contract.py checks they agree.
MODELS_LATEST: Final = "models/_LATEST.json"
METRICS_PREFIX: Final = "metrics/"
FEATURES_RUNS_PREFIX: Final = "features/_runs/"
MANIFESTS_PREFIX: Final = "_manifests/"
# Every manifest in one gzipped JSON-lines object, kept current by ingest (docs/lake.md,
# "Manifest index"): the health page makes one GET instead of one per landed object.
MANIFEST_INDEX_KEY: Final = "_index/manifests.jsonl.gz"


def metrics_key(run_id: str) -> str:
    return f"{METRICS_PREFIX}{run_id}.json"


def predictions_key(run_id: str) -> str:
    return f"predictions/{run_id}/predictions.parquet"


def summary_key(run_id: str) -> str:
    return f"predictions/{run_id}/_summary.json"


class DataError(Exception):
    """The lake could not be read (permissions, a malformed document…): shown, not raised on."""


# --------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class Zones:
    analytics: str
    curated: str
    quarantine: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Zones:
        home = Path(environ.get(ENV_HOME) or DEFAULT_HOME).resolve()
        return cls(
            analytics=environ.get(ENV_ANALYTICS) or str(home / "analytics"),
            curated=environ.get(ENV_CURATED) or str(home / "curated"),
            quarantine=environ.get(ENV_QUARANTINE) or str(home / "quarantine"),
        )


# --------------------------------------------------------------------------------------------
# Stores: a folder or an S3 prefix


class Store(Protocol):
    @property
    def uri(self) -> str: ...

    def read_bytes(self, key: str) -> bytes | None:
        """The object's bytes; None when there is no such object."""
        ...

    def keys(self, prefix: str, suffix: str) -> list[str]:
        """Every key below ``prefix`` (recursively) ending with ``suffix``, sorted."""
        ...

    def listing(self, prefix: str, suffix: str) -> list[tuple[str, float]]:
        """``keys``, each with its last-modified time (seconds since the epoch)."""
        ...

    def read_parquet(self, key: str, columns: tuple[str, ...] | None) -> pa.Table | None: ...


@dataclass(frozen=True)
class LocalStore:
    root: Path

    @property
    def uri(self) -> str:
        return str(self.root)

    def read_bytes(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None

    def keys(self, prefix: str, suffix: str) -> list[str]:
        return [key for key, _ in self.listing(prefix, suffix)]

    def listing(self, prefix: str, suffix: str) -> list[tuple[str, float]]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(
            (p.relative_to(self.root).as_posix(), p.stat().st_mtime)
            for p in folder.rglob(f"*{suffix}")
            if p.is_file() and not p.name.startswith(".")  # .x.part: a write in progress
        )

    def read_parquet(self, key: str, columns: tuple[str, ...] | None) -> pa.Table | None:
        path = self.root / key
        if not path.is_file():
            return None
        return pq.read_table(path, columns=list(columns) if columns else None)


@dataclass(frozen=True)
class S3Store:
    bucket: str
    prefix: str  # "" or "some/prefix/"
    client: S3Client

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def read_bytes(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except self.client.exceptions.NoSuchKey:
            return None
        body: bytes = response["Body"].read()
        return body

    def keys(self, prefix: str, suffix: str) -> list[str]:
        return [key for key, _ in self.listing(prefix, suffix)]

    def listing(self, prefix: str, suffix: str) -> list[tuple[str, float]]:
        start = len(self.prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        found = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", []):
                key = item["Key"][start:]
                if key.endswith(suffix) and not key.rsplit("/", 1)[-1].startswith("."):
                    found.append((key, item["LastModified"].timestamp()))
        return sorted(found)

    def read_parquet(self, key: str, columns: tuple[str, ...] | None) -> pa.Table | None:
        raw = self.read_bytes(key)
        if raw is None:
            return None
        return pq.read_table(pa.BufferReader(raw), columns=list(columns) if columns else None)


S3ClientFactory = Callable[[], "S3Client"]
_T = TypeVar("_T")


def _default_s3_client() -> S3Client:
    import boto3  # noqa: PLC0415 (only an s3:// zone needs it)

    # the default credential chain: task or instance role on AWS, profile / SSO elsewhere
    return boto3.client("s3")


def open_store(uri: str, s3_client: S3ClientFactory = _default_s3_client) -> Store:
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        prefix = parsed.path.strip("/")
        return S3Store(parsed.netloc, f"{prefix}/" if prefix else "", s3_client())
    if parsed.scheme in ("", "file"):
        return LocalStore(Path(parsed.path if parsed.scheme else uri).resolve())
    raise DataError(f"unsupported zone URI {uri!r}: use a folder or s3://bucket[/prefix]")


def _read_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError, ValueError, pa.ArrowException]
    try:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415
    except ImportError:  # pragma: no cover - boto3 is a dependency of the report
        return tuple(errors)
    return (*errors, BotoCoreError, ClientError)


def _guarded(what: str, read: Callable[[], _T]) -> _T:
    try:
        return read()
    except DataError:
        raise
    except _read_errors() as error:
        raise DataError(f"{what}: {type(error).__name__}: {error}") from error


def _parse_json(raw: bytes | None, where: str) -> Any | None:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError as error:
        raise DataError(f"{where} is not valid JSON: {error}") from error


def read_json(store: Store, key: str) -> Any | None:
    where = f"{store.uri}/{key}"
    return _parse_json(_guarded(where, lambda: store.read_bytes(key)), where)


def read_all_json(store: Store, prefix: str) -> list[Any]:
    """Every ``*.json`` below ``prefix`` (S3: read in parallel; one GET each)."""
    keys = _guarded(f"{store.uri}/{prefix}", lambda: store.keys(prefix, ".json"))
    return _read_many(store, keys)


def _read_many(store: Store, keys: list[str]) -> list[Any]:
    if not keys:
        return []
    if isinstance(store, LocalStore) or len(keys) == 1:
        docs = [read_json(store, key) for key in keys]
    else:
        with ThreadPoolExecutor(min(S3_READ_THREADS, len(keys))) as pool:
            docs = list(pool.map(lambda key: read_json(store, key), keys))
    return [d for d in docs if isinstance(d, dict)]


def read_manifest_index(store: Store) -> tuple[float, dict[str, tuple[float, Any]]]:
    """The manifest index: (watermark, key → (last modified, manifest)); (0, {}) if none."""
    where = f"{store.uri}/{MANIFEST_INDEX_KEY}"
    try:
        raw = _guarded(where, lambda: store.read_bytes(MANIFEST_INDEX_KEY))
    except DataError:
        # The index is a shortcut: unreadable (S3 answers a missing key with 403 to a role
        # that may list only some prefixes), the manifests themselves are read.
        return 0.0, {}
    if raw is None:
        return 0.0, {}
    try:
        lines = gzip.decompress(raw).decode("utf-8").splitlines()
        watermark = float(json.loads(lines[0])["watermark"])
        entries = {}
        for line in lines[1:]:
            entry = json.loads(line)
            entries[str(entry["key"])] = (float(entry["last_modified"]), entry["manifest"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return 0.0, {}  # unreadable: the manifests themselves are read
    return watermark, entries


def read_manifests(store: Store) -> list[Any]:
    """Every ingest manifest: the index's copy of those written before its watermark and not
    changed since, a GET for each other one (docs/lake.md, "Manifest index")."""
    watermark, indexed = read_manifest_index(store)
    listed = _guarded(
        f"{store.uri}/{MANIFESTS_PREFIX}", lambda: store.listing(MANIFESTS_PREFIX, ".json")
    )
    docs: list[Any] = []
    unread: list[str] = []
    for key, modified in listed:
        known = indexed.get(key)
        if known is not None and modified < watermark and known[0] == modified:
            docs.append(known[1])
        else:
            unread.append(key)
    return [d for d in docs if isinstance(d, dict)] + _read_many(store, unread)


# --------------------------------------------------------------------------------------------
# Cached readers (the only Streamlit-aware part)


@st.cache_resource(show_spinner=False)
def zones() -> Zones:
    """The zone URIs, read from the environment once per server process."""
    return Zones.from_env(os.environ)


@st.cache_resource(show_spinner=False)
def _store(uri: str) -> Store:
    return open_store(uri)


@st.cache_data(ttl=FRESH_TTL_S, show_spinner=False)
def _fresh_json(uri: str, key: str) -> Any | None:
    return read_json(_store(uri), key)


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False)
def _run_json(uri: str, key: str) -> Any | None:
    return read_json(_store(uri), key)


@st.cache_data(ttl=FRESH_TTL_S, show_spinner=False)
def _all_json(uri: str, prefix: str) -> list[Any]:
    return read_all_json(_store(uri), prefix)


@st.cache_resource(ttl=RUN_TTL_S, max_entries=MAX_TABLES, show_spinner=False)
def _parquet(uri: str, key: str, columns: tuple[str, ...] | None) -> pa.Table | None:
    store = _store(uri)
    return _guarded(f"{store.uri}/{key}", lambda: store.read_parquet(key, columns))


def _dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def model_pointer() -> dict[str, Any] | None:
    """``models/_LATEST.json``: the current training run; None before the first one."""
    pointer = _dict(_fresh_json(zones().analytics, MODELS_LATEST))
    return pointer if pointer and pointer.get("run_id") else None


def metrics(run_id: str) -> dict[str, Any] | None:
    return _dict(_run_json(zones().analytics, metrics_key(run_id)))


def metrics_history() -> list[dict[str, Any]]:
    """Every training run's ``metrics/<run_id>.json`` (unordered: see logic.sorted_runs)."""
    return _all_json(zones().analytics, METRICS_PREFIX)


def summary(run_id: str) -> dict[str, Any] | None:
    """``predictions/<run_id>/_summary.json``: the pre-aggregates the overview shows."""
    return _dict(_run_json(zones().analytics, summary_key(run_id)))


def predictions(run_id: str, columns: tuple[str, ...]) -> pa.Table | None:
    """The run's scored customers, only ``columns`` read."""
    return _parquet(zones().analytics, predictions_key(run_id), columns)


def features_reports() -> list[dict[str, Any]]:
    """Every features run report (``features/_runs/<run_id>.json``) still in the zone."""
    return _all_json(zones().analytics, FEATURES_RUNS_PREFIX)


@st.cache_data(ttl=FRESH_TTL_S, show_spinner=False)
def _manifests(uri: str) -> list[Any]:
    return read_manifests(_store(uri))


def manifests() -> list[dict[str, Any]]:
    """Every ingest manifest: one per landed object."""
    return _manifests(zones().curated)


def clear_caches() -> None:
    """Forget everything read (and the zones): tests, or a "reload" button."""
    st.cache_data.clear()
    st.cache_resource.clear()
