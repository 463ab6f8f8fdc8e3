"""CSV → typed, pseudonymised, partitioned Parquet, in DuckDB (local files in, local files out).

Pure with respect to the lake: it reads one local UTF-8 CSV and writes into a local folder.
The CSV is parsed once; everything after works on a table of typed rows in the connection's
in-memory database (DuckDB spills it to ``work_dir`` beyond the memory limit):

1. *scan*: read every field as text with the contract's explicit columns (never the sniffer),
   type the kept columns, keep PII columns raw, judge each row and store it (a rejected row
   keeps its raw fields in ``_reject``; the reasons are worked out afterwards for those rows
   only). Structural errors (ragged rows, unterminated quotes, bad UTF-8) are collected by
   DuckDB's ``store_rejects``.
2. *pseudonymise*: for each ``hmac`` column, normalise and hash its *distinct* values once.
3. *write*: zstd Parquet files per partition (the event's local month or day: one file, or a
   few for a big partition), each from a range of the stored rows of that partition joined to
   their pseudonyms, rows in the order of the CSV. Every file of a dataset has the same
   schema (all columns OPTIONAL; required ones are checked to hold no null).
4. *rejects*: rejected rows (with their reasons) as JSON lines for quarantine.

Reconciliation: rows_read = rows_written + rows_rejected, checked before anything is published.
The same input gives byte-identical Parquet. docs/performance.md has the measurements behind
the choices made here.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import duckdb

from ingest import keyindex, layout
from ingest.contracts import Column, DatasetContract, HeaderMapping
from ingest.keyindex import KnownKeys
from ingest.pseudonymise import (
    PADS_TABLE,
    PSEUDONYM_HEX_CHARS,
    HmacKey,
    blank_sql,
    hmac_sql,
    lower_in_python_sql,
    normalise,
    normalise_sql,
    phone_fast_sql,
    phone_to_e164,
)
from ingest.sniff import (
    CHUNK_BYTES,
    MAX_RECORD_BYTES,
    RecordCount,
    RecordCounter,
    SourceFormat,
    UnreadableFile,
    count_records,
    unify_line_ends,
)

SQL_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "timestamp": "TIMESTAMPTZ",
    "date": "DATE",
    "boolean": "BOOLEAN",
}
PARSE_ERRORS = {
    "MISSING COLUMNS": "the line has fewer fields than the header",
    "TOO MANY COLUMNS": "the line has more fields than the header",
    "UNQUOTED VALUE": "a quote is opened and never closed (or text follows a closing quote)",
    "INVALID UNICODE": "the line is not valid UTF-8 text",
    "INVALID ENCODING": "the line is not valid UTF-8 text",  # (DuckDB 2's name for it)
    "LINE SIZE OVER MAXIMUM": "the line is longer than the 8 MB limit",
}
MAX_LINE_BYTES = MAX_RECORD_BYTES
# DuckDB drops a record longer than its buffer (16 x MAX_LINE_BYTES) without reporting it; the
# independent count finds it, and it is rejected with this reason (no text: it is too long)
DROPPED_LONG = PARSE_ERRORS["LINE SIZE OVER MAXIMUM"]
# The shape nearly every timestamp in a file has. A value in exactly this shape is parsed as a
# naive local time by strptime, which is much cheaper than the general TIMESTAMPTZ cast (ICU);
# any other value takes the general path, so what is accepted and how it is read is unchanged.
FAST_TIMESTAMP = "%Y-%m-%d %H:%M:%S"
# Parquet dictionaries only for columns with few distinct values per row group (category,
# channel, ...). Pseudonyms and ids are high-entropy strings: building their dictionaries
# (and the Bloom filters DuckDB writes for dictionary columns) cost 15-25 % of the write's CPU,
# and zstd finds their repeats in plain pages nearly as well (+7 % bytes; measured on 2 M
# rows, docs/performance.md).
DICTIONARY_LIMIT = 1_000
# Per-partition writes select a partition's rows by a zone-map filter, which only skips data
# when the rows arrive roughly in time order (the usual case: exports are in event order).
# When more than this many (row group, partition) pairs exist per stored row group, the rows
# are first sorted by partition, instead of every partition's write reading most of the table.
CLUSTER_SLACK = 3
_BLOCK_ROWS = 122_880  # DuckDB's row group size for the stored table (the unit zone maps cover)
# A partition with more good rows than this is written as several files (one month of a 1 GB
# export is ~8 M rows: 4 files of ~60 MB; docs/performance.md).
PIECE_ROWS = 16 * _BLOCK_ROWS


class TransformError(ValueError):
    """The file as a whole cannot be converted; ``reason`` is safe to show (no row values)."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class OutputFile:
    path: Path
    key: str  # its key in the curated zone (layout.curated_key), also its path under out_dir
    partition: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class Duplicates:
    """Good rows that were not written because their contract key had been seen before."""

    rows: int = 0
    within_file: int = 0  # ... earlier in the same file (the first row is written)
    identical: int = 0  # ... with the same values as the copy that was kept
    conflicting: int = 0  # ... with other values (kept in the conflicts file, not written)
    earlier: dict[str, int] = field(default_factory=dict)  # earlier source id → rows
    conflicts_path: Path | None = None


# Given the ids of earlier sources that hold keys this file repeats, the local paths of those
# sources' curated Parquet files (to compare the values of the repeated rows).
EarlierRows = Callable[[list[str]], list[Path]]


@dataclass(frozen=True)
class TransformResult:
    rows_read: int
    rows_written: int
    rows_rejected: int
    lines_rejected: int
    reject_reasons: dict[str, int]
    outputs: tuple[OutputFile, ...]
    rejects_path: Path | None
    distinct_pseudonyms: dict[str, int] = field(default_factory=dict)
    phones_not_recognised: int = 0
    duplicates: Duplicates = field(default_factory=Duplicates)
    keys_path: Path | None = None  # the contract keys of the written rows (the key index)
    rejects_kept: int = 0  # rows in the rejects file: all, or the first REJECTED_ROWS_CAP

    @property
    def reject_ratio(self) -> float:
        return self.lines_rejected / max(self.rows_read, 1)


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# Names of the stored table's helper columns. Contract column names match [a-z][a-z0-9_]*, so
# a leading underscore can never clash with one.
ROWS = "_rows"
REJECT = "_reject"  # a bad row's raw fields (JSON array); NULL for a good row
PART = "_part"  # first day of the row's partition (local month or day)
PII_KEY = "_pii_key"  # 64-bit hash of the row's raw PII tuple; the pseudonyms are joined on it
# A good row whose contract key was already seen: the source id that published it first, or ''
# for an earlier row of the same file. NULL for every other row. Such rows are not written.
DUP = "_dup"
GOOD = f"{REJECT} IS NULL AND {DUP} IS NULL"  # the rows that are written


