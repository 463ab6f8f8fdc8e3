"""The pure pipeline on small synthetic frames: split, refusals, bands, summary by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from churn_model import features, pipeline
from churn_model.model import Hyperparameters


def frame(n: int, cutoffs: list[str], seed: int, labelled: bool = True) -> dict[str, Any]:
    """Random snapshot rows; churn follows days_since_last_purchase (with noise)."""
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {
        name: rng.integers(0, 100, size=n).astype(float) for name in features.MODEL_FEATURES
    }
    out["customer_id"] = np.array([f"c{i:04d}" for i in range(n)], dtype=object)
    out["cutoff_date"] = np.array([cutoffs[i % len(cutoffs)] for i in range(n)], "datetime64[D]")
    out["T"] = out["T"] + 100
    if labelled:
        noise = rng.normal(scale=15, size=n)
        out["churned"] = (out["days_since_last_purchase"] + noise > 60).astype(np.int64)
    return out


HP = Hyperparameters(n_estimators=20, permutation_repeats=2)


def test_split_is_out_of_time() -> None:
    train = frame(9, ["2026-01-01", "2026-04-01", "2026-07-01"], seed=0)
    is_validation, earlier, latest = pipeline.split_out_of_time(train)
    assert is_validation.tolist() == [False, False, True] * 3
    assert (earlier, latest) == (["2026-01-01", "2026-04-01"], "2026-07-01")


def test_train_and_score_outputs() -> None:
    train = frame(600, ["2026-01-01", "2026-04-01"], seed=1)
    score = frame(50, ["2026-07-01"], seed=2, labelled=False)
    result = pipeline.train_and_score(train, score, HP, seed=7, n_jobs=1, run_id="r1")
    m = result.metrics
    assert m["cutoffs"] == {
        "train": ["2026-01-01"],
        "purged": [],
        "validation": "2026-04-01",
        "score": "2026-07-01",
    }
    assert (m["data"]["n_train"], m["data"]["n_validation"], m["data"]["n_scored"]) == (
        300,
        300,
        50,
    )
    assert m["model"]["roc_auc"] > 0.8  # the label follows recency
    assert m["risk_bands"] == {"high": m["threshold"], "medium": m["threshold"] / 2, "low": 0.0}
    p = result.predictions
    assert p["customer_id"].tolist() == score["customer_id"].tolist()
    assert set(p["risk_band"]) <= {"high", "medium", "low"}
    assert ((p["churn_probability"] >= 0) & (p["churn_probability"] <= 1)).all()
    assert (p["score_cutoff"] == np.datetime64(dt.date(2026, 7, 1))).all()
    assert set(p["run_id"]) == {"r1"}
    assert result.summary["customers"] == 50


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t, s: t.update(
                cutoff_date=np.full(len(t["churned"]), "2026-01-01", "datetime64[D]")
            ),
            "one cutoff",
        ),
        (lambda t, s: t.update(churned=np.zeros(len(t["churned"]), np.int64)), "same label"),
        (lambda t, s: t.pop("spend_trend_90d"), "lacks the columns spend_trend_90d"),
        (lambda t, s: s.update({k: v[:0] for k, v in s.items()}), "scoring snapshot has no rows"),
        (lambda t, s: t.update(churned=np.full(len(t["churned"]), 2)), "0 or 1"),
    ],
)
def test_plain_errors_for_bad_snapshots(change: Any, message: str) -> None:
    train = frame(40, ["2026-01-01", "2026-04-01"], seed=3)
    score = frame(5, ["2026-07-01"], seed=4, labelled=False)
    change(train, score)
    with pytest.raises(features.SnapshotError, match=message):
        pipeline.train_and_score(train, score, HP, seed=0, n_jobs=1, run_id="r")


def test_band_of_by_hand() -> None:
    bands = pipeline.risk_bands(0.4)
    assert bands == {"high": 0.4, "medium": 0.2, "low": 0.0}
    assert pipeline.band_of([0.5, 0.4, 0.39, 0.2, 0.1], bands).tolist() == [
        "high", "high", "medium", "medium", "low",
    ]  # fmt: skip


def test_summary_by_hand() -> None:
    predictions = {
        "churn_probability": np.array([0.9, 0.5, 0.1, 0.2]),
        "spend_365d": np.array([100.0, 200.0, 300.0, 400.0]),
        "risk_band": np.array(["high", "high", "low", "medium"]),
        "segment": np.array(["at_risk", "loyal", "loyal", "champions"]),
        "score_cutoff": np.array(["2026-07-01"] * 4, "datetime64[D]"),
    }
    s = pipeline.summarise(predictions, "r9", 0.25)
    assert (s["run_id"], s["score_cutoff"], s["customers"]) == ("r9", "2026-07-01", 4)
    assert s["revenue_365d"] == 1000.0
    assert s["by_band"] == {
        "high": {"customers": 2, "revenue_365d": 300.0},
        "medium": {"customers": 1, "revenue_365d": 400.0},
        "low": {"customers": 1, "revenue_365d": 300.0},
    }
    assert s["by_segment"]["loyal"] == {
        "customers": 2, "revenue_365d": 500.0, "mean_probability": pytest.approx(0.3), "high_risk": 1,
    }  # fmt: skip
    assert s["by_segment"]["new"] == {
        "customers": 0, "revenue_365d": 0.0, "mean_probability": None, "high_risk": 0,
    }  # fmt: skip
    assert s["mean_probability"] == pytest.approx(0.425)
    assert s["churn_rate_train"] == 0.25


def test_row_order_does_not_change_the_model() -> None:
    train = frame(400, ["2026-01-01", "2026-04-01"], seed=5)
    score = frame(30, ["2026-07-01"], seed=6, labelled=False)
    shuffled = np.random.default_rng(0).permutation(400)
    reordered = {name: values[shuffled] for name, values in train.items()}
    runs = [
        pipeline.train_and_score(t, score, HP, seed=1, n_jobs=1, run_id="r")
        for t in (train, reordered)
    ]
    for run in runs:
        del run.metrics["fit_seconds"]
    assert runs[0].metrics == runs[1].metrics
    assert runs[0].predictions["churn_probability"].tolist() == (
        runs[1].predictions["churn_probability"].tolist()
    )


def test_earlier_cutoffs_whose_labels_overlap_the_validation_window_are_purged() -> None:
    # validation 2026-04-01, horizon 60 days: 2026-01-01 + 60 = 2026-03-02 (label window ends
    # before the validation cutoff: kept); 2026-02-01 + 60 = 2026-04-02 and 2026-03-01 + 60
    # reach into the validation window (purged). Horizon 31: 2026-03-01 + 31 = 2026-04-01, kept.
    earlier = ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert pipeline.purge_overlapping(earlier, "2026-04-01", 60) == (
        ["2026-01-01"],
        ["2026-02-01", "2026-03-01"],
    )
    assert pipeline.purge_overlapping(earlier, "2026-04-01", 31) == (earlier, [])
    assert pipeline.purge_overlapping(earlier, "2026-04-01", None) == (earlier, [])

    train = frame(800, [*earlier, "2026-04-01"], seed=8)
    score = frame(20, ["2026-07-01"], seed=9, labelled=False)
    result = pipeline.train_and_score(
        train, score, HP, seed=0, n_jobs=1, run_id="r", horizon_days=60
    )
    m = result.metrics
    assert m["cutoffs"]["train"] == ["2026-01-01"]
    assert m["cutoffs"]["purged"] == ["2026-02-01", "2026-03-01"]
    assert (m["data"]["n_train"], m["data"]["n_validation"]) == (200, 200)
    # the scoring model is not evaluated: it learns from every labelled cutoff
    assert m["scoring_model"]["fitted_on_cutoffs"] == [*earlier, "2026-04-01"]
    assert m["scoring_model"]["n_rows"] == 800

    with pytest.raises(features.SnapshotError, match="--backtest-step-days"):
        pipeline.train_and_score(train, score, HP, seed=0, n_jobs=1, run_id="r", horizon_days=120)
