"""A file dropped twice must not count twice (issue 10): whole-file and row-level duplicates,
redelivered events, leases. Counts are worked out by hand from the rows each test writes."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from ingest import layout
from ingest.contracts import ContractRegistry
from ingest.lease import acquire
from ingest.pseudonymise import HmacKey
from ingest.service import LandedObject, Options, Outcome, SourceBusy, Zones, ingest_object
from tests.functions.ingest.conftest import Ingest
from tests.functions.ingest.test_service import csv_bytes, manifest, row


def curated_rows(zones: Zones) -> list[dict[str, Any]]:
    """Every row of every curated file the manifests name (what a reader sees)."""
    root = Path(zones.curated.uri)
    rows: list[dict[str, Any]] = []
    for path in sorted((root / "_manifests" / "transactions").glob("*.json")):
        m = json.loads(path.read_text("utf-8"))
        if m["status"] == "curated":
            for output in m["outputs"]:
                rows += pq.read_table(root / output["key"]).to_pylist()
    return rows


def parquet_on_disk(zones: Zones) -> set[str]:
    root = Path(zones.curated.uri)
    return {p.relative_to(root).as_posix() for p in (root / "transactions").rglob("*.parquet")}


def jsonl(zones: Zones, key: str) -> list[dict[str, Any]]:
    raw = zones.quarantine.get_bytes(key)
    assert raw is not None, key
    return [json.loads(line) for line in raw.decode("utf-8").splitlines()]


# --- the same bytes again -------------------------------------------------------------------


def test_the_same_file_under_a_second_name_is_a_duplicate_not_a_second_copy(
    ingest: Ingest, zones: Zones
) -> None:
    data = csv_bytes([row(i, month=6 + i % 2) for i in range(1, 6)])  # 5 rows, 2 months
    first = ingest("transactions/week-48.csv", data)
    second = ingest("transactions/week-48 (1).csv", data)

    assert first.status == "curated"
    assert second.status == "duplicate"
    assert second.code == "duplicate_file"
    m = manifest(zones, "transactions/week-48 (1).csv")
    assert m["duplicate_of"] == {
        "source_id": layout.source_id("transactions/week-48.csv"),
        "key": "transactions/week-48.csv",
    }
    assert m["rows"] == {
        "read": 5,
        "written": 0,
        "rejected": 0,
        "lines_rejected": 0,
        "duplicates": 5,
    }
    assert m["outputs"] == []
    assert len(curated_rows(zones)) == 5
    assert len(parquet_on_disk(zones)) == 2  # the first file's two months, nothing more


def test_the_same_event_three_times_does_the_work_once(ingest: Ingest, zones: Zones) -> None:
    data = csv_bytes([row(1), row(2)])
    outcomes = [ingest("transactions/a.csv", data) for _ in range(3)]
    assert [o.status for o in outcomes] == ["curated", "skipped", "skipped"]
    assert [o.code for o in outcomes[1:]] == ["unchanged", "unchanged"]
    assert len(curated_rows(zones)) == 2
    assert manifest(zones, "transactions/a.csv")["status"] == "curated"


def test_a_duplicate_becomes_a_source_again_when_the_original_is_replaced(
    ingest: Ingest, zones: Zones
) -> None:
    data = csv_bytes([row(1), row(2)])
    ingest("transactions/a.csv", data)
    assert ingest("transactions/b.csv", data).status == "duplicate"
    ingest("transactions/a.csv", csv_bytes([row(9)]))  # a.csv now holds other bytes
    # b.csv dropped again: its bytes are no longer curated anywhere, so it is ingested
    zones.landing.put_bytes("transactions/b.csv", data + b"")
    outcome = ingest("transactions/b.csv", data)
    assert outcome.status == "curated"
    assert sorted(r["transaction_id"] for r in curated_rows(zones)) == ["T1", "T2", "T9"]


# --- rows whose key is already curated ------------------------------------------------------


def test_an_overlapping_export_writes_only_the_new_transactions(
    ingest: Ingest, zones: Zones
) -> None:
    # last week: T1..T5; this week repeats T4 unchanged and T5 with another amount, then T6..T8
    ingest("transactions/last.csv", csv_bytes([row(i) for i in range(1, 6)]))
    this_week = [row(4), row(5, amount="2500"), row(6), row(7), row(8)]
    outcome = ingest("transactions/this.csv", csv_bytes(this_week))

    assert outcome.status == "curated"
    m = manifest(zones, "transactions/this.csv")
    assert m["rows"] == {
        "read": 5,
        "written": 3,
        "rejected": 0,
        "lines_rejected": 0,
        "duplicates": 2,
    }
    assert m["duplicates"] == {
        "rows": 2,
        "within_file": 0,
        "identical": 1,
        "conflicting": 1,
        "earlier": [
            {
                "source_id": layout.source_id("transactions/last.csv"),
                "key": "transactions/last.csv",
                "rows": 2,
            }
        ],
    }
    rows = curated_rows(zones)
    assert sorted(r["transaction_id"] for r in rows) == [f"T{i}" for i in range(1, 9)]
    # the first published copy wins: T5 keeps last week's amount
    (t5,) = [r for r in rows if r["transaction_id"] == "T5"]
    assert t5["amount"] == Decimal("1000.00")
    # the conflicting row is kept in quarantine, pseudonymised, with its record number
    (conflict,) = jsonl(zones, "transactions/this.csv.conflicting-rows.jsonl")
    assert conflict["record"] == 2
    assert conflict["earlier_source"] == layout.source_id("transactions/last.csv")
    assert conflict["values"]["transaction_id"] == "T5"
    assert conflict["values"]["amount"] == 2500  # DuckDB writes DECIMAL as a JSON number
    assert "kim@naver.com" not in json.dumps(conflict, ensure_ascii=False)
    assert m["quarantine"] == {"conflicting_rows": "transactions/this.csv.conflicting-rows.jsonl"}


def test_a_key_repeated_inside_one_file_is_written_once(ingest: Ingest, zones: Zones) -> None:
    # T1, T2, T1 again (identical), T2 again (other amount), T3
    rows = [row(1), row(2), row(1), row(2, amount="7"), row(3)]
    ingest("transactions/a.csv", csv_bytes(rows))
    m = manifest(zones, "transactions/a.csv")
    assert m["rows"]["written"] == 3
    assert m["rows"]["duplicates"] == 2
    assert m["duplicates"]["within_file"] == 2
    assert m["duplicates"]["identical"] == 1
    assert m["duplicates"]["conflicting"] == 1
    assert m["duplicates"]["earlier"] == []
    written = curated_rows(zones)
    assert sorted(r["transaction_id"] for r in written) == ["T1", "T2", "T3"]
    (t2,) = [r for r in written if r["transaction_id"] == "T2"]
    assert t2["amount"] == Decimal("1000.00")  # the first row with the key
    (conflict,) = jsonl(zones, "transactions/a.csv.conflicting-rows.jsonl")
    assert conflict["record"] == 4
    assert conflict["earlier_source"] is None


def test_a_re_uploaded_source_is_not_a_duplicate_of_itself_but_of_others(
    ingest: Ingest, zones: Zones
) -> None:
    ingest("transactions/a.csv", csv_bytes([row(1), row(2)]))
    ingest("transactions/b.csv", csv_bytes([row(3), row(4)]))
    # a.csv corrected: T1 and T2 again (its own: replaced, not duplicates), plus b.csv's T3
    outcome = ingest("transactions/a.csv", csv_bytes([row(1), row(2, amount="5"), row(3)]))
    assert outcome.status == "curated"
    m = manifest(zones, "transactions/a.csv")
    assert m["rows"]["written"] == 2
    assert m["rows"]["duplicates"] == 1
    assert [e["key"] for e in m["duplicates"]["earlier"]] == ["transactions/b.csv"]
    rows = {r["transaction_id"]: r["amount"] for r in curated_rows(zones)}
    assert rows == {
        "T1": Decimal("1000.00"),
        "T2": Decimal("5.00"),
        "T3": Decimal("1000.00"),
        "T4": Decimal("1000.00"),
    }


def test_a_quarantined_source_frees_its_keys(ingest: Ingest, zones: Zones) -> None:
    ingest("transactions/a.csv", csv_bytes([row(1)]))
    assert ingest("transactions/a.csv", b"\x00\x01not a csv").status == "quarantined"
    assert (
        zones.curated.get_bytes(
            layout.keys_index_key("transactions", layout.source_id("transactions/a.csv"))
        )
        is None
    )
    m = ingest("transactions/b.csv", csv_bytes([row(1)])).manifest
    assert m["rows"]["written"] == 1  # T1 is not curated anywhere any more
    assert m["rows"]["duplicates"] == 0


# --- one ingest of a key at a time ----------------------------------------------------------


def test_a_held_lease_makes_a_second_ingest_wait(
    ingest: Ingest, zones: Zones, key: HmacKey, tmp_path: Path
) -> None:
    zones.landing.put_bytes("transactions/a.csv", csv_bytes([row(1)]))
    sid = layout.source_id("transactions/a.csv")
    lease = acquire(zones.curated, layout.lock_key("transactions", sid), 600)
    assert lease is not None
    with pytest.raises(SourceBusy):
        ingest("transactions/a.csv", csv_bytes([row(1)]))
    assert zones.curated.get_bytes(layout.manifest_key("transactions", sid)) is None
    lease.release()
    assert ingest("transactions/a.csv", csv_bytes([row(1)])).status == "curated"
    assert zones.curated.get_bytes(layout.lock_key("transactions", sid)) is None  # released


def test_an_expired_lease_is_taken_over_once(zones: Zones) -> None:
    clock = [1000.0]
    first = acquire(zones.curated, "_locks/x.json", 60, now=lambda: clock[0])
    assert first is not None
    assert acquire(zones.curated, "_locks/x.json", 60, now=lambda: clock[0]) is None
    clock[0] += 61  # the holder died: its lease has expired
    second = acquire(zones.curated, "_locks/x.json", 60, now=lambda: clock[0])
    assert second is not None and second.token != first.token
    assert acquire(zones.curated, "_locks/x.json", 60, now=lambda: clock[0]) is None
    first.release()  # the late holder does not remove its successor's lease
    assert acquire(zones.curated, "_locks/x.json", 60, now=lambda: clock[0]) is None
    second.release()
    assert acquire(zones.curated, "_locks/x.json", 60, now=lambda: clock[0]) is not None


def test_four_concurrent_invocations_on_one_object_publish_once(
    zones: Zones, key: HmacKey, tmp_path: Path
) -> None:
    zones.landing.put_bytes("transactions/a.csv", csv_bytes([row(i) for i in range(1, 51)]))
    work = tmp_path / "work"
    work.mkdir()
    contracts = ContractRegistry()

    def run(_: int) -> Outcome | str:
        try:
            return ingest_object(
                LandedObject("transactions/a.csv"),
                zones,
                key,
                contracts,
                Options(work, "300MB", threads=1),
            )
        except SourceBusy:
            return "busy"

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, range(4)))
    statuses = sorted(r if isinstance(r, str) else f"{r.status}:{r.code}" for r in results)
    assert statuses.count("curated:None") == 1
    assert set(statuses) <= {"curated:None", "busy", "skipped:unchanged"}
    assert len(curated_rows(zones)) == 50
    assert len(parquet_on_disk(zones)) == 1


# --- which upload an event names ------------------------------------------------------------


def test_an_event_older_than_the_ingested_upload_is_superseded(
    zones: Zones, key: HmacKey, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    contracts = ContractRegistry()

    def run(sequencer: str) -> Outcome:
        obj = LandedObject("transactions/a.csv", sequencer=sequencer)
        return ingest_object(obj, zones, key, contracts, Options(work, "300MB", threads=1))

    zones.landing.put_bytes("transactions/a.csv", csv_bytes([row(2)]))
    assert run("0062F8A1B2C3D4E5F6").status == "curated"
    # the first upload's event arrives late: its sequencer is smaller (shorter strings are
    # right-padded with zeros before comparing: 0062F8A1B2C3D4E5 < 0062F8A1B2C3D4E5F6)
    late = run("0062F8A1B2C3D4E5")
    assert (late.status, late.code) == ("skipped", "superseded")
    assert manifest(zones, "transactions/a.csv")["source"]["sequencer"] == "0062F8A1B2C3D4E5F6"


# --- the key index stays cheap to read with many sources -----------------------------------


def test_many_sources_are_compacted_and_a_replaced_one_is_not_believed(
    ingest: Ingest, zones: Zones, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest import keyindex
    from ingest.storage import LocalStorage

    monkeypatch.setattr(keyindex, "COMPACT_AFTER", 3)
    for n in range(4):  # sources 0..3, one transaction each: T0, T10, T20, T30
        ingest(f"transactions/s{n}.csv", csv_bytes([row(n * 10)]))
    compacted = zones.curated.location(layout.keys_compacted_key("transactions"))
    # the fourth ingest read three key files one by one: it merged them and its own
    assert sorted(keyindex.compacted_sources(Path(compacted))) == sorted(
        layout.source_id(f"transactions/s{n}.csv") for n in range(4)
    )
    # s1 is replaced: its key is now T11, and T10 is no longer curated anywhere
    ingest("transactions/s1.csv", csv_bytes([row(11)]))

    reads: list[str] = []
    original = LocalStorage.download

    def counted(self: LocalStorage, key: str, path: Path, version_id: str | None = None) -> Any:
        reads.append(key)
        return original(self, key, path, version_id)

    monkeypatch.setattr(LocalStorage, "download", counted)
    m = ingest("transactions/new.csv", csv_bytes([row(10), row(11), row(20), row(40)])).manifest

    # T10 is new again; T11 (s1's new version) and T20 (from the compacted file) are repeats
    assert m["rows"]["written"] == 2
    assert sorted(e["key"] for e in m["duplicates"]["earlier"]) == [
        "transactions/s1.csv",
        "transactions/s2.csv",
    ]
    key_files = [k for k in reads if k.startswith("_index/transactions/keys/")]
    # only s1's new key file was read on its own (plus the compacted index)
    assert key_files == [
        layout.keys_index_key("transactions", layout.source_id("transactions/s1.csv"))
    ]
    assert layout.keys_compacted_key("transactions") in reads
