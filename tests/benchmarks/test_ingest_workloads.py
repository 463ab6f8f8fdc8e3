"""benchmarks/ingest_workloads.py (issue 16's benchmark) end to end, at a few thousand rows per
workload: every engine runs, the JSON holds what the table shows, and its ratios and verdicts
follow from the raw times and sizes it records."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "ingest_workloads.py"
SCALE = 0.0005  # month 4,100 rows (its 3 GB twin 12,250), backfill 5,000, cp949 1,300
TARGETS = {  # issue 16: time vs plain COPY (at most), speed-up over pandas (at least)
    "(a) month": (1.5, 10),
    "(b) backfill": (2.0, 8),
    "(c) cp949": (2.5, 8),
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("ingest_workloads")
    out = tmp / "out"
    command = [
        sys.executable, str(SCRIPT), "--scale", str(SCALE), "--repeat", "2",
        "--workloads", "a,b,c", "--data-dir", str(tmp / "data"), "--out-dir", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [path] = out.glob("ingest_workloads-*.json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    data["stdout"] = done.stdout
    return data


@pytest.mark.slow
def test_every_workload_has_every_engine(report: dict[str, Any]) -> None:
    engines = {"plain", "polars", "pandas", "ingest"}
    if importlib.util.find_spec("awswrangler") is None:
        assert "awswrangler" in report["skipped"]
        assert "skipped awswrangler" in report["stdout"]
    else:
        engines.add("awswrangler")
    workloads = report["workloads"]
    assert list(workloads) == ["month", "month-3gb", "backfill", "cp949"]
    for name in ("month", "backfill", "cp949"):
        assert set(workloads[name]["results"]) == engines, name
    assert set(workloads["month-3gb"]["results"]) == {"ingest"}
    assert workloads["month"]["spec"]["months"] == 1
    assert workloads["cp949"]["spec"]["encoding"] == "cp949"
    three, one = workloads["month-3gb"]["spec"]["rows"], workloads["month"]["spec"]["rows"]
    assert three / one == pytest.approx(3, rel=0.01)
    assert report["crashes"] == []


@pytest.mark.slow
def test_rows_reconcile(report: dict[str, Any]) -> None:
    for name, workload in report["workloads"].items():
        generated = workload["spec"]["rows"]
        for engine, result in workload["results"].items():
            rows = result["rows"]
            if engine == "ingest":
                assert rows["read"] == generated, name
                assert rows["duplicates"] == 0, name
                assert rows["written"] + rows["rejected"] == rows["read"], name
            else:  # the baselines write every row as it is
                assert rows["written"] == generated, (name, engine)


@pytest.mark.slow
def test_ratios_are_the_recorded_times_and_sizes_divided(report: dict[str, Any]) -> None:
    for name, workload in report["workloads"].items():
        results = workload["results"]
        if name == "month-3gb":  # ingest only: nothing to divide by
            assert results["ingest"]["x_plain"] is None
            continue
        plain, pandas = results["plain"], results["pandas"]
        for engine, r in results.items():
            assert r["seconds"] > 0 and r["output_bytes"] > 0, (name, engine)
            assert r["x_plain"] == pytest.approx(r["seconds"] / plain["seconds"], rel=1e-12)
            assert r["speedup_vs_pandas"] == pytest.approx(
                pandas["seconds"] / r["seconds"], rel=1e-12
            )
            assert r["x_plain_size"] == pytest.approx(
                r["output_bytes"] / plain["output_bytes"], rel=1e-12
            )
            assert len(r["seconds_all"]) == 2  # --repeat 2: the best counts
            assert round(r["seconds"], 2) == min(r["seconds_all"])
        # (c) is CP949: plain and polars transcode first, the ingest's prepare step decodes
        decodes = plain["decode_seconds"], results["polars"]["decode_seconds"]
        assert all(d > 0 for d in decodes) == (name == "cp949"), name
        assert (results["ingest"]["steps"]["decode"] > 0) if name == "cp949" else True


@pytest.mark.slow
def test_checks_cover_the_targets_and_follow_the_figures(report: dict[str, Any]) -> None:
    checks, details = report["checks"], report["check_details"]
    workloads = report["workloads"]
    for label, (time_max, speedup_min) in TARGETS.items():
        ingest = workloads[label.split()[1]]["results"]["ingest"]
        time_check = f"{label}: time <= {time_max}x plain COPY"
        assert checks[time_check] == ("PASS" if ingest["x_plain"] <= time_max else "FAIL")
        assert details[time_check]["measured"] == ingest["x_plain"]
        pandas_check = f"{label}: >= {speedup_min}x faster than pandas"
        speedup = ingest["speedup_vs_pandas"]
        assert checks[pandas_check] == ("PASS" if speedup >= speedup_min else "FAIL")
        rss_check = f"{label}: peak RSS <= 1 GiB"
        assert checks[rss_check] == ("PASS" if ingest["peak_rss_bytes"] <= 1 << 30 else "FAIL")
        size_check = f"{label}: Parquet <= 1.3x plain COPY's"
        assert checks[size_check] == ("PASS" if ingest["x_plain_size"] <= 1.3 else "FAIL")
        assert checks[f"{label}: byte-identical reruns"] == "PASS"
        for name in (time_check, pandas_check, rss_check, size_check):
            assert f"{checks[name]}  {name}" in report["stdout"]
    assert checks["(a) month-3gb: byte-identical reruns"] == "PASS"
    flat = "(a) month: peak RSS flat from 1 GB to 3 GB"
    small = workloads["month"]["results"]["ingest"]["peak_rss_bytes"]
    large = workloads["month-3gb"]["results"]["ingest"]["peak_rss_bytes"]
    allowed = max(64 << 20, 0.10 * small)
    assert checks[flat] == ("PASS" if large - small <= allowed else "FAIL")
    # without --floor a missed time target says so instead of a floor
    assert details["(a) month: time <= 1.5x plain COPY"]["floor"] is None
