"""CSV → typed, pseudonymised, partitioned Parquet, in DuckDB (local files in, local files out).

Pure with respect to the lake: it reads one local UTF-8 CSV and writes into a local folder.
The steps, each one SQL statement over the whole file:

1. *stage*: read every field as text with the contract's explicit columns (never the sniffer),
   type the kept columns with TRY_CAST, keep PII columns raw, and give each row a reject
   reason (NULL when the row is good). Structural errors (ragged rows, unterminated quotes,
   bad UTF-8) are collected by DuckDB's ``store_rejects``.
2. *pseudonymise*: for each ``hmac`` column, normalise and hash its *distinct* values once.
3. *write*: join the pseudonyms back, cluster rows by partition and customer (so the
   high-entropy pseudonyms compress), write zstd Parquet partitioned by the event time.
4. *rejects*: write rejected rows (with their reasons) as JSON lines for quarantine.

Reconciliation: rows_read = rows_written + rows_rejected, checked before anything is published.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingest.contracts import Column, DatasetContract, HeaderMapping
from ingest.pseudonymise import (
    PADS_TABLE,
    PSEUDONYM_HEX_CHARS,
    HmacKey,
    hmac_sql,
    normalise_sql,
    phone_fast_sql,
    phone_to_e164,
)
from ingest.sniff import SourceFormat

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
    "LINE SIZE OVER MAXIMUM": "the line is longer than the 8 MB limit",
}
MAX_LINE_BYTES = 8 << 20


class TransformError(ValueError):
    """The file as a whole cannot be converted; ``reason`` is safe to show (no row values)."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class OutputFile:
    path: Path
    partition: str
    rows: int
    bytes: int


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

    @property
    def reject_ratio(self) -> float:
        return self.lines_rejected / max(self.rows_read, 1)


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_type(column: Column) -> str:
    if column.type == "decimal":
        return f"DECIMAL(18, {column.scale})"
    return SQL_TYPES[column.type]


def _typed_sql(column: Column, raw: str) -> str:
    """SQL typing one raw text field; NULL when blank or not castable."""
    v = f"nullif(trim({raw}), '')"
    match column.type:
        case "string":
            return v
        case "integer":
            return f"TRY_CAST(replace({v}, ',', '') AS BIGINT)"
        case "decimal":
            return f"TRY_CAST(replace({v}, ',', '') AS DECIMAL(18, {column.scale}))"
        case "timestamp":
            formats = "[" + ", ".join(_lit(f) for f in column.formats) + "]"
            # TRY_CAST reads ISO forms with an offset; naive ones are in the session time
            # zone, which is set to the contract's.
            return (
                f"coalesce(TRY_CAST({v} AS TIMESTAMPTZ), TRY_STRPTIME({v}, {formats})::TIMESTAMPTZ)"
            )
        case "date":
            formats = "[" + ", ".join(_lit(f) for f in column.formats) + "]"
            return f"coalesce(TRY_CAST({v} AS DATE), TRY_STRPTIME({v}, {formats})::DATE)"
        case "boolean":
            trues = ", ".join(_lit(t) for t in column.true_values)
            falses = ", ".join(_lit(f) for f in column.false_values)
            return (
                f"CASE WHEN lower({v}) IN ({trues}) THEN true "
                f"WHEN lower({v}) IN ({falses}) THEN false END"
            )
    raise AssertionError(column.type)


def _read_csv_sql(
    path: Path, fmt: SourceFormat, width: int, compression: str | None, errors: str
) -> str:
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
    options = [
        f"columns = {columns}",
        "header = true",
        "auto_detect = false",
        f"delim = {_lit(fmt.delimiter)}",
        "quote = '\"'",
        "escape = '\"'",
        "strict_mode = true",
        "null_padding = false",
        errors,
        f"max_line_size = {MAX_LINE_BYTES}",
        f"compression = {_lit(compression or 'none')}",
    ]
    return f"read_csv({_lit(str(path))}, {', '.join(options)})"


