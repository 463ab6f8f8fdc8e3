"""What Glue and EMR Serverless get: the glue_jobs zip, importable alone, with no other unit in it.

Glue 5 and EMR 7 run Spark 3.5 on Python 3.11 and provide pyspark and boto3: the zip carries
only ``glue_jobs``. These tests read the imports of every module (the same AST scan as
tests/test_packaging.py) and build the zip with the Makefile's own recipe.
"""

from __future__ import annotations

import ast
import importlib.metadata
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from tests.helpers import REPO_ROOT
from tests.test_packaging import Import, _imports

GLUE_JOBS = REPO_ROOT / "glue_jobs"
# what the Glue and EMR Serverless runtimes provide (besides the standard library)
PROVIDED = {"pyspark", "boto3", "botocore", "py4j"}
OTHER_UNITS = {"ingest", "lakedrop", "training", "frontend", "tests"}


def _module_imports(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return _imports(tree.body, str(path.relative_to(REPO_ROOT)))


def _all_imports() -> list[Import]:
    return [i for path in sorted(GLUE_JOBS.rglob("*.py")) for i in _module_imports(path)]


def test_glue_jobs_imports_only_itself_the_stdlib_and_what_the_runtimes_provide() -> None:
    offenders = [
        f"{i.where}: {i.module}"
        for i in _all_imports()
        if i.top not in sys.stdlib_module_names
        and i.top not in PROVIDED
        and i.top not in {"glue_jobs", "awsglue", "types_boto3_s3"}
    ]
    assert not offenders, offenders
    assert not [i for i in _all_imports() if i.top in OTHER_UNITS]


def test_awsglue_is_imported_only_inside_the_glue_entry_function() -> None:
    for path in sorted(GLUE_JOBS.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        everywhere = _imports(tree.body, path.name)
        if path.name != "glue_entry.py":
            assert not [i for i in everywhere if i.top == "awsglue"], path
        # what runs at import time: every statement that is not a function or class body
        at_import = [
            n
            for n in tree.body
            if not isinstance(n, ast.FunctionDef | ast.ClassDef)
            and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))  # docstring
        ]
        assert not [i for i in _imports(at_import, path.name) if i.top == "awsglue"], path
        import_time_source = "".join(ast.get_source_segment(source, n) or "" for n in at_import)
        assert "getResolvedOptions" not in import_time_source, path


def test_pyspark_is_pinned_to_the_glue_and_emr_minor_version() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = [Requirement(d) for d in project["project"]["dependencies"]]
    (pyspark,) = [r for r in pins if r.name == "pyspark"]
    assert Version("3.5.9") in pyspark.specifier
    assert Version("3.6.0") not in pyspark.specifier and Version("3.4.4") not in pyspark.specifier
    assert Version(importlib.metadata.version("pyspark")).release[:2] == (3, 5)
    assert "glue_jobs" in project["tool"]["setuptools"]["packages"]


def test_glue_package_zip_is_complete_and_importable_alone(tmp_path: Path) -> None:
    target = tmp_path / "glue_jobs.zip"
    make = shutil.which("make")
    assert make, "make is needed to build the package (the README's set-up needs it too)"
    subprocess.run(
        [make, "-s", "glue-package", f"GLUE_ZIP={target}", f"PYTHON={sys.executable}"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    names = zipfile.ZipFile(target).namelist()
    expected = sorted(p.relative_to(REPO_ROOT).as_posix() for p in GLUE_JOBS.rglob("*.py"))
    assert sorted(names) == expected
    # a fresh interpreter with the zip first on sys.path imports glue_jobs from the zip
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import glue_jobs.features.job as j, glue_jobs.glue_entry as g; "
        "assert j.__file__.startswith(sys.argv[1]), j.__file__; "
        "assert 'awsglue' not in sys.modules; print('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(target)],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip() == "ok"


def test_job_py_runs_as_a_lone_entry_point_against_the_zip(tmp_path: Path) -> None:
    """EMR Serverless downloads the entryPoint file alone and puts spark.submit.pyFiles on the
    path: a copy of job.py in an empty folder must find glue_jobs in the zip. ``-S`` keeps
    site-packages' .pth files (the editable install) out; pyspark is put on the path alone."""
    target = tmp_path / "glue_jobs.zip"
    with zipfile.ZipFile(target, "w") as z:
        for path in sorted(GLUE_JOBS.rglob("*.py")):
            z.write(path, path.relative_to(REPO_ROOT).as_posix())
    entry = tmp_path / "entry" / "job.py"
    entry.parent.mkdir()
    entry.write_bytes((GLUE_JOBS / "features" / "job.py").read_bytes())
    import pyspark

    site_packages = Path(pyspark.__file__).parent.parent
    out = subprocess.run(
        [sys.executable, "-S", str(entry), "--help"],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": f"{target}:{site_packages}", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert "--curated" in out.stdout and "--horizon-days" in out.stdout
