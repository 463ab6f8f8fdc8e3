"""Issue 11, end to end: real-world files that used to lose or change data are read whole."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow.parquet as pq

from ingest.service import Zones
from tests.functions.ingest.conftest import Ingest
from tests.functions.ingest.conftest import expected_pseudonym as P

KOREAN_HEADER = "거래번호,고객번호,고객명,거래일시,{amount},수량\r\n"


def _row(i: int, name: str = "Kim", amount: str = "1000") -> str:
    return f"T{i},C{i % 7},{name},2025-06-10 10:00:00,{amount},1\r\n"


def _written(zones: Zones) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for path in sorted(Path(zones.curated.uri).rglob("*.parquet")):
        if "_manifests" not in path.parts and not path.name.startswith("_"):
            rows += pq.read_table(path).to_pylist()
    return [r for r in rows if "amount" in r]  # not the key index


def test_an_excel_header_cell_with_a_line_break_keeps_all_rows(
    ingest: Ingest, zones: Zones
) -> None:
    header = KOREAN_HEADER.format(amount='"금액\r\n(원)"')
    data = (header + "".join(_row(i) for i in range(100))).encode("cp949")
    outcome = ingest("transactions/excel.csv", data)
    assert outcome.status == "curated", outcome.reason
    assert (outcome.rows["read"], outcome.rows["written"], outcome.rows["rejected"]) == (
        100,
        100,
        0,
    )
    assert outcome.manifest["columns"]["mapped"]["금액\r\n(원)"] == "amount"
    assert len(_written(zones)) == 100


def test_cp949_whose_korean_starts_past_the_sample_is_curated(ingest: Ingest, zones: Zones) -> None:
    rows = [_row(i) for i in range(12_000)]  # about 390 KB of ASCII rows first
    rows += [_row(12_000 + i, name="김민수") for i in range(3)]
    header = "transaction_id,customer_id,customer_name,event_time,amount,quantity\r\n"
    data = (header + "".join(rows)).encode("cp949")
    assert not data[256 * 1024 :].isascii() and data[: 256 * 1024].isascii()
    outcome = ingest("transactions/late-korean.csv", data)
    assert outcome.status == "curated", outcome.reason
    assert outcome.manifest["format"]["encoding"] == "cp949"
    assert (outcome.rows["read"], outcome.rows["written"], outcome.rows["rejected"]) == (
        12_003,
        12_003,
        0,
    )
    names = {r["transaction_id"]: r["customer_name"] for r in _written(zones)}
    assert names["T12000"] == names["T12002"] == P("김민수")


def test_a_truncated_gzip_is_bad_gzip_and_names_no_local_path(
    ingest: Ingest, zones: Zones, tmp_path: Path
) -> None:
    text = KOREAN_HEADER.format(amount="금액") + "".join(_row(i) for i in range(60_000))
    compressed = gzip.compress(text.encode("utf-8"), mtime=0)
    outcome = ingest("transactions/cut.csv.gz", compressed[: len(compressed) // 2])
    assert (outcome.status, outcome.code) == ("quarantined", "bad_gzip")
    assert outcome.reason is not None and str(tmp_path) not in outcome.reason
