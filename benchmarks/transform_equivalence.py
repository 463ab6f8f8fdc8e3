"""Side by side: the ingest transform of an old revision against a new one (issue 16).

    .venv/bin/python benchmarks/transform_equivalence.py                  # HEAD vs working tree
    .venv/bin/python benchmarks/transform_equivalence.py --old HEAD~3 --new HEAD
    .venv/bin/python benchmarks/transform_equivalence.py --scale 0.1 --only edge,corpus

Each side is a source tree: ``--old REV`` (default ``HEAD``) and ``--new`` (default: the working
tree at the repository root; or a REV). A REV is checked out with ``git worktree add --detach``
into a temporary folder, removed at the end. Each side runs in a child process of this script
(``--child --tree T --inputs I --out O``) with ``PYTHONPATH=T/functions:T`` first on the path,
so that ``import ingest.transform`` is that tree's (the child checks ``ingest.__file__``).

The inputs are built once, in a temporary folder, and shared by both sides:

- ``clean``: ``lakedrop.generate``, 18 months, 200k rows;
- ``messy``: ``messy=True``, 100k rows;
- ``cp949``: Korean headers, messy, CP949, 100k rows (``sniff.prepare`` turns it into a UTF-8
  copy, as the Lambda does);
- ``month``: one month, 50k rows, with ``ingest.transform._BLOCK_ROWS``/``PIECE_ROWS`` set to
  1,000/4,000 (when the tree has them) so that the one partition is written as several files;
  it is also run a second time (Asia/Seoul) to check that reruns are byte-identical;
- ``edge``: a hand-written CSV of ~160 rows: timestamps in every accepted shape and some
  rejected ones, clock changes, years 1, 25 and BC, thousands separators right and wrong, bad
  booleans and integers, ragged lines, quoted line breaks, blank and whitespace-only PII;
  ``edge_2025``: its rows with 2025 times only (the zones' fixed-offset path); ``edge_pieces``:
  ``edge`` again with blocks of 10 rows and files of 40 (several files per partition, the
  partition-sorted copy, clock-change moves); ``clock_blocks``: 20 rows around the day
  Pacific/Kiritimati skipped (1994-12-31), blocks of 10: a skipped time moves into the next
  month, whose own rows start in the next row group;
- ``corpus/<case>``: the bad-file corpus of ``tests/functions/ingest/test_corpus.py`` (its
  small, content-only cases).

Each input goes through what ``ingest.service`` does (``sniff`` with the contract's header
test, ``map_header``, the header checks, ``sniff.prepare``, ``transform``) under the
``transactions`` contract in the time zones Asia/Seoul, Europe/Paris, America/Santiago and UTC
(the edge files also Pacific/Kiritimati), with a fixed HMAC key and no known keys.

Compared per (input, zone): counts, reject reasons, pseudonym counts, duplicates, the
rejected-rows JSONL, the partitions, every partition's rows in order (its files concatenated
in file order) with their values, the column names and types, or the error if the transform
raised. Expected differences, reported apart: the schema's nullability (every column
OPTIONAL on the new side), more than one file per partition, and a required PII field of
whitespace only (tab, no-break space, ...) rejected as ``customer_id: missing`` by the new
side where the old one wrote it with a NULL pseudonym. Anything else is unexpected: the
summary says which aspect differs, the JSON report (``--out-dir``, default
``benchmarks/out/transform_equivalence-<UTC time>.json``) shows the first differing rows, and
the exit status is 1.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lakedrop.generate import COLUMNS

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
ZONES = ("Asia/Seoul", "Europe/Paris", "America/Santiago", "UTC")
EDGE_ZONES = (*ZONES, "Pacific/Kiritimati")
KEY = b"transform-equivalence fixed key, 32+ bytes long"
MEMORY_LIMIT = "500MB"
SID = "equiv-000000000000"
MISSING = "customer_id: missing"
# corpus cases left out: large by design (they test limits, not typing) or about the key
SKIPPED_CASES = {"gzip_bomb", "wide_header", "header_100000_columns", "line_200mb"}
DIFF_EXAMPLES = 5  # differing rows kept per partition in the report

Json = dict[str, Any]


# --- inputs ----------------------------------------------------------------------------------

EDGE_HEADER = ",".join(COLUMNS)
BASE = {
    "customer_id": "C1",
    "customer_name": "김민수",
    "email": "kim@naver.com",
    "phone": "010-1234-5678",
    "event_time": "2025-06-10 10:00:00",
    "amount": "1000",
    "quantity": "1",
    "category": "식품",
    "channel": "online",
    "country": "KR",
    "is_refund": "N",
}
# (value, in 2025?) accepted by HEAD's rules, and some that are not
TIMESTAMPS = [
    ("2025-06-01 10:00:00", True),
    ("2025-06-01 10:00", True),
    ("2025/06/01 10:00:00", True),
    ("2025/06/01 10:00", True),
    ("2025.06.01 10:00:00", True),
    ("2025.06.01 10:00", True),
    ("2025-06-01 오후 1:05:00", True),
    ("2025-06-01 오후 12:05", True),
    ("2025-06-01 오전 12:30:00", True),
    ("2025. 6. 1 오후 1:05:00", True),
    ("2025. 7. 1 오전 12:30:00", True),
    ("2025. 6. 2. 오전 9:00:00", True),
    ("2025-06-03 1:05:00 PM", True),
    ("2025-06-03 1:05:00 AM", True),
    ("2025-06-04", True),
    ("2025-6-4 7:08:09", True),
    ("2025-06-01T10:00:00", True),
    ("2025-06-01T10:00:00+09:00", True),
    ("2025-06-01T10:00:00Z", True),
    ("2025-06-01 10:00:00-04:00", True),
    ("2025-06-01T10:00:00.123456+05:30", True),
    ("2025-06-01T10:00:00.5", True),
    ("2025-06-30T23:59:59.999999+14:00", True),
    ("2025-06-30 23:59:59.999", True),
    (" 2025-06-01 10:00:00 ", True),
    ("2025-06-30 23:59:59", True),
    ("2025-07-01 00:00:00", True),
    ("2025-12-31 23:30:00", True),
    ("2026-01-01T00:30:00+09:00", False),
    # clock changes (Europe/Paris, America/Santiago)
    ("2025-03-30 01:59:59", True),
    ("2025-03-30 02:30:00", True),
    ("2025-03-30 03:00:00", True),
    ("2025-10-26 02:30:00", True),
    ("2025-10-26 03:00:00", True),
    ("2025-03-31 23:30:00", True),
    ("2025-03-30T02:30:00+02:00", True),
    ("2025-04-05 23:30:00", True),
    ("2025-09-06 23:59:00", True),
    ("2025-09-07 00:30:00", True),
    ("2025-09-07 00:00:00", True),
    # Pacific/Kiritimati skipped 1994-12-31
    ("1994-12-30 23:59:00", False),
    ("1994-12-31 12:00:00", False),
    ("1994-12-31 23:59:59", False),
    ("1995-01-01 00:30:00", False),
    # far years
    ("0001-01-01 00:00:00", False),
    ("0001-01-01", False),
    ("0025-06-15 12:00:00", False),
    ("0025-06-15T12:00:00+09:00", False),
    ("25-06-15 12:00:00", False),
    ("0044-03-15 12:00:00 (BC)", False),
    ("0044-03-15 (BC)", False),
    ("0044-03-15 12:00:00 BC", False),
    ("-0044-03-15 12:00:00", False),
    ("9999-12-31 23:59:59", False),
    ("1900-01-01 00:00:00", False),
    ("1908-04-01 00:00:00", False),
    ("1969-12-31 23:59:59", False),
    ("1970-01-01 00:00:00", False),
    ("2024-02-29 12:00:00", False),
    # rejected (or not: whatever HEAD says)
    ("2025-02-29 12:00:00", True),
    ("yesterday", True),
    ("2025-13-01 10:00:00", True),
    ("2025-06-31 10:00:00", True),
    ("2025-06-01 25:00:00", True),
    ("2025-06-01 24:00:00", True),
    ("2025-06-01 오후 13:05:00", True),
    ("2025-06-01 오전 0:05:00", True),
    ("06/01/2025 10:00", True),
    ("20250601", True),
    ("20250601 100000", True),
    ("2025-06-01 10:00:00 +9", True),
    ("2025-06-01 10:00:00 KST", True),
    ("2025-06-01 10:00:00 Asia/Seoul", True),
    ("1e9", True),
    ("", True),
    ("   ", True),
    ("\t2025-06-01 10:00:00", True),
]
AMOUNTS = [
    "1,234", "1,234,567.5", " -4,500.25 ", "+7", "1.230", ".5", "12500", "0", "-0",
    "9999999999999999.99", "10000000000000000", "1,5", "12,50", "1.234,56", "1,2345", ",123",
    "1e3", "1_000", "1.234", "1,234.567", "abc", "", "-", ".", "0x10", "1 000", "₩1000",
    "1,000,00", "１２３",
]  # fmt: skip
QUANTITIES = [
    "1,000", "3.00", " 12 ", "1.5", "0x10", "2e1", "9223372036854775807",
    "9223372036854775808", "-1", "", "1,00", "+0",
]  # fmt: skip
BOOLEANS = [
    "Y", "N", "yes", "no", "TRUE", "False", "t", "f", "1", "0", "예", "네", "아니오", "아니요",
    "o", "x", "O", "X", " Y ", "maybe", "2", "yes!", "ㅇ", "", "\tY",
]  # fmt: skip
WHITESPACE = ["\t", "\u00a0", "\u3000", " \t ", "\u2003", "\u00a0\u00a0", "\u200b"]


def _field(value: str) -> str:
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _line(tid: str, **values: str) -> str:
    row = {"transaction_id": tid, **BASE, **values}
    return ",".join(_field(row[c]) for c in EDGE_HEADER.split(","))


def edge_lines(only_2025: bool) -> list[str]:
    """The hand-written edge cases, one CSV record each (some spanning lines, some broken)."""
    lines = [
        _line(f"E{i}", event_time=t)
        for i, (t, in_2025) in enumerate(TIMESTAMPS)
        if in_2025 or not only_2025
    ]
    lines += [_line(f"A{i}", amount=a) for i, a in enumerate(AMOUNTS)]
    lines += [_line(f"Q{i}", quantity=q) for i, q in enumerate(QUANTITIES)]
    lines += [_line(f"B{i}", is_refund=b) for i, b in enumerate(BOOLEANS)]
    # required PII blank, spaces, whitespace of other kinds; optional PII whitespace
    lines += [_line("P0", customer_id=""), _line("P1", customer_id="   ")]
    lines += [_line(f"W{i}", customer_id=w) for i, w in enumerate(WHITESPACE)]
    lines += [
        _line("W90", customer_id="\t", amount="abc"),  # rejected either way, for another reason
        _line("W91", customer_id="\u3000", customer_name="단 한 번", email="once@x.kr"),
        _line("O1", customer_name="\t", email="\u3000", phone="\u00a0"),
        _line("O2", customer_name="", email="", phone=""),
        _line("O3", customer_id=" C1 ", customer_name="İSTANBUL ΟΔΟΣ", email=" Kim@Naver.COM "),
        _line("O4", phone="+82 10-1234-5678"),
        _line("O5", phone="02-312-3456"),
        _line("O6", phone="12345"),
        _line("O7", phone="not a phone"),
        _line("O8", phone="+1 212 555 0100"),
        _line("", customer_id="C9"),  # no transaction id
        _line("\t", customer_id="C9"),
        _line("D1"),
        _line("D1"),  # the same transaction again, identical
        _line("D2"),
        _line("D2", amount="5"),  # and with another amount
        _line("N1", category="식품\n음료", customer_name="김\n민수"),  # quoted line breaks
        _line("N2", category='say "hi"'),
        _line("N3", category="=HYPERLINK(1)", channel="+cmd", country="@SUM(1)"),
        "R1,C1,x",  # too few fields
        _line("R2") + ",extra",  # too many
        "",  # a blank line
        ",,,,,합계,30000,30,,,,",  # a totals row
        _line("Z1", customer_name="last"),
        _line("Z2", category='"food'),  # a quote opened and never closed, at the end
    ]
    return lines


def build_inputs(folder: Path, scale: float, wanted: list[str] | None) -> list[Json]:
    """Write the inputs into ``folder``; returns their descriptions (``inputs.json``)."""
    for path in (ROOT, ROOT / "functions"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    from lakedrop.generate import GenerateSpec, generate  # noqa: PLC0415 (after sys.path)

    def want(name: str) -> bool:
        return not wanted or any(name == w or name.startswith(w + "/") for w in wanted)

    inputs: list[Json] = []

    def add(name: str, path: Path, zones: tuple[str, ...], **extra: Any) -> None:
        file = path.relative_to(folder).as_posix()
        inputs.append({"name": name, "file": file, "zones": list(zones), **extra})

    generated: list[tuple[str, GenerateSpec, Json]] = [
        ("clean", GenerateSpec(rows=int(200_000 * scale), seed=42), {}),
        ("messy", GenerateSpec(rows=int(100_000 * scale), seed=7, messy=True), {}),
        (
            "cp949",
            GenerateSpec(
                rows=int(100_000 * scale),
                seed=11,
                korean_headers=True,
                messy=True,
                encoding="cp949",
            ),
            {},
        ),
        (
            "month",
            GenerateSpec(rows=int(50_000 * scale), seed=3, months=1),
            {"blocks": [1_000, 4_000], "rerun": ["Asia/Seoul"]},
        ),
    ]
    for name, spec, extra in generated:
        if want(name):
            path = folder / f"{name}.csv"
            started = time.perf_counter()
            generate(path, spec)
            print(
                f"  generated {name}: {spec.rows:,} rows in {time.perf_counter() - started:.1f} s"
            )
            add(name, path, ZONES, **extra)
    for name, only_2025, extra in [
        ("edge", False, {}),
        ("edge_2025", True, {}),
        ("edge_pieces", False, {"blocks": [10, 40]}),
    ]:
        if want(name):
            path = folder / f"{name}.csv"
            path.write_text(EDGE_HEADER + "\n" + "\n".join(edge_lines(only_2025)), "utf-8")
            add(name, path, EDGE_ZONES, **extra)
    if want("clock_blocks"):
        # Pacific/Kiritimati skipped 1994-12-31: that row moves into 1995-01, whose first own
        # row is in the next row group (blocks of 10 rows here, 122,880 by default)
        path = folder / "clock_blocks.csv"
        lines = [_line(f"K{i}", event_time="1994-12-30 10:00:00") for i in range(9)]
        lines.append(_line("K9", event_time="1994-12-31 12:00:00"))
        lines += [_line(f"K{i}", event_time="1995-01-02 10:00:00") for i in range(10, 20)]
        path.write_text(EDGE_HEADER + "\n" + "\n".join(lines) + "\n", "utf-8")
        add("clock_blocks", path, EDGE_ZONES, blocks=[10, 40])
    if want("corpus"):
        from tests.functions.ingest import test_corpus  # noqa: PLC0415 (after sys.path)

        corpus = folder / "corpus"
        corpus.mkdir()
        for case in test_corpus.CASES:
            name = f"corpus/{case.name}"
            if case.name in SKIPPED_CASES or case.key or not want(name):
                continue
            path = corpus / f"{case.name}.csv"
            path.write_bytes(case.data(corpus))
            add(name, path, ZONES)
    return inputs


# --- the child: one tree's transform over every input ---------------------------------------


def _slug(name: str) -> str:
    return name.replace("/", "_")


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _file_facts(path: Path) -> tuple[Json, list[list[Any]]]:
    """A Parquet file's schema and digest, and its rows as lists of JSON values."""
    table = pq.read_table(path)
    parquet = pq.ParquetFile(path).schema
    facts = {
        "name": path.name,
        "n": int(path.stem.rsplit("-", 1)[1]),
        "rows": table.num_rows,
        "sha256": _sha256(path),
        "schema": [[f.name, str(f.type), f.nullable] for f in table.schema],
        "parquet": [
            [c.name, c.physical_type, str(c.logical_type), c.max_definition_level]
            for c in (parquet.column(i) for i in range(len(parquet)))
        ],
    }
    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_decimal(kind):
            columns.append(column.cast(pa.string()).to_pylist())
        else:
            columns.append(column.to_pylist())
    return facts, [list(row) for row in zip(*columns, strict=True)]


