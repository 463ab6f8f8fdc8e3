"""Ingest one landed object: curated Parquet, quarantine or a recorded duplicate, and a
manifest in every case.

The service receives everything it touches as arguments (zones, key, contracts, options):
nothing here reads the environment or builds an AWS client. It does not log either — it
returns an Outcome that the caller logs — so no row value can reach a log line from here.

Exactly once under S3's at-least-once delivery (docs/lake.md, "Publication and retries"):

- one ingest of a key at a time: a lease taken with a conditional write (``ingest.lease``);
- the version the event names is downloaded; an event for an upload older than the one the
  manifest records, or than the key's current version, is skipped (``superseded``);
- the same bytes again under the same key are skipped (``unchanged``); the same bytes under
  another key are recorded as a ``duplicate`` of the source that curated them;
- rows whose contract key (``transaction_id``) is already curated are counted as duplicates,
  not written: the first published copy wins.

Publication order (S3 has no multi-object transactions; this keeps every state recoverable,
and a reader that follows the manifests sees the old state or the new one, never a mix):

1. the previous manifest, unchanged for readers, plus ``pending_outputs`` (the files about to
   be written and the previous ones, for a retry after a crash to clean up),
2. the Parquet files, under names of this version (a retry of the same content overwrites
   them; a new version is written beside the old one),
3. rejected and conflicting rows, if any, to quarantine; the key index of the written rows,
4. the final manifest (``curated``), then the content record,
5. removal of the files earlier versions left that this one does not list.

A file that fails as a whole gets an untouched copy and a ``.error.json`` in quarantine and a
manifest with status ``quarantined``; outputs of an earlier version of it are removed after
that manifest is written. The source in landing is never modified or deleted.
"""

from __future__ import annotations

import errno
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

from ingest import keyindex, layout
from ingest.contracts import ContractRegistry, DatasetContract, HeaderMapping, map_header
from ingest.keyindex import KnownKeys
from ingest.lease import acquire
from ingest.pseudonymise import PSEUDONYM_HEX_CHARS, HmacKey
from ingest.sniff import (
    MAX_COLUMNS,
    MAX_TITLE_LINES,
    Prepared,
    SourceFormat,
    UnreadableFile,
    prepare,
    sniff,
)
from ingest.storage import Storage
from ingest.transform import (
    REJECTED_ROWS_CAP,
    DeadlineExceeded,
    TransformError,
    TransformFailed,
    TransformResult,
    common_keys,
    transform,
)

MANIFEST_VERSION = 1
# Every ``code`` a quarantined object's manifest and ``.error.json`` can carry, beside the
# plain-words ``reason`` (docs/lake.md). Readers may rely on the set: the report labels each
# code in its reader's language. tests/functions/ingest/test_quarantine_codes.py checks that
# every code raised in the ingest is listed here.
QUARANTINE_CODES = frozenset(
    {
        "no_dataset", "unknown_dataset",  # where the file landed
        "empty", "no_header", "not_text", "bad_gzip", "unknown_encoding", "undecodable",
        "missing_column", "duplicate_column",  # the header
        "no_rows", "unparseable", "too_many_rejects", "reconciliation",  # the rows
        "too_large", "exhausted",  # the function's limits
    }
)  # fmt: skip
JSON = "application/json"
Status = Literal["curated", "quarantined", "duplicate", "skipped"]


@dataclass(frozen=True)
class LandedObject:
    """An object in the landing zone, as an event announces it."""

    key: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None


@dataclass(frozen=True)
class Zones:
    landing: Storage
    curated: Storage
    quarantine: Storage


@dataclass(frozen=True)
class Options:
    work_dir: Path
    memory_limit: str  # Settings.duckdb_memory_limit: the one default lives there
    threads: int | None = None
    lease_seconds: float = 960  # Settings.lease_seconds: longer than the function's timeout
    # The limits a file must fit in (docs/reliability.md): a larger file is quarantined at
    # once; one that exhausts memory, disk or time is retried, then quarantined on its last
    # delivery instead of failing into the dead-letter queue.
    max_object_bytes: int | None = None  # Settings.max_object_bytes
    deadline: float | None = None  # time.monotonic() by which the work must have stopped
    attempt: int = 1  # this delivery of the object's message (SQS ApproximateReceiveCount)
    max_attempts: int | None = None  # deliveries before the dead-letter queue; None: unknown


