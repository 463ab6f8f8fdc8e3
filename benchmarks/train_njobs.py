"""Does the forest use the cores it is given? The same fit with n_jobs = 1, 2 and -1.

    .venv/bin/python benchmarks/train_njobs.py                     # 1 M rows, best of 3
    .venv/bin/python benchmarks/train_njobs.py --rows 200000 --repeat 2

Makes the data the way the pipeline does (generate → the real ingest → the Spark features
job, into a lake under benchmarks/out/, kept so a second run skips it), then fits the churn
forest (``churn_model.model.fit_forest``: the hyperparameters ``train.py`` uses by default,
out-of-bag predictions included) on every labelled cutoff of the training snapshot, with each
``n_jobs`` in turn, best of ``--repeat``; and times ``predict_rows`` on the scoring snapshot.
Checks that every ``n_jobs`` grows the same forest (identical predictions), prints the
speed-ups and writes benchmarks/out/train_njobs.json (with the load average before and after:
other work on the machine shows up in the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import sklearn

from churn_model import features as fx
from churn_model.model import Hyperparameters, fit_forest, predict_rows
from lakedrop.config import LocalLake
from lakedrop.generate import GenerateSpec, generate
from lakedrop.local import drop, put_in_landing

OUT = Path(__file__).resolve().parent / "out"


def build(rows: int, seed: int) -> LocalLake:
    """generate → landing → the ingest handler → the features job (Spark local[*])."""
    lake = LocalLake(OUT / f"train-njobs-lake-{rows}-{seed}")
    if (lake.analytics / "features" / "train" / "_LATEST.json").is_file():
        return lake
    from glue_jobs.features import job  # noqa: PLC0415 (Spark only when the lake is built)
    from glue_jobs.features.settings import FeaturesArgs  # noqa: PLC0415

    lake.ensure()
    source = lake.root / "source" / f"transactions-{rows}-{seed}.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    generate(source, GenerateSpec(rows=rows, seed=seed))
    key = f"transactions/{source.name}"
    put_in_landing(lake, source, key)
    os.environ.update(lake.ingest_environment())
    result = drop(lake, key)
    if result["status"] != "curated":
        raise RuntimeError(f"ingest failed: {result}")
    spark = job.start_spark(job.APP_NAME, "local[*]", driver_memory="4g")
    spark.sparkContext.setLogLevel("ERROR")
    try:
        job.run(spark, FeaturesArgs(str(lake.curated), str(lake.analytics), f"bench-{seed}"))
    finally:
        spark.stop()
    return lake


def frame(lake: LocalLake, kind: str) -> dict[str, Any]:
    pointer = json.loads((lake.analytics / f"features/{kind}/_LATEST.json").read_text())
    table = pq.read_table(pointer["path"])
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n-estimators", type=int, default=300)
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    lake = build(args.rows, args.seed)
    train, score = frame(lake, "train"), frame(lake, "score")
    x, y = fx.matrix(train), np.asarray(train["churned"], dtype=np.int64)
    x_score = fx.matrix(score)
    hp = Hyperparameters(n_estimators=args.n_estimators)
    load_before = os.getloadavg()
    results: dict[str, dict[str, float]] = {}
    reference = None
    for n_jobs in (1, 2, -1):
        fits, predicts = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            model = fit_forest(x, y, fx.MODEL_FEATURES, hp, seed=args.seed, n_jobs=n_jobs)
            fits.append(time.perf_counter() - start)
            start = time.perf_counter()
            p = predict_rows(model.estimator, x_score)
            predicts.append(time.perf_counter() - start)
        if reference is None:
            reference = p
        elif not np.array_equal(reference, p):
            print(f"n_jobs={n_jobs} grew another forest", file=sys.stderr)
            return 1
        results[str(n_jobs)] = {"fit_s": min(fits), "predict_s": min(predicts)}
        print(f"n_jobs={n_jobs:>2}: fit {min(fits):6.2f} s, predict {min(predicts):5.2f} s")
    one = results["1"]
    speedups = {
        k: {"fit": one["fit_s"] / r["fit_s"], "predict": one["predict_s"] / r["predict_s"]}
        for k, r in results.items()
    }
    for k, s in speedups.items():
        print(f"speed-up n_jobs={k} vs 1: fit {s['fit']:.2f}x, predict {s['predict']:.2f}x")
    report = {
        "rows": args.rows,
        "seed": args.seed,
        "repeat": args.repeat,
        "n_estimators": args.n_estimators,
        "training_rows": len(y),
        "scoring_rows": len(x_score),
        "features": x.shape[1],
        "cpu_count": os.cpu_count(),
        "sklearn": sklearn.__version__,
        "python": platform.python_version(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "results": results,
        "speedup_vs_1": speedups,
    }
    (OUT / "train_njobs.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
