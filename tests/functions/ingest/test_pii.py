"""No raw personal value of the input leaves ingest: not in Parquet, manifests, reports or logs.

Files run through the real handler (as `lakedrop drop` does) with INFO logging; then every
output is scanned for every raw PII value of the inputs, in the forms it was written and in
its normalised forms. Quarantine's untouched copies and rejected-rows files are raw data kept
to be fixed (a restricted zone, like landing): they are the positive control here.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lakedrop.config import LocalLake
from lakedrop.generate import GenerateSpec, generate
from lakedrop.local import drop, put_in_landing

PII_COLUMNS = (1, 2, 3, 4)  # customer_id, customer_name, email, phone in generated files


def needles(path: Path, encoding: str) -> set[str]:
    """Every raw PII value of a CSV, as written and normalised (trimmed, lower, digits, E.164)."""
    found: set[str] = set()
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for record in reader:
            for i in PII_COLUMNS:
                if i >= len(record):
                    continue
                value = record[i].strip()
                digits = re.sub(r"\D", "", value)
                forms = {value, value.lower()}
                if i == 4 and len(digits) >= 9:
                    forms |= {digits, "+82" + digits.lstrip("0"), "+" + digits}
                found |= {f for f in forms if len(f) >= 3}
    return found


def parquet_text(path: Path) -> Iterator[str]:
    table = pq.read_table(path)
    for column in table.columns:
        yield from (str(v) for v in column.to_pylist())
    metadata = pq.ParquetFile(path).metadata
    yield str(metadata.metadata)
    for rg in range(metadata.num_row_groups):
        for c in range(metadata.num_columns):
            stats = metadata.row_group(rg).column(c).statistics
            if stats is not None and stats.has_min_max:
                yield f"{stats.min} {stats.max}"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every line the ingest logger writes, formatted as in CloudWatch (JSON with extra keys)."""
    from ingest.handler import logger

    sink = io.StringIO()
    capture = logging.StreamHandler(sink)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    yield sink
    logger.removeHandler(capture)


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalLake:
    monkeypatch.setenv("LAKEDROP_HOME", str(tmp_path / "lake"))
    return LocalLake.from_env()


def test_no_raw_pii_in_any_output_or_log(
    lake: LocalLake, tmp_path: Path, log_lines: io.StringIO
) -> None:
    utf8 = tmp_path / "messy.csv"
    generate(utf8, GenerateSpec(rows=1500, customers=400, seed=11, messy=True))
    korean = tmp_path / "korean.csv"
    generate(
        korean,
        GenerateSpec(rows=500, customers=150, seed=12, encoding="cp949", korean_headers=True),
    )
    lines = utf8.read_text("utf-8").splitlines(keepends=True)
    with_rejects = tmp_path / "with-rejects.csv"  # 2 bad rows of 60: curated + rejects file
    bad = [line.replace(",N\n", ",maybe\n").replace(",Y\n", ",maybe\n") for line in lines[1:3]]
    with_rejects.write_text("".join([lines[0], *bad, *lines[3:61]]), encoding="utf-8")
    headerless = tmp_path / "headerless.csv"  # its first line is a customer's row
    headerless.write_text("".join(lines[1:20]), encoding="utf-8")
    too_many_bad = tmp_path / "too-many-bad.csv"  # quarantined: reasons must hold no values
    too_many_bad.write_text(
        lines[0] + "".join(line.replace(",", ",,", 1) for line in lines[1:30]), encoding="utf-8"
    )

    inputs = [(utf8, "utf-8"), (korean, "cp949"), (with_rejects, "utf-8"), (headerless, "utf-8"),
              (too_many_bad, "utf-8")]  # fmt: skip
    statuses = {}
    for path, _encoding in inputs:
        put_in_landing(lake, path, f"transactions/{path.name}")
        statuses[path.name] = drop(lake, f"transactions/{path.name}", verbose=True)["status"]
    assert statuses == {
        "messy.csv": "curated",
        "korean.csv": "curated",
        "with-rejects.csv": "curated",
        "headerless.csv": "quarantined",
        "too-many-bad.csv": "quarantined",
    }
    log_text = log_lines.getvalue()
    assert "file curated" in log_text and "file quarantined" in log_text  # logging happened

    secret = set().union(*(needles(p, e) for p, e in inputs))
    assert len(secret) > 1000

    texts: dict[str, str] = {"logs": log_text}
    for path in lake.curated.rglob("*"):
        if path.suffix == ".parquet":
            texts[str(path)] = "\n".join(parquet_text(path)) + path.read_bytes().decode("latin-1")
        elif path.suffix == ".gz":  # the manifest index
            texts[str(path)] = gzip.decompress(path.read_bytes()).decode("utf-8")
        elif path.is_file():
            texts[str(path)] = path.read_text("utf-8")  # manifests
    for path in lake.quarantine.rglob("*.error.json"):
        texts[str(path)] = path.read_text("utf-8")
    assert any(".parquet" in name for name in texts) and any("_manifests" in n for n in texts)
    assert sum(name.endswith(".error.json") for name in texts) == 2

    leaks = {(name, value) for name, text in texts.items() for value in secret if value in text}
    assert leaks == set()

    # positive control: the scanner finds the raw values where they legitimately are
    raw_kept = lake.quarantine / "transactions" / "with-rejects.csv.rejected-rows.jsonl"
    kept = (
        raw_kept.read_text("utf-8") + (lake.quarantine / "transactions/headerless.csv").read_text()
    )
    assert sum(value in kept for value in secret) > 10


def test_key_material_never_appears_in_outputs_or_logs(
    lake: LocalLake, tmp_path: Path, log_lines: io.StringIO
) -> None:
    source = tmp_path / "t.csv"
    generate(source, GenerateSpec(rows=200, seed=1))
    put_in_landing(lake, source, "transactions/t.csv")
    assert drop(lake, "transactions/t.csv", verbose=True)["status"] == "curated"
    key = lake.key_file.read_text().strip()
    assert (lake.key_file.stat().st_mode & 0o777) == 0o600
    logs = log_lines.getvalue()
    assert "file curated" in logs
    everything = logs + "".join(
        p.read_bytes().decode("latin-1") for p in lake.curated.rglob("*") if p.is_file()
    )
    assert key not in everything and key[:16] not in everything
