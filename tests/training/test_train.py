"""training/train.py's arguments: what SageMaker's script driver passes (``--key value``, every
value a string) parses to what scikit-learn means."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from churn_model.model import Hyperparameters, fit_forest
from lakedrop import training


def test_every_hyperparameter_the_launcher_sends_parses(train_script: ModuleType) -> None:
    features = training.FeaturesRun("/t", "/s", "f-train", "f-score", 90)
    hps = training.hyperparameters("run-7", features, seed=3, extra={"n-estimators": 500})
    args = train_script.parser({}).parse_args(training.cli_args(hps))
    assert (args.run_id, args.seed, args.n_jobs, args.n_estimators) == ("run-7", 3, -1, 500)
    assert (args.features_train_run, args.features_score_run) == ("f-train", "f-score")
    assert args.horizon_days == 90


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5", 5), ("0.5", 0.5), ("1.0", 1.0), ("sqrt", "sqrt"), ("None", None), ("none", None)],
)
def test_max_features_keeps_scikit_learns_meaning(
    train_script: ModuleType, text: str, expected: object
) -> None:
    # an int is a number of features, a float a fraction: "5" must not become 5.0 (invalid)
    args = train_script.parser({}).parse_args(["--max-features", text])
    assert args.max_features == expected and type(args.max_features) is type(expected)


def test_an_integer_max_features_fits(train_script: ModuleType) -> None:
    parsed = train_script.parser({}).parse_args(["--max-features", "2", "--max-depth", "None"])
    assert parsed.max_depth is None
    hp = Hyperparameters(n_estimators=5, max_features=parsed.max_features)
    x = np.random.default_rng(0).normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    fitted = fit_forest(x, y, ["a", "b", "c"], hp, seed=0, n_jobs=1)
    assert fitted.estimator.estimators_[0].max_features_ == 2