class SourceBusy(RuntimeError):
    """Another ingest of the same object holds its lease, or a file with the same keys was
    published meanwhile: nothing was published; retry later (SQS redelivers the message)."""


@dataclass(frozen=True)
class Outcome:
    key: str
    status: Status
    reason: str | None = None
    code: str | None = None
    manifest_key: str | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> dict[str, int]:
        rows: dict[str, int] = self.manifest.get("rows") or {}
        return rows


class FileRejected(Exception):
    """The landed file as a whole cannot be curated (internal control flow)."""

    def __init__(self, reason: str, code: str, rejects: Path | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.rejects = rejects  # the rejected rows found before the file was given up


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _describe_headers(contract: DatasetContract, names: tuple[str, ...]) -> str:
    accepted = []
    for name in names:
        column = next(c for c in contract.columns if c.name == name)
        accepted.append(f"{name} (or {', '.join(column.aliases)})" if column.aliases else name)
    return "; ".join(accepted)


def _names_required(contract: DatasetContract, fields: tuple[str, ...]) -> bool:
    """The line names every required column of the contract (it can be the header)."""
    return not map_header(contract, list(fields)).missing_required


def _check_header(contract: DatasetContract, mapping: HeaderMapping) -> None:
    if mapping.missing_required:
        matched = [c.name for c in mapping.columns if c is not None]
        unmatched = len(mapping.columns) - len(matched)
        raise FileRejected(
            f"required column(s) missing from the header: "
            f"{_describe_headers(contract, mapping.missing_required)}. "
            f"The first line has {len(mapping.columns)} field(s); recognised: "
            f"{', '.join(matched) or 'none'}; {unmatched} not in the contract "
            f"(is the header line missing? It is looked for in the first {MAX_TITLE_LINES + 1} "
            "lines, below a title if there is one)",
            "missing_column",
        )
    if mapping.duplicates:
        raise FileRejected(
            "more than one header maps to the column(s) "
            f"{', '.join(sorted(set(mapping.duplicates)))}: "
            "it is ambiguous which one to use",
            "duplicate_column",
        )


def _reject_summary(result: TransformResult, limit: float) -> str:
    top = "; ".join(f"{reason} ({n})" for reason, n in list(result.reject_reasons.items())[:5])
    return (
        f"{result.lines_rejected} of {result.rows_read} rows could not be read or typed "
        f"({result.reject_ratio:.1%}, more than the contract allows: {limit:.1%}): {top}"
    )


def ingest_object(
    obj: LandedObject,
    zones: Zones,
    key: HmacKey,
    contracts: ContractRegistry,
    options: Options,
    on_step: Callable[[str], None] | None = None,
) -> Outcome:
    """Curate or quarantine one landed object and write its manifest.

    Holds the object's lease (``ingest.lease``) throughout; raises SourceBusy when another
    ingest of the same key holds it, so the caller retries later.
    """
    dataset = layout.dataset_of(obj.key)
    sid = layout.source_id(obj.key)
    lock = layout.lock_key(dataset or "_unknown", sid)
    lease = acquire(zones.curated, lock, options.lease_seconds)
    if lease is None:
        raise SourceBusy(
            f"another ingest of {obj.key} holds its lease ({zones.curated.location(lock)}); "
            f"retry later. A lease left by a run that died expires {options.lease_seconds:.0f} s "
            "after it was taken"
        )
    try:
        return _ingest(obj, zones, key, contracts, options, _guarded(on_step, options.deadline))
    except Exception as exc:
        given_up = _give_up(exc, options)
        if given_up is None:
            raise
        return _quarantine_whole(obj, zones, given_up)
    finally:
        lease.release()


def _guarded(
    on_step: Callable[[str], None] | None, deadline: float | None
) -> Callable[[str], None]:
    """The step callback, raising DeadlineExceeded when a step starts after the deadline."""

    def step(name: str) -> None:
        if deadline is not None and time.monotonic() >= deadline:
            raise DeadlineExceeded(f"the ingest had not finished by its deadline (step {name})")
        if on_step is not None:
            on_step(name)

    return step


def _give_up(exc: Exception, options: Options) -> FileRejected | None:
    """Why to quarantine a file whose ingest ran out of memory, disk or time on this delivery,
    if it is the last one it gets; None: let the caller retry (or not a resource problem).

    A file that misses the deadline twice would miss it every time: it gets one retry (the
    first miss may be a slow moment); memory and disk get every delivery the queue allows.
    """
    allowed: int | None
    if isinstance(exc, DeadlineExceeded):
        what, allowed = "it did not finish within the function's time limit", 2
    elif isinstance(exc, MemoryError):
        what, allowed = "it needed more memory than the function has", options.max_attempts
    elif isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        what, allowed = "it needed more temporary disk than the function has", options.max_attempts
    elif isinstance(exc, TransformFailed):  # DuckDB failed for a reason that is not the file
        what, allowed = str(exc), options.max_attempts
    else:
        return None
    if allowed is None or options.attempt < allowed:
        return None
    return FileRejected(
        f"the file could not be ingested within the function's limits on "
        f"{options.attempt} attempt(s): {what}. Split it into smaller files, or ingest it "
        "with more memory, disk or time (docs/reliability.md)",
        "exhausted",
    )


def _quarantine_whole(obj: LandedObject, zones: Zones, rejected: FileRejected) -> Outcome:
    """Quarantine ``obj`` outside a normal run (given up on its limits)."""
    manifest, manifest_key = _new_manifest(obj, zones)
    previous = _read_json(zones.curated, manifest_key)
    started = time.perf_counter()
    return _quarantine(
        obj, zones, manifest, manifest_key, previous, rejected.reason, rejected.code, {}, started
    )


def _new_manifest(obj: LandedObject, zones: Zones) -> tuple[dict[str, Any], str]:
    dataset = layout.dataset_of(obj.key)
    sid = layout.source_id(obj.key)
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "dataset": dataset,
        "source_id": sid,
        "source": {
            "uri": zones.landing.location(obj.key),
            "key": obj.key,
            "size": obj.size,
            "etag": obj.etag,
            "version_id": obj.version_id,
            "sequencer": obj.sequencer,
        },
    }
    return manifest, layout.manifest_key(dataset or "_unknown", sid)