def _raw(column: Column) -> str:
    """Stored raw text of an ``hmac`` column (hashed later, never written)."""
    return _q("_raw_" + column.name)


def _instant(column: Column) -> str:
    """Stored instant of a timestamp that did not have the fast shape (NULL when it had)."""
    return _q("_tz_" + column.name)


def _fast(column: Column) -> str:
    return _q("_fast_" + column.name)


def _sql_type(column: Column) -> str:
    if column.type == "decimal":
        return f"DECIMAL(18, {column.scale})"
    return SQL_TYPES[column.type]


def _blank(raw: str) -> str:
    """The raw field is empty or spaces (the same as ``nullif(trim(raw), '') IS NULL``).

    Spelt with ``ltrim`` so that it is never the same expression as a ``trim`` elsewhere in a
    projection: DuckDB hoists repeated subexpressions and then computes them for every row,
    even where they sit in a branch only a few rows take.
    """
    return f"({raw} IS NULL OR ltrim({raw}) = '')"


def _number_pattern(column: Column, any_scale: bool = False) -> str:
    """RE2 pattern of the numbers a column accepts (the cast then rejects a lone sign or point).

    Digits with an optional sign, thousands separated by commas only in groups of three
    (``1,234,567``; not ``1,5`` or ``12,50``), an optional point and at most ``scale`` digits
    after it, or more when the extra ones are zeros (``1.230`` is 1.23: the value is the same).
    ``round: true`` (decimal) or ``any_scale`` accepts any number of digits after the point.
    Surrounding whitespace is allowed, as the cast ignores it.
    """
    scale = column.scale if column.type == "decimal" else 0
    fraction = r"[0-9]*" if column.round or any_scale else rf"[0-9]{{0,{scale}}}0*"
    return rf"\s*[+-]?([0-9]{{1,3}}(,[0-9]{{3}})+|[0-9]*)(\.{fraction})?\s*"


def _typed_sql(column: Column, raw: str) -> str:
    """SQL typing one raw text field; NULL when blank or not castable.

    Numbers must have the shape ``_number_pattern`` gives before they are cast: DuckDB's cast
    alone rounds extra decimals (``1.234`` → 1.23, ``12.5`` → BIGINT 13) and reads ``1e3``,
    ``1_000`` and ``0x10``; and commas are only thousands separators in valid groups.
    (``TRY_CAST('' AS ...)`` is NULL, so blanks need no ``nullif``.)
    """
    v = f"nullif(trim({raw}), '')"
    match column.type:
        case "string":
            return v
        case "integer" | "decimal":
            t = _sql_type(column)
            return (
                f"CASE WHEN NOT regexp_full_match({raw}, {_lit(_number_pattern(column))}) "
                f"THEN NULL WHEN contains({raw}, ',') "
                f"THEN TRY_CAST(replace({raw}, ',', '') AS {t}) ELSE TRY_CAST({raw} AS {t}) END"
            )
        case "timestamp":
            formats = "[" + ", ".join(_lit(f) for f in column.formats) + "]"
            # TRY_CAST reads ISO forms with an offset; naive ones are in the session time
            # zone, which is set to the contract's. strptime's %p knows AM/PM only.
            meridiem = f"replace(replace({v}, '오전', 'AM'), '오후', 'PM')"
            return (
                f"coalesce(TRY_CAST({v} AS TIMESTAMPTZ), "
                f"TRY_STRPTIME({meridiem}, {formats})::TIMESTAMPTZ)"
            )
        case "date":
            formats = "[" + ", ".join(_lit(f) for f in column.formats) + "]"
            return f"coalesce(TRY_CAST({v} AS DATE), TRY_STRPTIME({v}, {formats})::DATE)"
        case "boolean":
            # A simple CASE rather than `IN (...)`: DuckDB plans an IN list of this length as
            # a join per row batch, which cost as much as parsing the column.
            whens = [f"WHEN {_lit(t)} THEN true" for t in column.true_values if t]
            whens += [f"WHEN {_lit(f)} THEN false" for f in column.false_values if f]
            return f"CASE lower(trim({raw})) {' '.join(whens)} END"
    raise AssertionError(column.type)


def _read_csv_sql(path: Path, fmt: SourceFormat, width: int, compression: str | None) -> str:
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
    options = [
        f"columns = {columns}",
        "header = true",
        f"skip = {fmt.skip}",
        "auto_detect = false",
        f"delim = {_lit(fmt.delimiter)}",
        "quote = '\"'",
        "escape = '\"'",
        "strict_mode = true",
        "null_padding = false",
        "store_rejects = true",
        f"max_line_size = {MAX_LINE_BYTES}",
        f"compression = {_lit(compression or 'none')}",
    ]
    return f"read_csv({_lit(str(path))}, {', '.join(options)})"


