"""Issue 16's workloads: the ingest against plain COPY, polars and pandas, all in one run.

    .venv/bin/python benchmarks/ingest_workloads.py --reuse --repeat 3 --floor --decoders
    .venv/bin/python benchmarks/ingest_workloads.py --scale 0.02 --workloads a,c   # a quick try
    .venv/bin/python benchmarks/ingest_workloads.py --reuse --decoders-only        # (c)'s decoders

Workloads, generated with ``lakedrop.generate`` into ``--data-dir`` (default
``$TMPDIR/lakedrop-bench``; ``--reuse`` keeps files already there; ``--scale`` multiplies every
row count, for quick trials; ``--workloads`` picks some of a, b, c):

a. ``month``: one month (one partition), 8.2 M rows, ~1.0 GB (122 bytes a row). Its ingest
   also runs on ``month-3gb``, the same shape at 24.5 M rows (~2.99 GB, just under the
   Lambda's ``max_object_bytes`` of 3 GB), to show peak RSS flat from 1 GB to 3 GB
   (``--no-flat`` skips it);
b. ``backfill``: 18 months, 10 M rows, ~1.2 GB: ``transactions-10000000.csv``, the file of
   ``ingest_vs_copy.py``, shared with it;
c. ``cp949``: a messy export (``messy=True``) with Korean headers in CP949, 2.6 M rows, ~300 MB.

Engines, each in a fresh subprocess (time measured around the work inside it; CPU from
``os.wait4``; peak RSS the child's own high-water mark, ``ingest_vs_copy.own_peak_rss``),
interleaved: for each of ``--repeat`` rounds, for each workload, for each engine
(``--engines`` picks some). The best time counts and the largest RSS:

- ``plain``: DuckDB's ``COPY (SELECT * FROM read_csv(file)) TO 'x.parquet' (FORMAT parquet)``,
  all defaults. DuckDB reads CP949 only with its ``encodings`` extension, which is downloaded
  (never here): for (c) plain is Python's streaming transcode to a UTF-8 copy (an incremental
  codec over 4 MiB reads) and then the COPY of the copy; the transcode is in the time and
  also reported apart (``decode_seconds``);
- ``polars``: ``pl.scan_csv(file).sink_parquet(x)``, polars' defaults. Its ``read_csv`` takes
  ``encoding="cp949"`` only by decoding the whole file in memory, in Python: for (c) it reads
  the same transcoded copy as plain, transcode included;
- ``pandas``: what users write today: ``read_csv`` in chunks of 1 M rows (``dtype=str``, the
  file's encoding), each PII column (the contract's ``hmac`` columns, found through
  ``map_header``) replaced by ``hmac.new(KEY, value, sha256).hexdigest()`` per value, each chunk
  written with ``to_parquet(..., compression="zstd")``;
- ``awswrangler``: the same loop writing with ``wr.s3.to_parquet`` to an S3 served in process
  by moto; only when ``import awswrangler`` works (it is not a dependency: pip would downgrade
  pyarrow for it), otherwise reported as skipped;
- ``ingest``: what the Lambda does (``ingest.service``): ``sniff`` (the header found by the
  contract), ``sniff.prepare`` (transcodes a CP949 file to UTF-8: step ``decode``),
  ``map_header`` and ``transform`` with the ``transactions`` contract, the Lambda's memory
  limit and threads (``--memory-limit``/``--threads`` override);
- with ``--floor``, the parts of the floor (``ingest_vs_copy.py`` d-f, docs/performance.md) on
  each workload's UTF-8 file (for (c) a UTF-8 copy made beforehand): floor = ``floor-join`` +
  the cheaper of ``floor-distinct`` and ``floor-store`` (+ for (c) the fastest transcode
  measured by plain or polars in this run).

``--decoders`` also measures, on (c)'s file, each way to turn CP949 into UTF-8 that works
without a download, each in its own subprocess and checked byte for byte against Python's
codec: ``prepare`` (what the ingest runs), Python's incremental
codec with 4 MiB and 64 MiB reads, a text-mode ``open(encoding=...)`` copy, pyarrow's
``transcoding_input_stream``, the ``iconv`` and ``uconv`` (ICU) binaries when installed, and
polars' ``read_csv(encoding="cp949")`` (a DataFrame, not a file: no byte check). DuckDB's
``encoding='cp949'`` is tried with extension loading off and reported as unsupported.
``--decoders-only`` runs only those.

Prints a table per workload (every figure also as a ratio to plain COPY and as pandas' time
over the engine's), PASS/FAIL per target of issue 16 for the ``ingest`` engine (and a missed
time target with the workload's measured floor, when ``--floor`` ran), and writes everything as
JSON to ``--out-dir`` (default ``benchmarks/out/``). It exits 0 when targets fail (it is a
measurement) and 1 when an engine crashed.
"""

