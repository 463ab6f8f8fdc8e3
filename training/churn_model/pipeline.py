"""Out-of-time split → fit → evaluate (model and baseline) → refit → score. Pure.

The training snapshot holds several labelled cutoffs (the features job's backtest). The model
that is *evaluated* is fitted on every cutoff but the latest and validated on the latest:
rows it never saw, whose labels lie entirely after everything it learned from. An earlier
cutoff whose label window ``(c, c + horizon]`` reaches past the validation cutoff (the
features job run with ``--backtest-step-days`` below the horizon) would teach the model the
validation period's outcomes: it is left out of that fit (``purge_overlapping``). The model that
*scores* is then refitted, with the same hyperparameters and seed, on every labelled cutoff —
the latest behaviour is the most like today's — and applied to the scoring snapshot. Both get
their operating threshold from their own out-of-bag predictions (``metrics.choose_threshold``).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import sklearn

from churn_model import features as fx
from churn_model import metrics as mx
from churn_model.model import (
    RECENCY_FEATURE,
    ChurnForest,
    Hyperparameters,
    RecencyBaseline,
    fit_forest,
    importance,
    top_factors,
)

MODEL_NAME: Final = "random_forest"
BASELINE_NAME: Final = "recency_decile_rate"
BANDS: Final[tuple[str, ...]] = ("high", "medium", "low")
THRESHOLD_RULE: Final = (
    "maximise F1 over the out-of-bag predictions of the model's own training rows "
    "(flag p >= threshold; ties: the highest)"
)
BAND_RULE: Final = "high: p >= threshold; medium: p >= threshold / 2; low: the rest"


@dataclass(frozen=True)
class Result:
    model: ChurnForest  # the scoring model (refitted on every labelled cutoff)
    metrics: dict[str, Any]
    predictions: dict[str, npt.NDArray[Any]]
    summary: dict[str, Any]


def risk_bands(threshold: float) -> dict[str, float]:
    return {"high": threshold, "medium": threshold / 2.0, "low": 0.0}


def band_of(p: npt.ArrayLike, bands: dict[str, float]) -> npt.NDArray[np.str_]:
    q = np.asarray(p, dtype=np.float64)
    return np.select(
        [q >= bands["high"], q >= bands["medium"]], ["high", "medium"], default="low"
    ).astype(np.str_)


def _labels(frame: fx.Frame) -> npt.NDArray[np.int64]:
    labels = np.asarray(frame[fx.LABEL_COLUMN])
    if not np.isin(labels, (0, 1)).all():
        raise fx.SnapshotError("churned must be 0 or 1 in every row")
    return labels.astype(np.int64)


def _dates(values: npt.ArrayLike) -> npt.NDArray[np.datetime64]:
    return np.asarray(values, dtype="datetime64[D]")


def _iso(day: np.datetime64) -> str:
    return str(np.datetime_as_string(day, unit="D"))


def split_out_of_time(train: fx.Frame) -> tuple[npt.NDArray[np.bool_], list[str], str]:
    """Mask of the validation rows (the latest cutoff), the earlier cutoffs and the latest."""
    cutoffs = np.unique(_dates(train[fx.CUTOFF_COLUMN]))
    if len(cutoffs) < 2:
        raise fx.SnapshotError(
            f"the training snapshot has one cutoff ({_iso(cutoffs[0])}): out-of-time validation "
            "needs at least two; run the features job with --backtest-cutoffs 2 or more"
        )
    latest = cutoffs[-1]
    return _dates(train[fx.CUTOFF_COLUMN]) == latest, [_iso(c) for c in cutoffs[:-1]], _iso(latest)


def purge_overlapping(
    earlier: list[str], validation: str, horizon_days: int | None
) -> tuple[list[str], list[str]]:
    """The earlier cutoffs whose label window ``(c, c + horizon]`` ends by the validation
    cutoff (fit on those), and the others (purged: their labels overlap the validation
    window). Unknown horizon: nothing can be checked, every earlier cutoff is kept."""
    if horizon_days is None:
        return list(earlier), []
    end = np.datetime64(validation, "D")
    keep = [c for c in earlier if np.datetime64(c, "D") + np.timedelta64(horizon_days, "D") <= end]
    return keep, [c for c in earlier if c not in keep]


def canonical_order(frame: fx.Frame) -> dict[str, npt.NDArray[Any]]:
    """The rows sorted by cutoff, then customer: the forest's bootstrap draws row positions,
    so the same rows in another order (Spark part files, S3 listing) would grow another
    forest. Sorting first makes the model a function of the rows alone."""
    order = np.lexsort(
        (np.asarray(frame[fx.ID_COLUMN]).astype(str), _dates(frame[fx.CUTOFF_COLUMN]))
    )
    return {name: np.asarray(values)[order] for name, values in frame.items()}


def _check(train: fx.Frame, score: fx.Frame) -> None:
    needed = [fx.ID_COLUMN, fx.CUTOFF_COLUMN, *fx.MODEL_FEATURES]
    fx.require_columns(train, [*needed, fx.LABEL_COLUMN], "training")
    fx.require_columns(score, needed, "scoring")
    if fx.rows(train) == 0:
        raise fx.SnapshotError("the training snapshot has no rows")
    if fx.rows(score) == 0:
        raise fx.SnapshotError("the scoring snapshot has no rows")
    if len(np.unique(_labels(train))) < 2:
        raise fx.SnapshotError(
            "every customer in the training snapshot has the same label: nothing to learn"
        )


def _threshold(model: ChurnForest, y: npt.NDArray[np.int64]) -> float:
    oob = model.oob_proba()
    seen = ~np.isnan(oob)
    return mx.choose_threshold(y[seen], oob[seen])


def train_and_score(
    train: fx.Frame,
    score: fx.Frame,
    hp: Hyperparameters,
    *,
    seed: int,
    n_jobs: int,
    run_id: str,
    horizon_days: int | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Result:
    """Everything between reading the snapshots and writing the outputs (module docstring).

    ``horizon_days``: the label horizon of the snapshot (features run report), to purge
    earlier cutoffs whose labels overlap the validation window. ``on_step`` hears what is
    being done, in words (the script prints it: progress in a terminal or the job's log)."""
    step = on_step or (lambda _what: None)
    _check(train, score)
    train, score = canonical_order(train), canonical_order(score)
    y_all = _labels(train)
    is_validation, earlier_cutoffs, validation_cutoff = split_out_of_time(train)
    fit_cutoffs, purged = purge_overlapping(earlier_cutoffs, validation_cutoff, horizon_days)
    if not fit_cutoffs:
        raise fx.SnapshotError(
            f"the label window ({horizon_days} days) of every earlier cutoff reaches past the "
            f"validation cutoff {validation_cutoff}: out-of-time validation would leak; run the "
            "features job with --backtest-step-days of at least the horizon"
        )
    is_fit = np.isin(_dates(train[fx.CUTOFF_COLUMN]), _dates(fit_cutoffs))
    x_all = fx.matrix(train)
    x_fit, y_fit = x_all[is_fit], y_all[is_fit]
    x_val, y_val = x_all[is_validation], y_all[is_validation]
    for what, y in (("earlier cutoffs", y_fit), (f"validation cutoff {validation_cutoff}", y_val)):
        if len(np.unique(y)) < 2:
            raise fx.SnapshotError(f"the {what} hold one class only: cannot fit and validate")
    names = list(fx.MODEL_FEATURES)

    step(f"fitting the forest on {len(y_fit):,} rows of the earlier cutoffs (1/4)")
    started = time.perf_counter()
    evaluated = fit_forest(x_fit, y_fit, names, hp, seed=seed, n_jobs=n_jobs)
    fit_seconds = time.perf_counter() - started
    model_metrics = mx.evaluate(
        MODEL_NAME, y_val, evaluated.predict_proba(x_val), _threshold(evaluated, y_fit)
    )
    recency = names.index(RECENCY_FEATURE)
    baseline = RecencyBaseline.fit(x_fit[:, recency], y_fit)
    baseline_threshold = mx.choose_threshold(y_fit, baseline.predict_proba(x_fit[:, recency]))
    baseline_metrics = mx.evaluate(
        BASELINE_NAME, y_val, baseline.predict_proba(x_val[:, recency]), baseline_threshold
    )
    baseline_metrics["rule"] = baseline.describe()
    step(f"permutation importance on {len(y_val):,} validation customers (2/4)")
    ranked = importance(
        evaluated, x_val, y_val, repeats=hp.permutation_repeats, seed=seed, n_jobs=n_jobs
    )

    step(f"refitting on all {len(y_all):,} labelled rows (3/4)")
    final = fit_forest(x_all, y_all, names, hp, seed=seed, n_jobs=n_jobs)
    threshold = _threshold(final, y_all)
    bands = risk_bands(threshold)
    x_score = fx.matrix(score)
    step(f"scoring {len(x_score):,} customers (4/4)")
    probability = final.predict_proba(x_score)
    candidates = [r["feature"] for r in ranked if r["importance_mean"] > 0][: hp.factor_candidates]
    factors = (
        top_factors(final, x_score, candidates, top=hp.top_factors)
        if candidates and hp.top_factors > 0
        else [""] * len(probability)
    )
    score_cutoffs = np.unique(_dates(score[fx.CUTOFF_COLUMN]))
    if len(score_cutoffs) != 1:
        raise fx.SnapshotError("the scoring snapshot must have exactly one cutoff")
    predictions: dict[str, npt.NDArray[Any]] = {
        "customer_id": np.asarray(score[fx.ID_COLUMN]).astype(str),
        "churn_probability": probability,
        "risk_band": band_of(probability, bands),
        "segment": fx.segments(score),
        "main_channel": fx.main_channel(score),
        "days_since_last_purchase": np.asarray(score["days_since_last_purchase"], np.int32),
        "orders_total": np.asarray(score["orders_total"], np.int64),
        "spend_total": np.asarray(score["spend_total"], np.float64),
        "spend_365d": np.asarray(score["spend_365d"], np.float64),
        "top_factors": np.asarray(factors, dtype=str),
        "score_cutoff": np.repeat(score_cutoffs[0], len(probability)),
        "run_id": np.repeat(run_id, len(probability)).astype(str),
    }
    metrics: dict[str, Any] = {
        "run_id": run_id,
        "sklearn_version": sklearn.__version__,
        "python_version": platform.python_version(),
        "seed": seed,
        "n_jobs": n_jobs,
        "fit_seconds": round(fit_seconds, 3),
        "cutoffs": {
            "train": fit_cutoffs,
            "purged": purged,
            "validation": validation_cutoff,
            "score": _iso(score_cutoffs[0]),
        },
        "validation": "out-of-time: fitted on the earlier cutoffs, validated on the latest",
        "hyperparameters": asdict(hp),
        "feature_names": names,
        "data": {
            "n_train": len(y_fit),
            "n_validation": len(y_val),
            "n_scored": len(probability),
            "positive_rate_train": float(y_fit.mean()),
            "positive_rate_validation": float(y_val.mean()),
            "n_labelled": len(y_all),
            "positive_rate_labelled": float(y_all.mean()),
        },
        "threshold": threshold,
        "threshold_rule": THRESHOLD_RULE,
        "model": model_metrics,
        "baseline": baseline_metrics,
        "lift": mx.lift(model_metrics, baseline_metrics),
        "permutation_importance": ranked,
        "permutation_scoring": "average_precision, on the validation rows",
        "risk_bands": bands,
        "risk_band_rule": BAND_RULE,
        "scoring_model": {
            "fitted_on_cutoffs": [*earlier_cutoffs, validation_cutoff],
            "n_rows": len(y_all),
            "threshold": threshold,
            "probability": "prior-corrected" if final.corrected else "raw forest vote share",
        },
    }
    return Result(final, metrics, predictions, summarise(predictions, run_id, float(y_all.mean())))


def summarise(
    predictions: dict[str, npt.NDArray[Any]], run_id: str, churn_rate_train: float
) -> dict[str, Any]:
    """The small pre-aggregates the report's first page shows (_summary.json)."""
    p = np.asarray(predictions["churn_probability"], dtype=np.float64)
    revenue = np.asarray(predictions["spend_365d"], dtype=np.float64)
    band = predictions["risk_band"]
    segment = predictions["segment"]
    cutoff = predictions["score_cutoff"]
    by_segment: dict[str, dict[str, Any]] = {}
    for name in fx.SEGMENTS:
        mask = segment == name
        by_segment[name] = {
            "customers": int(mask.sum()),
            "revenue_365d": float(revenue[mask].sum()),
            "mean_probability": float(p[mask].mean()) if mask.any() else None,
            "high_risk": int((mask & (band == "high")).sum()),
        }
    return {
        "run_id": run_id,
        "score_cutoff": _iso(cutoff[0]) if len(cutoff) else None,
        "customers": len(p),
        "revenue_365d": float(revenue.sum()),
        "by_band": {
            b: {
                "customers": int((band == b).sum()),
                "revenue_365d": float(revenue[band == b].sum()),
            }
            for b in BANDS
        },
        "by_segment": by_segment,
        "churn_rate_train": churn_rate_train,
        "mean_probability": float(p.mean()) if len(p) else None,
    }