@dataclass(frozen=True)
class _Judge:
    """How rows are typed and judged: SQL over any relation with the raw fields c0..cN.

    ``typed(source)`` adds the typed kept columns, the raw PII and ``_ok``; ``reason`` (in
    that scope) says what is wrong with a row. The scan types every row of the CSV, and the
    reasons are worked out afterwards for the rejected rows only, from their stored fields.
    """

    contract: DatasetContract
    mapping: HeaderMapping
    raw_keys: list[str]

    def typed(self, source: str) -> str:
        position = {c.name: i for i, c in enumerate(self.mapping.columns) if c is not None}
        fast: list[str] = []  # strptime of the common timestamp shape (first layer)
        slow: list[str] = []  # the text of timestamps not in that shape (second layer)
        typed: list[str] = []  # stored values (third layer)
        oks: list[str] = []  # the row is good when all of these hold (fourth layer)
        for column in self.contract.columns:
            i = position.get(column.name)
            if column.pii == "drop":
                continue
            raw = f"c{i}" if i is not None else "NULL::VARCHAR"
            name = _q(column.name)
            if column.pii == "hmac":
                typed.append(f"{raw} AS {_raw(column)}")
            elif column.type == "timestamp":
                fast.append(f"TRY_STRPTIME({raw}, {_lit(FAST_TIMESTAMP)}) AS {_fast(column)}")
                # only rows without the fast shape reach the general (ICU) cast
                other = _q("_slow_" + column.name)
                slow.append(f"CASE WHEN {_fast(column)} IS NULL THEN {raw} END AS {other}")
                typed.append(f"{_typed_sql(column, other)} AS {_instant(column)}")
                # the local wall time of an instant is its TIMESTAMP in the session time zone
                typed.append(f"coalesce({_fast(column)}, {_instant(column)}::TIMESTAMP) AS {name}")
            else:
                typed.append(f"{_typed_sql(column, raw)} AS {name}")
            if i is None:
                continue
            if column.pii == "hmac":
                if column.required:
                    oks.append(f"NOT {blank_sql(raw)}")
            elif column.required:
                oks.append(f"{name} IS NOT NULL")
            elif column.type != "string":
                oks.append(f"({name} IS NOT NULL OR {_blank(raw)})")
        layer = f"(SELECT *{''.join(', ' + f for f in fast)} FROM {source})"
        if slow:
            layer = f"(SELECT *, {', '.join(slow)} FROM {layer})"
        layer = f"(SELECT *, {', '.join(typed)} FROM {layer})"
        return f"(SELECT *, {' AND '.join(oks) or 'true'} AS _ok FROM {layer})"

    @property
    def reason(self) -> str:
        """What is wrong with a row, e.g. ``amount: not a valid decimal; quantity: ...``."""
        position = {c.name: i for i, c in enumerate(self.mapping.columns) if c is not None}
        checks: list[str] = []
        for column in self.contract.columns:
            i = position.get(column.name)
            if column.pii == "drop" or i is None:
                continue
            blank = blank_sql(f"c{i}") if column.pii == "hmac" else _blank(f"c{i}")
            if column.required:
                checks.append(f"CASE WHEN {blank} THEN {_lit(column.name + ': missing')} END")
            if column.pii != "hmac" and column.type != "string":
                invalid = _lit(f"{column.name}: not a valid {column.type}")
                if column.type in ("integer", "decimal"):
                    # a number but for its digits after the point: say so
                    places = (
                        f"more than {column.scale} decimal places"
                        if column.type == "decimal"
                        else "not a whole number"
                    )
                    number = _lit(_number_pattern(column, any_scale=True))
                    invalid = (
                        f"CASE WHEN regexp_full_match(c{i}, {number}) AND contains(c{i}, '.') "
                        f"THEN {_lit(f'{column.name}: {places}')} ELSE {invalid} END"
                    )
                checks.append(
                    f"CASE WHEN NOT {blank} AND {_q(column.name)} IS NULL THEN {invalid} END"
                )
        return f"nullif(concat_ws('; ', {', '.join(checks) or 'NULL'}), '')"

    @property
    def fields(self) -> str:
        """A row's raw fields as a JSON object keyed by the (made unique) header names."""
        pairs = ", ".join(f"{_lit(k)}, c{i}" for i, k in enumerate(self.raw_keys))
        return f"json_object({pairs})"

    def stored(self, csv_sql: str) -> str:
        """The rows to store: typed kept columns, raw PII, partition, PII key, rejected fields.

        A timestamp column is stored as its naive *local* time; values that are not in the
        FAST_TIMESTAMP shape also keep their instant (``_tz_<name>``), computed by the general
        cast. The write turns local times into instants (see ``_instant_sqls``).
        """
        contract = self.contract
        kept = [c for c in contract.columns if c.pii != "drop"]
        stored = [_raw(c) if c.pii == "hmac" else _q(c.name) for c in kept]
        stored += [_instant(c) for c in kept if _is_timestamp(c)]
        part = contract.partition
        stored.append(f"date_trunc({_lit(part.grain)}, {_q(part.column)})::DATE AS {PART}")
        if contract.hmac_columns:
            stored.append(f"hash({', '.join(_raw(c) for c in contract.hmac_columns)}) AS {PII_KEY}")
        raw = ", ".join(f"c{i}" for i in range(len(self.raw_keys)))
        stored.append(f"CASE WHEN NOT _ok THEN to_json([{raw}]) END AS {REJECT}")
        stored.append(f"NULL::VARCHAR AS {DUP}")
        return f"SELECT {', '.join(stored)} FROM {self.typed(csv_sql)}"

    def rejected(self) -> str:
        """The stored rejected rows, judged again from their fields: (reason, fields, _n)."""
        fields = ", ".join(f"{REJECT} ->> '$[{i}]' AS c{i}" for i in range(len(self.raw_keys)))
        source = f"(SELECT {fields}, rowid AS _n FROM {ROWS} WHERE {REJECT} IS NOT NULL)"
        return (
            f"SELECT {self.reason} AS reason, {self.fields} AS fields, _n FROM {self.typed(source)}"
        )


def _is_timestamp(column: Column) -> bool:
    return column.type == "timestamp" and column.pii != "hmac"


def _unique_keys(headers: tuple[str, ...]) -> list[str]:
    """Header names made unique and non-empty, for the JSON of a rejected row."""
    keys: list[str] = []
    for i, header in enumerate(headers):
        key = header or f"column {i + 1}"
        while key in keys:
            key = f"{key} ({i + 1})"
        keys.append(key)
    return keys


def _safe_duckdb_message(exc: duckdb.Error, path: Path | None = None) -> str:
    """First line of a DuckDB error, without the echo of the offending line (it may hold PII)
    and without the local path of the file read (an internal temporary name)."""
    text = str(exc).strip()
    if path is not None:
        text = text.replace(str(path), "the file")
    first = text.splitlines()[0] if text else type(exc).__name__
    first = re.split(r"Original Line|\bline:\s", first, maxsplit=1)[0]
    # quoted fragments may echo field values: drop them
    return re.sub(r"\"[^\"]*\"|'[^']*'", "'…'", first).strip()[:300]


class TransformFailed(RuntimeError):
    """DuckDB failed for a reason that is not the file's (memory, disk, a bug): retry it.

    Raised ``from None``: the original DuckDB message may quote row values, so neither it nor
    its traceback may travel on to the Lambda runtime's log.
    """


class DeadlineExceeded(TransformFailed):
    """The work was stopped at its deadline (before the function's own timeout would kill it
    with nothing reported): retried, and quarantined on the last delivery."""


# DuckDB errors that say the machine ran out of something, not that the file is bad
_RESOURCE_ERRORS = (duckdb.OutOfMemoryException, duckdb.InterruptException)


@contextmanager
def _sanitised_duckdb_errors(deadline: float | None = None) -> Iterator[None]:
    try:
        yield
    except duckdb.Error as exc:
        if isinstance(exc, duckdb.InterruptException) and deadline is not None:
            raise DeadlineExceeded(
                "the conversion did not finish before the function's deadline"
            ) from None
        raise TransformFailed(f"DuckDB failed: {_safe_duckdb_message(exc)}") from None


@contextmanager
def _interrupt_at(con: duckdb.DuckDBPyConnection, deadline: float | None) -> Iterator[None]:
    """Interrupt the connection's running queries at ``deadline`` (``time.monotonic()``)."""

    def interrupt() -> None:
        with suppress(duckdb.Error):  # the connection already closed
            con.interrupt()

    timer = None
    if deadline is not None:
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), interrupt)
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()


