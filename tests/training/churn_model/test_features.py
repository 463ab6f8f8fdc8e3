"""Segments and main channel on a frame worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from churn_model import features


def test_segments_rule_in_order() -> None:
    # F = orders_365d [1, 2, 3, 10, 6, 1]: median 2.5, upper quartile 3 + 0.75 * (6 - 3) = 5.25
    # M = spend_365d: median (80 + 100) / 2 = 90
    frame = {
        "T": np.array([30, 400, 400, 400, 400, 400]),
        "days_since_last_purchase": np.array([5, 200, 100, 10, 40, 20]),
        "orders_365d": np.array([1, 2, 3, 10, 6, 1]),
        "spend_365d": np.array([100.0, 50, 80, 900, 500, 60]),
    }
    assert features.segments(frame).tolist() == [
        "new",  # first purchase 30 days ago (even though recent and small)
        "hibernating",  # 200 days without a purchase
        "at_risk",  # 100 days
        "champions",  # 10 days, F 10 >= 5.25, M 900 >= 90
        "loyal",  # 40 days (too long for a champion), F 6 >= 2.5
        "potential",  # recent, F 1 below the median
    ]


def test_segments_of_nobody() -> None:
    empty = {
        k: np.array([]) for k in ("T", "days_since_last_purchase", "orders_365d", "spend_365d")
    }
    assert features.segments(empty).tolist() == []


def test_main_channel_ties_go_to_the_first() -> None:
    frame = {
        "channel_share_online": np.array([0.5, 0.0, 0.0]),
        "channel_share_offline": np.array([0.5, 0.2, 0.0]),
        "channel_share_app": np.array([0.0, 0.8, 0.0]),
        "channel_share_other": np.array([0.0, 0.0, 1.0]),
    }
    assert features.main_channel(frame).tolist() == ["online", "app", "other"]


def test_matrix_order_and_missing_columns() -> None:
    frame = {"a": np.array([1, 2]), "b": np.array([0.5, 1.5])}
    assert features.matrix(frame, ["b", "a"]).tolist() == [[0.5, 1.0], [1.5, 2.0]]
    with pytest.raises(features.SnapshotError, match="lacks the columns c"):
        features.matrix(frame, ["a", "c"])


def test_model_features_are_the_snapshot_columns() -> None:
    # the features job's side of the contract needs pyspark, which SageMaker's container (where
    # `make test-runtimes` also runs this module) does not have; .venv always has it
    pytest.importorskip("pyspark")
    from glue_jobs.features.transform import FEATURE_COLUMNS

    expected = [c for c in FEATURE_COLUMNS if c not in ("customer_id", "cutoff_date")]
    assert list(features.MODEL_FEATURES) == expected
