"""The report's container installs what the report imports, in step with pyproject.toml."""

from __future__ import annotations

import ast
import sys
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import REPO_ROOT

FRONTEND = REPO_ROOT / "frontend"
REQUIREMENTS = FRONTEND / "requirements.txt"
DOCKERFILE = FRONTEND / "Dockerfile"
# installed with streamlit (its own dependencies), imported by the charts and pages
COMES_WITH_STREAMLIT = {"altair", "pandas", "numpy"}
IMPORT_NAMES = {"boto3": "boto3", "botocore": "boto3", "types_boto3_s3": None}


def _requirements() -> dict[str, Requirement]:
    found = {}
    for line in REQUIREMENTS.read_text("utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            requirement = Requirement(text)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def _imports() -> set[str]:
    tops: set[str] = set()
    for path in FRONTEND.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                tops |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops.add(node.module.split(".")[0])
    return tops


def test_requirements_are_exact_pins_inside_the_project_ranges() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    declared = {canonicalize_name(r.name): r for r in map(Requirement, project["dependencies"])}
    for name, requirement in _requirements().items():
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{name}: pin it exactly ({requirement})"
        assert name in declared, f"{name} is not a pyproject dependency"
        assert declared[name].specifier.contains(spec.version), (
            f"{name}=={spec.version} is outside pyproject's {declared[name].specifier}"
        )


def test_every_import_is_installed_in_the_container() -> None:
    installed = set(_requirements()) | COMES_WITH_STREAMLIT
    for top in sorted(_imports()):
        if top in sys.stdlib_module_names or top in {"frontend", "__future__"}:
            continue
        package = IMPORT_NAMES.get(top, top)
        if package is None:  # type stubs, only under TYPE_CHECKING
            continue
        assert canonicalize_name(package) in installed, f"frontend imports {top}: not installed"


def test_the_report_does_not_import_other_units() -> None:
    assert not _imports() & {"lakedrop", "ingest", "glue_jobs", "churn_model", "pyspark"}


def test_dockerfile_runs_as_a_user_with_a_health_check_and_no_credentials() -> None:
    text = DOCKERFILE.read_text("utf-8")
    assert "FROM python:3.11-slim" in text
    assert "\nUSER report" in text
    assert "HEALTHCHECK" in text and "/_stcore/health" in text
    assert "pip install -r /tmp/requirements.txt" in text
    for secret in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert secret not in text
    for line in text.splitlines():
        if line.startswith("COPY "):
            source = line.split()[1]
            assert (REPO_ROOT / source).exists(), f"{line}: {source} is not in the repository"


def test_the_build_context_is_only_what_the_image_copies() -> None:
    """`.dockerignore` keeps the local lake (personal data in clear in landing and quarantine)
    and the virtualenvs out of the context sent to the Docker daemon."""
    rules = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"  # everything out, then only what the Dockerfile copies back in
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied = {
        line.split()[1].rstrip("/")
        for line in DOCKERFILE.read_text("utf-8").splitlines()
        if line.startswith("COPY ")
    }
    assert all(any(c == a or c.startswith(a + "/") for a in allowed) for c in copied), copied
    assert not any(a.startswith((".lakedrop", ".venv")) for a in allowed)
