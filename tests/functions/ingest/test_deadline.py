"""The ingest stops at its deadline instead of being killed by the function's timeout: DuckDB
queries are interrupted."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from ingest.transform import (
    DeadlineExceeded,
    _interrupt_at,
    _sanitised_duckdb_errors,
    transform,
)

# a query that runs for minutes: counting pairs of a billion-row range (never finishes here)
ENDLESS = (
    "SELECT count(*) FROM range(1000000000) AS a, range(1000) AS b WHERE a.range % 997 = b.range"
)


def test_a_query_running_at_the_deadline_is_interrupted() -> None:
    deadline = time.monotonic() + 0.3
    with (
        pytest.raises(DeadlineExceeded),
        _sanitised_duckdb_errors(deadline),
        duckdb.connect() as con,
        _interrupt_at(con, deadline),
    ):
        con.execute(ENDLESS).fetchall()


def test_without_a_deadline_nothing_is_interrupted() -> None:
    with _sanitised_duckdb_errors(None), duckdb.connect() as con, _interrupt_at(con, None):
        assert con.execute("SELECT 42").fetchall() == [(42,)]


def test_the_transform_raises_deadline_exceeded_not_a_file_error(tmp_path: Path) -> None:
    """An interrupted scan is the function's limit, not a broken file (not "unparseable")."""
    from ingest.contracts import ContractRegistry, map_header
    from ingest.pseudonymise import HmacKey
    from ingest.sniff import sniff
    from lakedrop.generate import GenerateSpec, generate

    csv = tmp_path / "tx.csv"
    generate(csv, GenerateSpec(rows=1000, seed=1))
    contract = ContractRegistry().get("transactions")
    assert contract is not None
    fmt = sniff(csv)
    with pytest.raises(DeadlineExceeded):
        transform(
            csv,
            fmt,
            map_header(contract, list(fmt.header)),
            contract,
            HmacKey(b"k" * 32),
            out_dir=tmp_path / "out",
            work_dir=tmp_path,
            sid="x",
            memory_limit="300MB",
            deadline=time.monotonic() - 1,  # already passed: the first query is interrupted
        )