from __future__ import annotations

import argparse
import codecs
import hashlib
import hmac
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

# benchmarks/ holds scripts, not a package: run as a script, this folder is sys.path[0] and
# the script beside this one imports as a top-level module (mypy resolves it the same way)
from ingest_vs_copy import (
    FLOOR_ENGINES,
    KEY,
    RSS_GROWTH_MAX,
    RSS_GROWTH_SLACK,
    RSS_MAX,
    SIZE_RATIO_MAX,
    _best,
    _child_floor,
    _child_ingest,
    _child_plain,
    _digest,
    _generate,
    _lambda_defaults,
    _run_child,
    _verdict,
    own_peak_rss,
    run_info,
)

from ingest.contracts import ContractRegistry, DatasetContract, map_header
from ingest.sniff import prepare, sniff
from lakedrop.generate import GenerateSpec

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
CHUNK_BYTES = 4 << 20  # the baselines' transcode reads (as sniff.prepare's)
PANDAS_CHUNK_ROWS = 1_000_000
ENGINES = ("plain", "polars", "pandas", "awswrangler", "ingest")
UTF8 = ("utf-8", "utf-8-sig")
DECODERS = (
    "prepare",
    "python-4MiB",
    "python-64MiB",
    "python-textio",
    "pyarrow",
    "iconv",
    "uconv",
    "polars-read_csv",
)
DECODE = "decode:"  # child engine names of the decoders: decode:<decoder>
REFERENCE_DECODER = "python-4MiB"  # Python's codec: what every decoder's output must equal
Writer = Callable[[Any, int], None]  # writes the i-th chunk (a pandas DataFrame)


@dataclass(frozen=True)
class Workload:
    key: str  # a, b, c (month-3gb belongs to a)
    name: str
    spec: GenerateSpec
    time_max: float | None  # ingest time / plain COPY time
    speedup_min: float | None  # pandas time / ingest time

    @property
    def filename(self) -> str:
        spec = self.spec
        if spec.months == 18 and spec.encoding == "utf-8" and not spec.messy:
            return f"transactions-{spec.rows}.csv"  # ingest_vs_copy.py's name: one file for both
        parts = [f"transactions-{spec.rows}"]
        if spec.months != 18:
            parts.append(f"months{spec.months}")
        if spec.encoding != "utf-8":
            parts.append(spec.encoding)
        if spec.korean_headers:
            parts.append("korean")
        if spec.messy:
            parts.append("messy")
        return "-".join(parts) + ".csv"

    @property
    def encoding(self) -> str:
        return self.spec.encoding


# Row counts at --scale 1. Bytes a row, measured on 1 M-row files of each shape: one month
# 122.1, CP949 messy with Korean headers 116.6, 18 months 119 (ingest_vs_copy.py's 10 M rows).
MONTH_ROWS = 8_200_000  # 1.00 GB
MONTH_3GB_ROWS = 24_500_000  # 2.99 GB: the Lambda rejects files over 3,000,000,000 bytes
BACKFILL_ROWS = 10_000_000  # 1.19 GB
CP949_ROWS = 2_600_000  # 0.30 GB


def _workloads(scale: float) -> dict[str, Workload]:
    def rows(n: int) -> int:
        return max(100, round(n * scale))

    cp949 = GenerateSpec(rows=rows(CP949_ROWS), korean_headers=True, messy=True, encoding="cp949")
    return {
        "a": Workload("a", "month", GenerateSpec(rows=rows(MONTH_ROWS), months=1), 1.5, 10),
        "b": Workload("b", "backfill", GenerateSpec(rows=rows(BACKFILL_ROWS)), 2.0, 8),
        "c": Workload("c", "cp949", cp949, 2.5, 8),
        "a3": Workload(
            "a", "month-3gb", GenerateSpec(rows=rows(MONTH_3GB_ROWS), months=1), None, None
        ),
    }


