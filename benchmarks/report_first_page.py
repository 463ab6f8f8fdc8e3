"""How fast the report's first page (Overview) renders with a million scored customers.

    .venv/bin/python benchmarks/report_first_page.py                 # 1,000,000 vs 1,000 customers
    .venv/bin/python benchmarks/report_first_page.py --customers 200000 --repeat 2

Builds, for each size, a lake whose analytics zone follows the training contract: two training
runs (the overview compares with the previous one), each written by the training unit's own
writer (``training/train.py``'s ``write_outputs``: the predictions schema, zstd Parquet,
_summary.json from ``churn_model.pipeline.summarise``, metrics from ``churn_model.metrics``)
and published with ``lakedrop.training.publish``; the scores themselves are synthesised with
numpy (no model is fitted). Plus a features run report and 50 ingest manifests.

Then, in a fresh Python process per repetition, renders pages with Streamlit's AppTest:

* ``cold``: the first run of the app in the process: empty caches, the pages' imports
  (pandas, altair) included; the interpreter and ``streamlit`` itself are already imported,
  as they are in a running server;
* ``warm``: a new session (a new AppTest) in the same process: Streamlit's caches are filled.

The same is measured on a 1,000-customer lake in the same run: the baseline. The Overview
reads only _summary.json and small JSON documents, so its time should not grow with the number
of customers; the at-risk page (reads the predictions table) is timed too, for information.
Results: benchmarks/out/report_first_page.json; docs/report.md records them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from churn_model import features as fx
from churn_model import metrics as mx
from churn_model import pipeline as px
from ingest.storage import LocalStorage
from lakedrop.training import publish

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"
APP = REPO / "frontend" / "app.py"
TARGET_S = 3.0


def _train_script() -> Any:
    """training/train.py (a script, SageMaker's entry point), loaded by path."""
    spec = importlib.util.spec_from_file_location(
        "lakedrop_train_script", REPO / "training" / "train.py"
    )
    if spec is None or spec.loader is None:
        raise RuntimeError("training/train.py not found: run from a source checkout")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hex_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = rng.bytes(16 * n)
    return np.array([raw[i : i + 16].hex() for i in range(0, 16 * n, 16)], dtype=object)


def _training_run(
    analytics: Path, work: Path, n: int, run_id: str, created_at: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    p = rng.beta(1.3, 3.0, n)
    threshold = 0.45
    bands = px.risk_bands(threshold)
    cutoff = np.datetime64("2026-11-27", "D")
    predictions = {
        "customer_id": _hex_ids(rng, n),
        "churn_probability": p,
        "risk_band": px.band_of(p, bands),
        "segment": rng.choice(np.array(fx.SEGMENTS), n),
        "main_channel": rng.choice(np.array(["online", "offline", "app", "other"]), n),
        "days_since_last_purchase": rng.integers(0, 500, n).astype(np.int32),
        "orders_total": rng.integers(1, 200, n),
        "spend_total": rng.gamma(2.0, 400_000, n).round(),
        "spend_365d": rng.gamma(2.0, 150_000, n).round(),
        "top_factors": rng.choice(
            np.array(["days_since_last_purchase; spend_trend_90d", "orders_change_90d", ""]), n
        ),
        "score_cutoff": np.full(n, cutoff),
        "run_id": np.full(n, run_id, dtype=object),
    }
    # validation labels drawn from the scores: a calibrated synthetic model
    validation = min(n, 200_000)
    y = (rng.random(validation) < p[:validation]).astype(np.int64)
    baseline_p = np.clip(p[:validation] + rng.normal(0, 0.2, validation), 0, 1)
    model_metrics = mx.evaluate("random_forest", y, p[:validation], threshold)
    baseline_metrics = mx.evaluate("recency_decile_rate", y, baseline_p, threshold)
    metrics = {
        "run_id": run_id,
        "created_at": created_at,
        "sklearn_version": "synthetic",
        "python_version": platform.python_version(),
        "seed": seed,
        "n_jobs": 1,
        "fit_seconds": 0.0,
        "features": {"train_run_id": "bench-features", "score_run_id": "bench-features"},
        "cutoffs": {"train": ["2026-05-31"], "validation": "2026-08-29", "score": "2026-11-27"},
        "horizon_days": 90,
        "hyperparameters": {},
        "feature_names": ["days_since_last_purchase", "spend_trend_90d", "orders_change_90d"],
        "data": {
            "n_train": validation * 3,
            "n_validation": validation,
            "n_scored": n,
            "positive_rate_train": float(y.mean()),
            "positive_rate_validation": float(y.mean()),
        },
        "threshold": threshold,
        "threshold_rule": "synthetic",
        "model": model_metrics,
        "baseline": baseline_metrics,
        "lift": mx.lift(model_metrics, baseline_metrics),
        "permutation_importance": [
            {"feature": f, "importance_mean": m, "importance_std": m / 10}
            for f, m in (("days_since_last_purchase", 0.2), ("spend_trend_90d", 0.05))
        ],
        "risk_bands": bands,
    }
    result = px.Result(
        model=None,  # type: ignore[arg-type]
        metrics=metrics,
        predictions=predictions,
        summary=px.summarise(predictions, run_id, float(y.mean())),
    )
    model_dir, output_dir = work / run_id / "model", work / run_id / "output"
    _train_script().write_outputs(result, model_dir, output_dir)
    publish(LocalStorage(analytics), run_id, model_dir, output_dir, created_at=created_at)


def build_lake(root: Path, customers: int, seed: int) -> Path:
    if (root / "analytics" / "models" / "_LATEST.json").is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)
    analytics, curated = root / "analytics", root / "curated"
    work = root / "tmp"
    runs = (
        ("bench-previous", "2026-11-27T01:00:00+00:00"),
        ("bench-current", "2026-11-28T01:00:00+00:00"),
    )
    for i, (run_id, created) in enumerate(runs):
        _training_run(analytics, work, customers, run_id, created, seed + i)
    report = {
        "run_id": "bench-features",
        "started_at": "2026-11-28T00:30:00+00:00",
        "duration_s": 95.0,
        "input": {"rows": customers * 80, "customers": customers, "first_day": "2025-06-01",
                  "last_day": "2026-11-27"},
        "snapshots": {"train": {"cutoff": "2026-08-29", "rows": customers,
                                "positive_rate": 0.26},
                      "score": {"cutoff": "2026-11-27", "rows": customers}},
    }  # fmt: skip
    (analytics / "features" / "_runs").mkdir(parents=True, exist_ok=True)
    (analytics / "features" / "_runs" / "bench-features.json").write_text(json.dumps(report))
    manifests = curated / "_manifests" / "transactions"
    manifests.mkdir(parents=True, exist_ok=True)
    for i in range(50):
        rows = 200_000
        manifest = {
            "manifest_version": 1,
            "dataset": "transactions",
            "source_id": f"{i:020x}",
            "source": {"key": f"transactions/day-{i:03d}.csv", "size": 24_000_000},
            "status": "curated" if i % 10 else "quarantined",
            "reason": None if i % 10 else "required column(s) missing from the header",
            "rows": {"read": rows, "written": rows - 3, "rejected": 3, "lines_rejected": 3},
            "bytes": {"in": 24_000_000, "out": 6_100_000 if i % 10 else 0},
            "processed_at": f"2026-11-{1 + i % 27:02d}T03:00:00+00:00",
            "timings_s": {"total": 2.5},
        }
        (manifests / f"{i:020x}.json").write_text(json.dumps(manifest))
    shutil.rmtree(work, ignore_errors=True)
    return root


# --------------------------------------------------------------------------------------------
# timing, in a fresh process per repetition

_PROBE = r"""
import json, os, sys, time
t0 = time.perf_counter()
from streamlit.testing.v1 import AppTest
imported = time.perf_counter() - t0
app, page = sys.argv[1], sys.argv[2]

def render():
    at = AppTest.from_file(app, default_timeout=120)
    start = time.perf_counter()
    at.run()
    if page != "overview":
        at.switch_page(page).run()
    elapsed = time.perf_counter() - start
    assert not at.exception, [e.value for e in at.exception]
    return elapsed, at

cold, at = render()
warm, at = render()
shown = {m.label: m.value for m in at.metric}
print(json.dumps({"import_streamlit_s": imported, "cold_s": cold, "warm_s": warm, "shown": shown}))
"""


def probe(root: Path, page: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "LAKEDROP_HOME": str(root),
        "LAKEDROP_ANALYTICS_URI": str(root / "analytics"),
        "LAKEDROP_CURATED_URI": str(root / "curated"),
        "LAKEDROP_QUARANTINE_URI": str(root / "quarantine"),
    }
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(APP), page],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    sizes = [args.baseline, args.customers]
    results: dict[str, Any] = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "repeat": args.repeat,
        "target_s": TARGET_S,
        "sizes": {},
    }
    for n in sizes:
        started = time.perf_counter()
        root = build_lake(OUT / f"report-lake-{n}-{args.seed}", n, args.seed)
        built = time.perf_counter() - started
        predictions = root / "analytics" / "predictions" / "bench-current" / "predictions.parquet"
        entry: dict[str, Any] = {
            "build_s": round(built, 1),
            "predictions_bytes": predictions.stat().st_size,
        }
        for page, name in (("overview", "overview"), ("views/customers.py", "customers")):
            runs = [probe(root, page) for _ in range(args.repeat)]
            entry[name] = {
                "cold_s": [round(r["cold_s"], 3) for r in runs],
                "warm_s": [round(r["warm_s"], 3) for r in runs],
                "cold_median_s": round(statistics.median(r["cold_s"] for r in runs), 3),
                "warm_median_s": round(statistics.median(r["warm_s"] for r in runs), 3),
                "import_streamlit_s": round(
                    statistics.median(r["import_streamlit_s"] for r in runs), 3
                ),
                "shown": runs[-1]["shown"],
            }  # fmt: skip
            print(
                f"{n:>9,} customers  {name:<9}  cold {entry[name]['cold_median_s']:.2f} s  "
                f"warm {entry[name]['warm_median_s']:.3f} s  (median of {args.repeat})",
                flush=True,
            )
        results["sizes"][str(n)] = entry
    big, small = results["sizes"][str(args.customers)], results["sizes"][str(args.baseline)]
    results["overview_cold_ratio"] = round(
        big["overview"]["cold_median_s"] / small["overview"]["cold_median_s"], 2
    )
    results["overview_within_target"] = big["overview"]["cold_median_s"] <= TARGET_S
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "report_first_page.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(
        f"overview at {args.customers:,} customers: cold {big['overview']['cold_median_s']:.2f} s "
        f"({results['overview_cold_ratio']}x the {args.baseline:,}-customer baseline); "
        f"target {TARGET_S:.0f} s: {'met' if results['overview_within_target'] else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