def _jsonl(path: Path | None) -> list[Any]:
    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


@contextlib.contextmanager
def _blocks(rows: list[int] | None) -> Iterator[None]:
    """``_BLOCK_ROWS`` and ``PIECE_ROWS`` of ingest.transform set small, where they exist."""
    import ingest.transform as module  # noqa: PLC0415 (the child's tree)

    names = [name for name in ("_BLOCK_ROWS", "PIECE_ROWS") if hasattr(module, name)]
    saved = {name: getattr(module, name) for name in names}
    if rows:
        for name, value in zip(("_BLOCK_ROWS", "PIECE_ROWS"), rows, strict=True):
            if name in saved:
                setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def _run_one(source: Path, spec: Json, zone: str, work: Path, out: Path) -> Json:
    """What ingest.service does with one landed file, up to the transform's result."""
    # the child's tree (PYTHONPATH): imported here, never in the parent
    from ingest.contracts import ContractRegistry, map_header  # noqa: PLC0415
    from ingest.pseudonymise import HmacKey  # noqa: PLC0415
    from ingest.sniff import MAX_COLUMNS, UnreadableFile, prepare, sniff  # noqa: PLC0415
    from ingest.transform import TransformError, _unique_keys, transform  # noqa: PLC0415

    contract = ContractRegistry().get("transactions")
    if contract is None:
        raise SystemExit("no transactions contract in this tree")
    contract = contract.model_copy(update={"timezone": zone})
    record: Json = {"input": spec["name"], "zone": zone, "error": None}
    started = time.perf_counter()
    try:
        fmt = sniff(source, is_header=lambda f: not map_header(contract, list(f)).missing_required)
        if len(fmt.header) > MAX_COLUMNS:
            raise _Stop("header", "too_large", f"{len(fmt.header)} columns")
        mapping = map_header(contract, list(fmt.header))
        if mapping.missing_required:
            raise _Stop("header", "missing_column", ", ".join(mapping.missing_required))
        if mapping.duplicates:
            raise _Stop("header", "duplicate_column", ", ".join(sorted(set(mapping.duplicates))))
        keys = _unique_keys(mapping.source_headers)  # the rejected rows' field names
        record["raw_keys"] = {
            c.name: keys[i] for i, c in enumerate(mapping.columns) if c is not None
        }
        prepared = prepare(source, fmt, work / "source-utf8.csv")
        with _blocks(spec.get("blocks")):
            result = transform(
                prepared.path,
                prepared.readable_fmt,
                mapping,
                contract,
                HmacKey(KEY),
                out_dir=work / "out",
                work_dir=work,
                sid=SID,
                memory_limit=MEMORY_LIMIT,
                # as the tree's service passes it (a tree whose prepare counts no records
                # lets the transform count them)
                count=getattr(prepared, "count", None),
            )
    except _Stop as stop:
        record["error"] = {"stage": stop.stage, "code": stop.code, "reason": stop.reason}
        return record
    except (UnreadableFile, TransformError) as exc:
        stage = "sniff" if isinstance(exc, UnreadableFile) else "transform"
        record["error"] = {"stage": stage, "code": exc.code, "reason": exc.reason}
        return record
    except Exception as exc:  # a crash is a result too: the other side may not crash
        record["error"] = {
            "stage": "crash",
            "code": type(exc).__name__,
            "reason": str(exc)[:500],
            "traceback": traceback.format_exc()[-2000:],
        }
        return record
    record["seconds"] = round(time.perf_counter() - started, 3)
    dup = result.duplicates
    record["counts"] = {
        "rows_read": result.rows_read,
        "rows_written": result.rows_written,
        "rows_rejected": result.rows_rejected,
        "lines_rejected": result.lines_rejected,
        "duplicates": dup.rows,
    }
    record["reject_reasons"] = result.reject_reasons
    record["distinct_pseudonyms"] = result.distinct_pseudonyms
    record["phones_not_recognised"] = result.phones_not_recognised
    record["duplicates"] = {
        "rows": dup.rows,
        "within_file": dup.within_file,
        "identical": dup.identical,
        "conflicting": dup.conflicting,
        "earlier": dup.earlier,
        "conflicting_rows": _jsonl(dup.conflicts_path),
    }
    record["rejected_rows"] = _jsonl(result.rejects_path)
    record["outputs"] = [[o.key, o.partition, o.rows] for o in result.outputs]
    partitions: dict[str, Json] = {}
    for output in result.outputs:
        partitions.setdefault(output.partition, {"files": []})["files"].append(output.path)
    record["partitions"] = {}
    for label, part in sorted(partitions.items()):
        files = sorted(part["files"], key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        rows_path = out / f"rows-{label}.jsonl"
        digest = hashlib.sha256()
        facts, total = [], 0
        with rows_path.open("w", encoding="utf-8") as handle:
            for path in files:
                fact, rows = _file_facts(path)
                facts.append(fact)
                for row in rows:
                    line = json.dumps(row, ensure_ascii=False) + "\n"
                    digest.update(line.encode("utf-8"))
                    handle.write(line)
                total += len(rows)
        record["partitions"][label] = {
            "files": facts,
            "rows": total,
            "rows_sha256": digest.hexdigest(),
            "rows_file": rows_path.name,
        }
    return record


class _Stop(Exception):
    """The file stopped before the transform, as the service's header checks stop it."""

    def __init__(self, stage: str, code: str, reason: str) -> None:
        super().__init__(reason)
        self.stage, self.code, self.reason = stage, code, reason


def child(tree: Path, inputs: Path, out: Path) -> int:
    import ingest  # noqa: PLC0415 (the child's tree)
    import ingest.transform  # noqa: PLC0415

    for module in (ingest, ingest.transform):
        where = Path(str(module.__file__)).resolve()
        if not where.is_relative_to(tree.resolve()):
            print(f"FATAL: {module.__name__} is {where}, not under {tree}", file=sys.stderr)
            return 3
    specs: list[Json] = json.loads((inputs / "inputs.json").read_text("utf-8"))
    records = []
    for spec in specs:
        for zone in spec["zones"]:
            folder = out / _slug(spec["name"]) / _slug(zone)
            folder.mkdir(parents=True)
            with tempfile.TemporaryDirectory(prefix="equiv-work-") as work:
                record = _run_one(inputs / spec["file"], spec, zone, Path(work), folder)
            if zone in spec.get("rerun", []) and record["error"] is None:
                (folder / "rerun").mkdir()
                with tempfile.TemporaryDirectory(prefix="equiv-rerun-") as work:
                    again = _run_one(
                        inputs / spec["file"], spec, zone, Path(work), folder / "rerun"
                    )
                record["rerun_identical"] = _digests(again) == _digests(record)
            (folder / "result.json").write_text(
                json.dumps(record, ensure_ascii=False, indent=1), "utf-8"
            )
            records.append({"input": spec["name"], "zone": zone, "dir": str(folder)})
            status = record["error"]["code"] if record["error"] else record["counts"]
            print(f"  [{tree.name}] {spec['name']} {zone}: {status}", flush=True)
    (out / "index.json").write_text(json.dumps(records, indent=1), "utf-8")
    return 0


def _digests(record: Json) -> list[str]:
    return [f["sha256"] for p in record.get("partitions", {}).values() for f in p["files"]]


# --- the parent: compare ---------------------------------------------------------------------


def _ws_only(value: Any) -> bool:
    """Whitespace only, of a kind HEAD's ltrim did not see as blank (it trimmed spaces)."""
    return isinstance(value, str) and value.isspace() and value.lstrip(" ") != ""


def _rows(path: Path) -> Iterator[list[Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def _compare_rows(
    old: Path, new: Path, drop: set[str], tid: int, cid: int
) -> tuple[int, int, list[Json]]:
    """(old rows dropped as whitespace PII, rows that differ, the first differing rows)."""
    dropped, differ = 0, 0
    examples: list[Json] = []

    def old_rows() -> Iterator[list[Any]]:
        nonlocal dropped
        for row in _rows(old):
            if drop and row[cid] is None and row[tid] in drop:
                dropped += 1
                continue
            yield row

    for i, (a, b) in enumerate(itertools.zip_longest(old_rows(), _rows(new))):
        if a != b:
            differ += 1
            if len(examples) < DIFF_EXAMPLES:
                examples.append({"row": i, "old": a, "new": b})
    return dropped, differ, examples


def _record_key(record: Json) -> str:
    """A rejected row without its reason: its line, fields and text."""
    return json.dumps([record.get("line"), record.get("fields"), record.get("text")])


def _strip_missing(reason: str) -> str:
    return "; ".join(r for r in reason.split("; ") if r != MISSING)


def compare(old: Json, new: Json, old_dir: Path, new_dir: Path) -> Json:
    """Differences of one (input, zone): unexpected ones by aspect, and the expected ones."""
    unexpected: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    notes: list[str] = []
    if old["error"] or new["error"]:
        a = {k: v for k, v in (old["error"] or {}).items() if k != "traceback"}
        b = {k: v for k, v in (new["error"] or {}).items() if k != "traceback"}
        if a != b:
            unexpected["error"] = {"old": old["error"], "new": new["error"]}
        return {"unexpected": unexpected, "expected": expected, "notes": notes}

    # whitespace-only required PII: rejected on the new side, written (NULL pseudonym) on the old
    # side; or rejected by both, the new side adding "customer_id: missing" to the reason
    cid_key = new.get("raw_keys", {}).get("customer_id")
    tid_key = new.get("raw_keys", {}).get("transaction_id")
    old_by_record = {_record_key(r): r for r in old["rejected_rows"]}
    new_rejects, ws_ids, gained = [], set(), []
    for rejected in new["rejected_rows"]:
        fields = rejected.get("fields") or {}
        reason = rejected["reason"]
        if cid_key and _ws_only(fields.get(cid_key)) and MISSING in reason.split("; "):
            before = old_by_record.get(_record_key(rejected))
            if before is None and reason == MISSING:
                ws_ids.add(str(fields.get(tid_key) or "").strip(" "))
                continue  # written by the old side: checked below in the partitions
            if before is not None and before["reason"] == _strip_missing(reason) != reason:
                gained.append(reason)
                rejected = {**rejected, "reason": before["reason"]}  # noqa: PLW2901
        new_rejects.append(rejected)
    variants = len(gained)
    if new_rejects != old["rejected_rows"]:
        unexpected["rejected_rows"] = _first_differences(old["rejected_rows"], new_rejects)

    # the partitions
    ws_written = 0
    if set(old["partitions"]) != set(new["partitions"]):
        unexpected["partitions"] = {
            "old": sorted(old["partitions"]),
            "new": sorted(new["partitions"]),
        }
    files: dict[str, list[int]] = {}
    nullability: set[tuple[str, bool, bool]] = set()
    for label in sorted(set(old["partitions"]) & set(new["partitions"])):
        a, b = old["partitions"][label], new["partitions"][label]
        names_a = [f[:2] for f in a["files"][0]["schema"]]
        for fact in b["files"]:
            if [f[:2] for f in fact["schema"]] != names_a:
                unexpected.setdefault("columns", {})[f"{label}/{fact['name']}"] = {
                    "old": names_a,
                    "new": [f[:2] for f in fact["schema"]],
                }
            physical_a = [[c[0], c[1], c[2]] for c in a["files"][0]["parquet"]]
            if [[c[0], c[1], c[2]] for c in fact["parquet"]] != physical_a:
                unexpected.setdefault("parquet_types", {})[f"{label}/{fact['name']}"] = {
                    "old": physical_a,
                    "new": [[c[0], c[1], c[2]] for c in fact["parquet"]],
                }
            for fa, fb in zip(a["files"][0]["schema"], fact["schema"], strict=False):
                if fa[0] == fb[0] and fa[2] != fb[2]:
                    nullability.add((fa[0], fa[2], fb[2]))
        if len(a["files"]) != len(b["files"]):
            files[label] = [len(a["files"]), len(b["files"])]
        if a["rows_sha256"] == b["rows_sha256"] and not ws_ids:
            continue
        names = [f[0] for f in a["files"][0]["schema"]]
        dropped, differ, examples = _compare_rows(
            old_dir / a["rows_file"],
            new_dir / b["rows_file"],
            ws_ids,
            names.index("transaction_id"),
            names.index("customer_id"),
        )
        ws_written += dropped
        if differ:
            unexpected.setdefault("rows", {})[label] = {
                "old_rows": a["rows"],
                "new_rows": b["rows"],
                "differing": differ,
                "examples": examples,
            }
    if nullability:
        expected["nullability"] = sorted(
            f"{name}: {'OPTIONAL' if x else 'REQUIRED'} -> {'OPTIONAL' if y else 'REQUIRED'}"
            for name, x, y in nullability
        )
    if files:
        expected["files_per_partition"] = files
    k = ws_written
    if ws_ids and k != len(ws_ids):
        notes.append(f"{len(ws_ids)} whitespace-PII rejects, {k} of them written by old")
    if k or variants:
        expected["whitespace_pii"] = {"rejected_now_written_before": k, "reason_gained": variants}

    # counts and reasons, the old side's moved by the whitespace-PII rows
    counts = dict(old["counts"])
    counts["rows_written"] -= k
    counts["rows_rejected"] += k
    counts["lines_rejected"] += k
    if counts != new["counts"]:
        unexpected["counts"] = {"old": old["counts"], "new": new["counts"], "ws_pii": k}
    reasons = dict(new["reject_reasons"])
    if k:
        reasons[MISSING] = reasons.get(MISSING, 0) - k
    for reason in gained:
        reasons[reason] -= 1
        plain = _strip_missing(reason)
        reasons[plain] = reasons.get(plain, 0) + 1
    reasons = {r: n for r, n in reasons.items() if n}
    if reasons != old["reject_reasons"]:
        unexpected["reject_reasons"] = {"old": old["reject_reasons"], "new": new["reject_reasons"]}
    elif list(new["reject_reasons"]) != list(old["reject_reasons"]) and not k and not variants:
        order = [list(old["reject_reasons"]), list(new["reject_reasons"])]
        unexpected["reject_reasons"] = {"order": order}
    if old["distinct_pseudonyms"] != new["distinct_pseudonyms"]:
        what = {"old": old["distinct_pseudonyms"], "new": new["distinct_pseudonyms"]}
        if k:  # pseudonyms only the whitespace-PII rows had are gone: at most k per column
            gone = {
                c: n - new["distinct_pseudonyms"].get(c, 0)
                for c, n in old["distinct_pseudonyms"].items()
            }
            if all(0 <= g <= k for g in gone.values()):
                expected.setdefault("whitespace_pii", {})["distinct_pseudonyms"] = what
                what = {}
        if what:
            unexpected["distinct_pseudonyms"] = what
    phones = old["phones_not_recognised"] - new["phones_not_recognised"]
    if phones and not 0 <= phones <= k:
        unexpected["phones_not_recognised"] = [
            old["phones_not_recognised"],
            new["phones_not_recognised"],
        ]
    if old["duplicates"] != new["duplicates"]:
        unexpected["duplicates"] = {"old": old["duplicates"], "new": new["duplicates"]}
    for side, record in (("old", old), ("new", new)):
        if record.get("rerun_identical") is False:
            unexpected[f"rerun_{side}"] = "a rerun did not give byte-identical Parquet"
    by_part: dict[str, list[int]] = {}
    for key, part, _rows in new["outputs"]:
        by_part.setdefault(part, []).append(int(key.rsplit("-", 1)[1].split(".")[0]))
    for part, ns in by_part.items():
        if ns != sorted(ns):
            notes.append(
                f"TransformResult.outputs of partition {part} are not in file order: "
                f"{ns} (the manifest lists them so)"
            )
    return {"unexpected": unexpected, "expected": expected, "notes": notes}


def _first_differences(old: list[Any], new: list[Any]) -> Json:
    examples = [
        {"at": i, "old": a, "new": b}
        for i, (a, b) in enumerate(itertools.zip_longest(old, new))
        if a != b
    ]
    return {"old": len(old), "new": len(new), "first": examples[:DIFF_EXAMPLES]}


# --- running the sides -----------------------------------------------------------------------


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@contextlib.contextmanager
def _tree(rev: str | None, tmp: Path, name: str) -> Iterator[tuple[Path, str]]:
    """The working tree (``rev`` None), or a detached worktree of ``rev``, removed afterwards."""
    if rev is None:
        yield ROOT, f"working tree (HEAD {_git('rev-parse', '--short', 'HEAD')} + changes)"
        return
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    path = tmp / "trees" / name
    _git("worktree", "add", "--detach", str(path), commit)
    try:
        yield path, f"{rev} ({commit[:10]})"
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False
        )


def run_side(tree: Path, inputs: Path, out: Path) -> float:
    env = dict(os.environ)
    paths = [str(tree / "functions"), str(tree)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    command = [
        sys.executable, str(Path(__file__).resolve()), "--child",
        "--tree", str(tree), "--inputs", str(inputs), "--out", str(out),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, cwd=tree)
    return time.perf_counter() - started


def _summary_line(result: Json) -> str:
    unexpected, expected = result["comparison"]["unexpected"], result["comparison"]["expected"]
    if "error" in unexpected:
        old, new = (
            (e or {}).get("code", "ok") for e in (result["error"]["old"], result["error"]["new"])
        )
        return f"DIFFERS: error (old: {old}, new: {new})"
    if unexpected:
        return "DIFFERS: " + ", ".join(sorted(unexpected))
    parts = []
    if "nullability" in expected:
        parts.append("nullability")
    if "files_per_partition" in expected:
        counts = expected["files_per_partition"]
        parts.append(f"files ({', '.join(f'{p}: {a}->{b}' for p, (a, b) in counts.items())})")
    if "whitespace_pii" in expected:
        ws = expected["whitespace_pii"]
        parts.append(
            f"ws-PII {ws.get('rejected_now_written_before', 0)}"
            + (f" (+{ws['reason_gained']} reasons)" if ws.get("reason_gained") else "")
        )
    return "identical" + (f" (expected: {'; '.join(parts)})" if parts else "")


def parent(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = [w.strip() for w in args.only.split(",")] if args.only else None
    with tempfile.TemporaryDirectory(prefix="transform-equivalence-") as tmp_name:
        tmp = Path(tmp_name)
        inputs = tmp / "inputs"
        inputs.mkdir()
        print("building the inputs ...")
        t = time.perf_counter()
        specs = build_inputs(inputs, args.scale, wanted)
        (inputs / "inputs.json").write_text(json.dumps(specs, indent=1), "utf-8")
        build_seconds = time.perf_counter() - t
        with (
            _tree(args.old, tmp, "old") as (old_tree, old_label),
            _tree(args.new, tmp, "new") as (new_tree, new_label),
        ):
            seconds = {}
            for side, tree in (("old", old_tree), ("new", new_tree)):
                print(f"running the {side} side: {tree}")
                seconds[side] = run_side(tree, inputs, tmp / side)
        results = []
        for spec in specs:
            for zone in spec["zones"]:
                where = Path(_slug(spec["name"])) / _slug(zone)
                old_dir, new_dir = tmp / "old" / where, tmp / "new" / where
                old = json.loads((old_dir / "result.json").read_text("utf-8"))
                new = json.loads((new_dir / "result.json").read_text("utf-8"))
                results.append(
                    {
                        "input": spec["name"],
                        "zone": zone,
                        "rows_read": (new.get("counts") or old.get("counts") or {}).get(
                            "rows_read"
                        ),
                        "error": {"old": old["error"], "new": new["error"]},
                        "seconds": {"old": old.get("seconds"), "new": new.get("seconds")},
                        "comparison": compare(old, new, old_dir, new_dir),
                    }
                )
        if args.keep:
            kept = out_dir / f"transform_equivalence-{stamp}-sides"
            shutil.copytree(tmp, kept, ignore=shutil.ignore_patterns("old", "new"))
            for side in ("old", "new"):
                if (tmp / side).exists():
                    shutil.copytree(tmp / side, kept / side)

    width = max(len(r["input"]) for r in results)
    print(f"\nold: {old_label}\nnew: {new_label}\n")
    print(f"{'input':<{width}}  {'zone':<18} {'rows':>8}  result")
    failed = 0
    for result in results:
        line = _summary_line(result)
        failed += line.startswith("DIFFERS")
        rows = "error" if result["rows_read"] is None else f"{result['rows_read']:,}"
        print(f"{result['input']:<{width}}  {result['zone']:<18} {rows:>8}  {line}")
    notes = sorted({n for r in results for n in r["comparison"]["notes"]})
    for note in notes:
        print(f"note: {note}")
    total = time.perf_counter() - started
    report = {
        "generated_at": stamp,
        "old": old_label,
        "new": new_label,
        "inputs": specs,
        "seconds": {
            "inputs": round(build_seconds, 1),
            **{k: round(v, 1) for k, v in seconds.items()},
            "total": round(total, 1),
        },
        "unexpected": failed,
        "results": results,
    }
    path = out_dir / f"transform_equivalence-{stamp}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str), "utf-8")
    verdict = (
        f"{failed} of {len(results)} (input, zone) pairs differ unexpectedly"
        if failed
        else f"all {len(results)} (input, zone) pairs equivalent"
    )
    print(f"\n{verdict}; {total:.0f} s; report: {path}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default="HEAD", help="revision of the old side (default HEAD)")
    parser.add_argument(
        "--new", default=None, help="revision of the new side (default: the working tree)"
    )
    parser.add_argument("--out-dir", default=str(OUT), help="where the JSON report goes")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies generated rows")
    parser.add_argument(
        "--only", default="", help="comma-separated inputs to run (e.g. edge,corpus/crlf)"
    )
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep both sides' outputs")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(Path(args.tree), Path(args.inputs), Path(args.out))
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