# ---------------------------------------------------------------- children (one engine each)


def _transcode(source: Path, target: Path, encoding: str, chunk: int = CHUNK_BYTES) -> None:
    """Python's streaming transcode: an incremental decoder over ``chunk``-byte reads."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    with source.open("rb") as src, target.open("wb") as dst:
        while block := src.read(chunk):
            dst.write(decoder.decode(block).encode("utf-8"))
        dst.write(decoder.decode(b"", final=True).encode("utf-8"))


def _utf8_source(csv: Path, out: Path, encoding: str) -> tuple[Path, float]:
    """The file as DuckDB and polars read it, and the seconds its transcode took (0: none)."""
    if encoding in UTF8:
        return csv, 0.0
    started = time.perf_counter()
    copy = out / "source-utf8.csv"
    _transcode(csv, copy, encoding)
    return copy, time.perf_counter() - started


def _parquet_rows(out: Path) -> int:
    return sum(pq.read_metadata(path).num_rows for path in out.rglob("*.parquet"))


def _contract() -> DatasetContract:
    contract = ContractRegistry().get("transactions")
    if contract is None:
        raise SystemExit("the transactions contract is missing")
    return contract


def _pii_headers(contract: DatasetContract, headers: list[str]) -> list[str]:
    """The file's names of the contract's ``hmac`` columns (Korean headers map too)."""
    mapping = map_header(contract, headers)
    return [
        header
        for header, column in zip(mapping.source_headers, mapping.columns, strict=True)
        if column is not None and column.pii == "hmac"
    ]


def _hmac_hex(value: str) -> str:
    return hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()


def _child_baseline(engine: str, csv: Path, out: Path, encoding: str) -> dict[str, Any]:
    """plain, polars, pandas or awswrangler (module docstring)."""
    decode = 0.0
    if engine == "plain":
        source, decode = _utf8_source(csv, out, encoding)
        result = _child_plain(source, out)
        result["seconds"] += decode
    elif engine == "polars":
        import polars as pl  # noqa: PLC0415 (in its own child only: not in others' RSS)

        started = time.perf_counter()
        source, decode = _utf8_source(csv, out, encoding)
        target = out / "polars.parquet"
        pl.scan_csv(source).sink_parquet(target)
        result = {"seconds": time.perf_counter() - started, "files": {target.name: _digest(target)}}
    elif engine == "pandas":
        result = _pandas_chunks(csv, out, encoding, _local_writer(out))
    elif engine == "awswrangler":
        result = _awswrangler(csv, out, encoding)
    else:
        raise SystemExit(f"unknown engine {engine}")
    if "rows" not in result:
        result["rows"] = {"written": _parquet_rows(out)}
    result["decode_seconds"] = decode
    return result


def _local_writer(out: Path) -> Writer:
    def write(chunk: Any, i: int) -> None:
        chunk.to_parquet(out / f"part-{i:05}.parquet", compression="zstd")

    return write


def _pandas_chunks(csv: Path, out: Path, encoding: str, write: Writer) -> dict[str, Any]:
    """The user's loop: chunks of strings, HMAC per value of each PII column, a file a chunk."""
    import pandas as pd  # noqa: PLC0415 (in its own child only)

    contract = _contract()
    started = time.perf_counter()
    rows = 0
    pii: list[str] = []
    chunks = pd.read_csv(csv, chunksize=PANDAS_CHUNK_ROWS, dtype=str, encoding=encoding)
    for i, chunk in enumerate(chunks):
        if i == 0:
            pii = _pii_headers(contract, [str(c) for c in chunk.columns])
        for column in pii:
            chunk[column] = chunk[column].map(_hmac_hex, na_action="ignore")
        write(chunk, i)
        rows += len(chunk)
    seconds = time.perf_counter() - started
    files = {p.name: _digest(p) for p in sorted(out.glob("*.parquet"))}
    return {"seconds": seconds, "files": files, "rows": {"read": rows, "written": rows}}


