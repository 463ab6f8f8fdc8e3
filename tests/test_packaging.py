"""What `sam build` packs for the ingest Lambda is complete, lean and in step with pyproject.

`sam build` installs ``functions/requirements.txt`` next to ``functions/ingest``. A module the
code imports but the file does not list fails only at run time on AWS; these tests make it
fail here instead, by reading the imports of every ingest module.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from tests.helpers import REPO_ROOT

INGEST = REPO_ROOT / "functions" / "ingest"
REQUIREMENTS = REPO_ROOT / "functions" / "requirements.txt"
PYPROJECT = REPO_ROOT / "pyproject.toml"

# Part of the Lambda Python runtime: not packed (pinning them would only grow the zip).
RUNTIME_PROVIDED = {"boto3", "botocore"}
# Never in the Lambda zip: too big (250 MB unzipped limit) and not needed by ingest.
TOO_BIG = {"pyarrow", "numpy", "pandas", "polars"}
# pyproject dependencies for the CLI and other units, not for ingest (pyspark: glue_jobs).
NOT_FOR_INGEST = {"typer", "rich", "pyspark", "streamlit"}  # streamlit: the report (frontend/)
NOT_FOR_INGEST |= {"scikit-learn"}  # the training unit (training/)


def _requirements(lines: list[str]) -> dict[NormalizedName, Requirement]:
    found: dict[NormalizedName, Requirement] = {}
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        assert not text.startswith("-"), f"pip option in requirements: {text!r}"
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name not in found, f"{requirement.name} is listed twice"
        found[name] = requirement
    return found


def lambda_requirements() -> dict[NormalizedName, Requirement]:
    return _requirements(REQUIREMENTS.read_text(encoding="utf-8").splitlines())


def project_requirements() -> dict[NormalizedName, Requirement]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return _requirements(list(project["dependencies"]))


@dataclass(frozen=True)
class Import:
    module: str  # full dotted name
    names: tuple[str, ...]  # for `from module import a, b`
    where: str  # file:line

    @property
    def top(self) -> str:
        return self.module.split(".")[0]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(nodes: Iterable[ast.AST], where: str) -> list[Import]:
    """Imports executed at run time among ``nodes`` and inside them (functions included).

    Bodies of ``if TYPE_CHECKING:`` are skipped: they never run.
    """
    found: list[Import] = []
    for node in nodes:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            found += _imports(node.orelse, where)
            continue
        if isinstance(node, ast.Import):
            found += [Import(a.name, (), f"{where}:{node.lineno}") for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = tuple(a.name for a in node.names)
            found.append(Import(node.module, names, f"{where}:{node.lineno}"))
        found += _imports(ast.iter_child_nodes(node), where)
    return found


def ingest_imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted(INGEST.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        found += _imports(tree.body, str(path.relative_to(REPO_ROOT)))
    return found


@functools.cache
def _module_distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def _distributions(module: str) -> set[NormalizedName]:
    """The installed distributions that provide a top-level module."""
    return {canonicalize_name(d) for d in _module_distributions().get(module, [])}


def _bounds(specifier: SpecifierSet) -> tuple[str | None, str | None]:
    lower = [s.version for s in specifier if s.operator in (">=", "==", "~=", ">")]
    upper = [s.version for s in specifier if s.operator in ("<", "<=", "==")]
    assert len(lower) <= 1 and len(upper) <= 1, f"unusual specifier {specifier}"
    return (lower[0] if lower else None, upper[0] if upper else None)


# --- the import scan itself ----------------------------------------------------------------


def test_import_scan_sees_nested_and_skips_type_checking_imports() -> None:
    source = (
        "from __future__ import annotations\n"
        "import os, json as j\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import types_boto3_s3\n"
        "else:\n"
        "    import csv\n"
        "def f():\n"
        "    from aws_lambda_powertools.utilities import parameters\n"
        "    from . import sibling\n"
        "class C:\n"
        "    def m(self):\n"
        "        import duckdb\n"
    )
    got = [(i.module, i.names) for i in _imports(ast.parse(source).body, "x.py")]
    assert got == [
        ("__future__", ("annotations",)),
        ("os", ()),
        ("json", ()),
        ("typing", ("TYPE_CHECKING",)),
        ("csv", ()),
        ("aws_lambda_powertools.utilities", ("parameters",)),
        ("duckdb", ()),
    ]


def test_the_scan_finds_the_ingest_dependencies() -> None:
    """Guards the guard: the scan really reads the ingest modules."""
    tops = {i.top for i in ingest_imports()}
    assert {"duckdb", "pydantic", "yaml", "phonenumbers", "charset_normalizer"} <= tops
    assert "aws_lambda_powertools" in tops
    assert "types_boto3_s3" not in tops  # only under TYPE_CHECKING


# --- requirements.txt --------------------------------------------------------------------


def test_every_ingest_import_is_packed_or_provided() -> None:
    packed = set(lambda_requirements())
    problems = []
    for imp in ingest_imports():
        if imp.top in sys.stdlib_module_names or imp.top == "ingest":
            continue
        if imp.top in RUNTIME_PROVIDED:
            continue
        distributions = _distributions(imp.top)
        if not distributions:
            problems.append(f"{imp.where}: {imp.module} is not installed at all")
        elif not distributions & packed:
            problems.append(
                f"{imp.where}: {imp.module} comes from {sorted(distributions)}, "
                "which functions/requirements.txt does not list"
            )
    assert not problems, "\n".join(problems)


def test_every_packed_requirement_is_used_by_ingest() -> None:
    imported = {d for imp in ingest_imports() for d in _distributions(imp.top)}
    unused = set(lambda_requirements()) - imported
    assert not unused, f"functions/requirements.txt lists what ingest never imports: {unused}"


def test_tracer_extra_is_packed_when_the_tracer_is_used() -> None:
    """Powertools' Tracer needs aws-xray-sdk, which only its [tracer] extra brings."""
    uses_tracer = any(
        imp.top == "aws_lambda_powertools" and "Tracer" in imp.names for imp in ingest_imports()
    )
    powertools = lambda_requirements()[canonicalize_name("aws-lambda-powertools")]
    assert uses_tracer
    assert "tracer" in powertools.extras


