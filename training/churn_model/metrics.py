"""Evaluation of churn probabilities against labels: the same code for the model and the
baseline, so their figures compare like for like.

``evaluate(y, p, threshold)`` gives every figure ``metrics.json`` holds for one scorer:
ROC AUC, PR AUC (average precision), Brier score, log loss, the confusion matrix and
precision / recall / F1 at the operating threshold, ≤ 200-point ROC and PR curves and a
10-bin calibration table. ``choose_threshold`` is the documented threshold rule.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
from sklearn import metrics as skm

from churn_model.features import FloatArray, IntArray

CURVE_POINTS: Final = 200
CALIBRATION_BINS: Final = 10
_EPS: Final = 1e-15


def _labels(y: npt.ArrayLike) -> IntArray:
    labels = np.asarray(y, dtype=np.int64)
    if labels.ndim != 1 or not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be a 1-d array of 0 and 1")
    return labels


def confusion(y: npt.ArrayLike, p: npt.ArrayLike, threshold: float) -> dict[str, int]:
    """Counts at ``threshold``: a customer is flagged when ``p >= threshold``."""
    labels = _labels(y)
    flagged = np.asarray(p, dtype=np.float64) >= threshold
    return {
        "tp": int(np.sum(flagged & (labels == 1))),
        "fp": int(np.sum(flagged & (labels == 0))),
        "tn": int(np.sum(~flagged & (labels == 0))),
        "fn": int(np.sum(~flagged & (labels == 1))),
    }


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def choose_threshold(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """The threshold rule: the probability that maximises F1 when customers with
    ``p >= threshold`` are flagged (ties: the highest such threshold, i.e. fewer flagged).

    Candidates are the distinct predicted values. Applied to predictions the model did not
    fit (out-of-bag), never to the validation data it is then evaluated on.
    """
    labels = _labels(y)
    scores = np.asarray(p, dtype=np.float64)
    if labels.sum() == 0:
        raise ValueError("no positive label: no threshold to choose")
    candidates = np.unique(scores)[::-1]  # descending: the first best is the highest
    descending = -np.sort(-scores)
    hits = np.cumsum(labels[np.argsort(-scores, kind="stable")])
    flagged = np.searchsorted(-descending, -candidates, side="right")  # how many p >= t
    f1 = 2 * hits[flagged - 1] / (flagged + labels.sum())
    return float(candidates[int(np.argmax(f1))])


def _thin(*columns: npt.NDArray[Any], points: int = CURVE_POINTS) -> list[list[float]]:
    """At most ``points`` evenly spaced entries of each column (first and last kept)."""
    n = len(columns[0])
    index = np.unique(np.linspace(0, n - 1, num=min(points, n)).round().astype(int))
    return [[float(v) for v in np.asarray(c, dtype=np.float64)[index]] for c in columns]


def calibration(
    y: npt.ArrayLike, p: npt.ArrayLike, bins: int = CALIBRATION_BINS
) -> list[dict[str, Any]]:
    """Equal-width bins over [0, 1] (the last one includes 1.0): per bin the mean predicted
    probability and the observed fraction of positives (None in an empty bin) and the count."""
    labels = _labels(y)
    scores = np.asarray(p, dtype=np.float64)
    which = np.minimum((scores * bins).astype(int), bins - 1)
    table = []
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        table.append(
            {
                "bin_lower": b / bins,
                "bin_upper": (b + 1) / bins,
                "mean_predicted": float(scores[mask].mean()) if count else None,
                "fraction_positive": float(labels[mask].mean()) if count else None,
                "count": count,
            }
        )
    return table


def evaluate(name: str, y: npt.ArrayLike, p: npt.ArrayLike, threshold: float) -> dict[str, Any]:
    """Every figure of one scorer on labelled data (both classes must be present)."""
    labels = _labels(y)
    scores = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    if len(np.unique(labels)) < 2:
        raise ValueError("evaluation needs both churned and retained customers")
    counts = confusion(labels, scores, threshold)
    precision = _ratio(counts["tp"], counts["tp"] + counts["fp"])
    recall = _ratio(counts["tp"], counts["tp"] + counts["fn"])
    fpr, tpr, roc_thresholds = skm.roc_curve(labels, scores)
    pr_precision, pr_recall, pr_thresholds = skm.precision_recall_curve(labels, scores)
    roc_fpr, roc_tpr, roc_t = _thin(fpr, tpr, np.minimum(roc_thresholds, 1.0))
    # precision_recall_curve has one more (precision, recall) point than thresholds
    pr_p, pr_r, pr_t = _thin(pr_precision[:-1], pr_recall[:-1], pr_thresholds)
    return {
        "name": name,
        "roc_auc": float(skm.roc_auc_score(labels, scores)),
        "pr_auc": float(skm.average_precision_score(labels, scores)),
        "brier": float(np.mean((scores - labels) ** 2)),
        "log_loss": float(
            -np.mean(
                labels * np.log(np.clip(scores, _EPS, 1))
                + (1 - labels) * np.log(np.clip(1 - scores, _EPS, 1))
            )
        ),
        "threshold": float(threshold),
        "confusion_matrix": counts,
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * counts["tp"], 2 * counts["tp"] + counts["fp"] + counts["fn"]),
        "flagged": counts["tp"] + counts["fp"],
        "roc_curve": {"fpr": roc_fpr, "tpr": roc_tpr, "thresholds": roc_t},
        "pr_curve": {
            "precision": [*pr_p, float(pr_precision[-1])],
            "recall": [*pr_r, float(pr_recall[-1])],
            "thresholds": pr_t,
        },
        "calibration": calibration(labels, scores),
        "n": len(labels),
        "positives": int(labels.sum()),
    }


def lift(model: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float]:
    """How much better the model is: AUCs up, Brier down (positive = model better)."""
    return {
        "roc_auc": model["roc_auc"] - baseline["roc_auc"],
        "pr_auc": model["pr_auc"] - baseline["pr_auc"],
        "brier": baseline["brier"] - model["brier"],
    }


def as_float_array(p: npt.ArrayLike) -> FloatArray:
    return np.asarray(p, dtype=np.float64)
