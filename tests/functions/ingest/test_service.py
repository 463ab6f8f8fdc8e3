"""ingest_object(): curated or quarantined, a manifest always, nothing lost, retries idempotent."""

from __future__ import annotations

import codecs
import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.service import Zones
from lakedrop.generate import GenerateSpec, generate
from tests.functions.ingest.conftest import Ingest

HEADER = (
    "transaction_id,customer_id,customer_name,email,phone,event_time,amount,quantity,"
    "category,channel,country,is_refund\n"
)


def row(i: int, month: int = 6, amount: str = "1000", customer: str = "C1") -> str:
    return (
        f"T{i},{customer},김민수,kim@naver.com,010-1234-5678,2025-{month:02d}-10 10:00:00,"
        f"{amount},1,식품,online,KR,N\n"
    )


def csv_bytes(rows: list[str], header: str = HEADER) -> bytes:
    return (header + "".join(rows)).encode("utf-8")


def files(zone_root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(zone_root).as_posix(): p.read_bytes()
        for p in sorted(zone_root.rglob("*"))
        if p.is_file()
    }


def manifest(zones: Zones, key: str) -> dict[str, object]:
    from ingest import layout

    raw = zones.curated.get_bytes(
        layout.manifest_key(key.split("/", maxsplit=1)[0], layout.source_id(key))
    )
    assert raw is not None, f"no manifest for {key}"
    data: dict[str, object] = json.loads(raw)
    return data


def curated_parquet(zones: Zones) -> dict[str, bytes]:
    root = Path(zones.curated.uri)
    return {
        k: v for k, v in files(root).items() if k.endswith(".parquet") and not k.startswith("_")
    }


