"""Raw-PII zones (issue 14, docs/reliability.md "Raw-PII zones"; item 6: the report escapes).

A messy run of the real pipeline — ingest (the Lambda's handler, DEBUG logs) of a generated
messy file, a CP949 export, a file with rejected rows, a file whose rows conflict with curated
ones, a headerless file, and a file whose *name* is HTML/script — then the features job
(Spark local) and training. Every output outside landing and quarantine is scanned for every
raw identifier of the inputs (customer ids, names, e-mails, phones, raw and normalised): the
curated Parquet and JSON, manifests, ``_index``, analytics (features, models — the joblib's
raw bytes —, metrics, predictions), every log line, and the text of every report page in both
languages as AppTest renders it. None may be found. Quarantine's copies and rejected or
conflicting rows are the raw zone: the positive control finds the values there.

While the report runs, an audit hook records every file Python opens: no rejected-rows or
conflicting-rows file, nor anything else in quarantine, may be among them; the features job is
given no quarantine location at all.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import logging
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from lakedrop.config import LocalLake
from lakedrop.generate import GenerateSpec, generate
from tests.functions.ingest.test_pii import needles, parquet_text

pytestmark = [
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

SCRIPT_KEY = "transactions/<script>alert(1)</script>.csv"
PAGES = (None, "views/segments.py", "views/customers.py", "views/model.py", "views/health.py")
REPO = Path(__file__).resolve().parent.parent


@dataclass
class MessyRun:
    lake: LocalLake
    inputs: list[tuple[Path, str]]  # (file, encoding)
    statuses: dict[str, str]
    logs: str


@contextlib.contextmanager
def captured_logs(sink: io.StringIO) -> Iterator[None]:
    """Every log record at DEBUG, from the ingest's Powertools logger and from any other
    Python logger (py4j, streamlit, the report), formatted with its extra keys."""
    from ingest.handler import logger

    ingest_handler = logging.StreamHandler(sink)
    ingest_handler.setFormatter(logger.registered_formatter)
    root_handler = logging.StreamHandler(sink)
    root_handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)s"))
    root = logging.getLogger()
    before = (logger.log_level, root.level)
    logger.setLevel("DEBUG")
    logger.addHandler(ingest_handler)
    root.addHandler(root_handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(ingest_handler)  # type: ignore[attr-defined]
        root.removeHandler(root_handler)
        logger.setLevel(before[0])
        root.setLevel(before[1])


def _inputs(folder: Path) -> list[tuple[Path, str, str]]:
    """(file, encoding, expected status) of the run's inputs."""
    messy = folder / "messy.csv"
    generate(messy, GenerateSpec(rows=40_000, customers=2_000, seed=21, messy=True))
    korean = folder / "korean.csv"
    generate(
        korean,
        GenerateSpec(rows=2_000, customers=300, seed=22, encoding="cp949", korean_headers=True),
    )
    lines = messy.read_text("utf-8").splitlines(keepends=True)
    with_rejects = folder / "with-rejects.csv"  # 2 bad rows of 60: rejected, kept raw
    extra = GenerateSpec(rows=60, customers=40, seed=23, messy=True)
    generate(with_rejects, extra)
    extra_lines = with_rejects.read_text("utf-8").splitlines(keepends=True)
    extra_lines = [line.replace("T", "X", 1) for line in extra_lines]  # ids of its own
    bad = [
        line.replace(",N\n", ",maybe\n").replace(",Y\n", ",maybe\n") for line in extra_lines[1:3]
    ]
    with_rejects.write_text("".join([lines[0], *bad, *extra_lines[3:]]), encoding="utf-8")
    conflicting = folder / "conflicting.csv"  # rows of messy.csv again, other amounts
    body = [_other_amount(line) for line in lines[1:21]]
    conflicting.write_text("".join([lines[0], *body]), encoding="utf-8")
    headerless = folder / "headerless.csv"  # its first line is a customer's row
    headerless.write_text("".join(lines[30:50]), encoding="utf-8")
    scripted = folder / "scripted.csv"  # a clean file, landed under an HTML/script name
    generate(scripted, GenerateSpec(rows=50, customers=30, seed=24))
    scripted.write_text(
        scripted.read_text("utf-8").replace("\nT", "\nS"), encoding="utf-8"
    )  # ids of its own
    return [
        (messy, "utf-8", "curated"),
        (korean, "cp949", "curated"),
        (with_rejects, "utf-8", "curated"),
        (conflicting, "utf-8", "curated"),
        (headerless, "utf-8", "quarantined"),
        (scripted, "utf-8", "curated"),
    ]