def _stage_sql(
    csv_sql: str, contract: DatasetContract, mapping: HeaderMapping, raw_keys: list[str]
) -> str:
    """Rows of the CSV with typed kept columns, raw PII columns and a reject reason.

    ``reason`` is NULL for a good row; ``raw_record`` holds a rejected row's fields (as JSON).
    The same statement is used by both passes, so both judge every row alike.
    """
    position = {c.name: i for i, c in enumerate(mapping.columns) if c is not None}
    inner: list[str] = []  # typed/raw values, from read_csv's c0..cN
    checks: list[str] = []  # one CASE per problem; concatenated into the reject reason
    for column in contract.columns:
        i = position.get(column.name)
        if column.pii == "drop":
            continue
        name = _q(column.name)
        if column.pii == "hmac":
            raw_name = _q("raw_" + column.name)
            inner.append(f"c{i} AS {raw_name}" if i is not None else f"NULL::VARCHAR AS {raw_name}")
        elif i is None:
            inner.append(f"NULL::{_sql_type(column)} AS {name}")
        else:
            inner.append(f"{_typed_sql(column, f'c{i}')} AS {name}")
        if i is None:
            continue
        blank = f"nullif(trim(c{i}), '') IS NULL"
        if column.required:
            checks.append(f"CASE WHEN {blank} THEN {_lit(column.name + ': missing')} END")
        if column.pii != "hmac" and column.type != "string":
            checks.append(
                f"CASE WHEN NOT ({blank}) AND {name} IS NULL "
                f"THEN {_lit(f'{column.name}: not a valid {column.type}')} END"
            )
    raw_pairs = ", ".join(f"{_lit(k)}, c{i}" for i, k in enumerate(raw_keys))
    raw_cols = ", ".join(f"c{i}" for i in range(len(raw_keys)))
    reason = f"nullif(concat_ws('; ', {', '.join(checks) or 'NULL'}), '')"
    return f"""
        SELECT *, CASE WHEN reason IS NOT NULL THEN json_object({raw_pairs}) END AS raw_record
        FROM (
            SELECT *, {reason} AS reason
            FROM (SELECT {raw_cols}, {", ".join(inner)} FROM {csv_sql})
        )
    """


def _unique_keys(headers: tuple[str, ...]) -> list[str]:
    """Header names made unique and non-empty, for the JSON of a rejected row."""
    keys: list[str] = []
    for i, header in enumerate(headers):
        key = header or f"column {i + 1}"
        while key in keys:
            key = f"{key} ({i + 1})"
        keys.append(key)
    return keys


def _safe_duckdb_message(exc: duckdb.Error) -> str:
    """First line of a DuckDB error, without the echo of the offending line (it may hold PII)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    first = re.split(r"Original Line|\bline:\s", first, maxsplit=1)[0]
    # quoted fragments may echo field values: drop them
    return re.sub(r"\"[^\"]*\"|'[^']*'", "'…'", first).strip()[:300]


def _pii_key_sql(contract: DatasetContract, prefix: str = "") -> str:
    """64-bit key of a row's raw PII tuple: the pseudonyms are joined back on it."""
    return "hash(" + ", ".join(prefix + _q("raw_" + c.name) for c in contract.hmac_columns) + ")"


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
    raw_cols = [_q("raw_" + c.name) for c in contract.hmac_columns]
    con.execute(
        f"CREATE TEMP TABLE tuples AS SELECT DISTINCT {', '.join(raw_cols)} "
        "FROM scan WHERE reason IS NULL"
    )
    select = [f"{_pii_key_sql(contract, 't.')} AS pii_key", *(f"t.{c}" for c in raw_cols)]
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
        con.execute(
            f"CREATE TEMP TABLE {table} AS SELECT v, "
            f"CASE WHEN n IS NOT NULL THEN {hmac_sql('n')}[:{PSEUDONYM_HEX_CHARS}] END AS h "
            f"FROM norm CROSS JOIN {PADS_TABLE} AS k"
        )
        con.execute("DROP TABLE norm")
        counts[column.name] = _scalar(con, f"SELECT count(DISTINCT h) FROM {table}")
        joins.append(f"LEFT JOIN {table} ON t.{raw} = {table}.v")
        select.append(f"{table}.h AS {_q(column.name)}")
    con.execute(
        f"CREATE TEMP TABLE pseudonyms AS SELECT {', '.join(select)} FROM tuples AS t {' '.join(joins)}"
    )
    unique = _scalar(con, "SELECT count(*) - count(DISTINCT pii_key) FROM pseudonyms") == 0
    return counts, unrecognised, unique


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchall()[0]
    return int(row[0] or 0)


