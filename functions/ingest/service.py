"""Ingest one landed object: curated Parquet or quarantine, a manifest either way.

The service receives everything it touches as arguments (zones, key, contracts, options):
nothing here reads the environment or builds an AWS client. It does not log either — it
returns an Outcome that the caller logs — so no row value can reach a log line from here.

Publication order (S3 has no multi-object transactions; this keeps every state recoverable):

1. a manifest with status ``publishing`` listing the outputs about to be written,
2. the Parquet files (deterministic names: a retry overwrites, never duplicates),
3. the rejected rows, if any, to quarantine,
4. removal of outputs an earlier version of the same object produced that this run did not,
5. the final manifest (``curated``).

A file that fails as a whole gets an untouched copy and a ``.error.json`` in quarantine and a
manifest with status ``quarantined``; outputs of an earlier version of it are removed. The
source in landing is never modified or deleted.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ingest import layout
from ingest.contracts import ContractRegistry, DatasetContract, HeaderMapping, map_header
from ingest.pseudonymise import PSEUDONYM_HEX_CHARS, HmacKey
from ingest.sniff import (
    MAX_TITLE_LINES,
    SourceFormat,
    UnreadableFile,
    sniff,
    transcode_to_utf8,
)
from ingest.storage import Storage
from ingest.transform import TransformError, TransformResult, transform

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
    }
)  # fmt: skip
JSON = "application/json"
Status = Literal["curated", "quarantined", "skipped"]


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

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


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
    """Curate or quarantine one landed object and write its manifest."""
    step = on_step or (lambda _name: None)
    started = time.perf_counter()
    timings: dict[str, float] = {}
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
    manifest_key = layout.manifest_key(dataset or "_unknown", sid)
    previous = _read_json(zones.curated, manifest_key)

    with tempfile.TemporaryDirectory(prefix="ingest-", dir=options.work_dir) as tmp_name:
        tmp = Path(tmp_name)
        source = tmp / "source"
        try:
            step("download")
            t = time.perf_counter()
            info = zones.landing.download(obj.key, source)
            timings["download"] = time.perf_counter() - t
        except FileNotFoundError:
            return Outcome(obj.key, "skipped", "the object no longer exists in landing", "gone")
        manifest["source"].update(size=info.size, etag=info.etag or obj.etag)
        manifest["source"]["version_id"] = info.version_id or obj.version_id
        try:
            contract = _contract_for(dataset, contracts)
            manifest["contract_sha256"] = _contract_digest(contract)
            step("sniff")
            fmt = sniff(source, is_header=lambda fields: _names_required(contract, fields))
            manifest["format"] = {
                "encoding": fmt.encoding,
                "compression": fmt.compression,
                "delimiter": fmt.delimiter,
                "header_line": fmt.skip + 1,
            }
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
            readable = _utf8_copy(source, fmt, tmp, step, timings)
            t = time.perf_counter()
            result = transform(
                readable,
                fmt,
                mapping,
                contract,
                key,
                out_dir=tmp / "out",
                work_dir=tmp,
                sid=sid,
                memory_limit=options.memory_limit,
                threads=options.threads,
                on_step=step,
            )
            timings["transform"] = time.perf_counter() - t
            _record_result(manifest, result)
            if result.reject_ratio > contract.max_reject_ratio:
                raise FileRejected(
                    _reject_summary(result, contract.max_reject_ratio), "too_many_rejects"
                )
        except (UnreadableFile, TransformError, FileRejected) as exc:
            step("quarantine")
            return _quarantine(
                obj, zones, manifest, manifest_key, previous, exc.reason, exc.code, timings, started
            )
        step("publish")
        t = time.perf_counter()
        outcome = _publish(obj, zones, manifest, manifest_key, previous, result, key)
        timings["publish"] = time.perf_counter() - t
    outcome.manifest["timings_s"] = _rounded(timings, started)
    zones.curated.put_bytes(manifest_key, _dumps(outcome.manifest), JSON)
    return outcome


def _contract_for(dataset: str | None, contracts: ContractRegistry) -> DatasetContract:
    known = ", ".join(contracts.names())
    if dataset is None:
        raise FileRejected(
            f"the file is not inside a dataset folder; land it as <dataset>/<name>.csv "
            f"(datasets: {known})",
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
) -> Path:
    """The file DuckDB reads: the source itself when it is UTF-8, else a UTF-8 transcoding."""
    if fmt.duckdb_readable:
        return source
    step("decode")
    t = time.perf_counter()
    target = tmp / "source-utf8.csv"
    transcode_to_utf8(source, fmt, target)
    timings["decode"] = time.perf_counter() - t
    return target


def _record_result(manifest: dict[str, Any], result: TransformResult) -> None:
    manifest["rows"] = {
        "read": result.rows_read,
        "written": result.rows_written,
        "rejected": result.rows_rejected,
        "lines_rejected": result.lines_rejected,
    }
    manifest["reject_reasons"] = result.reject_reasons
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
    quarantine = set(previous.get("quarantine", {}).values())
    return curated, quarantine


def _publish(
    obj: LandedObject,
    zones: Zones,
    manifest: dict[str, Any],
    manifest_key: str,
    previous: dict[str, Any] | None,
    result: TransformResult,
    key: HmacKey,
) -> Outcome:
    new_curated = {o.key for o in result.outputs}
    old_curated, old_quarantine = _previous_keys(previous)
    pending = {
        **manifest,
        "status": "publishing",
        "pending_outputs": sorted(new_curated | old_curated),
    }
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
    stale_curated = sorted(old_curated - new_curated)
    zones.curated.delete(stale_curated)
    zones.quarantine.delete(sorted(old_quarantine - set(quarantine.values())))

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
        replaced_outputs=len(stale_curated),
        processed_at=_now(),
    )
    manifest["pseudonymisation"].update(manifest.pop("pseudonyms", {}))
    return Outcome(obj.key, "curated", manifest_key=manifest_key, manifest=manifest)


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
) -> Outcome:
    copy_key, error_key = layout.quarantine_key(obj.key), layout.error_key(obj.key)
    zones.quarantine.copy_from(zones.landing, obj.key, copy_key)
    report = {
        "source": manifest["source"],
        "dataset": manifest["dataset"],
        "status": "quarantined",
        "reason": reason,
        "code": code,
        "rows": manifest.get("rows"),
        "reject_reasons": manifest.get("reject_reasons"),
        "quarantined_at": _now(),
        "manifest": zones.curated.location(manifest_key),
        "next_step": "fix the file and land it again under the same key; "
        "it replaces this quarantined copy",
    }
    zones.quarantine.put_bytes(error_key, _dumps(report), JSON)
    old_curated, old_quarantine = _previous_keys(previous)
    zones.curated.delete(sorted(old_curated))
    zones.quarantine.delete(sorted(old_quarantine - {copy_key, error_key}))
    manifest.update(
        status="quarantined",
        reason=reason,
        code=code,
        outputs=[],
        quarantine={"copy": copy_key, "error": error_key},
        bytes={"in": manifest["source"]["size"], "out": 0},
        replaced_outputs=len(old_curated),
        processed_at=_now(),
        timings_s=_rounded(timings, started),
    )
    manifest.pop("pseudonyms", None)
    zones.curated.put_bytes(manifest_key, _dumps(manifest), JSON)
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