def _other_amount(line: str) -> str:
    record = next(csv.reader([line]))
    record[6] = "777777"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(record)
    return out.getvalue()


@pytest.fixture(scope="module")
def messy_run(tmp_path_factory: pytest.TempPathFactory) -> MessyRun:
    from tests.pipeline import _features, _train, land_and_ingest

    root = tmp_path_factory.mktemp("messy-lake")
    lake = LocalLake(root.resolve() / "lake")
    lake.ensure()
    folder = root / "sources"
    folder.mkdir()
    inputs = _inputs(folder)
    sink = io.StringIO()
    statuses: dict[str, str] = {}
    with captured_logs(sink), pytest.MonkeyPatch.context() as mp:
        mp.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
        for path, _encoding, _status in inputs:
            key = SCRIPT_KEY if path.name == "scripted.csv" else f"transactions/{path.name}"
            result = land_and_ingest(lake, path, key)
            statuses[path.name] = result["status"]
            sink.write(repr(result) + "\n")
        _features(lake)
        _train(lake, seed=21)
    return MessyRun(
        lake, [(p, e) for p, e, _s in inputs], statuses | {"_expected": ""}, sink.getvalue()
    )


def _secret(run: MessyRun) -> set[str]:
    return set().union(*(needles(path, encoding) for path, encoding in run.inputs))


def _trie_pattern(words: set[str]) -> re.Pattern[str]:
    """One regex matching any of ``words``, built as a trie: at each position of a text it
    follows one branch, so a scan costs the text's length, not length x words (tens of MB of
    outputs against thousands of identifiers)."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [re.escape(c) + pattern(child) for c, child in sorted(node.items()) if c]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    return re.compile(f"(?=({pattern(trie)}))")  # a lookahead: overlapping matches too


def _found(pattern: re.Pattern[str], words: set[str], text: str) -> set[str]:
    """The words in ``text``: every match of the trie, checked (overlaps are looked for at
    each start, so a word inside a longer match is found too)."""
    found: set[str] = set()
    for match in pattern.finditer(text):
        start = match.start()
        for word in (w for w in words if text.startswith(w, start)):
            if not _inside_a_pseudonym(text, start, len(word)):
                found.add(word)
    return found


_HEX = frozenset("0123456789abcdef")


def _inside_a_pseudonym(text: str, start: int, size: int) -> bool:
    """The match lies inside a run of 32 or more hex digits (a pseudonym): a customer id
    like ``c1520502`` lower-cased is hex too, and turns up in random pseudonyms by chance
    (16**-8 per position, over millions of positions)."""
    if not _HEX.issuperset(text[start : start + size]):
        return False
    left, right = start, start + size
    while left > 0 and text[left - 1] in _HEX:
        left -= 1
    while right < len(text) and text[right] in _HEX:
        right += 1
    return right - left >= 32


def _zone_texts(root: Path) -> dict[str, str]:
    texts: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        raw = path.read_bytes()
        text = raw.decode("utf-8", errors="replace") + raw.decode("latin-1")
        if path.suffix == ".parquet":
            text += "\n".join(parquet_text(path))
        if path.suffix == ".gz":
            import gzip

            with contextlib.suppress(OSError):
                text += gzip.decompress(raw).decode("utf-8", errors="replace")
        texts[str(path.relative_to(root.parent))] = text
    return texts


def _page_text(at: Any) -> str:
    """What a page shows: titles, text, captions, alerts, metric labels and values, and every
    cell and column name of its tables."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "text", "code"):
        parts += [str(e.value) for e in getattr(at, kind)]
    for kind in ("info", "warning", "error", "success", "exception"):
        parts += [str(e.value) for e in getattr(at, kind)]
    for metric in at.metric:
        parts += [str(metric.label), str(metric.value), str(metric.proto.delta)]
    for frame in at.dataframe:
        value = frame.value
        parts.append(value.to_csv())
    for widget in (*at.multiselect, *at.selectbox, *at.radio):
        parts += [str(widget.label), *map(str, getattr(widget, "options", []))]
    return "\n".join(parts)