def _build_pseudonyms(
    con: duckdb.DuckDBPyConnection, contract: DatasetContract
) -> tuple[dict[str, int], int, bool]:
    """Table ``pseudonyms``: one row per distinct raw PII tuple, its key and a pseudonym per column.

    Each column's distinct values are normalised and hashed once. Returns the distinct
    pseudonym count per column, how many phone values were not phone numbers, and whether the
    64-bit tuple key is unique (if two tuples ever collide the write joins on the values).
    """
    counts: dict[str, int] = {}
    unrecognised = 0
    raw_cols = [_raw(c) for c in contract.hmac_columns]
    con.execute(
        f"CREATE TEMP TABLE tuples AS SELECT DISTINCT {PII_KEY}, {', '.join(raw_cols)} "
        f"FROM {ROWS} WHERE {REJECT} IS NULL"
    )
    select = [f"t.{PII_KEY}", *(f"t.{c}" for c in raw_cols)]
    joins = []
    for n, column in enumerate(contract.hmac_columns):
        raw = raw_cols[n]
        table = f"map{n}"
        distinct = f"SELECT DISTINCT {raw} AS v FROM tuples WHERE {raw} IS NOT NULL"
        if column.normalise == "phone":
            fast = phone_fast_sql("v", contract.default_phone_region)
            con.execute(f"CREATE TEMP TABLE norm AS SELECT v, {fast} AS n FROM ({distinct})")
            slow = [row[0] for row in con.execute("SELECT v FROM norm WHERE n IS NULL").fetchall()]
            if slow:
                fixed = [phone_to_e164(v, contract.default_phone_region) for v in slow]
                unrecognised += sum(1 for f in fixed if f is not None and not f.startswith("+"))
                con.execute(
                    "UPDATE norm SET n = fix.n FROM "
                    "(SELECT unnest($1::VARCHAR[]) AS v, unnest($2::VARCHAR[]) AS n) AS fix "
                    "WHERE norm.v = fix.v",
                    [slow, fixed],
                )
        else:
            normalised = normalise_sql(column.normalise, "v")
            con.execute(f"CREATE TEMP TABLE norm AS SELECT v, {normalised} AS n FROM ({distinct})")
            # the few values DuckDB's lower() would lower-case unlike str.lower() (Σ, İ)
            odd = lower_in_python_sql(column.normalise, "v")
            slow = [row[0] for row in con.execute(f"SELECT v FROM norm WHERE {odd}").fetchall()]
            if slow:
                con.execute(
                    "UPDATE norm SET n = fix.n FROM "
                    "(SELECT unnest($1::VARCHAR[]) AS v, unnest($2::VARCHAR[]) AS n) AS fix "
                    "WHERE norm.v = fix.v",
                    [slow, [normalise(column.normalise, v) for v in slow]],
                )
        # spellings of one value (010-1234-5678, 01012345678, ...) share one HMAC
        con.execute(
            f"CREATE TEMP TABLE hashed AS SELECT n, {hmac_sql('n')}[:{PSEUDONYM_HEX_CHARS}] AS h "
            f"FROM (SELECT DISTINCT n FROM norm WHERE n IS NOT NULL) CROSS JOIN {PADS_TABLE} AS k"
        )
        con.execute(
            f"CREATE TEMP TABLE {table} AS SELECT v, h FROM norm LEFT JOIN hashed USING (n)"
        )
        con.execute("DROP TABLE norm")
        con.execute("DROP TABLE hashed")
        counts[column.name] = _scalar(con, f"SELECT count(DISTINCT h) FROM {table}")
        joins.append(f"LEFT JOIN {table} ON t.{raw} = {table}.v")
        select.append(f"{table}.h AS {_q(column.name)}")
    con.execute(
        f"CREATE TABLE pseudonyms AS SELECT {', '.join(select)} FROM tuples AS t {' '.join(joins)}"
    )
    con.execute("DROP TABLE tuples")
    unique = _scalar(con, f"SELECT count(*) - count(DISTINCT {PII_KEY}) FROM pseudonyms") == 0
    return counts, unrecognised, unique


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchall()[0]
    return int(row[0] or 0)


def _fixed_offset_us(zone: str, first_us: int, last_us: int) -> int | None:
    """The zone's UTC offset in microseconds if it is the same for all local times in the range.

    ``first_us`` and ``last_us`` are local wall times as microseconds since 1970-01-01 00:00.
    Then local → instant is a subtraction, exactly what the ICU conversion would give, at a
    fraction of its cost. Offsets are sampled every hour from a day before to a day after the
    range (time-zone rules never change an offset and back within an hour); ranges of more
    than 20 years are not checked (None: the ICU conversion is used).
    """
    if last_us - first_us > 20 * 366 * 86_400 * 10**6:
        return None
    tz = ZoneInfo(zone)
    start, stop = first_us // 10**6 - 86_400, last_us // 10**6 + 86_400
    try:
        offsets = {
            datetime.fromtimestamp(t, tz).utcoffset() for t in range(start, stop + 3_600, 3_600)
        }
    except (OverflowError, OSError, ValueError):  # years outside what datetime handles
        return None
    if len(offsets) != 1:
        return None
    (offset,) = offsets
    return None if offset is None else int(offset / timedelta(microseconds=1))


def _instant_sqls(
    con: duckdb.DuckDBPyConnection, contract: DatasetContract, source: str
) -> dict[str, str]:
    """SQL giving each stored timestamp column back as an instant (TIMESTAMPTZ).

    Values in the fast shape were stored as local times: they become instants by the zone's
    fixed offset when it has one over the file's range, otherwise by the ICU conversion (the
    same one the general cast makes).
    """
    sqls: dict[str, str] = {}
    for column in contract.columns:
        if column.pii == "drop" or not _is_timestamp(column):
            continue
        name = f"r.{_q(column.name)}"
        first, last = con.execute(
            f"SELECT min(epoch_us({_q(column.name)})), max(epoch_us({_q(column.name)})) "
            f"FROM {source} WHERE {_instant(column)} IS NULL"
        ).fetchall()[0]
        offset = None
        if first is not None and last is not None:
            offset = _fixed_offset_us(contract.timezone, int(first), int(last))
        local = (
            f"make_timestamptz(epoch_us({name}) - {offset})"
            if offset is not None
            else f"{name}::TIMESTAMPTZ"
        )
        sqls[column.name] = f"coalesce(r.{_instant(column)}, {local})"
        if offset is None and column.name == contract.partition.column:
            # A local time that does not exist (skipped by a DST change) is moved forward by
            # the conversion, possibly into the next day: place such rows by the moved time.
            moved = _q(column.name) + "::TIMESTAMPTZ::TIMESTAMP"
            moved = f"date_trunc({_lit(contract.partition.grain)}, {moved})::DATE"
            con.execute(
                f"UPDATE {source} SET {PART} = {moved} "
                f"WHERE {_instant(column)} IS NULL AND {PART} <> {moved}"
            )
    return sqls


@dataclass(frozen=True)
class _Piece:
    """The rows of one output file: a partition's good rows with ``lo <= rowid < hi``."""

    part: str  # the partition's first day as DuckDB spells it (for the filter)
    label: str  # its folder value (``2025-06``)
    n: int  # the file's number within the partition
    lo: int
    hi: int


