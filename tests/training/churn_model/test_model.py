"""The forest's wrapper, prior correction, the recency baseline and top factors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from churn_model import model


def test_prior_correction_by_hand() -> None:
    # base rate 0.2: odds * 0.25 — p 0.5 (odds 1) → 0.2; p 0.8 (odds 4) → odds 1 → 0.5
    out = model.prior_correction([0.0, 0.5, 0.8, 1.0], 0.2)
    assert out.tolist() == pytest.approx([0.0, 0.2, 0.5, 1.0])
    with pytest.raises(ValueError):
        model.prior_correction([0.5], 0.0)


def test_recency_baseline_by_hand() -> None:
    # recency 1..10, the last five mostly churned; 2 bins: edge = median 5.5
    baseline = model.RecencyBaseline.fit(range(1, 11), [0, 0, 0, 0, 0, 1, 0, 1, 1, 1], bins=2)
    assert baseline.edges.tolist() == [5.5]
    assert baseline.rates.tolist() == [0.0, 0.8]
    assert baseline.predict_proba([3, 5.5, 100]).tolist() == [0.0, 0.8, 0.8]


class LinearStub:
    """Stands in for a fitted forest: p = 0.1 x0 + 0.05 x1 - 0.01 x2."""

    n_jobs = 1

    def predict_proba(self, x: Any) -> Any:
        p = 0.1 * x[:, 0] + 0.05 * x[:, 1] - 0.01 * x[:, 2]
        return np.column_stack([1 - p, p])


def test_top_factors_by_hand() -> None:
    stub = model.ChurnForest(
        estimator=LinearStub(),  # type: ignore[arg-type]
        feature_names=("f0", "f1", "f2"),
        base_rate=0.3,
        corrected=False,
        medians=np.array([1.0, 1.0, 1.0]),
    )
    x = np.array([[3.0, 1.0, 5.0], [2.0, 3.0, 1.0], [1.0, 1.0, 9.0]])
    # row 0: effects f0 0.1*(3-1)=0.2, f1 0, f2 -0.01*4 → only f0
    # row 1: f0 0.1, f1 0.05*2=0.1, f2 0 → f0 and f1 (tie: feature order)
    # row 2: nothing pushes the risk up
    assert model.top_factors(stub, x, ["f0", "f1", "f2"], top=3) == ["f0", "f0; f1", ""]
    assert model.top_factors(stub, x, ["f1", "f0"], top=1) == ["f0", "f1", ""]


def test_forest_is_seeded_and_n_jobs_does_not_change_it() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4))
    y = (x[:, 0] + 0.5 * rng.normal(size=400) > 0.5).astype(np.int64)
    hp = model.Hyperparameters(n_estimators=30)
    one = model.fit_forest(x, y, ["a", "b", "c", "d"], hp, seed=3, n_jobs=1)
    two = model.fit_forest(x, y, ["a", "b", "c", "d"], hp, seed=3, n_jobs=2)
    assert two.estimator.n_jobs == 2
    assert np.array_equal(one.predict_proba(x), two.predict_proba(x))
    assert np.array_equal(one.oob_proba(), two.oob_proba())
    assert one.base_rate == pytest.approx(y.mean()) and not one.corrected
    ranked = model.importance(two, x, y, repeats=3, seed=3, n_jobs=2)
    assert ranked[0]["feature"] == "a"  # the only informative feature
    assert ranked == model.importance(one, x, y, repeats=3, seed=3, n_jobs=1)


def test_forest_refuses_one_class_and_bad_hyperparameters() -> None:
    with pytest.raises(ValueError, match="one class"):
        model.fit_forest(
            np.zeros((4, 1)), np.ones(4, np.int64), ["a"], model.Hyperparameters(), seed=0, n_jobs=1
        )
    with pytest.raises(ValueError, match="n_estimators"):
        model.Hyperparameters(n_estimators=0)
    with pytest.raises(ValueError, match="class_weight"):
        model.Hyperparameters(class_weight="heavy")


def test_balanced_forest_probabilities_are_prior_corrected() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2))
    y = (x[:, 0] > 0.8).astype(np.int64)
    hp = model.Hyperparameters(n_estimators=20, class_weight="balanced_subsample")
    fitted = model.fit_forest(x, y, ["a", "b"], hp, seed=1, n_jobs=1)
    raw = fitted.estimator.predict_proba(x)[:, 1]
    assert fitted.corrected
    assert fitted.predict_proba(x) == pytest.approx(model.prior_correction(raw, y.mean()))


def test_rows_in_every_bootstrap_have_no_out_of_bag_probability() -> None:
    # One tree: exactly the rows its bootstrap drew have no out-of-bag prediction.
    # scikit-learn gives them (0, 0) rather than NaN; the threshold rule must not read p = 0.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    with pytest.warns(UserWarning, match="do not have OOB scores"):
        fitted = model.fit_forest(
            x, y, ["a", "b", "c"], model.Hyperparameters(n_estimators=1), seed=0, n_jobs=1
        )
    in_bag = np.zeros(len(y), dtype=bool)
    in_bag[fitted.estimator.estimators_samples_[0]] = True
    oob = fitted.oob_proba()
    assert 0 < in_bag.sum() < len(y)
    assert np.isnan(oob).tolist() == in_bag.tolist()
    assert ((oob[~in_bag] >= 0) & (oob[~in_bag] <= 1)).all()
