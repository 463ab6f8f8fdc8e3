"""Fixtures for the training unit: the entry script as a module, and real snapshots.

``training/train.py`` is a script (SageMaker runs it by path), not a package module: tests
load it from its path with importlib, as ``python train.py`` would find it.

Nothing here imports ``lakedrop`` at module level: ``make test-runtimes`` runs the unit's own
tests (``tests/training/churn_model``, ``test_script.py``) in a virtualenv that holds only what
SageMaker's scikit-learn container has, on its Python.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from lakedrop.config import LocalLake

TRAINING_DIR = Path(__file__).resolve().parents[2] / "training"


@pytest.fixture(scope="session")
def train_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "lakedrop_train_script", TRAINING_DIR / "train.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def features_paths(lake: LocalLake) -> dict[str, str]:
    """The snapshot folders the lake's features pointers name."""
    out = {}
    for kind in ("train", "score"):
        pointer = json.loads((lake.analytics / f"features/{kind}/_LATEST.json").read_text("utf-8"))
        out[kind] = str(lake.analytics / pointer["path"])  # relative to the zone
    return out


@pytest.fixture(scope="session")
def snapshots(pipeline_lake: LocalLake, train_script: ModuleType) -> dict[str, dict[str, Any]]:
    """The pipeline lake's training and scoring snapshots as ``{column: array}`` frames."""
    paths = features_paths(pipeline_lake)
    return {kind: train_script.read_snapshot(path, kind) for kind, path in paths.items()}


@pytest.fixture(scope="session")
def published(pipeline_lake: LocalLake) -> dict[str, Any]:
    """What the pipeline's training run published: pointer, metrics, summary (JSON)."""
    analytics = pipeline_lake.analytics
    pointer = json.loads((analytics / "models/_LATEST.json").read_text("utf-8"))
    return {
        "pointer": pointer,
        "metrics": json.loads((analytics / pointer["metrics"]).read_text("utf-8")),
        "summary": json.loads(
            (analytics / pointer["predictions"] / "_summary.json").read_text("utf-8")
        ),
        "root": Path(analytics),
    }