@pytest.fixture(scope="module")
def report_pages(
    messy_run: MessyRun,
) -> tuple[dict[str, str], list[str], list[dict[str, Any]]]:
    """The text of every page in both languages, the files Python opened meanwhile, and the
    markdown elements' protos (to check what is sent to the browser as markdown)."""
    from tests.frontend.conftest import open_app

    opened: list[str] = []
    recording = [True]

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if recording[0] and event == "open" and args and isinstance(args[0], str | Path):
            opened.append(str(args[0]))

    sys.addaudithook(audit)  # (hooks cannot be removed: this one stops recording below)
    pages: dict[str, str] = {}
    markdown: list[dict[str, Any]] = []
    lake = messy_run.lake
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("LAKEDROP_HOME", str(lake.root))
            mp.setenv("LAKEDROP_ANALYTICS_URI", str(lake.analytics))
            mp.setenv("LAKEDROP_CURATED_URI", str(lake.curated))
            mp.setenv("LAKEDROP_QUARANTINE_URI", str(lake.quarantine))
            for lang in ("ko", "en"):
                for page in PAGES:
                    import streamlit as st

                    st.cache_data.clear()
                    st.cache_resource.clear()
                    at = open_app(page, lang=lang)
                    pages[f"{lang}:{page or 'overview'}"] = _page_text(at)
                    for kind in ("markdown", "caption", "info", "warning", "error", "success"):
                        for element in getattr(at, kind):
                            markdown.append(
                                {
                                    "kind": kind,
                                    "body": str(element.proto.body),
                                    "allow_html": bool(getattr(element.proto, "allow_html", False)),
                                }
                            )
    finally:
        recording[0] = False
    return pages, opened, markdown


def test_the_messy_run_ended_as_expected(messy_run: MessyRun) -> None:
    assert messy_run.statuses == {
        "messy.csv": "curated",
        "korean.csv": "curated",
        "with-rejects.csv": "curated",
        "conflicting.csv": "curated",
        "headerless.csv": "quarantined",
        "scripted.csv": "curated",
        "_expected": "",
    }
    lake = messy_run.lake
    quarantine = {p.name for p in lake.quarantine.rglob("*") if p.is_file()}
    assert "with-rejects.csv.rejected-rows.jsonl" in quarantine
    assert "conflicting.csv.conflicting-rows.jsonl" in quarantine
    assert list(lake.analytics.glob("models/*/model.joblib"))
    assert list(lake.analytics.glob("predictions/*/predictions.parquet"))
    assert '"level":"DEBUG"' in messy_run.logs or "DEBUG" in messy_run.logs