def _write_plan(
    con: duckdb.DuckDBPyConnection, contract: DatasetContract
) -> tuple[str, list[_Piece]]:
    """The table the files are written from, and the files: each a range of its row ids.

    Each write filters on ``_part`` and a row-id range; DuckDB skips the row groups outside
    both by their zone maps. That only works when the rows are roughly in partition order, so
    count how many (row group, partition) pairs there are: a partition's write reads about
    that many row groups. Too many, and a copy sorted by partition is written from instead.

    A partition of more than ``PIECE_ROWS`` good rows is cut, at row-group boundaries, into
    files of at least that many rows (a short remainder joins the last one): each file's
    ORDER BY sorts at most a piece, and readers get files of ~65-130 MB rather than one of a
    whole month. The cut depends on the data only: the same file gives the same files on
    any machine.
    """
    source = ROWS
    blocks = _blocks(con, contract, source)
    groups = len({block.group for block in blocks})
    partitions = len({block.part for block in blocks})
    if len(blocks) > CLUSTER_SLACK * groups + partitions:
        con.execute(
            f"CREATE TABLE _sorted AS SELECT * FROM {ROWS} WHERE {GOOD} ORDER BY {PART}, rowid"
        )
        source = "_sorted"
        blocks = _blocks(con, contract, source)
    pieces: list[_Piece] = []
    for (part, label), run in itertools.groupby(blocks, key=lambda b: (b.part, b.label)):
        cuts: list[list[int]] = []  # [first group, last group, rows] of each file
        for block in run:
            if cuts and cuts[-1][2] < PIECE_ROWS:
                cuts[-1][1] = block.group
                cuts[-1][2] += block.rows
            else:
                cuts.append([block.group, block.group, block.rows])
        if len(cuts) > 1 and cuts[-1][2] < PIECE_ROWS // 2:
            _first, last, rows = cuts.pop()
            cuts[-1][1] = last
            cuts[-1][2] += rows
        for n, (first, last, _rows) in enumerate(cuts):
            pieces.append(_Piece(part, label, n, first * _BLOCK_ROWS, (last + 1) * _BLOCK_ROWS))
    return source, pieces


class _Block(NamedTuple):
    part: str  # the partition's first day as DuckDB spells it
    label: str  # its folder value
    group: int  # the stored row group (``rowid // _BLOCK_ROWS``)
    rows: int  # good rows of the partition in the group


def _blocks(con: duckdb.DuckDBPyConnection, contract: DatasetContract, source: str) -> list[_Block]:
    """The good rows of each (partition, row group) of ``source``, in partition and row order."""
    fmt = "%Y-%m-%d" if contract.partition.grain == "day" else "%Y-%m"
    return [
        _Block(str(part), str(label), int(group), int(rows))
        for part, label, group, rows in con.execute(
            f"SELECT {PART}::VARCHAR, strftime({PART}, {_lit(fmt)}), rowid // {_BLOCK_ROWS}, "
            f"count(*) FROM {source} WHERE {GOOD} GROUP BY {PART}, 3 ORDER BY {PART}, 3"
        ).fetchall()
    ]


def _output_sql(
    contract: DatasetContract, instants: dict[str, str], unique_key: bool
) -> tuple[list[str], str]:
    """The written columns of stored rows ``r``, and the pseudonym join (``instants``: from
    ``_instant_sqls``)."""
    selects: list[str] = []
    for column in contract.columns:
        if column.pii == "drop":
            continue
        if column.pii == "hmac":
            selects.append(f"p.{_q(column.name)}")
        elif column.name in instants:
            selects.append(f"{instants[column.name]} AS {_q(column.name)}")
        else:
            selects.append(f"r.{_q(column.name)}")
    if not contract.hmac_columns:
        join = ""
    elif unique_key:
        join = f"JOIN pseudonyms AS p ON r.{PII_KEY} = p.{PII_KEY}"
    else:
        on = " AND ".join(
            f"r.{_raw(c)} IS NOT DISTINCT FROM p.{_raw(c)}" for c in contract.hmac_columns
        )
        join = f"JOIN pseudonyms AS p ON {on}"
    return selects, join


