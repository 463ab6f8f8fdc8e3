"""The pipeline-health page with 10,000 ingest manifests on S3: with the manifest index, and
without it (one GET per manifest, the baseline), in the same run.

    .venv/bin/python benchmarks/report_health_page.py                  # 10,000 manifests
    .venv/bin/python benchmarks/report_health_page.py --manifests 2000 --repeat 3

A moto server on 127.0.0.1 plays S3 (a GET costs a local HTTP round trip: real S3's is longer,
so the baseline here is flattering). The curated bucket gets ``--manifests`` manifests shaped
as ingest writes them (curated, quarantined and duplicate ones, with row counts); then, in a
fresh process per measurement, the health page is rendered with Streamlit's AppTest against
that bucket, cold (empty caches):

* ``no-index``: the bucket as it is: the report lists ``_manifests/`` and GETs every one;
* ``index``: after ``ingest.manifest_index.refresh`` wrote ``_index/manifests.jsonl.gz``,
  as the ingest function does after every object: one GET, plus one per manifest newer
  than the index (none here).

The page's totals are checked to be the same both ways. Prints the times, their ratio and
PASS/FAIL against the 3 s target of docs/report.md, writes JSON to ``benchmarks/out/``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
BUCKET = "bench-curated"
REGION = "ap-northeast-2"
TARGET_S = 3.0


def manifest(n: int) -> dict[str, Any]:
    """A manifest as ingest writes it; every 50th quarantined, every 40th a duplicate."""
    key = f"transactions/export-{n:05d}.csv"
    base: dict[str, Any] = {
        "manifest_version": 1,
        "dataset": "transactions",
        "source_id": f"{n:020x}",
        "source": {"key": key, "size": 250_000 + n, "sha256": f"{n:064x}"},
        "processed_at": f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:00:00+00:00",
        "timings_s": {"total": 1.5},
    }
    if n % 50 == 0:
        return {**base, "status": "quarantined", "reason": "required column missing",
                "code": "missing_column", "outputs": [],
                "bytes": {"in": 250_000, "out": 0}}  # fmt: skip
    if n % 40 == 0:
        return {**base, "status": "duplicate", "code": "duplicate_file", "outputs": [],
                "duplicate_of": {"source_id": "0" * 20, "key": "transactions/export-00001.csv"},
                "rows": {"read": 2000, "written": 0, "rejected": 0, "duplicates": 2000},
                "bytes": {"in": 250_000, "out": 0}}  # fmt: skip
    return {
        **base,
        "status": "curated",
        "rows": {"read": 2000, "written": 1990, "rejected": 4, "duplicates": 6},
        "duplicates": {"rows": 6, "conflicting": 1, "earlier": []},
        "outputs": [
            {
                "key": f"transactions/event_month=2025-06/{n:020x}-v-0.parquet",
                "partition": "2025-06",
                "rows": 1990,
                "bytes": 60_000,
            }
        ],
        "bytes": {"in": 250_000, "out": 60_000},
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "LAKEDROP_CURATED_URI": f"s3://{BUCKET}",
        "LAKEDROP_ANALYTICS_URI": f"s3://{BUCKET}/analytics",
        "LAKEDROP_QUARANTINE_URI": "s3://bench-quarantine",
    }


def _child() -> dict[str, Any]:
    """Render the health page once, cold, in this fresh process."""
    from streamlit.testing.v1 import AppTest  # noqa: PLC0415

    app = AppTest.from_file(str(ROOT / "frontend" / "app.py"), default_timeout=600)
    app.run()
    app.sidebar.radio(key="lang").set_value("en").run()
    started = time.perf_counter()
    app.switch_page("views/health.py").run()
    seconds = time.perf_counter() - started
    if app.exception:
        raise SystemExit(f"the page failed: {[e.value for e in app.exception]}")
    shown = {m.label: m.value for m in app.metric}
    return {"seconds": seconds, "shown": shown}


def _measure(environment: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child"],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifests", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2, help="renders each way; best counts")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child()))
        return 0

    import boto3  # noqa: PLC0415
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    from ingest import manifest_index  # noqa: PLC0415
    from ingest.storage import S3Storage  # noqa: PLC0415

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    environment = _environment(f"http://127.0.0.1:{port}")
    saved = dict(os.environ)
    os.environ.update(environment)
    try:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        print(f"writing {args.manifests:,} manifests ...", flush=True)
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(
                    lambda n: s3.put_object(
                        Bucket=BUCKET,
                        Key=f"_manifests/transactions/{n:020x}.json",
                        Body=json.dumps(manifest(n)).encode(),
                    ),
                    range(args.manifests),
                )
            )
        runs: dict[str, list[dict[str, Any]]] = {"no-index": [], "index": []}
        for n in range(args.repeat):
            print(f"run {n + 1}/{args.repeat}: no-index ...", flush=True)
            runs["no-index"].append(_measure(environment))
        started = time.perf_counter()
        manifest_index.refresh(S3Storage(BUCKET, "", s3))
        build = time.perf_counter() - started
        for n in range(args.repeat):
            print(f"run {n + 1}/{args.repeat}: index ...", flush=True)
            runs["index"].append(_measure(environment))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()

    best = {name: min(r["seconds"] for r in rs) for name, rs in runs.items()}
    same = runs["index"][0]["shown"] == runs["no-index"][0]["shown"]
    checks = {
        f"health page with the index < {TARGET_S} s": best["index"] < TARGET_S,
        "the same totals with and without the index": same,
    }
    print(f"\n{args.manifests:,} manifests; index built in {build:.2f} s (from nothing)")
    for name, seconds in best.items():
        print(f"  {name:<9} {seconds:6.2f} s   runs {[round(r['seconds'], 2) for r in runs[name]]}")
    print(f"  ratio no-index / index: {best['no-index'] / best['index']:.1f}x")
    for check, passed in checks.items():
        print(f"  {'PASS' if passed else 'FAIL'}  {check}")
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "manifests": args.manifests,
        "index_build_seconds": round(build, 2),
        "best_seconds": best,
        "runs": runs,
        "checks": checks,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"report_health_page-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"  written to {path.relative_to(ROOT)}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