def test_no_raw_identifier_outside_the_raw_zones(
    messy_run: MessyRun, report_pages: tuple[dict[str, str], list[str], list[dict[str, Any]]]
) -> None:
    secret = _secret(messy_run)
    assert len(secret) > 5_000
    lake = messy_run.lake
    texts = {"logs": messy_run.logs}
    texts |= _zone_texts(lake.curated)
    texts |= _zone_texts(lake.analytics)
    pages, _opened, _markdown = report_pages
    texts |= {f"report {name}": text for name, text in pages.items()}
    kinds = {name.split("/")[0] for name in texts}
    assert {"curated", "analytics", "logs"} <= kinds
    assert any(name.endswith(".joblib") for name in texts)
    assert any("_index" in name for name in texts) and any("_manifests" in n for n in texts)
    assert any("predictions" in name for name in texts)
    assert len(pages) == 2 * len(PAGES)

    pattern = _trie_pattern(secret)
    leaks = sorted(
        (name, value) for name, text in texts.items() for value in _found(pattern, secret, text)
    )
    assert leaks == [], leaks[:20]

    # positive control: the scan finds the raw values where they are by design
    raw = _zone_texts(lake.quarantine)
    found = set().union(*(_found(pattern, secret, text) for text in raw.values()))
    assert len(found) > 30
    assert any(name.endswith(".rejected-rows.jsonl") for name in raw)
    assert any(name.endswith(".conflicting-rows.jsonl") for name in raw)


def test_the_report_never_opens_the_raw_zone(
    messy_run: MessyRun, report_pages: tuple[dict[str, str], list[str], list[dict[str, Any]]]
) -> None:
    _pages, opened, _markdown = report_pages
    lake_files = [p for p in opened if str(messy_run.lake.root) in p]
    assert any(str(messy_run.lake.analytics) in p for p in lake_files)  # it did read the lake
    assert [p for p in lake_files if str(messy_run.lake.quarantine) in p] == []
    assert not [
        p for p in opened if p.endswith((".rejected-rows.jsonl", ".conflicting-rows.jsonl"))
    ]


def test_the_features_job_is_given_no_raw_zone() -> None:
    from glue_jobs.features.settings import FeaturesArgs

    names = {f.name for f in dataclasses.fields(FeaturesArgs)}
    assert not {n for n in names if "quarantine" in n or "landing" in n}


def test_no_reader_names_the_raw_row_files() -> None:
    """The report, the features job and training never build a rejected- or conflicting-rows
    file's key (the report's text may tell a reader where they are: i18n.py says so)."""
    words = ("REJECTS_SUFFIX", "CONFLICTS_SUFFIX", "rejected-rows", "conflicting-rows",
             "rejects_key", "conflicts_key", "quarantine_key", "error_key")  # fmt: skip
    found = []
    for folder in ("frontend", "glue_jobs", "training"):
        for path in (REPO / folder).rglob("*.py"):
            if path.relative_to(REPO).as_posix() == "frontend/i18n.py":
                continue  # texts for the reader, not code that opens anything
            text = path.read_text("utf-8")
            found += [(str(path.relative_to(REPO)), w) for w in words if w in text]
    assert found == []


def test_a_file_name_with_html_is_shown_as_text(
    messy_run: MessyRun, report_pages: tuple[dict[str, str], list[str], list[dict[str, Any]]]
) -> None:
    pages, _opened, markdown = report_pages
    # the health page lists the file under its name, as text (a table cell)
    assert SCRIPT_KEY in pages["en:views/health.py"]
    assert SCRIPT_KEY in pages["ko:views/health.py"]
    # nothing is sent to the browser as HTML, and no markdown carries the raw tag
    assert [m for m in markdown if m["allow_html"]] == []
    assert [m for m in markdown if "<script" in m["body"]] == []


def test_lakedrop_report_listens_on_localhost_only() -> None:
    from lakedrop import cli

    command = cli._report_command(8599)
    assert command[command.index("--server.address") + 1] == "127.0.0.1"


def test_the_model_file_holds_no_raw_identifier(messy_run: MessyRun) -> None:
    """The joblib's raw bytes (pickled numpy arrays, feature names) hold no input value."""
    secret = _secret(messy_run)
    pattern = _trie_pattern(secret)
    for model in messy_run.lake.analytics.glob("models/*/model.joblib"):
        raw = model.read_bytes()
        text = raw.decode("latin-1") + raw.decode("utf-8", errors="replace")
        assert _found(pattern, secret, text) == set()
        assert model.stat().st_size > 0
    for path in messy_run.lake.analytics.glob("predictions/*/predictions.parquet"):
        ids = pq.read_table(path, columns=["customer_id"]).column(0).to_pylist()
        assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
