"""The scikit-learn the tests run is the one SageMaker runs (docs/training.md)."""

from __future__ import annotations

import tomllib

import sklearn
from packaging.requirements import Requirement

from lakedrop import sagemaker_launch
from lakedrop.training import TRAINING_DIR
from tests.helpers import REPO_ROOT


def _pins(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            requirement = Requirement(text)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{text}: pin exactly"
            out[requirement.name] = spec.version
    return out


def test_container_requirements_pin_the_projects_scikit_learn() -> None:
    container = _pins((TRAINING_DIR / "requirements.txt").read_text("utf-8").splitlines())
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text("utf-8"))
    pinned = [d for d in project["project"]["dependencies"] if d.startswith("scikit-learn")]
    assert _pins(pinned) == {"scikit-learn": container["scikit-learn"]}
    assert sklearn.__version__ == container["scikit-learn"]
    assert "pyarrow" in container


def test_the_image_is_of_the_same_scikit_learn_line() -> None:
    # framework version "1.9-0": scikit-learn 1.9, container revision 0
    line = sagemaker_launch.FRAMEWORK_VERSION.split("-")[0]
    assert sklearn.__version__.startswith(line + ".")
