"""The churn model (a random forest), the recency baseline, and per-customer top factors.

**Class imbalance.** About a quarter of the customers churn: a mild imbalance. It is handled
where it matters — the decision — not by distorting the probabilities: the forest is grown on
the data as it is (``class_weight=None``), so its vote shares stay probabilities, and the
operating threshold is chosen for the minority class (``metrics.choose_threshold``: best F1 on
out-of-bag predictions) instead of 0.5; PR AUC is reported next to ROC AUC. Measured on the
sample data (docs/training.md): ``class_weight="balanced_subsample"`` ranks as well (ROC AUC
0.957 vs 0.956, PR AUC 0.912 vs 0.913) but its probabilities, even after
:func:`prior_correction` maps them back to the base rate (odds * π / (1 - π)), have a clearly
worse Brier score (0.095 vs 0.071).
The option stays (``--class-weight balanced_subsample``), with that correction applied.

**Reproducible.** Every random choice takes the run's seed (``random_state``); a fitted forest
is identical whatever ``n_jobs`` is.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from joblib import Parallel, delayed, effective_n_jobs, parallel_config
from sklearn.ensemble import RandomForestClassifier
from sklearn.inspection import permutation_importance

from churn_model.features import FloatArray, IntArray

RECENCY_FEATURE: Final = "days_since_last_purchase"
BASELINE_BINS: Final = 10
MIN_FACTOR_EFFECT: Final = 0.01  # a top factor raises the probability by at least 1 point


@dataclass(frozen=True)
class Hyperparameters:
    n_estimators: int = 300
    max_depth: int | None = None
    min_samples_leaf: int = 5
    max_features: str | float | int | None = "sqrt"
    class_weight: str | None = None
    permutation_repeats: int = 5
    top_factors: int = 3
    factor_candidates: int = 8  # top factors are looked for among the most important features

    def __post_init__(self) -> None:
        if self.n_estimators < 1:
            raise ValueError(f"n_estimators must be >= 1, got {self.n_estimators}")
        if self.min_samples_leaf < 1:
            raise ValueError(f"min_samples_leaf must be >= 1, got {self.min_samples_leaf}")
        if self.max_depth is not None and self.max_depth < 1:
            raise ValueError(f"max_depth must be >= 1 or None, got {self.max_depth}")
        if self.class_weight not in (None, "balanced", "balanced_subsample"):
            raise ValueError(
                f"class_weight {self.class_weight!r}: balanced_subsample, balanced or none"
            )

    def forest_params(self) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators,
            "max_depth": self.max_depth,
            "min_samples_leaf": self.min_samples_leaf,
            "max_features": self.max_features,
            "class_weight": self.class_weight,
        }


def prior_correction(p: npt.ArrayLike, base_rate: float) -> FloatArray:
    """Probabilities of a model trained on balanced classes → probabilities at ``base_rate``:
    ``odds' = odds * π / (1 - π)``; 0 and 1 stay 0 and 1, 0.5 becomes π."""
    q = np.asarray(p, dtype=np.float64)
    if not 0.0 < base_rate < 1.0:
        raise ValueError(f"base rate must be in (0, 1), got {base_rate}")
    weighted = q * base_rate
    return weighted / (weighted + (1.0 - q) * (1.0 - base_rate))


@dataclass
class ChurnForest:
    """A fitted forest, what its probabilities mean, and the data facts scoring needs."""

    estimator: RandomForestClassifier
    feature_names: tuple[str, ...]
    base_rate: float  # positive rate of the rows it was fitted on
    corrected: bool  # probabilities go through prior_correction (class weights were balanced)
    medians: FloatArray = field(repr=False)  # per feature, of the fitting rows (top factors)

    def predict_proba(self, x: FloatArray) -> FloatArray:
        raw = predict_rows(self.estimator, x)
        return prior_correction(raw, self.base_rate) if self.corrected else raw

    def oob_proba(self) -> FloatArray:
        """Out-of-bag probability of each fitting row (NaN for a row in every bootstrap).

        scikit-learn gives such a row the decision function (0, 0), not NaN (and warns):
        a real out-of-bag row's class probabilities sum to 1, so a zero sum marks it.
        """
        decision = np.asarray(self.estimator.oob_decision_function_, dtype=np.float64)
        raw = np.where(decision.sum(axis=1) > 0, decision[:, 1], np.nan)
        return prior_correction(raw, self.base_rate) if self.corrected else raw