@pytest.fixture(scope="module")
def sample_csv(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("sample") / "tx.csv"
    generate(path, GenerateSpec(rows=3000, seed=3, messy=True))
    return path.read_bytes()


def test_a_good_file_is_curated_with_a_complete_manifest(
    ingest: Ingest, zones: Zones, sample_csv: bytes
) -> None:
    outcome = ingest("transactions/2026-11-27.csv", sample_csv)
    assert outcome.status == "curated", outcome.reason
    m = manifest(zones, "transactions/2026-11-27.csv")
    assert m["status"] == "curated"
    assert m["rows"] == {
        "read": 3000,
        "written": 3000,
        "rejected": 0,
        "lines_rejected": 0,
        "duplicates": 0,
    }
    parquet = curated_parquet(zones)
    outputs = m["outputs"]
    assert isinstance(outputs, list)
    assert sorted(o["key"] for o in outputs) == sorted(parquet)
    total = sum(pq.read_metadata(Path(zones.curated.uri) / k).num_rows for k in parquet)
    assert total == 3000 == sum(o["rows"] for o in outputs)
    assert all(k.startswith("transactions/event_month=") for k in parquet)
    assert m["source"]["size"] == len(sample_csv)  # type: ignore[index]
    assert m["bytes"] == {"in": len(sample_csv), "out": sum(len(v) for v in parquet.values())}
    assert m["pseudonymisation"]["key_id"]  # type: ignore[index]
    assert m["format"] == {
        "encoding": "utf-8",
        "compression": None,
        "delimiter": ",",
        "header_line": 1,
    }
    assert set(m["timings_s"]) >= {"download", "transform", "publish", "total"}  # type: ignore[arg-type]
    # the landed file is untouched
    assert zones.landing.get_bytes("transactions/2026-11-27.csv") == sample_csv


def test_reprocessing_the_same_object_gives_byte_identical_outputs(
    ingest: Ingest, zones: Zones, sample_csv: bytes
) -> None:
    ingest("transactions/a.csv", sample_csv)
    first = curated_parquet(zones)
    ingest("transactions/a.csv", sample_csv)  # S3 delivers at least once
    assert curated_parquet(zones) == first


def test_a_changed_object_replaces_its_outputs_and_leaves_nothing_stale(
    ingest: Ingest, zones: Zones
) -> None:
    ingest("transactions/a.csv", csv_bytes([row(1, 6), row(2, 7), row(3, 8)]))
    ingest("transactions/b.csv", csv_bytes([row(10, 8)]))  # another source, same partition
    before = curated_parquet(zones)
    assert len([k for k in before if "2025-08" in k]) == 2
    outcome = ingest("transactions/a.csv", csv_bytes([row(1, 6)]))
    assert outcome.status == "curated"
    after = curated_parquet(zones)
    months = sorted(k.split("/")[1] for k in after)
    assert months == ["event_month=2025-06", "event_month=2025-08"]  # b.csv's file survives
    # all three earlier files are replaced: the new content is a new version, written under
    # new names (June's file too), and the old ones are removed once the manifest names it
    assert manifest(zones, "transactions/a.csv")["replaced_outputs"] == 3
    leftovers = [p for p in Path(zones.curated.uri).rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []


def test_an_object_replaced_by_a_broken_one_loses_its_old_outputs(
    ingest: Ingest, zones: Zones
) -> None:
    ingest("transactions/a.csv", csv_bytes([row(1, 6), row(2, 7)]))
    outcome = ingest("transactions/a.csv", b"\x00\x01garbage")
    assert outcome.status == "quarantined"
    assert curated_parquet(zones) == {}
    assert manifest(zones, "transactions/a.csv")["status"] == "quarantined"
    # ...and fixed again: quarantine is cleared, outputs are back
    ingest("transactions/a.csv", csv_bytes([row(1, 6)]))
    assert len(curated_parquet(zones)) == 1
    assert zones.quarantine.get_bytes("transactions/a.csv.error.json") is None


def test_some_bad_rows_go_to_quarantine_and_the_rest_is_curated(
    ingest: Ingest, zones: Zones
) -> None:
    good = [row(i) for i in range(100)]
    bad = [row(100, amount="1.2.3"), "T101,C1\n"]
    outcome = ingest("transactions/a.csv", csv_bytes(good + bad))
    assert outcome.status == "curated"
    m = manifest(zones, "transactions/a.csv")
    assert m["rows"] == {
        "read": 102,
        "written": 100,
        "rejected": 2,
        "lines_rejected": 2,
        "duplicates": 0,
    }
    assert m["reject_reasons"] == {
        "amount: not a valid decimal": 1,
        "the line has fewer fields than the header": 1,
    }
    rejects = zones.quarantine.get_bytes("transactions/a.csv.rejected-rows.jsonl")
    assert rejects is not None and len(rejects.splitlines()) == 2
    assert m["quarantine"] == {"rejected_rows": "transactions/a.csv.rejected-rows.jsonl"}
    assert m["rejected_rows"] == {"kept": 2, "cap": 10_000}
    # each rejected row with its line (header line 1): T100 on 102, T101 on 103
    assert [json.loads(r)["line"] for r in rejects.splitlines()] == [102, 103]


def test_a_file_with_too_many_bad_rows_is_quarantined_with_its_rejected_rows(
    ingest: Ingest, zones: Zones
) -> None:
    """3 good rows, 1 bad (25 % > 5 %): the file is quarantined whole. Its manifest counts
    what happened to every row: none written, the 3 good ones quarantined with the file, the
    bad one rejected, and its rejected-rows file says which line and why."""
    data = csv_bytes([row(1), row(2), row(3, amount="x"), row(4)])
    outcome = ingest("transactions/mostly.csv", data)
    assert (outcome.status, outcome.code) == ("quarantined", "too_many_rejects")
    m = manifest(zones, "transactions/mostly.csv")
    assert m["rows"] == {
        "read": 4,
        "written": 0,
        "rejected": 1,
        "lines_rejected": 1,
        "duplicates": 0,
        "quarantined": 3,
    }
    rows = m["rows"]
    assert rows["read"] == rows["written"] + rows["rejected"] + rows["duplicates"] + 3
    assert m["outputs"] == []
    key = "transactions/mostly.csv.rejected-rows.jsonl"
    assert m["quarantine"]["rejected_rows"] == key
    (reject,) = [json.loads(r) for r in (zones.quarantine.get_bytes(key) or b"").splitlines()]
    assert (reject["line"], reject["reason"]) == (4, "amount: not a valid decimal")
    assert reject["fields"]["transaction_id"] == "T3"
    report = json.loads(zones.quarantine.get_bytes("transactions/mostly.csv.error.json") or b"")
    assert report["rejected_rows"] == key


def test_a_spreadsheet_title_above_the_header_is_skipped(ingest: Ingest, zones: Zones) -> None:
    # line 1 the title (padded to the table's width, as Excel writes it), 2 blank, 3 the header
    title = "거래내역 (2025년 6월)" + "," * 11 + "\n" + "," * 11 + "\n"
    rows = [row(1), "T0,C1\n", *(row(i) for i in range(2, 41))]  # T0 (line 5) is ragged
    outcome = ingest("transactions/titled.csv", csv_bytes(rows, title + HEADER))
    assert outcome.status == "curated"
    m = manifest(zones, "transactions/titled.csv")
    assert m["format"]["header_line"] == 3  # type: ignore[index]
    assert m["rows"] == {
        "read": 41,
        "written": 40,
        "rejected": 1,
        "lines_rejected": 1,
        "duplicates": 0,
    }
    rejects = zones.quarantine.get_bytes("transactions/titled.csv.rejected-rows.jsonl")
    assert rejects is not None
    assert [json.loads(line)["line"] for line in rejects.splitlines()] == [5]  # as in the file
    written = {
        r["transaction_id"]
        for data in curated_parquet(zones).values()
        for r in pq.read_table(pa.BufferReader(data)).to_pylist()
    }
    assert written == {f"T{i}" for i in range(1, 41)}


def _cp949_korean(tmp_path: Path) -> bytes:
    path = tmp_path / "k.csv"
    generate(path, GenerateSpec(rows=300, seed=5, encoding="cp949", korean_headers=True))
    return path.read_bytes()


def _utf16_tsv(_tmp: Path) -> bytes:
    text = (HEADER + row(1) + row(2)).replace(",", "\t")
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le")


def _gzip_cp949(tmp_path: Path) -> bytes:
    return gzip.compress(_cp949_korean(tmp_path), mtime=0)


@pytest.mark.parametrize(
    ("name", "make", "rows"),
    [
        ("cp949 Excel export, Korean headers", _cp949_korean, 300),
        ("cp949, gzipped", _gzip_cp949, 300),
        ("UTF-16 tab-separated (Excel Unicode text)", _utf16_tsv, 2),
        ("UTF-8 with BOM", lambda _t: codecs.BOM_UTF8 + csv_bytes([row(1)]), 1),
    ],
)
def test_files_in_other_encodings_are_curated(
    ingest: Ingest, zones: Zones, tmp_path: Path, name: str, make: object, rows: int
) -> None:
    data = make(tmp_path)  # type: ignore[operator]
    outcome = ingest("transactions/x.csv", data)
    assert outcome.status == "curated", (name, outcome.reason)
    assert outcome.rows["written"] == rows


BAD_FILES = {
    "empty": (b"", "empty", "empty"),
    "blank lines only": (b"\n\n  \n", "empty", "empty"),
    "header only": (HEADER.encode(), "no_rows", "no data rows"),
    "ragged rows": (
        csv_bytes([row(1), "T2,C1,x\n", "T3,C2\n", "T4,C1,a,b,c,d,e,f,g,h,i,j,k\n"]),
        "too_many_rejects",
        "fewer fields than the header",
    ),
    "unterminated quote": (
        csv_bytes([row(1), 'T2,"C1,x\n', *[row(i) for i in range(3, 30)]]),
        "too_many_rejects",
        "quote is opened and never closed",
    ),
    "missing required column": (
        csv_bytes(
            ["T1,C1,2025-06-01 10:00:00\n"], header="transaction_id,customer_id,event_time\n"
        ),
        "missing_column",
        "required column(s) missing from the header: amount",
    ),
    "wrong type": (
        csv_bytes([row(i, amount="lots") for i in range(10)]),
        "too_many_rejects",
        "amount: not a valid decimal",
    ),
    "binary garbage": (random.Random(7).randbytes(4096), "not_text", "binary"),
    "an Excel workbook": (b"PK\x03\x04" + bytes(200), "not_text", "export the sheet as CSV"),
    "headerless file": (csv_bytes([row(1)], header=""), "missing_column", "header line missing"),
    "a blob on the first line": (
        csv_bytes([row(1)], header="A" * 200_000 + "\n" + HEADER),
        "no_header",
        "longer than 128 KiB",
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_files_are_quarantined_with_a_plain_reason(
    ingest: Ingest, zones: Zones, name: str
) -> None:
    data, code, says = BAD_FILES[name]
    key = f"transactions/{name.replace(' ', '-')}.csv"
    outcome = ingest(key, data)
    assert outcome.status == "quarantined"
    assert outcome.code == code, outcome.reason
    assert says in (outcome.reason or "")
    # nothing lost: the landed file stays, an untouched copy and a report sit in quarantine
    assert zones.landing.get_bytes(key) == data
    assert zones.quarantine.get_bytes(key) == data
    report = json.loads(zones.quarantine.get_bytes(key + ".error.json") or b"{}")
    assert report["reason"] == outcome.reason and report["code"] == code
    assert manifest(zones, key)["status"] == "quarantined"
    assert curated_parquet(zones) == {}


@pytest.mark.parametrize(
    ("key", "code"),
    [("sales/2026.csv", "unknown_dataset"), ("loose-file.csv", "no_dataset")],
)
def test_files_outside_a_known_dataset_are_quarantined(
    ingest: Ingest, zones: Zones, key: str, code: str
) -> None:
    outcome = ingest(key, csv_bytes([row(1)]))
    assert (outcome.status, outcome.code) == ("quarantined", code)
    assert "transactions" in (outcome.reason or "")  # names the datasets that exist
    assert zones.quarantine.get_bytes(key) == csv_bytes([row(1)])
    assert zones.quarantine.get_bytes(key + ".error.json") is not None


def test_every_landed_object_ends_curated_or_quarantined(ingest: Ingest, zones: Zones) -> None:
    landed = {f"transactions/{i}.csv": data for i, (data, _c, _s) in enumerate(BAD_FILES.values())}
    landed["transactions/good.csv"] = csv_bytes([row(i) for i in range(20)])
    for key, data in landed.items():
        ingest(key, data)
    for key, data in landed.items():
        m = manifest(zones, key)
        if m["status"] == "curated":
            rows = m["rows"]
            assert isinstance(rows, dict)
            assert rows["read"] == rows["written"] + rows["rejected"]
        else:
            assert m["status"] == "quarantined"
            assert zones.quarantine.get_bytes(key) == data