def _check_size(obj: LandedObject, options: Options) -> None:
    if options.max_object_bytes is not None and (obj.size or 0) > options.max_object_bytes:
        raise FileRejected(
            f"the file is {obj.size:,} bytes; the ingest function takes files up to "
            f"{options.max_object_bytes:,} bytes (its temporary disk holds the file, its "
            "decoded copy and DuckDB's spill). Split it into smaller files",
            "too_large",
        )


def _ingest(
    obj: LandedObject,
    zones: Zones,
    key: HmacKey,
    contracts: ContractRegistry,
    options: Options,
    step: Callable[[str], None],
) -> Outcome:
    started = time.perf_counter()
    timings: dict[str, float] = {}
    dataset = layout.dataset_of(obj.key)
    sid = layout.source_id(obj.key)
    manifest, manifest_key = _new_manifest(obj, zones)
    previous = _read_json(zones.curated, manifest_key)
    if _is_older(obj, previous):
        return Outcome(
            obj.key,
            "skipped",
            "a newer upload of this key has already been ingested",
            "superseded",
            manifest_key,
            previous or {},
        )

    try:
        _check_size(obj, options)  # before downloading it
    except FileRejected as exc:
        return _quarantine(
            obj, zones, manifest, manifest_key, previous, exc.reason, exc.code, timings, started
        )
    with tempfile.TemporaryDirectory(prefix="ingest-", dir=options.work_dir) as tmp_name:
        tmp = Path(tmp_name)
        source = tmp / "source"
        try:
            step("download")
            t = time.perf_counter()
            info = zones.landing.download(obj.key, source, obj.version_id)
            timings["download"] = time.perf_counter() - t
        except FileNotFoundError:
            return Outcome(obj.key, "skipped", "the object no longer exists in landing", "gone")
        if obj.version_id and _current_version(zones.landing, obj.key) != obj.version_id:
            # a newer version was uploaded after this event: its own event ingests it
            return Outcome(
                obj.key,
                "skipped",
                "a newer version of this key was uploaded since; that one is ingested",
                "superseded",
            )
        manifest["source"].update(size=info.size, etag=info.etag or obj.etag)
        manifest["source"]["version_id"] = info.version_id or obj.version_id
        manifest["source"]["sha256"] = _sha256(source)
        try:
            contract = _contract_for(dataset, contracts)
            manifest["contract_sha256"] = _contract_digest(contract)
            if _unchanged(manifest, previous, key):
                return Outcome(
                    obj.key,
                    "skipped",
                    "this content was already ingested under this key",
                    "unchanged",
                    manifest_key,
                    previous or {},
                )
            earlier = _earlier_copy(zones.curated, str(dataset), sid, manifest["source"]["sha256"])
            if earlier is not None:
                step("duplicate")
                return _duplicate(obj, zones, manifest, manifest_key, previous, earlier, started)
            step("sniff")
            fmt = sniff(source, is_header=lambda fields: _names_required(contract, fields))
            manifest["format"] = {
                "encoding": fmt.encoding,
                "compression": fmt.compression,
                "delimiter": fmt.delimiter,
                "header_line": fmt.skip + 1,
            }
            if len(fmt.header) > MAX_COLUMNS:
                raise FileRejected(
                    f"the header has {len(fmt.header):,} fields or more; the ingest reads at "
                    f"most {MAX_COLUMNS:,} columns: export only the columns the dataset needs",
                    "too_large",
                )
            mapping = map_header(contract, list(fmt.header))
            # header names are recorded only once the header is known to be one: a file
            # without a header would otherwise put its first row (PII) into reports
            _check_header(contract, mapping)
            manifest["columns"] = {
                "mapped": {
                    h: c.name
                    for h, c in zip(mapping.source_headers, mapping.columns, strict=True)
                    if c is not None
                },
                "ignored": list(mapping.ignored),
                "missing_optional": list(mapping.missing_optional),
            }
            prepared = _utf8_copy(source, fmt, tmp, step, timings, options.max_object_bytes)
            manifest["format"]["encoding"] = prepared.fmt.encoding  # the whole file decided it
            readable, fmt = prepared.path, prepared.readable_fmt
            known = _known_keys(zones.curated, contract, sid, tmp / "known")
            version = layout.output_version(
                manifest["source"]["sha256"], manifest["contract_sha256"], key.key_id
            )
            t = time.perf_counter()
            result = transform(
                readable,
                fmt,
                mapping,
                contract,
                key,
                out_dir=tmp / "out",
                work_dir=tmp,
                sid=layout.output_name(sid, version),
                memory_limit=options.memory_limit,
                threads=options.threads,
                on_step=step,
                known_keys=known.keys,
                earlier_rows=partial(_earlier_rows, zones.curated, str(dataset), tmp / "earlier"),
                deadline=options.deadline,
            )
            timings["transform"] = time.perf_counter() - t
            _record_result(manifest, result, zones.curated, str(dataset))
            if result.reject_ratio > contract.max_reject_ratio:
                raise FileRejected(
                    _reject_summary(result, contract.max_reject_ratio),
                    "too_many_rejects",
                    rejects=result.rejects_path,
                )
        except (UnreadableFile, TransformError, FileRejected) as exc:
            with suppress(DeadlineExceeded):  # a file known to be bad is quarantined anyway
                step("quarantine")
            rejects = exc.rejects if isinstance(exc, FileRejected) else None
            return _quarantine(
                obj, zones, manifest, manifest_key, previous, exc.reason, exc.code, timings,
                started, rejects=rejects,
            )  # fmt: skip
        step("publish")
        t = time.perf_counter()
        outcome = _publish(
            obj, zones, manifest, manifest_key, previous, result, key, contract, known, tmp
        )
        timings["publish"] = time.perf_counter() - t
    outcome.manifest["timings_s"] = _rounded(timings, started)
    zones.curated.put_bytes(manifest_key, _dumps(outcome.manifest), JSON)
    # which source holds these bytes: a later copy of the same file under another name is
    # recorded as a duplicate of this one (_earlier_copy checks the record against this
    # manifest, so a record left by a replaced version is never believed)
    zones.curated.put_bytes(
        layout.content_index_key(str(dataset), manifest["source"]["sha256"]),
        _dumps({"source_id": sid, "key": obj.key, "recorded_at": manifest["processed_at"]}),
        JSON,
    )
    _retire(zones, previous, outcome.manifest)
    return outcome