def predict_rows(estimator: RandomForestClassifier, x: FloatArray) -> FloatArray:
    """``predict_proba(x)[:, 1]`` in parallel over blocks of rows, bit-for-bit reproducible.

    The forest's own parallel predict adds the trees' votes in whatever order its threads
    finish, so the last bits of a probability change from run to run; here each block of
    rows is predicted on one thread (trees summed in order) and the blocks are joined.
    """
    serial = copy.copy(estimator)  # shares the fitted trees
    serial.n_jobs = 1
    workers = max(1, min(effective_n_jobs(estimator.n_jobs), len(x) // 256 or 1))
    blocks = np.array_split(x, workers) if len(x) else [x]
    with parallel_config(backend="threading"):
        parts = Parallel(n_jobs=workers)(delayed(serial.predict_proba)(b) for b in blocks)
    return np.concatenate([np.asarray(p, dtype=np.float64)[:, 1] for p in parts])


def fit_forest(
    x: FloatArray,
    y: IntArray,
    feature_names: Sequence[str],
    hp: Hyperparameters,
    *,
    seed: int,
    n_jobs: int,
) -> ChurnForest:
    """Grow the forest on ``x``, ``y`` (both classes needed), with out-of-bag predictions."""
    labels = np.asarray(y, dtype=np.int64)
    if len(np.unique(labels)) < 2:
        raise ValueError("the training rows hold one class only: nothing to learn")
    forest = RandomForestClassifier(
        **hp.forest_params(), oob_score=True, random_state=seed, n_jobs=n_jobs
    )
    forest.fit(x, labels)
    return ChurnForest(
        estimator=forest,
        feature_names=tuple(feature_names),
        base_rate=float(labels.mean()),
        corrected=hp.class_weight is not None,
        medians=np.median(x, axis=0),
    )


def importance(
    model: ChurnForest, x: FloatArray, y: IntArray, *, repeats: int, seed: int, n_jobs: int
) -> list[dict[str, Any]]:
    """Permutation importance on (held-out) ``x``, ``y``: the drop in PR AUC (average
    precision) when one feature's values are shuffled; sorted, most important first.

    Parallel over features in threads (tree traversal releases the GIL), each prediction on
    one thread: process workers would each get a copy of the forest, and a threaded predict
    per permutation pays its start-up ~150 times (both measured several times slower).
    """
    serial = copy.copy(model.estimator)  # shares the fitted trees
    serial.n_jobs = 1
    with parallel_config(backend="threading"):
        result = permutation_importance(
            serial,
            x,
            y,
            scoring="average_precision",
            n_repeats=repeats,
            random_state=seed,
            n_jobs=n_jobs,
        )
    table = [
        {"feature": name, "importance_mean": float(m), "importance_std": float(s)}
        for name, m, s in zip(
            model.feature_names, result.importances_mean, result.importances_std, strict=True
        )
    ]
    return sorted(table, key=lambda r: (-r["importance_mean"], r["feature"]))


@dataclass(frozen=True)
class RecencyBaseline:
    """The rule to beat: churn probability = the training churn rate of customers in the same
    recency decile (``days_since_last_purchase``). Bin edges and rates come from the training
    rows only; an empty bin gets the overall training rate."""

    edges: FloatArray  # inner edges, ascending; bin i = edges[i-1] <= r < edges[i]
    rates: FloatArray

    @classmethod
    def fit(
        cls, recency: npt.ArrayLike, y: npt.ArrayLike, bins: int = BASELINE_BINS
    ) -> RecencyBaseline:
        r = np.asarray(recency, dtype=np.float64)
        labels = np.asarray(y, dtype=np.float64)
        edges = np.unique(np.quantile(r, np.arange(1, bins) / bins))
        which = np.searchsorted(edges, r, side="right")
        overall = float(labels.mean())
        rates = np.array(
            [
                float(labels[which == b].mean()) if np.any(which == b) else overall
                for b in range(len(edges) + 1)
            ]
        )
        return cls(edges=edges, rates=rates)

    def predict_proba(self, recency: npt.ArrayLike) -> FloatArray:
        r = np.asarray(recency, dtype=np.float64)
        return self.rates[np.searchsorted(self.edges, r, side="right")]

    def describe(self) -> dict[str, Any]:
        return {
            "rule": "training churn rate of the customer's days_since_last_purchase decile",
            "edges": [float(e) for e in self.edges],
            "rates": [float(r) for r in self.rates],
        }


def top_factors(
    model: ChurnForest,
    x: FloatArray,
    candidates: Sequence[str],
    *,
    top: int,
    min_effect: float = MIN_FACTOR_EFFECT,
) -> list[str]:
    """Per customer, up to ``top`` features that push its probability up: for each candidate
    feature, the probability minus the probability with that feature set to its training
    median; the largest effects ≥ ``min_effect``, "; "-joined (empty when none)."""
    base = model.predict_proba(x)
    names = list(candidates)
    effects = np.empty((x.shape[0], len(names)))
    for j, name in enumerate(names):
        column = model.feature_names.index(name)
        changed = x.copy()
        changed[:, column] = model.medians[column]
        effects[:, j] = base - model.predict_proba(changed)
    order = np.argsort(-effects, axis=1, kind="stable")[:, :top]
    out = []
    for i in range(x.shape[0]):
        chosen = [names[j] for j in order[i] if effects[i, j] >= min_effect]
        out.append("; ".join(chosen))
    return out