def _write_sql(
    stage_sql: str, contract: DatasetContract, out_dir: Path, sid: str, unique_key: bool
) -> str:
    selects: list[str] = []
    for column in contract.columns:
        if column.pii == "drop":
            continue
        selects.append(f"{'p' if column.pii == 'hmac' else 'r'}.{_q(column.name)}")
    if not contract.hmac_columns:
        join = ""
    elif unique_key:
        join = f"JOIN pseudonyms AS p ON {_pii_key_sql(contract, 'r.')} = p.pii_key"
    else:
        on = " AND ".join(
            f"r.{_q('raw_' + c.name)} IS NOT DISTINCT FROM p.{_q('raw_' + c.name)}"
            for c in contract.hmac_columns
        )
        join = f"JOIN pseudonyms AS p ON {on}"
    part = contract.partition
    fmt = "%Y-%m-%d" if part.grain == "day" else "%Y-%m"
    part_sql = f"strftime(r.{_q(part.column)}, {_lit(fmt)}) AS {_q(part.key)}"
    kept = [c.name for c in contract.columns if c.pii != "drop"]
    order = ""
    if contract.cluster_by:
        cluster = [c for c in contract.cluster_by if c in kept]
        rest = [c for c in kept if c not in cluster]
        order = "ORDER BY " + ", ".join(_q(c) for c in [part.key, *cluster, *rest])
    return f"""
        COPY (
            SELECT {", ".join(selects)}, {part_sql}
            FROM ({stage_sql}) AS r {join}
            WHERE r.reason IS NULL
            {order}
        ) TO {_lit(str(out_dir))} (
            FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({_q(part.key)}),
            FILENAME_PATTERN {_lit(sid + "-{i}")}, WRITE_PARTITION_COLUMNS false
        )
    """


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
    memory_limit: str = "1GB",
    threads: int | None = None,
    on_step: Callable[[str], None] | None = None,
) -> TransformResult:
    """Convert one local CSV. Raises TransformError when the file as a whole is unusable."""
    step = on_step or (lambda _name: None)
    config = {
        "memory_limit": memory_limit,
        "temp_directory": str(work_dir / "duckdb-spill"),
        "preserve_insertion_order": "false",
    }
    if threads:
        config["threads"] = str(threads)
    compression = fmt.compression if fmt.duckdb_readable else None
    raw_keys = _unique_keys(mapping.source_headers)
    width = len(mapping.source_headers)
    with duckdb.connect(config=config) as con:
        # after connecting: the ICU extension (built in) must be loaded to set a time zone
        con.execute(f"SET TimeZone = {_lit(contract.timezone)}")
        ipad, opad = key.pads()
        con.execute(f"CREATE TEMP TABLE {PADS_TABLE} (ipad BLOB, opad BLOB)")
        con.execute(f"INSERT INTO {PADS_TABLE} VALUES ($1, $2)", [ipad, opad])

        # Pass 1: judge every row; keep the distinct PII tuples of good rows and the rejects.
        step("scan")
        scan_stage = _stage_sql(
            _read_csv_sql(csv_path, fmt, width, compression, "store_rejects = true"),
            contract,
            mapping,
            raw_keys,
        )
        pii = [_q("raw_" + c.name) for c in contract.hmac_columns]
        try:
            con.execute(
                f"CREATE TEMP TABLE scan AS SELECT {''.join(p + ', ' for p in pii)}"
                f"reason, raw_record, count(*) AS n FROM ({scan_stage}) GROUP BY ALL"
            )
        except duckdb.Error as exc:
            raise TransformError(
                f"DuckDB could not read the file: {_safe_duckdb_message(exc)}", "unparseable"
            ) from exc
        parsed = _scalar(con, "SELECT sum(n) FROM scan")
        broken = _parse_rejects(con)
        typed_rejects = con.execute(
            "SELECT reason, sum(n) FROM scan WHERE reason IS NOT NULL GROUP BY reason"
        ).fetchall()
        reasons: dict[str, int] = {str(r): int(n) for r, n in typed_rejects}
        for _line, reason, _text in broken:
            reasons[reason] = reasons.get(reason, 0) + 1
        typed_rejected = sum(int(n) for _r, n in typed_rejects)
        rows_rejected = typed_rejected + len(broken)
        lines_rejected = typed_rejected + sum(
            max(1, text.rstrip("\r\n").count("\n") + 1) for _l, _r, text in broken
        )
        rows_read = parsed + len(broken)
        if rows_read == 0:
            raise TransformError("the file has a header but no data rows", "no_rows")

        step("pseudonymise")
        distinct, unrecognised, unique_key = (
            _build_pseudonyms(con, contract) if contract.hmac_columns else ({}, 0, True)
        )

        # Pass 2: stream the good rows, typed and pseudonymised, into partitioned Parquet.
        step("write")
        out_dir.mkdir(parents=True, exist_ok=True)
        rows_written = parsed - typed_rejected
        if rows_written:
            write_stage = _stage_sql(
                _read_csv_sql(csv_path, fmt, width, compression, "ignore_errors = true"),
                contract,
                mapping,
                raw_keys,
            )
            # the CSV is the probe side; the small pseudonym table is the hash table
            con.execute("SET disabled_optimizers = 'build_side_probe_side'")
            con.execute(_write_sql(write_stage, contract, out_dir, sid, unique_key))
            con.execute("RESET disabled_optimizers")
        outputs = _collect_outputs(con, out_dir, contract)
        if sum(o.rows for o in outputs) != rows_written:
            raise TransformError(
                f"row counts do not reconcile: {rows_written} good rows, "
                f"{sum(o.rows for o in outputs)} written",
                "reconciliation",
            )

        rejects_path = None
        if rows_rejected:
            step("rejects")
            rejects_path = work_dir / "rejected-rows.jsonl"
            _write_rejects(con, rejects_path, broken)
    return TransformResult(
        rows_read=rows_read,
        rows_written=rows_written,
        rows_rejected=rows_rejected,
        lines_rejected=lines_rejected,
        reject_reasons=dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        outputs=outputs,
        rejects_path=rejects_path,
        distinct_pseudonyms=distinct,
        phones_not_recognised=unrecognised,
    )


def _collect_outputs(
    con: duckdb.DuckDBPyConnection, out_dir: Path, contract: DatasetContract
) -> tuple[OutputFile, ...]:
    outputs = []
    prefix = contract.partition.key + "="
    for path in sorted(out_dir.rglob("*.parquet")):
        partition = path.parent.name.removeprefix(prefix)
        rows = _scalar(con, f"SELECT count(*) FROM read_parquet({_lit(str(path))})")
        outputs.append(OutputFile(path, partition, rows, path.stat().st_size))
    return tuple(outputs)


def _write_rejects(
    con: duckdb.DuckDBPyConnection, path: Path, broken: list[tuple[int, str, str]]
) -> None:
    """Rejected rows as JSON lines: typed failures with their fields, broken lines verbatim."""
    con.execute(
        "COPY (SELECT NULL::BIGINT AS line, reason, raw_record::JSON AS fields, NULL AS text "
        "FROM scan, range(n) WHERE reason IS NOT NULL ORDER BY raw_record) "
        f"TO {_lit(str(path))} (FORMAT json)"
    )
    if broken:
        with path.open("a", encoding="utf-8") as handle:
            for line, reason, text in broken:
                record = {"line": line, "reason": reason, "fields": None, "text": text}
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