def _sequencer(value: object) -> str | None:
    """An S3 sequencer, comparable as text: hex, right-padded with zeros to one length (the
    S3 documentation's rule for comparing the sequencers of two events on one key)."""
    return str(value).upper().ljust(32, "0") if value else None


def _is_older(obj: LandedObject, previous: dict[str, Any] | None) -> bool:
    """The event is for an upload older than the one the manifest records."""
    if not previous:
        return False
    mine = _sequencer(obj.sequencer)
    theirs = _sequencer((previous.get("source") or {}).get("sequencer"))
    return mine is not None and theirs is not None and mine < theirs


def _current_version(landing: Storage, key: str) -> str | None:
    info = landing.head(key)
    return info.version_id if info is not None else None


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _unchanged(manifest: dict[str, Any], previous: dict[str, Any] | None, key: HmacKey) -> bool:
    """The previous run of this key ingested the same bytes with the same contract and key."""
    # (a duplicate is looked at again: the source it repeated may have been replaced since)
    if not previous or previous.get("status") not in ("curated", "quarantined"):
        return False
    before = previous.get("source") or {}
    key_id = (previous.get("pseudonymisation") or {}).get("key_id")
    return (
        before.get("sha256") == manifest["source"]["sha256"]
        and previous.get("contract_sha256") == manifest["contract_sha256"]
        and key_id in (None, key.key_id)
    )


