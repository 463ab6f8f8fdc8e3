"""Ingest transform vs DuckDB's plain CSV → Parquet COPY of the same file, measured in one run.

    .venv/bin/python benchmarks/ingest_vs_copy.py                 # 10 M rows (~1.2 GB CSV)
    .venv/bin/python benchmarks/ingest_vs_copy.py --reuse --repeat 3

Generates a transactions CSV with ``lakedrop.generate`` (unless ``--reuse`` finds one), then
runs, each in a fresh subprocess so that peak RSS is per engine:

a. ``plain``: ``COPY (SELECT * FROM read_csv(file)) TO 'x.parquet' (FORMAT parquet)``, all
   DuckDB defaults;
b. ``ingest``: what the ingest Lambda does with the file at the transform level: ``sniff``,
   ``map_header`` and ``transform`` with the ``transactions`` contract, a key, and the memory
   limit and threads of the Lambda's settings defaults (``--memory-limit`` overrides);
c. ``ingest-half``: the same on a file with half the rows, to show memory does not grow with
   the file (``--no-half`` skips it).

With ``--floor`` it also measures, on the same file, the parts any ingest design is made of, to
show the lowest time the target's own constraints allow (docs/performance.md, "The floor"):

d. ``floor-join``: plain's statement with the four PII columns replaced by their pseudonyms,
   joined from a table of HMACs prepared before the clock starts (free hashing), written as
   zstd Parquet like the ingest (snappy would make the file 2x plain's): no typing rules, no
   rejects, no partitions, no fixed row order;
e. ``floor-distinct``: the distinct PII tuples read from the CSV, the extra read a design
   that hashes before it writes needs;
f. ``floor-store``: the rows kept in DuckDB at the memory limit, what a one-pass design needs
   instead (the pseudonyms are only known once every row has been seen).

The floor is ``floor-join`` plus the cheaper of ``floor-distinct`` and ``floor-store``.

With ``--key-cost`` it also runs ``ingest-nokey``: the same transform with the contract's key
(``transaction_id``) removed, so no duplicate detection: the difference to ``ingest`` is what
finding repeated keys costs (the key lookup against earlier sources is not included: the
benchmark lake has none).

Time is measured inside the child around the work only (not interpreter start-up); CPU time
comes from ``os.wait4`` for that child, peak RSS from the child itself (``own_peak_rss``:
wait4's would count the parent's peak in). With ``--repeat`` every engine runs that
many times, interleaved, and the best time counts (the machine may be shared: the load
average before each run is recorded). Results are printed as a table with PASS/FAIL against
the targets and written as JSON to ``benchmarks/out/``. Repeated ingest runs are also
compared byte for byte (the transform promises byte-identical Parquet for the same input).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from ingest.contracts import ContractRegistry, map_header
from ingest.pseudonymise import PADS_TABLE, PSEUDONYM_HEX_CHARS, HmacKey, hmac_sql
from ingest.settings import Settings
from ingest.sniff import prepare, sniff
from ingest.transform import DICTIONARY_LIMIT, transform
from lakedrop.generate import GenerateSpec, generate

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
KEY = b"benchmark key, not a secret: 0123456789abcdef0123456789abcdef"
TIME_RATIO_MAX = 1.3  # transform time / plain COPY time, same run
SIZE_RATIO_MAX = 1.3  # transform Parquet bytes / plain COPY Parquet bytes
RSS_MAX = 1 << 30  # peak RSS of the transform process, bytes
# "memory does not grow with the file": peak RSS at full size may exceed the half-size run's by
# at most 10 % of it or 64 MiB, whichever is more (small files stay below the memory limit)
RSS_GROWTH_MAX = 0.10
RSS_GROWTH_SLACK = 64 << 20


def _generate(path: Path, spec: GenerateSpec) -> None:
    print(f"generating {spec.rows:,} rows into {path} ...", flush=True)
    started = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    generate(partial, spec)
    partial.replace(path)
    print(f"  {path.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - started:.0f} s")


def _child_plain(csv: Path, out: Path) -> dict[str, Any]:
    target = out / "plain.parquet"
    started = time.perf_counter()
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM read_csv('{csv}')) TO '{target}' (FORMAT parquet)")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "files": {target.name: _digest(target)}}


def _child_ingest(
    csv: Path,
    out: Path,
    memory_limit: str,
    threads: int | None,
    keyed: bool = True,
    as_service: bool = False,
) -> dict[str, Any]:
    """The transform as the Lambda calls it. ``as_service`` adds what ``ingest.service`` does
    before it (steps ``sniff`` and ``decode``): the header found by the contract's required
    names, and ``sniff.prepare``, which transcodes a file DuckDB cannot read (CP949, gzip) to
    a UTF-8 copy."""
    contract = ContractRegistry().get("transactions")
    if contract is None:
        raise SystemExit("the transactions contract is missing")
    if not keyed:
        contract = contract.model_copy(update={"key": ()})
    steps: dict[str, float] = {}
    last: list[Any] = [None, 0.0]

    def on_step(name: str) -> None:
        now = time.perf_counter()
        if last[0] is not None:
            steps[last[0]] = round(now - last[1], 2)
        last[:] = [name, now]

    work = out / "work"
    work.mkdir()
    started = time.perf_counter()
    if as_service:  # as ingest.service._ingest (its _names_required, then _utf8_copy)
        on_step("sniff")
        fmt = sniff(csv, is_header=lambda f: not map_header(contract, list(f)).missing_required)
    else:
        fmt = sniff(csv)
    mapping = map_header(contract, list(fmt.header))
    if as_service:
        on_step("decode")
        max_bytes = Settings.model_fields["max_object_bytes"].default
        prepared = prepare(csv, fmt, work / "source-utf8.csv", max_bytes)
        csv, fmt = prepared.path, prepared.readable_fmt
    result = transform(
        csv,
        fmt,
        mapping,
        contract,
        HmacKey(KEY),
        out_dir=out / "curated",
        work_dir=work,
        sid="bench",
        memory_limit=memory_limit,
        threads=threads,
        on_step=on_step,
    )
    on_step("done")
    seconds = time.perf_counter() - started
    files = {str(o.path.relative_to(out / "curated")): _digest(o.path) for o in result.outputs}
    return {
        "seconds": seconds,
        "steps": steps,
        "files": files,
        "rows": {
            "read": result.rows_read,
            "written": result.rows_written,
            "rejected": result.rows_rejected,
            "duplicates": result.duplicates.rows,
        },
    }


FLOOR_ENGINES = ("floor-join", "floor-distinct", "floor-store")
PII_COLUMNS = ("customer_id", "customer_name", "email", "phone")


def _child_floor(
    engine: str, csv: Path, out: Path, memory_limit: str, pii_columns: tuple[str, ...] = PII_COLUMNS
) -> dict[str, Any]:
    """One part of the floor (module docstring, d-f); only the part itself is timed.
    ``pii_columns``: the file's names of the four PII columns (a Korean header has others)."""
    columns = tuple('"' + c.replace('"', '""') + '"' for c in pii_columns)
    target = out / f"{engine}.parquet"
    config: dict[str, str | bool | int | float | list[str]] = {"temp_directory": str(out / "spill")}
    if engine == "floor-store":
        config["memory_limit"] = memory_limit
    with duckdb.connect(config=config) as con:
        source = f"read_csv('{csv}')"
        pii = ", ".join(columns)
        if engine == "floor-join":
            ipad, opad = HmacKey(KEY).pads()
            pads = f"CREATE TABLE {PADS_TABLE} AS SELECT $1::BLOB AS ipad, $2::BLOB AS opad"
            con.execute(pads, [ipad, opad])
            hashed = ", ".join(
                f"{hmac_sql(f'{c}::VARCHAR')}[:{PSEUDONYM_HEX_CHARS}] AS {c}" for c in columns
            )
            con.execute(
                f"CREATE TABLE p AS SELECT hash({pii}) AS k, {hashed} "
                f"FROM (SELECT DISTINCT {pii} FROM {source}) CROSS JOIN {PADS_TABLE} AS k"
            )
        started = time.perf_counter()
        if engine == "floor-join":
            replaced = ", ".join(f"p.{c} AS {c}" for c in columns)
            con.execute(
                f"COPY (SELECT r.* REPLACE ({replaced}) FROM {source} AS r "
                f"JOIN p ON hash({', '.join('r.' + c for c in columns)}) = p.k) "
                f"TO '{target}' (FORMAT parquet, COMPRESSION zstd, "
                f"DICTIONARY_SIZE_LIMIT {DICTIONARY_LIMIT})"
            )
        elif engine == "floor-distinct":
            con.execute(f"CREATE TABLE t AS SELECT DISTINCT {pii} FROM {source}")
        else:
            con.execute(f"CREATE TABLE t AS SELECT * FROM {source}")
        seconds = time.perf_counter() - started
    files = {target.name: _digest(target)} if target.exists() else {}
    return {"seconds": seconds, "files": files}