def _write_partitions(
    con: duckdb.DuckDBPyConnection,
    contract: DatasetContract,
    out_dir: Path,
    sid: str,
    output: tuple[list[str], str],
) -> None:
    """Parquet files per partition, ``<key>=<value>/<sid>-<n>.parquet``, rows in file order
    (one file, ``n`` = 0, unless the partition is big: see ``_write_plan``).

    DuckDB's own ``PARTITION_BY`` sorts and buffers every flush by partition; on 10 M rows it
    took twice as long as the same rows written to one file, memory limit or not
    (docs/performance.md). A ``COPY`` per partition keeps DuckDB's plain single-file writer.
    ``output`` is ``_output_sql``'s: worked out before the plan, which cuts the partitions as
    ``_instant_sqls`` left them.
    """
    source, pieces = _write_plan(con, contract)
    selects, join = output
    kept = [c for c in contract.columns if c.pii != "drop"]
    cluster = [_q(c) for c in contract.cluster_by if c in {k.name for k in kept}]
    # Byte-identical output needs a fixed row order: every file is written ORDER BY the rows'
    # stored position (the file's order). DuckDB's hash join does not keep its probe side's
    # order, on several threads nor on one: writing each file on one thread, two at a time,
    # without the ORDER BY gave other row orders on each run for 24.5 M rows (~300 k
    # customers) in one month, where 8.2 M did not; with it, two sorts at a time ran out of
    # memory at 700MB. So files are written one at a time, each with all threads
    # (docs/performance.md, "Issue 16").
    order = f"ORDER BY {', '.join([*cluster, '_n'])}"
    # The same Parquet schema for every file of a dataset, whatever its values: every column
    # OPTIONAL. DuckDB writes a column REQUIRED when it knows no value is missing (a clean file)
    # and OPTIONAL otherwise, and has no option to say which; a CASE it cannot fold keeps them
    # all OPTIONAL. The contract's required columns are never null all the same (checked on
    # the written files, ``_collect_outputs``).
    written = ", ".join(
        f"CASE WHEN _n IS NOT NULL THEN {_q(c.name)} END AS {_q(c.name)}" for c in kept
    )
    # the CSV-sized table is the probe side; the small pseudonym table the hash table
    con.execute("SET disabled_optimizers = 'build_side_probe_side'")
    try:
        for piece in pieces:
            target = out_dir / layout.curated_key(
                contract.dataset, contract.partition.key, piece.label, sid, piece.n
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            con.execute(f"""
            COPY (
                SELECT {written} FROM (
                    SELECT {", ".join(selects)}, r.rowid AS _n
                    FROM {source} AS r {join}
                    WHERE r.{REJECT} IS NULL AND r.{DUP} IS NULL
                      AND r.{PART} = {_lit(piece.part)}::DATE
                      AND r.rowid >= {piece.lo} AND r.rowid < {piece.hi}
                )
                {order}
            ) TO {_lit(str(target))} (
                FORMAT parquet, COMPRESSION zstd, DICTIONARY_SIZE_LIMIT {DICTIONARY_LIMIT}
            )
        """)
    finally:
        con.execute("RESET disabled_optimizers")


# --- duplicates of the contract's key ---------------------------------------------------------


def _key_sql(contract: DatasetContract, alias: str) -> tuple[str, str]:
    """(``a.k1, a.k2``, ``a.k1 = b.k1 AND ...`` with ``b``) for the contract key."""
    names = [_q(k) for k in contract.key]
    return ", ".join(f"{alias}.{n}" for n in names), " AND ".join(
        f"{alias}.{n} = b.{n}" for n in names
    )


def _mark_duplicates(
    con: duckdb.DuckDBPyConnection, contract: DatasetContract, known: KnownKeys
) -> None:
    """Set ``_dup`` on the good rows whose key an earlier source published, or an earlier row
    of this file holds (the first row with a key is written; later ones are duplicates).

    ``known`` is the key index of the earlier sources (``ingest.keyindex``).
    """
    keys, on = _key_sql(contract, "r")
    known_sql = keyindex.select_sql(known, contract.key)
    if known_sql is not None:
        con.execute(f"CREATE TEMP TABLE _known AS {known_sql}")
        con.execute(
            f"UPDATE {ROWS} SET {DUP} = m.sid FROM ("
            f"  SELECT r.rowid AS n, min(b.sid) AS sid FROM {ROWS} AS r JOIN _known AS b ON {on}"
            f"  WHERE r.{REJECT} IS NULL GROUP BY r.rowid"
            f") AS m WHERE {ROWS}.rowid = m.n"
        )
        con.execute("DROP TABLE _known")
    names = ", ".join(_q(k) for k in contract.key)
    con.execute(
        f"UPDATE {ROWS} SET {DUP} = '' WHERE rowid IN ("
        f"  SELECT n FROM ("
        f"    SELECT r.rowid AS n, row_number() OVER (PARTITION BY {keys} ORDER BY r.rowid) AS i"
        f"    FROM {ROWS} AS r SEMI JOIN ("
        f"      SELECT {names} FROM {ROWS} WHERE {GOOD} GROUP BY ALL HAVING count(*) > 1"
        f"    ) AS b ON {on}"
        f"    WHERE r.{GOOD.replace(' AND ', ' AND r.')}"
        f"  ) WHERE i > 1"
        f")"
    )


def _judge_duplicates(
    con: duckdb.DuckDBPyConnection,
    contract: DatasetContract,
    output: tuple[list[str], str],
    earlier_rows: EarlierRows | None,
    conflicts_path: Path,
) -> Duplicates:
    """Compare each duplicate row with the copy that was kept; write the conflicting ones.

    A duplicate is *identical* when every written column equals the kept copy's (pseudonyms
    included); otherwise it is *conflicting* and goes, with its written (pseudonymised) values
    and its record number in the file, to ``conflicts_path``. A kept copy that cannot be found
    (the earlier source was replaced since) counts as conflicting: nothing is dropped unseen.
    """
    counted = con.execute(
        f"SELECT {DUP}, count(*) FROM {ROWS} WHERE {DUP} IS NOT NULL GROUP BY ALL ORDER BY 1"
    ).fetchall()
    if not counted:
        return Duplicates()
    by_source = {str(sid): int(n) for sid, n in counted}
    within = by_source.pop("", 0)
    selects, join = output  # ``_output_sql``'s
    kept = [c.name for c in contract.columns if c.pii != "drop"]
    _, on = _key_sql(contract, "d")
    con.execute(
        f"CREATE TEMP TABLE _dup_out AS SELECT {', '.join(selects)}, r.rowid AS _n, "
        f"r.{DUP} AS _of FROM {ROWS} AS r {join} WHERE r.{DUP} IS NOT NULL"
    )
    columns = ", ".join(_q(c) for c in kept)
    con.execute(
        f"CREATE TEMP TABLE _kept AS SELECT {', '.join(selects)}, '' AS _of "
        f"FROM {ROWS} AS r {join} WHERE r.{REJECT} IS NULL AND r.{DUP} IS NULL "
        f"AND ({', '.join('r.' + _q(k) for k in contract.key)}) IN "
        f"(SELECT ({', '.join(_q(k) for k in contract.key)}) FROM _dup_out WHERE _of = '')"
    )
    paths = earlier_rows(sorted(by_source)) if by_source and earlier_rows else []
    if paths:
        files = "[" + ", ".join(_lit(str(p)) for p in paths) + "]"
        con.execute(
            f"INSERT INTO _kept SELECT {columns}, split_part(parse_filename(filename), '-', 1) "
            f"FROM read_parquet({files}, filename = true, union_by_name = true) "
            f"WHERE ({', '.join(_q(k) for k in contract.key)}) IN "
            f"(SELECT ({', '.join(_q(k) for k in contract.key)}) FROM _dup_out)"
        )
    same = " AND ".join(f"d.{_q(c)} IS NOT DISTINCT FROM b.{_q(c)}" for c in kept)
    con.execute(
        "CREATE TEMP TABLE _dup_judged AS SELECT d._n, d._of, "
        f"coalesce(bool_or({same}), false) AS same FROM _dup_out AS d "
        f"LEFT JOIN _kept AS b ON {on} AND d._of = b._of GROUP BY d._n, d._of"
    )
    conflicting = _scalar(con, "SELECT count(*) FROM _dup_judged WHERE NOT same")
    path = None
    if conflicting:
        path = conflicts_path
        values = ", ".join(f"{_lit(c)}, d.{_q(c)}" for c in kept)
        con.execute(
            "COPY (SELECT d._n + 1 AS record, nullif(d._of, '') AS earlier_source, "
            "CASE WHEN d._of = '' THEN 'the key is on an earlier row of this file, with other '"
            "'values; the earlier row is kept' ELSE 'the key was curated from an earlier file, '"
            "'with other values; the earlier copy is kept' END AS reason, "
            f"json_object({values}) AS values "
            "FROM _dup_out AS d JOIN _dup_judged AS j USING (_n) WHERE NOT j.same "
            f"ORDER BY d._n) TO {_lit(str(path))} (FORMAT json)"
        )
    for table in ("_dup_out", "_kept", "_dup_judged"):
        con.execute(f"DROP TABLE {table}")
    total = within + sum(by_source.values())
    return Duplicates(
        rows=total,
        within_file=within,
        identical=total - conflicting,
        conflicting=conflicting,
        earlier=by_source,
        conflicts_path=path,
    )


def common_keys(ours: Path, theirs: list[Path], columns: tuple[str, ...]) -> int:
    """How many keys of the key-index file ``ours`` are also in the files ``theirs``."""
    names = ", ".join(_q(c) for c in columns)
    files = "[" + ", ".join(_lit(str(p)) for p in theirs) + "]"
    with _sanitised_duckdb_errors(), duckdb.connect() as con:
        return _scalar(
            con,
            f"SELECT count(*) FROM (SELECT {names} FROM read_parquet({_lit(str(ours))}) "
            f"INTERSECT SELECT {names} FROM read_parquet({files}))",
        )


def _counted(counted: Future[RecordCount]) -> RecordCount:
    try:
        return counted.result()
    except UnreadableFile as exc:
        raise TransformError(exc.reason, "bad_gzip") from exc


def _reconcile(
    count: RecordCount, parsed: int, broken: list[tuple[int, str, str]]
) -> list[tuple[int, str, str]]:
    """The broken records, with those DuckDB dropped for their length added, once the records
    DuckDB read (parsed + broken) are checked against the independent count.

    DuckDB reports a record longer than ``max_line_size`` only up to its buffer size; a longer
    one vanishes. The count knows where each over-long record is: those DuckDB did not report
    become rejected rows. Any other difference quarantines the file: rows would be lost.
    """
    reported = {line for line, _reason, _text in broken}
    dropped = [(line, DROPPED_LONG, "") for line, _size in count.oversized if line not in reported]
    missing = count.records - parsed - len(broken)
    if missing == len(dropped):
        return sorted(broken + dropped)
    if missing == 0:
        return broken
    raise TransformError(
        f"row counts do not reconcile: the file has {count.records} records (counted as CSV "
        f"records: a line break inside quotes stays in its field), but the CSV reader found "
        f"{parsed + len(broken)}; this happens when quotes are opened and not closed in a way "
        "that makes the rows ambiguous: check the quoting",
        "reconciliation",
    )


def _parse_rejects(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str, str]]:
    """(line, reason, raw text) per structurally broken record, one per line."""
    rows = con.execute(
        "SELECT line, any_value(error_type ORDER BY column_idx), any_value(csv_line) "
        "FROM reject_errors GROUP BY line ORDER BY line"
    ).fetchall()
    return [(int(line), PARSE_ERRORS.get(kind, kind.lower()), text) for line, kind, text in rows]