def _earlier_copy(curated: Storage, dataset: str, sid: str, sha256: str) -> dict[str, Any] | None:
    """The manifest of another source that curated exactly these bytes, if one still does."""
    record = _read_json(curated, layout.content_index_key(dataset, sha256))
    if not record or record.get("source_id") in (None, sid):
        return None
    other = _read_json(curated, layout.manifest_key(dataset, str(record["source_id"])))
    if (
        other is None
        or other.get("status") != "curated"
        or (other.get("source") or {}).get("sha256") != sha256
    ):
        return None  # that source was replaced since: this file is ingested on its own
    return other


@dataclass(frozen=True)
class _Known:
    """The other sources' keys as read for this ingest, and the listing they were read from."""

    keys: KnownKeys
    listing: dict[str, keyindex.Listed]  # source id → its key file's (size, modified)


def _key_listing(curated: Storage, dataset: str, sid: str) -> dict[str, keyindex.Listed]:
    """The key files of the dataset's other sources: source id → (size, last modified)."""
    listing: dict[str, keyindex.Listed] = {}
    for item in curated.list(layout.keys_index_prefix(dataset)):
        other = layout.sid_of_keys_index(item.key)
        if other != sid and item.key.endswith(".parquet"):
            listing[other] = (item.size, item.last_modified or 0.0)
    return listing


def _known_keys(curated: Storage, contract: DatasetContract, sid: str, folder: Path) -> _Known:
    """The keys of the dataset's other sources: the compacted index's current part, and the
    key files it does not cover, downloaded one by one (ingest.keyindex)."""
    if not contract.key:
        return _Known(KnownKeys(), {})
    folder.mkdir(parents=True, exist_ok=True)
    listing = _key_listing(curated, contract.dataset, sid)
    compacted: Path | None = None
    covered: frozenset[str] = frozenset()
    try:
        path = folder / "compacted.parquet"
        curated.download(layout.keys_compacted_key(contract.dataset), path)
        compacted = path
        covered = keyindex.current(keyindex.compacted_sources(path), listing) - {sid}
    except FileNotFoundError:
        pass  # none yet
    files: dict[str, Path] = {}
    for other in sorted(set(listing) - covered):
        path = folder / f"{other}.parquet"
        try:
            curated.download(layout.keys_index_key(contract.dataset, other), path)
        except FileNotFoundError:  # replaced or removed since the listing
            continue
        files[other] = path
    return _Known(KnownKeys(files, compacted, covered), listing)


def _compact_keys(
    curated: Storage, contract: DatasetContract, sid: str, known: _Known, ours: Path, tmp: Path
) -> None:
    """After publishing: merge the key files this ingest had to read one by one (and its own)
    into the compacted index, when there were COMPACT_AFTER or more of them."""
    if len(known.keys.files) < keyindex.COMPACT_AFTER:
        return
    now = _key_listing(curated, contract.dataset, "")  # with this source's own file
    # a source replaced since its keys were read is left out: its new file is read next time
    stable = {s: seen for s, seen in now.items() if s == sid or known.listing.get(s) == seen}
    target = tmp / "keys-compacted.parquet"
    if keyindex.compact(known.keys, (sid, ours), stable, contract.key, target):
        curated.upload(
            target, layout.keys_compacted_key(contract.dataset), "application/vnd.apache.parquet"
        )


