"""Metrics on six hand-worked points.

    p  0.1  0.4  0.35  0.8  0.2  0.9
    y  0    0    1     1    0    1

ROC AUC: of the 3 x 3 (churned, retained) pairs, the churner scores higher in 8 (0.35 loses
to 0.4 only) → 8/9. Average precision, ranking 0.9(1) 0.8(1) 0.4(0) 0.35(1) 0.2(0) 0.1(0):
precision 1, 1, 3/4 at the three churners, each worth 1/3 of recall → 11/12.
Brier: squared errors 0.01, 0.16, 0.4225, 0.04, 0.04, 0.01 → 0.6825 / 6 = 0.11375.
F1 by threshold (flag p >= t): 0.9 → 1/2; 0.8 → 4/5; 0.4 → 2/3; 0.35 → 6/7; 0.2 → 3/4;
0.1 → 2/3: the rule picks 0.35 (tp 3, fp 1, tn 2, fn 0).
"""

from __future__ import annotations

import math

import pytest

from churn_model import metrics

P = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9]
Y = [0, 0, 1, 1, 0, 1]


def test_threshold_rule_maximises_f1() -> None:
    assert metrics.choose_threshold(Y, P) == 0.35


def test_threshold_ties_go_to_the_highest() -> None:
    # t = 0.9: tp 1 of 2 churners, 1 flagged → F1 2/3; t = 0.2: tp 2, 4 flagged → 2/3 too
    assert metrics.choose_threshold([1, 0, 0, 1], [0.9, 0.6, 0.5, 0.2]) == 0.9


def test_threshold_needs_a_positive() -> None:
    with pytest.raises(ValueError, match="no positive"):
        metrics.choose_threshold([0, 0], [0.1, 0.2])


def test_evaluate_on_six_points() -> None:
    m = metrics.evaluate("m", Y, P, 0.35)
    assert m["roc_auc"] == pytest.approx(8 / 9)
    assert m["pr_auc"] == pytest.approx(11 / 12)
    assert m["brier"] == pytest.approx(0.11375)
    expected_log_loss = -sum(math.log(v) for v in (0.9, 0.6, 0.35, 0.8, 0.8, 0.9)) / 6
    assert m["log_loss"] == pytest.approx(expected_log_loss)
    assert m["confusion_matrix"] == {"tp": 3, "fp": 1, "tn": 2, "fn": 0}
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((0.75, 1.0, 6 / 7))
    assert m["flagged"] == 4 and m["n"] == 6 and m["positives"] == 3
    # curves run from (0, 0) to (1, 1) and from recall 1 to recall 0
    assert (m["roc_curve"]["fpr"][0], m["roc_curve"]["tpr"][-1]) == (0.0, 1.0)
    assert m["pr_curve"]["recall"][0] == 1.0 and m["pr_curve"]["recall"][-1] == 0.0
    assert len(m["pr_curve"]["thresholds"]) == len(m["pr_curve"]["recall"]) - 1


def test_calibration_bins() -> None:
    table = metrics.calibration(Y, P)
    assert [b["count"] for b in table] == [0, 1, 1, 1, 1, 0, 0, 0, 1, 1]
    assert table[0]["mean_predicted"] is None and table[0]["fraction_positive"] is None
    assert (table[3]["mean_predicted"], table[3]["fraction_positive"]) == (0.35, 1.0)
    assert (table[4]["mean_predicted"], table[4]["fraction_positive"]) == (0.4, 0.0)
    assert (table[9]["bin_lower"], table[9]["bin_upper"]) == (0.9, 1.0)
    assert metrics.calibration([1], [1.0])[9]["count"] == 1  # 1.0 is in the last bin


def test_curves_are_thinned_to_200_points() -> None:
    n = 1000
    p = [i / n for i in range(n)]
    y = [i % 3 == 0 for i in range(n)]
    m = metrics.evaluate("m", y, p, 0.5)
    assert len(m["roc_curve"]["fpr"]) <= 200 and len(m["pr_curve"]["precision"]) <= 201
    assert m["roc_curve"]["fpr"][-1] == 1.0


def test_evaluate_refuses_one_class() -> None:
    with pytest.raises(ValueError, match="both"):
        metrics.evaluate("m", [1, 1], [0.2, 0.3], 0.5)
    with pytest.raises(ValueError, match="0 and 1"):
        metrics.evaluate("m", [2, 1], [0.2, 0.3], 0.5)


def test_lift_is_positive_when_the_model_is_better() -> None:
    model = {"roc_auc": 0.9, "pr_auc": 0.8, "brier": 0.1}
    baseline = {"roc_auc": 0.85, "pr_auc": 0.6, "brier": 0.15}
    assert metrics.lift(model, baseline) == pytest.approx(
        {"roc_auc": 0.05, "pr_auc": 0.2, "brier": 0.05}
    )