def _digest(path: Path) -> dict[str, Any]:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return {"bytes": path.stat().st_size, "sha256": sha.hexdigest()}


def own_peak_rss() -> int | None:
    """This process's own peak RSS in bytes (Linux), for a child to report to ``_run_child``.

    ``wait4``'s ``ru_maxrss`` of a child is at least its parent's peak RSS: the child starts as
    a vfork of the parent, and exec records the parent's memory high-water mark in the child's
    (Linux ``exec_mmap``); a parent that generated a large CSV in-process would set a floor
    under every engine. ``VmHWM`` is the high-water mark of the child's own memory since exec;
    what its own subprocesses (``iconv``) reached counts too."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            own = int(line.split()[1]) * 1024
            return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
    return None


def _run_child(
    engine: str,
    csv: Path,
    args: argparse.Namespace,
    script: str = __file__,
    extra: Sequence[str] = (),
) -> dict[str, Any]:
    """Run one engine in a fresh interpreter; its own peak RSS and CPU time via wait4.
    ``script`` (this one, or another benchmark reusing this) does the work with ``--child``."""
    out = Path(tempfile.mkdtemp(prefix=f"bench-{engine}-", dir=args.data_dir))
    command = [sys.executable, script, "--child", engine, "--csv", str(csv), "--out", str(out)]
    command += ["--memory-limit", args.memory_limit, *extra]
    if args.threads:
        command += ["--threads", str(args.threads)]
    load = os.getloadavg()[0]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT)
    stdout = process.stdout.read() if process.stdout is not None else b""
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    shutil.rmtree(out, ignore_errors=True)
    if process.returncode != 0:
        raise SystemExit(f"{engine} failed with exit code {process.returncode}")
    result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    result.update(
        engine=engine,
        csv=str(csv),
        # the child's own figure (own_peak_rss); wait4's counts the parent's in (Linux: KiB)
        peak_rss_bytes=result.pop("own_peak_rss_bytes", None) or usage.ru_maxrss * 1024,
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 2),
        load_before=round(load, 2),
        output_bytes=sum(f["bytes"] for f in result["files"].values()),
    )
    return result


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["seconds_all"] = [round(r["seconds"], 2) for r in runs]
    best["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in runs)
    return best


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _report(
    args: argparse.Namespace, results: dict[str, dict[str, Any]], same: bool | None
) -> dict[str, Any]:
    plain, ingest = results["plain"], results["ingest"]
    half = results.get("ingest-half")
    time_ratio = ingest["seconds"] / plain["seconds"]
    size_ratio = ingest["output_bytes"] / plain["output_bytes"]
    rss_ok = ingest["peak_rss_bytes"] < RSS_MAX
    growth = ingest["peak_rss_bytes"] / half["peak_rss_bytes"] if half else None
    grown = ingest["peak_rss_bytes"] - half["peak_rss_bytes"] if half else 0
    allowed = max(RSS_GROWTH_SLACK, RSS_GROWTH_MAX * half["peak_rss_bytes"]) if half else 0
    checks = {
        f"time <= {TIME_RATIO_MAX}x plain": _verdict(time_ratio <= TIME_RATIO_MAX),
        "peak RSS < 1 GiB": _verdict(rss_ok),
        f"Parquet <= {SIZE_RATIO_MAX}x plain": _verdict(size_ratio <= SIZE_RATIO_MAX),
    }
    if half is not None:
        checks["peak RSS does not grow with the file (full vs half)"] = _verdict(grown <= allowed)
    if same is not None:
        checks["byte-identical reruns"] = _verdict(same)

    header = f"{'engine':<14} {'rows':>11} {'time s':>8} {'x plain':>8} {'cpu s':>7} "
    header += f"{'RSS MiB':>8} {'out MB':>8} {'x plain':>8}  runs (s)"
    print()
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        rows = r.get("rows", {}).get("read", args.rows)
        same_file = name != "ingest-half"  # ratios only make sense against the same file
        x_time = f"{r['seconds'] / plain['seconds']:>8.2f}" if same_file else f"{'-':>8}"
        x_size = f"{r['output_bytes'] / plain['output_bytes']:>8.2f}"
        if not (same_file and r["output_bytes"]):
            x_size = f"{'-':>8}"
        print(
            f"{name:<14} {rows:>11,} {r['seconds']:>8.2f} {x_time} {r['cpu_seconds']:>7.1f} "
            f"{r['peak_rss_bytes'] / 2**20:>8.0f} {r['output_bytes'] / 1e6:>8.1f} {x_size}  "
            f"{r['seconds_all']}"
        )
    if "steps" in ingest:
        print(f"\ningest steps (best run, s): {ingest['steps']}")
    floor = _floor(results, plain["seconds"])
    print()
    for check, verdict in checks.items():
        print(f"  {verdict}  {check}")
    loads = [r["load_before"] for r in results.values()]
    print(f"\n  load average before runs: {min(loads)}-{max(loads)} on {os.cpu_count()} CPUs")
    return {
        **run_info(),
        "settings": {"memory_limit": args.memory_limit, "threads": args.threads},
        "targets": {
            "time_ratio_max": TIME_RATIO_MAX,
            "size_ratio_max": SIZE_RATIO_MAX,
            "rss_max_bytes": RSS_MAX,
            "rss_growth_max": RSS_GROWTH_MAX,
            "rss_growth_slack_bytes": RSS_GROWTH_SLACK,
        },
        "ratios": {"time": time_ratio, "size": size_ratio, "rss_full_over_half": growth},
        "floor": floor,
        "checks": checks,
        "results": {
            name: {k: v for k, v in r.items() if k != "files"} for name, r in results.items()
        },
    }


def _floor(results: dict[str, dict[str, Any]], plain_seconds: float) -> dict[str, float] | None:
    """The lowest time the parts allow (module docstring, d-f), printed against the target."""
    if not all(engine in results for engine in FLOOR_ENGINES):
        return None
    join, distinct, store = (results[engine]["seconds"] for engine in FLOOR_ENGINES)
    seconds = join + min(distinct, store)
    print(
        f"\nfloor: floor-join {join:.2f} s + the cheaper of floor-distinct {distinct:.2f} s and "
        f"floor-store {store:.2f} s = {seconds:.2f} s = {seconds / plain_seconds:.2f}x plain "
        f"(target {TIME_RATIO_MAX}x = {TIME_RATIO_MAX * plain_seconds:.2f} s)"
    )
    return {"seconds": seconds, "ratio": seconds / plain_seconds}


def run_info(**versions: str | None) -> dict[str, Any]:
    """When, the command and the machine, for a benchmark's JSON (``versions``: more packages)."""
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "duckdb": _duckdb_version(),
            **versions,
        },
    }