def _awswrangler(csv: Path, out: Path, encoding: str) -> dict[str, Any]:
    """pandas' loop, each chunk written by ``wr.s3.to_parquet`` to moto's in-process S3."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    wr = importlib.import_module("awswrangler")  # optional, not a dependency
    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bench")

        def write(chunk: Any, i: int) -> None:
            path = f"s3://bench/out/part-{i:05}.parquet"
            wr.s3.to_parquet(chunk, path=path, compression="zstd")

        result = _pandas_chunks(csv, out, encoding, write)
        files = {}
        for item in s3.list_objects_v2(Bucket="bench", Prefix="out/").get("Contents", []):
            target = out / Path(item["Key"]).name
            target.write_bytes(s3.get_object(Bucket="bench", Key=item["Key"])["Body"].read())
            files[target.name] = _digest(target)
    result["files"] = files
    return result


def _child_decoder(decoder: str, csv: Path, out: Path, encoding: str) -> dict[str, Any]:
    """One way from CP949 to UTF-8; only the transcode is timed."""
    target = out / "decoded.csv"
    fmt = sniff(csv)
    started = time.perf_counter()
    if decoder == "prepare":
        prepare(csv, fmt, target)
    elif decoder.startswith("python-") and decoder.endswith("MiB"):
        _transcode(csv, target, encoding, int(decoder[7:-3]) << 20)
    elif decoder == "python-textio":
        with (
            csv.open(encoding=encoding, newline="") as src,
            target.open("w", encoding="utf-8", newline="") as dst,
        ):
            while text := src.read(CHUNK_BYTES):
                dst.write(text)
    elif decoder == "pyarrow":
        import pyarrow as pa  # noqa: PLC0415

        with pa.OSFile(str(csv)) as raw, target.open("wb") as dst:
            stream = pa.transcoding_input_stream(raw, encoding, "utf-8")
            while block := stream.read(CHUNK_BYTES):
                dst.write(block)
    elif decoder in ("iconv", "uconv"):
        command = [decoder, "-f", encoding.upper(), "-t", "UTF-8", str(csv)]
        with target.open("wb") as dst:
            subprocess.run(command, stdout=dst, check=True)
    elif decoder == "polars-read_csv":
        import polars as pl  # noqa: PLC0415

        frame = pl.read_csv(csv, encoding=encoding)
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "files": {}, "rows": {"read": frame.height}}
    else:
        raise SystemExit(f"unknown decoder {decoder}")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "files": {target.name: _digest(target)}}


def _child(args: argparse.Namespace) -> dict[str, Any]:
    engine: str = args.child
    if engine.startswith(DECODE):
        return _child_decoder(engine[len(DECODE) :], args.csv, args.out, args.encoding)
    if engine == "ingest":
        return _child_ingest(args.csv, args.out, args.memory_limit, args.threads, as_service=True)
    if engine in FLOOR_ENGINES:
        pii = tuple(_pii_headers(_contract(), list(sniff(args.csv).header)))
        result = _child_floor(engine, args.csv, args.out, args.memory_limit, pii)
        if result["files"]:
            result["rows"] = {"written": _parquet_rows(args.out)}
        return result
    return _child_baseline(engine, args.csv, args.out, args.encoding)


# ---------------------------------------------------------------- the parent: runs and report


def _duckdb_cp949(csv: Path) -> str:
    """What DuckDB says to ``encoding='cp949'`` without downloading its encodings extension."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    try:
        with duckdb.connect(config=config) as con:
            con.execute(f"SELECT count(*) FROM read_csv('{csv}', encoding = 'cp949')").fetchall()
    except duckdb.Error as exc:
        return f"unsupported: {str(exc).splitlines()[0]}"
    return "supported"