def transform(
    csv_path: Path,
    fmt: SourceFormat,
    mapping: HeaderMapping,
    contract: DatasetContract,
    key: HmacKey,
    out_dir: Path,
    work_dir: Path,
    sid: str,
    memory_limit: str,
    threads: int | None = None,
    on_step: Callable[[str], None] | None = None,
    known_keys: KnownKeys | None = None,
    earlier_rows: EarlierRows | None = None,
    count: RecordCount | None = None,
    deadline: float | None = None,
) -> TransformResult:
    """Convert one local CSV. Raises TransformError when the file as a whole is unusable.

    ``count`` is the file's records counted without DuckDB (``sniff.prepare`` counts them while
    it streams the file anyway); when it is not given, they are counted here, in a thread
    while DuckDB parses. Rows read are checked against it (see ``_reconcile``).

    ``sid`` is the stem of the output files' names (``layout.output_name``). With a contract
    key, rows whose key is in ``known_keys`` (the earlier sources' key index, ingest.keyindex)
    or on an earlier row of the file are not written but counted as duplicates; the values of
    those rows are compared with the kept copies, read through ``earlier_rows``.
    """

    def step(name: str) -> None:
        # an interrupt only stops a query that runs: a step that starts late stops here
        if deadline is not None and time.monotonic() >= deadline:
            raise DeadlineExceeded(f"the conversion had not finished by its deadline ({name})")
        if on_step is not None:
            on_step(name)

    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": memory_limit,
        "temp_directory": str(work_dir / "duckdb-spill"),
        # Row order is kept from the CSV to the stored table to each file: the same input
        # gives byte-identical Parquet. DuckDB's ordered writes are parallel too.
        "preserve_insertion_order": "true",
    }
    if threads:
        config["threads"] = str(threads)
    compression = fmt.compression if fmt.duckdb_readable else None
    raw_keys = _unique_keys(mapping.source_headers)
    width = len(mapping.source_headers)
    counting = ThreadPoolExecutor(max_workers=1)
    read_fmt = replace(fmt, compression=compression)
    counted = counting.submit(lambda: count or count_records(csv_path, read_fmt))
    with (
        counting,
        _sanitised_duckdb_errors(deadline),
        duckdb.connect(config=config) as con,
        _interrupt_at(con, deadline),
    ):
        # after connecting: the ICU extension (built in) must be loaded to set a time zone
        con.execute(f"SET TimeZone = {_lit(contract.timezone)}")
        ipad, opad = key.pads()
        con.execute(f"CREATE TEMP TABLE {PADS_TABLE} (ipad BLOB, opad BLOB)")
        con.execute(f"INSERT INTO {PADS_TABLE} VALUES ($1, $2)", [ipad, opad])

        # The one pass over the CSV: judge and type every row, keep them in a table.
        step("scan")
        judge = _Judge(contract, mapping, raw_keys)
        read_path = csv_path
        try:
            try:
                con.execute(
                    f"CREATE TABLE {ROWS} AS "
                    + judge.stored(_read_csv_sql(csv_path, fmt, width, compression))
                )
            except _RESOURCE_ERRORS:
                raise
            except duckdb.Error:
                _counted(counted)  # a broken gzip stream is said as such
                # a file mixing CRLF and LF line ends: read again with LF alone (same records)
                read_path = work_dir / "source-lf.csv"
                if not unify_line_ends(csv_path, read_fmt, read_path):
                    raise
                con.execute(
                    f"CREATE TABLE {ROWS} AS "
                    + judge.stored(_read_csv_sql(read_path, fmt, width, None))
                )
        except _RESOURCE_ERRORS:
            raise  # not the file's fault: retried (see _sanitised_duckdb_errors)
        except duckdb.Error as exc:
            _counted(counted)  # a broken gzip stream is said as such
            raise TransformError(
                f"DuckDB could not read the file: {_safe_duckdb_message(exc, read_path)}",
                "unparseable",
            ) from exc
        parsed, typed_rejected = con.execute(
            f"SELECT count(*), count({REJECT}) FROM {ROWS}"
        ).fetchall()[0]
        broken = _reconcile(_counted(counted), parsed, _parse_rejects(con))
        con.execute(f"CREATE TEMP TABLE _rejected AS {judge.rejected()}")
        reasons: dict[str, int] = {
            str(reason): int(n)
            for reason, n in con.execute(
                "SELECT reason, count(*) FROM _rejected GROUP BY reason"
            ).fetchall()
        }
        for _line, reason, _text in broken:
            reasons[reason] = reasons.get(reason, 0) + 1
        rows_rejected = typed_rejected + len(broken)
        lines_rejected = typed_rejected + sum(
            max(1, text.rstrip("\r\n").count("\n") + 1) for _l, _r, text in broken
        )
        rows_read = parsed + len(broken)
        if rows_read == 0:
            raise TransformError("the file has a header but no data rows", "no_rows")

        if contract.key:
            step("duplicates")
            _mark_duplicates(con, contract, known_keys or KnownKeys())

        step("pseudonymise")
        distinct, unrecognised, unique_key = (
            _build_pseudonyms(con, contract) if contract.hmac_columns else ({}, 0, True)
        )
        # before the write plan: it may move rows whose local time a clock change skipped
        # to another partition
        output = _output_sql(contract, _instant_sqls(con, contract, ROWS), unique_key)
        duplicates = Duplicates()
        if contract.key:
            duplicates = _judge_duplicates(
                con, contract, output, earlier_rows, work_dir / "conflicting-rows.jsonl"
            )

        step("write")
        out_dir.mkdir(parents=True, exist_ok=True)
        rows_written = parsed - typed_rejected - duplicates.rows
        if rows_written:
            _write_partitions(con, contract, out_dir, sid, output)
        outputs = _collect_outputs(con, out_dir, contract)
        if sum(o.rows for o in outputs) != rows_written:
            raise TransformError(
                f"row counts do not reconcile: {rows_written} good rows, "
                f"{sum(o.rows for o in outputs)} written",
                "reconciliation",
            )

        keys_path = None
        if contract.key:
            keys_path = work_dir / "keys.parquet"
            con.execute(
                f"COPY (SELECT {', '.join(_q(k) for k in contract.key)} FROM {ROWS} "
                f"WHERE {GOOD}) TO {_lit(str(keys_path))} (FORMAT parquet, COMPRESSION zstd)"
            )

        rejects_path, rejects_kept = None, 0
        if rows_rejected:
            step("rejects")
            rejects_path = work_dir / "rejected-rows.jsonl"
            rejects_kept = _write_rejects(con, rejects_path, broken, csv_path, read_fmt)
    return TransformResult(
        rows_read=rows_read,
        rows_written=rows_written,
        rows_rejected=rows_rejected,
        lines_rejected=lines_rejected,
        reject_reasons=dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        outputs=outputs,
        rejects_path=rejects_path,
        rejects_kept=rejects_kept,
        distinct_pseudonyms=distinct,
        phones_not_recognised=unrecognised,
        duplicates=duplicates,
        keys_path=keys_path,
    )