def _duckdb_version() -> str:
    return str(duckdb.__version__)


def _lambda_defaults() -> tuple[str, int | None]:
    """The memory limit and threads the ingest Lambda uses unless its environment says otherwise."""
    fields = Settings.model_fields
    return str(fields["duckdb_memory_limit"].default), fields["duckdb_threads"].default


def main(argv: list[str] | None = None) -> int:
    memory_default, threads_default = _lambda_defaults()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows to generate")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "lakedrop-bench",
        help="where the CSV files and the scratch outputs go (default: %(default)s)",
    )
    parser.add_argument("--reuse", action="store_true", help="reuse generated CSVs if present")
    parser.add_argument("--repeat", type=int, default=1, help="runs per engine; best time counts")
    parser.add_argument(
        "--memory-limit",
        default=memory_default,
        help="DuckDB memory limit of the transform (default: the Lambda's, %(default)s)",
    )
    parser.add_argument("--threads", type=int, default=threads_default)
    parser.add_argument("--no-half", action="store_true", help="skip the half-size run")
    parser.add_argument(
        "--floor", action="store_true", help="also measure the parts of the floor (see above)"
    )
    parser.add_argument(
        "--key-cost", action="store_true", help="also run the transform without the key"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:  # inside the subprocess: do the work, print one JSON line
        if args.child == "plain":
            result = _child_plain(args.csv, args.out)
        elif args.child in FLOOR_ENGINES:
            result = _child_floor(args.child, args.csv, args.out, args.memory_limit)
        else:
            keyed = args.child != "ingest-nokey"
            result = _child_ingest(args.csv, args.out, args.memory_limit, args.threads, keyed)
        print(json.dumps({**result, "own_peak_rss_bytes": own_peak_rss()}))
        return 0

    args.data_dir = args.data_dir.resolve()
    files = {"plain": args.rows, "ingest": args.rows}
    if not args.no_half:
        files["ingest-half"] = args.rows // 2
    if args.floor:
        files.update(dict.fromkeys(FLOOR_ENGINES, args.rows))
    if args.key_cost:
        files["ingest-nokey"] = args.rows
    csvs = {engine: args.data_dir / f"transactions-{rows}.csv" for engine, rows in files.items()}
    for rows in sorted(set(files.values()), reverse=True):  # plain and ingest share one file
        csv = args.data_dir / f"transactions-{rows}.csv"
        if not (args.reuse and csv.exists()):
            _generate(csv, GenerateSpec(rows=rows))
    runs: dict[str, list[dict[str, Any]]] = {engine: [] for engine in files}
    for n in range(args.repeat):
        for engine in files:
            print(f"run {n + 1}/{args.repeat}: {engine} ...", flush=True)
            runs[engine].append(_run_child(engine, csvs[engine], args))
    same = None
    if args.repeat > 1:  # every rerun of the transform wrote the same bytes
        same = all(
            run["files"] == runs[engine][0]["files"]
            for engine in files
            if engine.startswith("ingest")
            for run in runs[engine][1:]
        )
    report = _report(args, {engine: _best(r) for engine, r in runs.items()}, same)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"ingest_vs_copy-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"  written to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
