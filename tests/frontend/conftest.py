"""Fixtures for the report's tests: a lake the real pipeline filled, an empty one, and AppTest.

``report_lake`` starts from the session's ``pipeline_lake`` (tests/pipeline.py: generate →
ingest → Spark features → training, all real), copied, plus what the report has to show that
one pipeline run does not produce: a second training run of the real training unit (deltas,
run history), a broken file quarantined by the real ingest handler, and the generated file
landed again under another name (a duplicate).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import frontend
from lakedrop.config import LocalLake
from tests.pipeline import land_and_ingest

APP = Path(frontend.__file__).parent / "app.py"
SECOND_RUN_ID = "report-tests-second"
BROKEN_KEY = "transactions/broken-export.csv"
DUPLICATE_KEY = "transactions/export (1).csv"
# The first script run imports pandas, altair and the pages; later runs take ~0.1-0.5 s.
APP_TIMEOUT_S = 20


def _quarantine_broken_file(lake: LocalLake) -> None:
    broken = lake.root / "source" / "broken-export.csv"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text("this is,not the header\nof a transactions file,at all\n", "utf-8")
    result = land_and_ingest(lake, broken, BROKEN_KEY)
    assert result["status"] == "quarantined", result


def _drop_the_sample_again(lake: LocalLake) -> None:
    """The pipeline's generated file landed a second time under another name: a duplicate."""
    (source,) = (lake.root / "source").glob("transactions-*.csv")
    result = land_and_ingest(lake, source, DUPLICATE_KEY)
    assert result["status"] == "duplicate", result


@pytest.fixture(scope="session")
def report_lake(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root of a lake for the report (read-only for tests)."""
    from lakedrop.training import run_local

    source: LocalLake = request.getfixturevalue("pipeline_lake")
    root = tmp_path_factory.mktemp("report-lake") / "lake"
    shutil.copytree(source.root, root)
    lake = LocalLake(root)
    run_local(lake, run_id=SECOND_RUN_ID, seed=6)
    _quarantine_broken_file(lake)
    _drop_the_sample_again(lake)
    return lake.root


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Streamlit's caches are per process: every test starts with none (zones included)."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


AppFactory = Callable[..., AppTest]


def point_report_at(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """The environment ``lakedrop report`` gives the app, for the lake at ``root``."""
    monkeypatch.setenv("LAKEDROP_HOME", str(root))
    monkeypatch.setenv("LAKEDROP_ANALYTICS_URI", str(root / "analytics"))
    monkeypatch.setenv("LAKEDROP_CURATED_URI", str(root / "curated"))
    monkeypatch.setenv("LAKEDROP_QUARANTINE_URI", str(root / "quarantine"))


def open_app(page: str | None = None, lang: str = "ko") -> AppTest:
    """The app, run once, switched to ``page`` (``views/<name>.py``) in ``lang``."""
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S)
    at.run()
    if lang != "ko":
        at.sidebar.radio(key="lang").set_value(lang).run()
    if page is not None:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def report_app(monkeypatch: pytest.MonkeyPatch, report_lake: Path) -> AppFactory:
    point_report_at(monkeypatch, report_lake)
    return open_app


@pytest.fixture
def empty_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AppFactory:
    point_report_at(monkeypatch, tmp_path / "nothing-here")
    return open_app