def _collect_outputs(
    con: duckdb.DuckDBPyConnection, out_dir: Path, contract: DatasetContract
) -> tuple[OutputFile, ...]:
    """The written files, each checked to hold no null in a required column.

    The schema cannot say so (every column is OPTIONAL, see ``_write_partitions``): the
    files' own null counts do, at the cost of reading their footers.
    """
    outputs = []
    prefix = contract.partition.key + "="
    required = [c.name for c in contract.columns if c.required and c.pii != "drop"]
    # by partition, then by file number (``-10`` after ``-9``): the rows in the file's order
    for path in sorted(out_dir.rglob("*.parquet"), key=_file_order):
        partition = path.parent.name.removeprefix(prefix)
        rows = _scalar(con, f"SELECT count(*) FROM read_parquet({_lit(str(path))})")
        key = path.relative_to(out_dir).as_posix()
        missing = con.execute(
            "SELECT path_in_schema, sum(stats_null_count) AS n "
            f"FROM parquet_metadata({_lit(str(path))}) WHERE path_in_schema IN "
            f"({', '.join(_lit(name) for name in required) or 'NULL'}) "
            "GROUP BY ALL HAVING n > 0 ORDER BY 1"
        ).fetchall()
        if missing:
            name, nulls = missing[0]
            raise TransformError(
                f"{nulls} rows of {key} have no {name}, which the contract requires",
                "reconciliation",
            )
        outputs.append(OutputFile(path, key, partition, rows, path.stat().st_size))
    return tuple(outputs)


def _file_order(path: Path) -> tuple[str, int]:
    return path.parent.name, int(path.stem.rsplit("-", 1)[1])


# The rejects file keeps the first this many rejected rows (by line); the manifest says how
# many it holds. Every rejected row is counted, by reason, whatever the cap.
REJECTED_ROWS_CAP = 10_000


class _RecordLines(RecordCounter):
    """The line (numbered as DuckDB numbers the broken records' lines: the header's line + 1
    for the first record, blank lines counted, a line break inside quotes not) of wanted
    records among those DuckDB parsed: data records that are not in ``broken``."""

    def __init__(self, fmt: SourceFormat, broken: set[int], wanted: list[int]) -> None:
        super().__init__(fmt, limit=0)  # limit 0: every record goes through _end
        self._broken, self._wanted = broken, set(wanted)
        self._last = max(wanted, default=-1)
        self._parsed = 0
        self.lines: dict[int, int] = {}

    def _end(self, at: int, content: bool) -> None:
        self._number += 1
        if self._number > 1 and (content or not self._blank_lines_count):
            line = self._skip + self._number
            if line not in self._broken:
                if self._parsed in self._wanted:
                    self.lines[self._parsed] = line
                self._parsed += 1
        self._start, self._content = at + 1, False

    @property
    def done(self) -> bool:
        return self._parsed > self._last


def _record_lines(
    path: Path, fmt: SourceFormat, broken: set[int], wanted: list[int]
) -> dict[int, int]:
    """Line of each wanted parsed record (by its index among them), read up to the last one."""
    lines = _RecordLines(fmt, broken, wanted)
    opener = gzip.open if fmt.compression == "gzip" else open
    with opener(path, "rb") as source:
        while not lines.done and (chunk := source.read(CHUNK_BYTES)):
            lines.feed(chunk)
    if not lines.done:
        lines.result()  # a last record without a line break
    return lines.lines


def _write_rejects(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    broken: list[tuple[int, str, str]],
    csv_path: Path,
    fmt: SourceFormat,
) -> int:
    """The first REJECTED_ROWS_CAP rejected rows by line, as JSON lines: typed failures with
    their fields, broken records verbatim, each with its line. Returns how many."""
    typed = con.execute(
        f"SELECT _n, reason, fields FROM _rejected ORDER BY _n LIMIT {REJECTED_ROWS_CAP}"
    ).fetchall()
    numbered = _record_lines(
        csv_path, fmt, {line for line, _r, _t in broken}, [int(n) for n, _r, _f in typed]
    )
    records = [
        {"line": numbered.get(int(n)), "reason": reason, "fields": json.loads(fields), "text": None}
        for n, reason, fields in typed
    ]
    records += [
        {"line": line, "reason": reason, "fields": None, "text": text}
        for line, reason, text in broken
    ]
    records.sort(key=lambda r: r["line"] if r["line"] is not None else 0)
    kept = records[:REJECTED_ROWS_CAP]
    with path.open("w", encoding="utf-8") as handle:
        for record in kept:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(kept)