@pytest.mark.parametrize("name", sorted(TOO_BIG | RUNTIME_PROVIDED))
def test_lambda_zip_leaves_out(name: str) -> None:
    assert canonicalize_name(name) not in lambda_requirements()


def test_ingest_never_imports_other_units() -> None:
    offenders = [
        f"{i.where}: {i.module}"
        for i in ingest_imports()
        if i.top in {"lakedrop", "glue_jobs", "training", "frontend", "pyarrow", "numpy"}
    ]
    assert not offenders


def test_requirements_match_pyproject() -> None:
    """Same names, extras and version bounds in both files."""
    packed = lambda_requirements()
    project = project_requirements()
    missing = set(packed) - set(project)
    assert not missing, f"in requirements.txt but not in pyproject dependencies: {missing}"
    for name, requirement in packed.items():
        declared = project[name]
        assert requirement.extras == declared.extras, name
        assert requirement.marker == declared.marker, name
        assert _bounds(requirement.specifier) == _bounds(declared.specifier), (
            f"{name}: requirements.txt says {requirement.specifier}, "
            f"pyproject says {declared.specifier}"
        )
        assert _bounds(requirement.specifier)[0] is not None, f"{name}: no lower bound"


def test_pyproject_runtime_dependencies_are_all_accounted_for() -> None:
    """Each pyproject dependency is packed, provided by the runtime, too big, or not ingest's."""
    packed = set(lambda_requirements())
    exempt = {canonicalize_name(n) for n in RUNTIME_PROVIDED | TOO_BIG | NOT_FOR_INGEST}
    unaccounted = set(project_requirements()) - packed - exempt
    assert not unaccounted, f"pyproject dependencies not packed for the Lambda: {unaccounted}"


def test_installed_versions_satisfy_the_lambda_requirements() -> None:
    """The suite runs against versions the Lambda could also get."""
    for name, requirement in lambda_requirements().items():
        version = importlib.metadata.version(name)
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name} {version} is installed; requirements.txt asks {requirement.specifier}"
        )