def _decoders_available() -> tuple[list[str], dict[str, str]]:
    available, skipped = [], {}
    for decoder in DECODERS:
        if decoder in ("iconv", "uconv") and shutil.which(decoder) is None:
            skipped[decoder] = f"no {decoder} binary"
        else:
            available.append(decoder)
    return available, skipped


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _figures(results: dict[str, dict[str, Any]]) -> None:
    """Each engine's time as a ratio to plain's and pandas' over it; its Parquet to plain's."""
    plain, pandas = results.get("plain"), results.get("pandas")
    for r in results.values():
        r["x_plain"] = _ratio(r["seconds"], plain["seconds"]) if plain else None
        r["speedup_vs_pandas"] = _ratio(pandas["seconds"], r["seconds"]) if pandas else None
        size = r["output_bytes"] or None
        r["x_plain_size"] = _ratio(size, plain["output_bytes"]) if plain and size else None


def _floor(
    results: dict[str, dict[str, Any]], workload: Workload
) -> dict[str, float | None] | None:
    if not all(engine in results for engine in FLOOR_ENGINES):
        return None
    join, distinct, store = (results[engine]["seconds"] for engine in FLOOR_ENGINES)
    decode: float | None = 0.0
    if workload.encoding not in UTF8:
        measured = [results[e]["decode_seconds"] for e in ("plain", "polars") if e in results]
        decode = min(measured) if measured else None
    seconds = join + min(distinct, store) + (decode or 0.0)
    plain, pandas = results.get("plain"), results.get("pandas")
    return {
        "join": join,
        "distinct": distinct,
        "store": store,
        "decode": decode,
        "seconds": seconds,
        "x_plain": _ratio(seconds, plain["seconds"]) if plain else None,
        "speedup_vs_pandas": _ratio(pandas["seconds"], seconds) if pandas else None,
    }


def _fmt(value: float | None, spec: str, width: int = 8) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