def _earlier_rows(curated: Storage, dataset: str, folder: Path, sids: list[str]) -> list[Path]:
    """The curated files of earlier sources, downloaded (to compare repeated rows)."""
    paths = []
    for other in sids:
        manifest = _read_json(curated, layout.manifest_key(dataset, other)) or {}
        for n, output in enumerate(manifest.get("outputs", [])):
            path = folder / other / f"{other}-{n}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                curated.download(output["key"], path)
            except FileNotFoundError:
                continue
            paths.append(path)
    return paths


def _contract_for(dataset: str | None, contracts: ContractRegistry) -> DatasetContract:
    known = ", ".join(contracts.names())
    if dataset is None:
        raise FileRejected(
            f"the file is not inside a dataset folder; land it as <dataset>/<name>.csv, "
            f"without '.' or '..' segments in the key (datasets: {known})",
            "no_dataset",
        )
    contract = contracts.get(dataset)
    if contract is None:
        raise FileRejected(
            f"there is no dataset called {dataset!r} (datasets: {known})", "unknown_dataset"
        )
    return contract


def _contract_digest(contract: DatasetContract) -> str:
    text = json.dumps(contract.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _utf8_copy(
    source: Path,
    fmt: SourceFormat,
    tmp: Path,
    step: Callable[[str], None],
    timings: dict[str, float],
    max_bytes: int | None = None,
) -> Prepared:
    """The file DuckDB reads (the source itself when it is plain UTF-8, else a plain UTF-8
    copy) and its records, counted in the same pass (``sniff.prepare``). A compressed file
    whose text exceeds ``max_bytes`` (Settings.max_object_bytes, the bound on the landed
    object, applied again to what it decompresses to) is ``too_large``: a gzip bomb is
    quarantined before it fills the temporary disk."""
    step("decode")
    t = time.perf_counter()
    prepared = prepare(source, fmt, tmp / "source-utf8.csv", max_bytes)
    timings["decode"] = time.perf_counter() - t
    return prepared


def _record_result(
    manifest: dict[str, Any], result: TransformResult, curated: Storage, dataset: str
) -> None:
    dup = result.duplicates
    manifest["rows"] = {
        "read": result.rows_read,
        "written": result.rows_written,
        "rejected": result.rows_rejected,
        "lines_rejected": result.lines_rejected,
        "duplicates": dup.rows,
    }
    manifest["reject_reasons"] = result.reject_reasons
    if result.rejects_path is not None:  # how many of them the rejects file holds
        manifest["rejected_rows"] = {"kept": result.rejects_kept, "cap": REJECTED_ROWS_CAP}
    manifest["duplicates"] = {
        "rows": dup.rows,
        "within_file": dup.within_file,
        "identical": dup.identical,
        "conflicting": dup.conflicting,
        "earlier": [
            {
                "source_id": other,
                "key": (
                    (_read_json(curated, layout.manifest_key(dataset, other)) or {}).get("source")
                    or {}
                ).get("key"),
                "rows": n,
            }
            for other, n in sorted(dup.earlier.items())
        ],
    }
    manifest["pseudonyms"] = {
        "distinct": result.distinct_pseudonyms,
        "phones_not_recognised": result.phones_not_recognised,
    }


def _previous_keys(previous: dict[str, Any] | None) -> tuple[set[str], set[str]]:
    """(curated keys, quarantine keys) an earlier run of the same source may have left."""
    if not previous:
        return set(), set()
    curated = {o["key"] for o in previous.get("outputs", [])}
    curated |= set(previous.get("pending_outputs", []))
    curated |= set(previous.get("retired_outputs", []))
    quarantine = set(previous.get("quarantine", {}).values())
    return curated, quarantine


def _retire(zones: Zones, previous: dict[str, Any] | None, manifest: dict[str, Any]) -> None:
    """After the manifest names the new state: remove what earlier runs left and it does not.

    Until this point a reader following the previous manifest still finds all its files.
    """
    old_curated, old_quarantine = _previous_keys(previous)
    current = {o["key"] for o in manifest.get("outputs", [])}
    zones.curated.delete(sorted(old_curated - current))
    zones.quarantine.delete(sorted(old_quarantine - set(manifest.get("quarantine", {}).values())))


def _check_new_keys(
    curated: Storage,
    contract: DatasetContract,
    sid: str,
    known: _Known,
    ours: Path,
    folder: Path,
) -> None:
    """Raise SourceBusy if a source published since the lookup repeats keys of this file.

    Two files with the same keys ingested at the same moment would otherwise both publish
    them; the later one to get here is retried and then finds the other's keys.
    """
    fresh = []
    for other, seen in _key_listing(curated, contract.dataset, sid).items():
        if known.listing.get(other) == seen:
            continue  # read at the lookup, unchanged since
        path = folder / f"{other}.new.parquet"
        try:
            curated.download(layout.keys_index_key(contract.dataset, other), path)
        except FileNotFoundError:
            continue
        fresh.append(path)
    if fresh and common_keys(ours, fresh, contract.key):
        raise SourceBusy(
            "a file with some of the same keys was published while this one was being "
            "ingested; retry to count them as duplicates"
        )


def _publish(
    obj: LandedObject,
    zones: Zones,
    manifest: dict[str, Any],
    manifest_key: str,
    previous: dict[str, Any] | None,
    result: TransformResult,
    key: HmacKey,
    contract: DatasetContract,
    known: _Known,
    tmp: Path,
) -> Outcome:
    new_curated = {o.key for o in result.outputs}
    old_curated, _ = _previous_keys(previous)
    # Readers keep following the previous state (status, outputs) while this one is written;
    # ``pending_outputs`` lets a retry after a crash find what this attempt may have left.
    pending = (
        dict(previous)
        if previous
        else {**manifest, "status": "publishing", "outputs": [], "quarantine": {}}
    )
    pending["pending_outputs"] = sorted(new_curated | old_curated)
    zones.curated.put_bytes(manifest_key, _dumps(pending), JSON)

    outputs: list[dict[str, Any]] = []
    for output in result.outputs:
        zones.curated.upload(output.path, output.key, "application/vnd.apache.parquet")
        outputs.append(
            {
                "key": output.key,
                "partition": output.partition,
                "rows": output.rows,
                "bytes": output.bytes,
            }
        )
    quarantine: dict[str, str] = {}
    if result.rejects_path is not None:
        quarantine["rejected_rows"] = layout.rejects_key(obj.key)
        zones.quarantine.upload(
            result.rejects_path, quarantine["rejected_rows"], "application/x-ndjson"
        )
    if result.duplicates.conflicts_path is not None:
        quarantine["conflicting_rows"] = layout.conflicts_key(obj.key)
        zones.quarantine.upload(
            result.duplicates.conflicts_path,
            quarantine["conflicting_rows"],
            "application/x-ndjson",
        )
    dataset, sid = str(manifest["dataset"]), str(manifest["source_id"])
    if result.keys_path is not None:
        _check_new_keys(zones.curated, contract, sid, known, result.keys_path, tmp)
        zones.curated.upload(
            result.keys_path,
            layout.keys_index_key(dataset, sid),
            "application/vnd.apache.parquet",
        )
        _compact_keys(zones.curated, contract, sid, known, result.keys_path, tmp)
    retired = sorted(old_curated - new_curated)
    manifest.update(
        status="curated",
        reason=None,
        code=None,
        outputs=outputs,
        quarantine=quarantine,
        bytes={"in": manifest["source"]["size"], "out": sum(o["bytes"] for o in outputs)},
        pseudonymisation={
            "algorithm": f"HMAC-SHA256, first {PSEUDONYM_HEX_CHARS * 4} bits, hex",
            "key_id": key.key_id,
        },
        replaced_outputs=len(retired),
        retired_outputs=retired,
        processed_at=_now(),
    )
    manifest["pseudonymisation"].update(manifest.pop("pseudonyms", {}))
    return Outcome(obj.key, "curated", manifest_key=manifest_key, manifest=manifest)


def _duplicate(
    obj: LandedObject,
    zones: Zones,
    manifest: dict[str, Any],
    manifest_key: str,
    previous: dict[str, Any] | None,
    earlier: dict[str, Any],
    started: float,
) -> Outcome:
    """Record a file whose bytes another source already curated: nothing is published again."""
    rows = earlier.get("rows") or {}
    read = int(rows.get("read") or 0)
    earlier_key = (earlier.get("source") or {}).get("key")
    reason = f"the same content was already curated from {earlier_key}"
    manifest.update(
        status="duplicate",
        reason=reason,
        code="duplicate_file",
        duplicate_of={"source_id": earlier.get("source_id"), "key": earlier_key},
        rows={"read": read, "written": 0, "rejected": 0, "lines_rejected": 0, "duplicates": read},
        duplicates={"rows": read, "within_file": 0, "identical": read, "conflicting": 0},
        outputs=[],
        quarantine={},
        bytes={"in": manifest["source"]["size"], "out": 0},
        replaced_outputs=len(_previous_keys(previous)[0]),
        processed_at=_now(),
        timings_s=_rounded({}, started),
    )
    zones.curated.put_bytes(manifest_key, _dumps(manifest), JSON)
    zones.curated.delete([layout.keys_index_key(str(manifest["dataset"]), manifest["source_id"])])
    _retire(zones, previous, manifest)
    return Outcome(obj.key, "duplicate", reason, "duplicate_file", manifest_key, manifest)


def _quarantine(
    obj: LandedObject,
    zones: Zones,
    manifest: dict[str, Any],
    manifest_key: str,
    previous: dict[str, Any] | None,
    reason: str,
    code: str,
    timings: dict[str, float],
    started: float,
    *,
    rejects: Path | None = None,
) -> Outcome:
    copy_key, error_key = layout.quarantine_key(obj.key), layout.error_key(obj.key)
    # the version this run read, not whatever was uploaded since
    zones.quarantine.copy_from(
        zones.landing, obj.key, copy_key, manifest["source"].get("version_id")
    )
    quarantine = {"copy": copy_key, "error": error_key}
    if rejects is not None:  # a file with too many bad rows: which ones, as for a curated one
        quarantine["rejected_rows"] = layout.rejects_key(obj.key)
        zones.quarantine.upload(rejects, quarantine["rejected_rows"], "application/x-ndjson")
    if manifest.get("rows"):
        # nothing of a quarantined file is written: its good rows are counted as quarantined
        # (read = written + rejected + duplicates + quarantined, as for every manifest)
        rows = manifest["rows"]
        rows["quarantined"], rows["written"] = rows.get("written", 0), 0
    report = {
        "source": manifest["source"],
        "dataset": manifest["dataset"],
        "status": "quarantined",
        "reason": reason,
        "code": code,
        "rows": manifest.get("rows"),
        "reject_reasons": manifest.get("reject_reasons"),
        "rejected_rows": quarantine.get("rejected_rows"),
        "quarantined_at": _now(),
        "manifest": zones.curated.location(manifest_key),
        "next_step": "fix the file and land it again under the same key; "
        "it replaces this quarantined copy",
    }
    zones.quarantine.put_bytes(error_key, _dumps(report), JSON)
    old_curated, _ = _previous_keys(previous)
    manifest.update(
        status="quarantined",
        reason=reason,
        code=code,
        outputs=[],
        quarantine=quarantine,
        bytes={"in": manifest["source"]["size"], "out": 0},
        replaced_outputs=len(old_curated),
        processed_at=_now(),
        timings_s=_rounded(timings, started),
    )
    manifest.pop("pseudonyms", None)
    zones.curated.put_bytes(manifest_key, _dumps(manifest), JSON)
    if manifest["dataset"]:
        zones.curated.delete(
            [layout.keys_index_key(str(manifest["dataset"]), manifest["source_id"])]
        )
    _retire(zones, previous, manifest)
    return Outcome(obj.key, "quarantined", reason, code, manifest_key, manifest)


def _rounded(timings: dict[str, float], started: float) -> dict[str, float]:
    return {
        **{k: round(v, 3) for k, v in timings.items()},
        "total": round(time.perf_counter() - started, 3),
    }


def _dumps(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _read_json(storage: Storage, key: str) -> dict[str, Any] | None:
    raw = storage.get_bytes(key)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
