"""On generated data the training snapshot is plausible and its features separate churners.

The generator (lakedrop/generate.py) lets ~30 % of customers stop buying, after a decline in
which gaps lengthen and spend drops. So at the training cutoff a sizeable minority must be
labelled churned, and simple statistics — no model — must tell them apart: the AUC of one
feature (the probability that a random churner scores higher than a random non-churner,
from ranks, ties counted half) and differences of means.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean
from typing import Any

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from glue_jobs.features import job
from glue_jobs.features.settings import FeaturesArgs
from tests.glue_jobs.conftest import ingest_generated

ROWS = 60_000  # 750 customers over 18 months
SEED = 5


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Mann-Whitney U / (n1 n0), from mid-ranks of the pooled values."""
    pooled = sorted([(v, True) for v in positives] + [(v, False) for v in negatives])
    rank_sum, i = 0.0, 0
    while i < len(pooled):
        j = i
        while j < len(pooled) and pooled[j][0] == pooled[i][0]:
            j += 1
        mid_rank = (i + 1 + j) / 2  # ranks i+1 … j share their mean
        rank_sum += mid_rank * sum(1 for _, positive in pooled[i:j] if positive)
        i = j
    n1, n0 = len(positives), len(negatives)
    return (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0)


def test_auc_on_hand_made_samples() -> None:
    assert auc([3, 4], [1, 2]) == 1.0
    assert auc([1, 2], [3, 4]) == 0.0
    assert auc([1, 2], [1, 2]) == 0.5
    # pairs (p, n): (2,1) win, (2,3) loss, (4,1) win, (4,3) win → 3 of 4
    assert auc([2, 4], [1, 3]) == 0.75
    assert auc([2], [2, 1]) == 0.75  # a tie counts half: (1 + 0.5) / 2


@pytest.fixture(scope="module")
def train(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    root = ingest_generated(tmp_path_factory.mktemp("lake"), ROWS, SEED)
    args = FeaturesArgs(str(root / "curated"), str(root / "analytics"), "separation")
    report = job.run(spark, args)
    rows: list[dict[str, Any]] = pq.read_table(report["snapshots"]["train"]["path"]).to_pylist()
    # the training cutoff itself (the snapshot also holds the backtest cutoffs before it)
    cutoff = report["snapshots"]["train"]["cutoff"]
    return [r for r in rows if r["cutoff_date"].isoformat() == cutoff]


def _split(rows: list[dict[str, Any]], feature: str) -> tuple[list[float], list[float]]:
    churned = [float(r[feature]) for r in rows if r["churned"] == 1]
    stayed = [float(r[feature]) for r in rows if r["churned"] == 0]
    return churned, stayed


def test_churn_rate_is_plausible(train: list[dict[str, Any]]) -> None:
    rate = fmean(r["churned"] for r in train)
    assert 0.10 < rate < 0.50, rate
    assert len(train) > 600  # most of the 750 customers have bought by the cutoff


def test_recency_separates_churners(train: list[dict[str, Any]]) -> None:
    churned, stayed = _split(train, "days_since_last_purchase")
    assert auc(churned, stayed) > 0.8
    assert fmean(churned) > 2 * fmean(stayed)


def test_declining_spend_separates_churners(train: list[dict[str, Any]]) -> None:
    # churners' last 90 days fall short of their own yearly rate
    churned, stayed = _split(train, "spend_trend_90d")
    assert auc(churned, stayed) < 0.25
    assert fmean(churned) < fmean(stayed)
    churned_orders, stayed_orders = _split(train, "orders_change_90d")
    assert fmean(churned_orders) < fmean(stayed_orders)


def test_decline_shows_even_among_recent_buyers(train: list[dict[str, Any]]) -> None:
    """Recency is not the only signal: among customers who bought in the last 30 days, the
    churners' spend trend is still lower (the generator's decline phase)."""
    recent = [r for r in train if r["days_since_last_purchase"] < 30]
    churned, stayed = _split(recent, "spend_trend_90d")
    assert len(churned) >= 10 and len(stayed) >= 100
    assert auc(churned, stayed) < 0.4