def _table(title: str, results: dict[str, dict[str, Any]]) -> None:
    print(f"\n{title}")
    header = (
        f"{'engine':<15} {'rows':>11} {'time s':>8} {'x plain':>8} {'x pandas':>8} "
        f"{'decode s':>8} {'cpu s':>7} {'RSS MiB':>8} {'out MB':>8} {'x plain':>8}  runs (s)"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        rows = r.get("rows", {}).get("written")
        decode = r.get("decode_seconds") or r.get("steps", {}).get("decode")
        print(
            f"{name:<15} {_fmt(rows, ',', 11)} {r['seconds']:>8.2f} {_fmt(r['x_plain'], '.2f')} "
            f"{_fmt(r['speedup_vs_pandas'], '.2f')} {_fmt(decode, '.2f')} "
            f"{r['cpu_seconds']:>7.1f} {r['peak_rss_bytes'] / 2**20:>8.0f} "
            f"{r['output_bytes'] / 1e6:>8.1f} {_fmt(r['x_plain_size'], '.2f')}  {r['seconds_all']}"
        )


def _checks(
    workloads: dict[str, Workload],
    best: dict[str, dict[str, dict[str, Any]]],
    runs: dict[str, dict[str, list[dict[str, Any]]]],
    floors: dict[str, dict[str, float | None] | None],
) -> dict[str, dict[str, Any]]:
    """Issue 16's targets for the ingest engine, one entry per target and workload."""
    checks: dict[str, dict[str, Any]] = {}

    def check(
        name: str,
        measured: float | bool | None,
        target: str,
        ok: bool | None,
        floor: tuple[float | None] | None = None,
    ) -> None:
        """``floor``: the workload's floor in the measured unit, for a time target (a 1-tuple:
        (None,) when --floor did not run)."""
        verdict = "n/a" if ok is None else _verdict(ok)
        checks[name] = {"verdict": verdict, "measured": measured, "target": target}
        if floor is not None:
            checks[name]["floor"] = floor[0]

    for workload in workloads.values():
        results = best.get(workload.name, {})
        ingest = results.get("ingest")
        label = f"({workload.key}) {workload.name}"
        if ingest is None:
            continue
        floor = floors.get(workload.name)
        if workload.time_max is not None:
            x = ingest["x_plain"]
            check(
                f"{label}: time <= {workload.time_max}x plain COPY",
                x,
                f"<= {workload.time_max}",
                None if x is None else x <= workload.time_max,
                (floor["x_plain"] if floor else None,),
            )
        if workload.speedup_min is not None:
            s = ingest["speedup_vs_pandas"]
            check(
                f"{label}: >= {workload.speedup_min}x faster than pandas",
                s,
                f">= {workload.speedup_min}",
                None if s is None else s >= workload.speedup_min,
                (floor["speedup_vs_pandas"] if floor else None,),
            )
        if workload.name == "month-3gb":
            month = best.get("month", {}).get("ingest")
            if month is not None:
                small, large = month["peak_rss_bytes"], ingest["peak_rss_bytes"]
                allowed = max(RSS_GROWTH_SLACK, RSS_GROWTH_MAX * small)
                check(
                    "(a) month: peak RSS flat from 1 GB to 3 GB",
                    (large - small) / 2**20,
                    f"3 GB's peak RSS at most {allowed / 2**20:.0f} MiB over 1 GB's "
                    f"(max of {RSS_GROWTH_SLACK >> 20} MiB and {RSS_GROWTH_MAX:.0%})",
                    large - small <= allowed,
                )
        rss = ingest["peak_rss_bytes"]
        check(f"{label}: peak RSS <= 1 GiB", rss / 2**20, f"<= {RSS_MAX >> 20} MiB", rss <= RSS_MAX)
        if workload.name != "month-3gb":
            size = ingest["x_plain_size"]
            check(
                f"{label}: Parquet <= {SIZE_RATIO_MAX}x plain COPY's",
                size,
                f"<= {SIZE_RATIO_MAX}",
                None if size is None else size <= SIZE_RATIO_MAX,
            )
        ingest_runs = runs.get(workload.name, {}).get("ingest", [])
        if len(ingest_runs) > 1:
            same = all(r["files"] == ingest_runs[0]["files"] for r in ingest_runs[1:])
            check(f"{label}: byte-identical reruns", same, "identical", same)
    return checks


def _decoder_report(
    best: dict[str, dict[str, Any]], source_bytes: int, skipped: dict[str, str], duckdb_says: str
) -> dict[str, Any]:
    reference = best.get(DECODE + REFERENCE_DECODER, {}).get("files", {}).get("decoded.csv")
    print(f"\ndecoders (CP949 -> UTF-8, {source_bytes / 1e6:,.1f} MB)")
    header = (
        f"{'decoder':<16} {'time s':>8} {'MB/s':>8} {'cpu s':>7} {'RSS MiB':>8}  "
        f"identical to Python's codec"
    )
    print(header)
    print("-" * len(header))
    report: dict[str, Any] = {"source_bytes": source_bytes, "decoders": {}}
    for engine, r in best.items():
        name = engine.removeprefix(DECODE)
        output = r["files"].get("decoded.csv")
        identical = None if output is None or reference is None else output == reference
        mb_s = source_bytes / 1e6 / r["seconds"] if r["seconds"] else None
        shown = "n/a (a DataFrame, not a file)" if output is None else str(identical)
        print(
            f"{name:<16} {r['seconds']:>8.3f} {_fmt(mb_s, '.1f')} {r['cpu_seconds']:>7.1f} "
            f"{r['peak_rss_bytes'] / 2**20:>8.0f}  {shown}"
        )
        entry = {k: v for k, v in r.items() if k != "files"}
        report["decoders"][name] = {**entry, "mb_per_s": mb_s, "identical": identical}
    for name, why in {**skipped, "duckdb": duckdb_says}.items():
        print(f"{name:<16} {why}")
    correct = {n: d for n, d in report["decoders"].items() if d["identical"]}
    fastest = min(correct, key=lambda n: correct[n]["seconds"]) if correct else None
    if fastest is not None:
        print(f"  fastest correct decoder: {fastest} ({correct[fastest]['seconds']:.2f} s)")
    report.update(skipped=skipped, duckdb=duckdb_says, fastest_correct=fastest)
    return report


def _print_checks(checks: dict[str, dict[str, Any]]) -> None:
    print()
    for name, c in checks.items():
        measured = c["measured"]
        shown = f"{measured:.2f}" if isinstance(measured, float) else str(measured)
        line = f"  {c['verdict']:<4}  {name}: measured {shown} (target {c['target']})"
        if c["verdict"] == "FAIL" and "floor" in c:
            floor = c["floor"]
            line += "; floor " + (f"{floor:.2f}" if floor is not None else "not measured (--floor)")
        print(line)


def main(argv: list[str] | None = None) -> int:
    memory_default, threads_default = _lambda_defaults()
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--workloads", default="a,b,c", help="some of a,b,c (default: all)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="default: %(default)s")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every row count")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "lakedrop-bench",
        help="where the CSV files and the scratch outputs go (default: %(default)s)",
    )
    parser.add_argument("--out-dir", type=Path, default=OUT, help="where the JSON goes")
    parser.add_argument("--reuse", action="store_true", help="reuse generated CSVs if present")
    parser.add_argument("--repeat", type=int, default=1, help="runs per engine; best time counts")
    parser.add_argument("--no-flat", action="store_true", help="skip (a)'s 3 GB ingest run")
    parser.add_argument("--floor", action="store_true", help="also measure the floor's parts")
    parser.add_argument("--decoders", action="store_true", help="also measure CP949 decoders")
    parser.add_argument("--decoders-only", action="store_true", help="only the decoders")
    parser.add_argument(
        "--memory-limit",
        default=memory_default,
        help="DuckDB memory limit of the ingest (default: the Lambda's, %(default)s)",
    )
    parser.add_argument("--threads", type=int, default=threads_default)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--encoding", default="utf-8", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:  # inside the subprocess: do the work, print one JSON line
        print(json.dumps({**_child(args), "own_peak_rss_bytes": own_peak_rss()}))
        return 0

    args.data_dir = args.data_dir.resolve()
    all_workloads = _workloads(args.scale)
    keys = [k.strip() for k in args.workloads.split(",") if k.strip()]
    if unknown := set(keys) - {"a", "b", "c"}:
        parser.error(f"unknown workloads {sorted(unknown)}: pick from a, b, c")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if unknown := set(engines) - set(ENGINES):
        parser.error(f"unknown engines {sorted(unknown)}: pick from {', '.join(ENGINES)}")
    skipped: dict[str, str] = {}
    if args.decoders_only:
        engines = []
    if "awswrangler" in engines and importlib.util.find_spec("awswrangler") is None:
        engines.remove("awswrangler")
        skipped["awswrangler"] = (
            "not installed: not a dependency (pip would downgrade pyarrow for it)"
        )
    if args.floor:
        engines += FLOOR_ENGINES

    workloads: dict[str, Workload] = {}
    for key in [] if args.decoders_only else keys:
        workloads[key] = all_workloads[key]
        if key == "a" and not args.no_flat and "ingest" in engines:
            workloads["a3"] = all_workloads["a3"]  # (a)'s ingest at 3 GB, right after (a)
    cp949 = all_workloads["c"]
    decoding = args.decoders or args.decoders_only
    csvs = {w.name: args.data_dir / w.filename for w in workloads.values()}
    if decoding:
        csvs[cp949.name] = args.data_dir / cp949.filename
    for workload in [*workloads.values(), cp949]:
        csv = csvs.get(workload.name)
        if csv is not None and not (args.reuse and csv.exists()):
            _generate(csv, workload.spec)
    utf8 = dict(csvs)  # what the floor's parts read: (c) as a UTF-8 copy made beforehand
    if args.floor and "c" in workloads:
        utf8[cp949.name] = csvs[cp949.name].with_suffix(".utf8.csv")
        if not (args.reuse and utf8[cp949.name].exists()):
            _transcode(csvs[cp949.name], utf8[cp949.name], cp949.encoding)

    # (group, engine, file, encoding) for one round; every round runs them all, in this order
    tasks: list[tuple[str, str, Path, str]] = []
    for workload in workloads.values():
        for engine in ["ingest"] if workload.name == "month-3gb" else engines:
            floor = engine in FLOOR_ENGINES
            csv = utf8[workload.name] if floor else csvs[workload.name]
            tasks.append((workload.name, engine, csv, "utf-8" if floor else workload.encoding))
    decoders, decoders_skipped = _decoders_available() if decoding else ([], {})
    for decoder in decoders:
        tasks.append(("decoders", DECODE + decoder, csvs[cp949.name], cp949.encoding))

    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    crashes: list[dict[str, Any]] = []
    for n in range(args.repeat):
        for group, engine, csv, encoding in tasks:
            print(f"run {n + 1}/{args.repeat}: {group} {engine} ...", flush=True)
            try:
                result = _run_child(engine, csv, args, __file__, ["--encoding", encoding])
            except SystemExit as exc:  # the child failed: recorded, the others still run
                crash = {"round": n + 1, "group": group, "engine": engine, "error": str(exc)}
                crashes.append(crash)
                print(f"  {exc}", flush=True)
                continue
            runs.setdefault(group, {}).setdefault(engine, []).append(result)

    best = {
        group: {engine: _best(r) for engine, r in engines_runs.items()}
        for group, engines_runs in runs.items()
    }
    floors: dict[str, dict[str, float | None] | None] = {}
    for workload in workloads.values():
        results = best.get(workload.name, {})
        _figures(results)
        floors[workload.name] = _floor(results, workload)
        if results:
            title = f"({workload.key}) {workload.name}: {csvs[workload.name].name}, "
            title += f"{csvs[workload.name].stat().st_size / 1e6:,.1f} MB"
            _table(title, results)
        if "ingest" in results:
            ingest = results["ingest"]
            print(f"  ingest steps (best run, s): {ingest['steps']}; rows {ingest['rows']}")
        parts = floors[workload.name]
        if parts is not None:
            decode = f" + decode {parts['decode']:.2f} s" if parts["decode"] else ""
            x_plain = f" = {parts['x_plain']:.2f}x plain" if parts["x_plain"] else ""
            print(
                f"  floor: join {parts['join']:.2f} s + min(distinct {parts['distinct']:.2f} s, "
                f"store {parts['store']:.2f} s){decode} = {parts['seconds']:.2f} s{x_plain}"
            )
    decoder_report = None
    if decoders and "decoders" in best:
        duckdb_says = _duckdb_cp949(csvs[cp949.name])
        source_bytes = csvs[cp949.name].stat().st_size
        decoder_report = _decoder_report(
            best["decoders"], source_bytes, decoders_skipped, duckdb_says
        )
    checks = _checks(workloads, best, runs, floors)
    _print_checks(checks)
    for engine, why in skipped.items():
        print(f"  skipped {engine}: {why}")
    for crash in crashes:
        where = f"round {crash['round']}: {crash['group']} {crash['engine']}"
        print(f"  CRASH  {where}: {crash['error']}")
    loads = [r["load_before"] for g in runs.values() for rs in g.values() for r in rs]
    if loads:
        print(f"\n  load average before runs: {min(loads)}-{max(loads)} on {os.cpu_count()} CPUs")

    report = {
        **run_info(**{p: _version(p) for p in ("polars", "pandas", "pyarrow", "awswrangler")}),
        "settings": {
            "memory_limit": args.memory_limit,
            "threads": args.threads,
            "scale": args.scale,
            "repeat": args.repeat,
            "engines": engines,
            "pandas_chunk_rows": PANDAS_CHUNK_ROWS,
        },
        "load": {"min": min(loads), "max": max(loads)} if loads else None,
        "targets": {
            w.name: {
                "time_x_plain_max": w.time_max,
                "speedup_vs_pandas_min": w.speedup_min,
                "rss_max_bytes": RSS_MAX,
                "size_x_plain_max": SIZE_RATIO_MAX,
            }
            for w in workloads.values()
        },
        "workloads": {
            w.name: {
                "key": w.key,
                "csv": str(csvs[w.name]),
                "csv_bytes": csvs[w.name].stat().st_size,
                "spec": {k: str(v) if k == "start" else v for k, v in asdict(w.spec).items()},
                "results": {
                    e: {k: v for k, v in r.items() if k != "files"}
                    for e, r in best.get(w.name, {}).items()
                },
                "floor": floors[w.name],
            }
            for w in workloads.values()
        },
        "decoders": decoder_report,
        "checks": {name: c["verdict"] for name, c in checks.items()},
        "check_details": checks,
        "skipped": skipped,
        "crashes": crashes,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    path = args.out_dir / f"ingest_workloads-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"  written to {path}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
