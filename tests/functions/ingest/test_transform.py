"""transform(): a hand-made CSV whose expected typed, pseudonymised rows are worked out by hand."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.contracts import ContractError, ContractRegistry, map_header, parse_contract
from ingest.pseudonymise import HmacKey
from ingest.sniff import RecordCount, sniff
from ingest.transform import TransformError, TransformResult, transform
from tests.functions.ingest.conftest import expected_pseudonym as P

HEADER = (
    "transaction_id,customer_id,customer_name,email,phone,event_time,amount,quantity,"
    "category,channel,country,is_refund\n"
)
GOOD = [
    'T1, C1 ,김민수, Kim@Naver.com ,010-1234-5678,2025-06-01 10:00:00,"12,500",1,식품,online,KR,N\n',
    "T2,C1,김민수,kim@naver.com,+82 10-1234-5678,2025-06-30 23:30:00,3000,2,식품,app,KR,N\n",
    "T3,C2,Emma  Schmidt,emma@gmail.com,02-312-3456,2025-07-01T01:00:00+09:00,-4500,1,도서,offline,DE,Y\n",
    "T4,C3,이영희,,,2025/07/02 11:00,5000,,뷰티,online,KR,\n",
    "T5,C2,emma schmidt,EMMA@gmail.com,,2025-07-01 08:30:00,700,3,도서,app,DE,false\n",
]
BAD = [
    "T6,C1,김민수,kim@naver.com,010-1234-5678,2025-06-02 10:00:00,abc,1,식품,online,KR,N\n",
    "T7,  ,김민수,kim@naver.com,010-1234-5678,2025-06-02 10:00:00,100,1,식품,online,KR,N\n",
    "T8,C1\n",
    "T9,C1,김민수,kim@naver.com,010-1234-5678,yesterday,100,1,식품,online,KR,N\n",
    "T10,C1,김민수,kim@naver.com,010-1234-5678,2025-06-02 10:00:00,100,1,식품,online,KR,maybe\n",
]


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# Worked out by hand: naive times are Asia/Seoul (UTC+9); the partition is the *local* month.
EXPECTED = {
    "T1": dict(customer_id=P("C1"), customer_name=P("김민수"), email=P("kim@naver.com"),
               phone=P("+821012345678"), event_time=_utc(2025, 6, 1, 1, 0),
               amount=Decimal("12500.00"), quantity=1, is_refund=False, month="2025-06"),
    "T2": dict(customer_id=P("C1"), customer_name=P("김민수"), email=P("kim@naver.com"),
               phone=P("+821012345678"), event_time=_utc(2025, 6, 30, 14, 30),
               amount=Decimal("3000.00"), quantity=2, is_refund=False, month="2025-06"),
    "T3": dict(customer_id=P("C2"), customer_name=P("emma schmidt"), email=P("emma@gmail.com"),
               phone=P("+8223123456"), event_time=_utc(2025, 6, 30, 16, 0),
               amount=Decimal("-4500.00"), quantity=1, is_refund=True, month="2025-07"),
    "T4": dict(customer_id=P("C3"), customer_name=P("이영희"), email=None, phone=None,
               event_time=_utc(2025, 7, 2, 2, 0), amount=Decimal("5000.00"), quantity=None,
               is_refund=None, month="2025-07"),
    "T5": dict(customer_id=P("C2"), customer_name=P("emma schmidt"), email=P("emma@gmail.com"),
               phone=None, event_time=_utc(2025, 6, 30, 23, 30), amount=Decimal("700.00"),
               quantity=3, is_refund=False, month="2025-07"),
}  # fmt: skip


def run(
    tmp_path: Path,
    text: str,
    key: HmacKey,
    name: str = "in.csv",
    timezone: str | None = None,
    cluster_by: tuple[str, ...] = (),
) -> TransformResult:
    contract = ContractRegistry().get("transactions")
    assert contract is not None
    if timezone is not None:
        contract = contract.model_copy(update={"timezone": timezone})
    if cluster_by:
        contract = contract.model_copy(update={"cluster_by": cluster_by})
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    fmt = sniff(source)
    work = tmp_path / f"work-{name}"
    work.mkdir()
    return transform(
        source,
        fmt,
        map_header(contract, list(fmt.header)),
        contract,
        key,
        out_dir=work / "out",
        work_dir=work,
        sid="abc",
        memory_limit="500MB",
    )


def read_rows(result: TransformResult) -> dict[str, dict[str, object]]:
    rows = {}
    for output in result.outputs:
        for row in pq.read_table(output.path).to_pylist():
            row["month"] = output.partition
            rows[row.pop("transaction_id")] = row
    return rows


def test_good_rows_are_typed_and_pseudonymised_as_worked_out(tmp_path: Path, key: HmacKey) -> None:
    result = run(tmp_path, HEADER + "".join(GOOD), key)
    assert (result.rows_read, result.rows_written, result.rows_rejected) == (5, 5, 0)
    rows = read_rows(result)
    assert set(rows) == set(EXPECTED)
    for tid, expected in EXPECTED.items():
        got = {k: rows[tid][k] for k in expected}
        assert got == expected, tid
    # kept columns are trimmed text; dropped-nothing contract keeps all 12 columns
    assert rows["T3"]["category"] == "도서" and rows["T3"]["country"] == "DE"


def test_schema_is_typed(tmp_path: Path, key: HmacKey) -> None:
    result = run(tmp_path, HEADER + "".join(GOOD), key)
    schema = pq.read_schema(result.outputs[0].path)
    assert schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    assert schema.field("amount").type == pa.decimal128(18, 2)
    assert schema.field("quantity").type == pa.int64()
    assert schema.field("is_refund").type == pa.bool_()
    assert schema.field("customer_id").type == pa.string()
    assert "event_month" not in schema.names  # it is in the path only
    metadata = pq.ParquetFile(result.outputs[0].path).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_partitions_follow_local_month(tmp_path: Path, key: HmacKey) -> None:
    result = run(tmp_path, HEADER + "".join(GOOD), key)
    layout = {(o.path.parent.name, o.path.name): o.rows for o in result.outputs}
    assert layout == {
        ("event_month=2025-06", "abc-0.parquet"): 2,
        ("event_month=2025-07", "abc-0.parquet"): 3,
    }


def test_bad_rows_are_counted_kept_and_explained(tmp_path: Path, key: HmacKey) -> None:
    result = run(tmp_path, HEADER + "".join(GOOD + BAD), key)
    assert (result.rows_read, result.rows_written, result.rows_rejected) == (10, 5, 5)
    assert result.rows_read == result.rows_written + result.rows_rejected
    assert result.reject_reasons == {
        "amount: not a valid decimal": 1,
        "customer_id: missing": 1,
        "event_time: not a valid timestamp": 1,
        "is_refund: not a valid boolean": 1,
        "the line has fewer fields than the header": 1,
    }
    assert result.rejects_path is not None
    rejects = [json.loads(line) for line in result.rejects_path.read_text("utf-8").splitlines()]
    assert len(rejects) == 5
    by_id = {
        (r["fields"] or {}).get("transaction_id") or r["text"].split(",")[0]: r for r in rejects
    }
    assert set(by_id) == {"T6", "T7", "T8", "T9", "T10"}
    assert by_id["T6"]["fields"]["amount"] == "abc"  # the raw row is kept to be fixed
    assert by_id["T8"]["line"] == 9 and by_id["T8"]["text"].startswith("T8,C1")
    # every rejected row has its line (header = line 1), in line order
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (7, "amount: not a valid decimal"),
        (8, "customer_id: missing"),
        (9, "the line has fewer fields than the header"),
        (10, "event_time: not a valid timestamp"),
        (11, "is_refund: not a valid boolean"),
    ]


def test_rejected_rows_lines_after_a_quoted_break_and_a_blank_line(
    tmp_path: Path, key: HmacKey
) -> None:
    """Typed rejects are numbered as DuckDB numbers the broken records' lines: a blank line
    counts, a line break inside a quoted field does not start a line."""
    multi = GOOD[1].replace("식품", '"식\n품"')  # a record over two physical lines
    text = (
        HEADER  # 1
        + GOOD[0]  # 2
        + multi  # 3
        + BAD[0]  # 4: amount abc
        + "\n"  # 5: blank
        + BAD[2]  # 6: too few fields
        + GOOD[2]  # 7
        + BAD[3]  # 8: event_time yesterday
    )
    result = run(tmp_path, text, key)
    assert (result.rows_read, result.rows_written, result.rows_rejected) == (6, 3, 3)
    assert result.rejects_path is not None and result.rejects_kept == 3
    rejects = [json.loads(line) for line in result.rejects_path.read_text("utf-8").splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (4, "amount: not a valid decimal"),
        (6, "the line has fewer fields than the header"),
        (8, "event_time: not a valid timestamp"),
    ]


def test_the_rejects_file_keeps_the_first_rows_up_to_the_cap(
    tmp_path: Path, key: HmacKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest import transform as transform_module

    monkeypatch.setattr(transform_module, "REJECTED_ROWS_CAP", 2)
    result = run(tmp_path, HEADER + "".join(GOOD + BAD), key)
    assert result.rows_rejected == 5 and result.rejects_kept == 2  # all counted, 2 kept
    assert result.rejects_path is not None
    rejects = [json.loads(line) for line in result.rejects_path.read_text("utf-8").splitlines()]
    assert [r["line"] for r in rejects] == [7, 8]


def test_unterminated_quote_rejects_what_it_swallows(tmp_path: Path, key: HmacKey) -> None:
    text = (
        HEADER + "".join(GOOD) + 'T11,C1,"unclosed,x,y,2025-06-01 10:00:00,1,1,a,b,KR,N\n' + GOOD[0]
    )
    result = run(tmp_path, text, key)
    assert result.rows_written == 5
    assert result.rows_rejected == 1
    assert result.lines_rejected == 2  # the broken line and the one it swallowed
    assert "quote" in next(iter(result.reject_reasons))


def test_same_input_gives_byte_identical_parquet(tmp_path: Path, key: HmacKey) -> None:
    text = HEADER + "".join(GOOD * 50)
    first = run(tmp_path, text, key, "a.csv")
    second = run(tmp_path, text, key, "b.csv")
    assert [o.path.read_bytes() for o in first.outputs] == [
        o.path.read_bytes() for o in second.outputs
    ]


def test_another_key_gives_other_pseudonyms(tmp_path: Path, key: HmacKey) -> None:
    other = HmacKey(b"another key, just as long as the first one is, 0123456789abcdef")
    ours = read_rows(run(tmp_path, HEADER + GOOD[0], key, "a.csv"))["T1"]
    theirs = read_rows(run(tmp_path, HEADER + GOOD[0], other, "b.csv"))["T1"]
    assert ours["customer_id"] != theirs["customer_id"]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters(tmp_path: Path, key: HmacKey, delimiter: str) -> None:
    row = "T1;C1;김민수;kim@naver.com;010-1234-5678;2025-06-01 10:00:00;12500;1;식품;online;KR;N\n"
    text = (HEADER.replace(",", ";") + row).replace(";", delimiter)
    result = run(tmp_path, text, key)
    assert result.rows_written == 1
    assert read_rows(result)["T1"]["amount"] == Decimal("12500.00")


def _row(tid: str, event_time: str) -> str:
    return f"{tid},C1,김민수,kim@naver.com,010-1234-5678,{event_time},100,1,식품,online,KR,N\n"


def test_twelve_hour_times_as_korean_spreadsheets_write_them(tmp_path: Path, key: HmacKey) -> None:
    """오전/오후 (AM/PM) from Korean Excel and Google Sheets exports; worked out for UTC+9."""
    good = {
        "K1": ("2025-06-01 오후 1:05:00", _utc(2025, 6, 1, 4, 5), "2025-06"),
        "K2": ("2025. 7. 1 오전 12:30:00", _utc(2025, 6, 30, 15, 30), "2025-07"),  # 00:30 local
        "K3": ("2025-06-01 오후 12:05", _utc(2025, 6, 1, 3, 5), "2025-06"),  # 12:05 PM is noon
        "K4": ("2025. 6. 2. 오전 9:00:00", _utc(2025, 6, 2, 0, 0), "2025-06"),
        "K5": ("2025-06-03 1:05:00 PM", _utc(2025, 6, 3, 4, 5), "2025-06"),
    }
    bad = {"K6": "2025-06-01 오후 13:05:00", "K7": "2025-06-01 오전 0:05:00"}
    rows = [_row(tid, text) for tid, (text, _, _) in good.items()]
    rows += [_row(tid, text) for tid, text in bad.items()]
    result = run(tmp_path, HEADER + "".join(rows), key)
    assert (result.rows_written, result.rows_rejected) == (5, 2)
    assert result.reject_reasons == {"event_time: not a valid timestamp": 2}
    got = read_rows(result)
    assert {tid: (r["event_time"], r["month"]) for tid, r in got.items()} == {
        tid: (instant, month) for tid, (_, instant, month) in good.items()
    }


# Local wall times around clock changes, worked out from each zone's rules: a time skipped by
# a change is read with the offset before it (i.e. moved forward by the gap), a time that
# occurs twice is read as the later one (standard time), and the partition is the local month
# of the instant so read.
CLOCK_CHANGES = {
    "Europe/Paris": {  # 2025-03-30 02:00 CET -> 03:00 CEST; 2025-10-26 03:00 CEST -> 02:00 CET
        "2025-03-30 01:59:59": (_utc(2025, 3, 30, 0, 59, 59), "2025-03"),
        "2025-03-30 02:30:00": (_utc(2025, 3, 30, 1, 30), "2025-03"),  # skipped: 03:30 CEST
        "2025-03-30 03:00:00": (_utc(2025, 3, 30, 1, 0), "2025-03"),
        "2025-10-26 02:30:00": (_utc(2025, 10, 26, 1, 30), "2025-10"),  # twice: the CET one
        "2025-10-26 03:00:00": (_utc(2025, 10, 26, 2, 0), "2025-10"),
        "2025-03-31 23:30:00": (_utc(2025, 3, 31, 21, 30), "2025-03"),
        "2025-03-30T02:30:00+02:00": (_utc(2025, 3, 30, 0, 30), "2025-03"),  # explicit offset
    },
    "Pacific/Kiritimati": {  # UTC-10 to UTC+14: 1994-12-31 never happened there
        "1994-12-30 23:59:00": (_utc(1994, 12, 31, 9, 59), "1994-12"),
        "1994-12-31 12:00:00": (_utc(1994, 12, 31, 22, 0), "1995-01"),  # skipped: next month
        "1995-01-01 00:30:00": (_utc(1994, 12, 31, 10, 30), "1995-01"),
    },
    "America/Santiago": {  # -03 -> -04 at 2025-04-06 00:00; -04 -> -03 at 2025-09-07 00:00
        "2025-04-05 23:30:00": (_utc(2025, 4, 6, 3, 30), "2025-04"),  # twice: the -04 one
        "2025-09-06 23:59:00": (_utc(2025, 9, 7, 3, 59), "2025-09"),
        "2025-09-07 00:30:00": (_utc(2025, 9, 7, 4, 30), "2025-09"),  # skipped: 01:30 -03
    },
}


@pytest.mark.parametrize("zone", sorted(CLOCK_CHANGES))
def test_local_times_around_clock_changes(tmp_path: Path, key: HmacKey, zone: str) -> None:
    cases = CLOCK_CHANGES[zone]
    rows = [_row(f"Z{i}", text) for i, text in enumerate(cases)]
    result = run(tmp_path, HEADER + "".join(rows), key, timezone=zone)
    assert result.rows_written == len(cases)
    got = read_rows(result)
    assert {
        text: (got[f"Z{i}"]["event_time"], got[f"Z{i}"]["month"]) for i, text in enumerate(cases)
    } == cases


# --- numbers: thousands separators in valid groups only, no silent rounding ---------------


def _amount_row(tid: str, amount: str, quantity: str = "1") -> str:
    return (
        f'{tid},C1,김민수,kim@naver.com,010-1234-5678,2025-06-01 10:00:00,"{amount}",'
        f'"{quantity}",식품,online,KR,N\n'
    )


# amount is decimal(18, 2), quantity an integer; worked out by hand
GOOD_NUMBERS = {
    "1,234": Decimal("1234.00"),
    "1,234,567.5": Decimal("1234567.50"),
    " -4,500.25 ": Decimal("-4500.25"),
    "+7": Decimal("7.00"),
    "1.230": Decimal("1.23"),  # the extra digit is a zero: the value is unchanged
    ".5": Decimal("0.50"),
    "12500": Decimal("12500.00"),
}
BAD_NUMBERS = {
    "1,5": "amount: not a valid decimal",  # was read as 15
    "12,50": "amount: not a valid decimal",  # was read as 1250
    "1.234,56": "amount: not a valid decimal",  # was read as 1.23
    "1,2345": "amount: not a valid decimal",
    ",123": "amount: not a valid decimal",
    "1e3": "amount: not a valid decimal",
    "1_000": "amount: not a valid decimal",
    "1.234": "amount: more than 2 decimal places",  # was rounded to 1.23
    "1,234.567": "amount: more than 2 decimal places",
}


def test_amounts_accept_thousands_separators_in_groups_only(tmp_path: Path, key: HmacKey) -> None:
    rows = [_amount_row(f"G{i}", text) for i, text in enumerate(GOOD_NUMBERS)]
    rows += [_amount_row(f"B{i}", text) for i, text in enumerate(BAD_NUMBERS)]
    result = run(tmp_path, HEADER + "".join(rows), key)
    assert (result.rows_read, result.rows_written, result.rows_rejected) == (16, 7, 9)
    got = read_rows(result)
    assert {tid: got[tid]["amount"] for tid in got} == {
        f"G{i}": value for i, value in enumerate(GOOD_NUMBERS.values())
    }
    assert result.reject_reasons == {
        "amount: not a valid decimal": 7,
        "amount: more than 2 decimal places": 2,
    }
    assert result.rejects_path is not None
    rejects = [json.loads(line) for line in result.rejects_path.read_text("utf-8").splitlines()]
    assert {r["fields"]["amount"]: r["reason"] for r in rejects} == BAD_NUMBERS


def test_integers_are_whole_numbers(tmp_path: Path, key: HmacKey) -> None:
    cases = {"Q1": "1,000", "Q2": "3.00", "Q3": " 12 ", "Q4": "1.5", "Q5": "0x10", "Q6": "2e1"}
    rows = [_amount_row(tid, "100", quantity) for tid, quantity in cases.items()]
    result = run(tmp_path, HEADER + "".join(rows), key)
    assert {tid: r["quantity"] for tid, r in read_rows(result).items()} == {
        "Q1": 1000,
        "Q2": 3,
        "Q3": 12,
    }
    assert result.reject_reasons == {
        "quantity: not a valid integer": 2,
        "quantity: not a whole number": 1,  # was rounded to 2
    }


def test_a_contract_can_ask_to_round(tmp_path: Path, key: HmacKey) -> None:
    contract = ContractRegistry().get("transactions")
    assert contract is not None
    columns = tuple(
        c.model_copy(update={"round": True}) if c.name == "amount" else c for c in contract.columns
    )
    rounding = contract.model_copy(update={"columns": columns})
    cases = {"R1": "1.235", "R2": "-1.235", "R3": "1.225", "R4": "1,234.5678", "R5": "1.234,56"}
    source = tmp_path / "round.csv"
    source.write_text(
        HEADER + "".join(_amount_row(t, a) for t, a in cases.items()), encoding="utf-8"
    )
    fmt = sniff(source)
    work = tmp_path / "work"
    work.mkdir()
    result = transform(
        source, fmt, map_header(rounding, list(fmt.header)), rounding, key,
        out_dir=work / "out", work_dir=work, sid="abc", memory_limit="500MB",
    )  # fmt: skip
    # half away from zero, worked out by hand
    assert {tid: r["amount"] for tid, r in read_rows(result).items()} == {
        "R1": Decimal("1.24"),
        "R2": Decimal("-1.24"),
        "R3": Decimal("1.23"),
        "R4": Decimal("1234.57"),
    }
    assert result.reject_reasons == {"amount: not a valid decimal": 1}


# --- the count of records is independent of DuckDB ----------------------------------------


def test_a_200_mb_record_is_a_rejected_row_not_lost(tmp_path: Path, key: HmacKey) -> None:
    """DuckDB drops a record longer than its buffer (128 MiB here) without a word."""
    source = tmp_path / "big.csv"
    rows = [_row(f"R{i}", "2025-06-30 23:30:00").encode() for i in range(2000)]
    with source.open("wb") as out:
        out.write(HEADER.encode() + b"".join(rows[:1000]))
        out.write(b"T0,C1," + b"x" * 200_000_000 + b"\n")
        out.write(b"".join(rows[1000:]))
    contract = ContractRegistry().get("transactions")
    assert contract is not None
    fmt = sniff(source)
    work = tmp_path / "work"
    work.mkdir()
    result = transform(
        source, fmt, map_header(contract, list(fmt.header)), contract, key,
        out_dir=work / "out", work_dir=work, sid="abc", memory_limit="500MB",
    )  # fmt: skip
    # 1,000 + 1 + 1,000 records; the long one is line 1002 (the header is line 1)
    assert (result.rows_read, result.rows_written, result.rows_rejected) == (2001, 2000, 1)
    assert result.reject_reasons == {"the line is longer than the 8 MB limit": 1}
    assert result.rejects_path is not None
    (reject,) = [json.loads(line) for line in result.rejects_path.read_text("utf-8").splitlines()]
    assert (reject["line"], reject["reason"], reject["text"]) == (
        1002,
        "the line is longer than the 8 MB limit",
        "",
    )


def test_counts_that_do_not_reconcile_quarantine_the_file(tmp_path: Path, key: HmacKey) -> None:
    contract = ContractRegistry().get("transactions")
    assert contract is not None
    source = tmp_path / "in.csv"
    source.write_text(HEADER + "".join(GOOD), encoding="utf-8")
    fmt = sniff(source)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(TransformError) as caught:
        transform(
            source, fmt, map_header(contract, list(fmt.header)), contract, key,
            out_dir=work / "out", work_dir=work, sid="abc", memory_limit="500MB",
            count=RecordCount(6),  # one record more than DuckDB reads (5)
        )  # fmt: skip
    assert caught.value.code == "reconciliation"
    assert "the file has 6 records" in caught.value.reason
    assert "found 5" in caught.value.reason


def test_a_truncated_gzip_is_bad_gzip_without_a_local_path(tmp_path: Path, key: HmacKey) -> None:
    contract = ContractRegistry().get("transactions")
    assert contract is not None
    text = (HEADER + "".join(GOOD) * 20_000).encode()
    compressed = gzip.compress(text, mtime=0)
    source = tmp_path / "in.csv.gz"
    source.write_bytes(compressed[: len(compressed) // 2])
    fmt = sniff(source)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(TransformError) as caught:
        transform(
            source, fmt, map_header(contract, list(fmt.header)), contract, key,
            out_dir=work / "out", work_dir=work, sid="abc", memory_limit="500MB",
        )  # fmt: skip
    assert caught.value.code == "bad_gzip"
    assert str(tmp_path) not in caught.value.reason


def test_a_header_cell_with_a_line_break_is_mapped(tmp_path: Path, key: HmacKey) -> None:
    """Excel writes a header cell with a line break quoted, rows with CRLF."""
    header = HEADER.replace("amount", '"금액\n(원)"').replace("\n", "\r\n")
    rows = [r.replace("\n", "\r\n") for r in GOOD]
    result = run(tmp_path, header + "".join(rows), key)
    assert (result.rows_read, result.rows_written, result.rows_rejected) == (5, 5, 0)
    assert {tid: r["amount"] for tid, r in read_rows(result).items()} == {
        tid: e["amount"] for tid, e in EXPECTED.items()
    }


def test_names_lower_cased_as_str_lower(tmp_path: Path, key: HmacKey) -> None:
    rows = [
        "G1,C1,ΟΔΟΣ ΠΑΠΑΣ,İnci@Example.com,,2025-06-01 10:00:00,1,1,a,b,GR,N\n",
        "G2,C1,Emma,EMMA@gmail.com,,2025-06-01 10:00:00,1,1,a,b,GR,N\n",
    ]
    got = read_rows(run(tmp_path, HEADER + "".join(rows), key))
    # worked out from Unicode's SpecialCasing: final sigma, and İ → i + U+0307
    assert got["G1"]["customer_name"] == P("οδος παπας")
    assert got["G1"]["email"] == P("i\u0307nci@example.com")
    assert got["G2"]["customer_name"] == P("emma")


def test_round_is_for_decimal_columns_only() -> None:
    text = """
dataset: t
partition: {column: at}
columns:
  - {name: at, type: timestamp, required: true}
  - {name: n, type: integer, round: true}
"""
    with pytest.raises(ContractError, match=r"columns\[1\]\(n\)\.round: round applies to decimal"):
        parse_contract(text, "t.yaml")
    assert parse_contract(text.replace("integer", "decimal"), "t.yaml").columns[1].round


# --- one schema per dataset, required PII never blank, big partitions in several files --------


def test_every_file_of_a_dataset_has_the_same_all_optional_schema(
    tmp_path: Path, key: HmacKey
) -> None:
    # a clean file (no value missing anywhere) and one with gaps (T4: no email, phone, quantity,
    # is_refund): DuckDB on its own writes REQUIRED for the first and OPTIONAL for the second
    clean = run(tmp_path, HEADER + GOOD[0] + GOOD[1], key, "clean.csv")
    gaps = run(tmp_path, HEADER + "".join(GOOD + BAD), key, "gaps.csv")
    schemas = {pq.read_schema(o.path).remove_metadata() for o in clean.outputs + gaps.outputs}
    assert len(schemas) == 1
    (schema,) = schemas
    assert all(f.nullable for f in schema)
    assert len(schema) == 12  # transaction_id ... is_refund


@pytest.mark.parametrize("blank", ["\t", "\u00a0", "\u3000", " \t "])
def test_a_required_pii_field_of_whitespace_is_missing_not_a_null_pseudonym(
    tmp_path: Path, key: HmacKey, blank: str
) -> None:
    # normalising strips every kind of whitespace: nothing is left to pseudonymise, so the
    # row has no customer and is rejected (it used to be written with customer_id NULL)
    row = f"T99,{blank},x,a@b.c,,2025-06-03 10:00:00,1,1,식품,online,KR,N\n"
    result = run(tmp_path, HEADER + GOOD[0] + row, key)
    assert (result.rows_read, result.rows_written, result.rows_rejected) == (2, 1, 1)
    assert result.reject_reasons == {"customer_id: missing": 1}
    assert list(read_rows(result)) == ["T1"]


def test_a_null_in_a_required_column_of_a_written_file_stops_the_file(tmp_path: Path) -> None:
    # the guard behind the schema: a written file is checked against the contract
    import duckdb

    from ingest.transform import _collect_outputs

    contract = ContractRegistry().get("transactions")
    assert contract is not None
    out = tmp_path / "out" / "transactions" / "event_month=2025-06"
    out.mkdir(parents=True)
    pq.write_table(
        pa.table({"transaction_id": ["T1", "T2"], "customer_id": ["c", None]}),
        out / "abc-0.parquet",
    )
    with duckdb.connect() as con, pytest.raises(TransformError) as caught:
        _collect_outputs(con, tmp_path / "out", contract)
    assert caught.value.code == "reconciliation"
    assert "1 rows of transactions/event_month=2025-06/abc-0.parquet have no customer_id" in (
        caught.value.reason
    )


def _month_rows(n: int) -> str:
    return "".join(
        f"T{i},C{i % 7},name {i % 7},c{i % 7}@x.kr,,2025-06-{1 + i % 28:02d} 10:00:00,"
        f"{i},1,식품,online,KR,N\n"
        for i in range(n)
    )


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (200, [40, 40, 40, 40, 40]),  # 20 groups of 10 rows, files of 4 groups
        (210, [40, 40, 40, 40, 50]),  # a remainder under half a file joins the last one
        (225, [40, 40, 40, 40, 40, 25]),  # one of at least half a file stands alone
        (35, [35]),
        (480, [40] * 12),  # listed -0, -1, ..., -9, -10, -11: the rows' order
    ],
)
def test_a_big_partition_is_written_as_several_files_in_file_order(
    tmp_path: Path, key: HmacKey, monkeypatch: pytest.MonkeyPatch, rows: int, expected: list[int]
) -> None:
    # the cut is by groups of stored rows: made small here so that a small file shows it
    import ingest.transform as module

    monkeypatch.setattr(module, "_BLOCK_ROWS", 10)
    monkeypatch.setattr(module, "PIECE_ROWS", 40)
    text = HEADER + _month_rows(rows)
    first = run(tmp_path, text, key, "a.csv")
    assert [o.path.name for o in first.outputs] == [
        f"abc-{n}.parquet" for n in range(len(expected))
    ]
    assert [o.rows for o in first.outputs] == expected
    assert {o.partition for o in first.outputs} == {"2025-06"}
    ids = [i for o in first.outputs for i in pq.read_table(o.path)["transaction_id"].to_pylist()]
    assert ids == [f"T{i}" for i in range(rows)]  # every row once, in the CSV's order
    second = run(tmp_path, text, key, "b.csv")
    assert [o.path.read_bytes() for o in first.outputs] == [
        o.path.read_bytes() for o in second.outputs
    ]


def test_rejected_rows_do_not_count_towards_a_file(
    tmp_path: Path, key: HmacKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.transform as module

    monkeypatch.setattr(module, "_BLOCK_ROWS", 10)
    monkeypatch.setattr(module, "PIECE_ROWS", 40)
    lines = _month_rows(100).splitlines(keepends=True)
    for i in range(0, 40):  # the first 40 rows lose their amount: 60 good rows are left
        lines[i] = lines[i].replace(f",{i},1,식품", ",abc,1,식품")
    result = run(tmp_path, HEADER + "".join(lines), key)
    assert result.rows_rejected == 40
    # groups 0-3 have no good row; groups 4-7 make a file of 40, groups 8-9 (20) stand alone
    assert [o.rows for o in result.outputs] == [40, 20]


def test_a_time_a_clock_change_skipped_moves_with_its_row_into_the_next_file(
    tmp_path: Path, key: HmacKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kiritimati skipped 1994-12-31 (UTC-10 → UTC+14): 12:00 that day is 1995-01-01 12:00.
    # Row 10 (the last of the first group of stored rows) moves to January, where no other
    # row of its group is: it must still be written (found by benchmarks/transform_equivalence.py)
    import ingest.transform as module

    monkeypatch.setattr(module, "_BLOCK_ROWS", 10)
    monkeypatch.setattr(module, "PIECE_ROWS", 40)
    times = ["1994-12-30 10:00:00"] * 9 + ["1994-12-31 12:00:00"] + ["1995-01-02 10:00:00"] * 10
    text = HEADER + "".join(
        f"T{i},C1,kim,k@x.kr,,{t},1,1,식품,online,KR,N\n" for i, t in enumerate(times)
    )
    result = run(tmp_path, text, key, timezone="Pacific/Kiritimati")
    assert [(o.partition, o.rows) for o in result.outputs] == [("1994-12", 9), ("1995-01", 11)]
    moved = read_rows(result)["T9"]
    assert moved["month"] == "1995-01"
    assert moved["event_time"] == _utc(1994, 12, 31, 22, 0)  # 1995-01-01 12:00 at UTC+14


@pytest.mark.parametrize("pieces", [False, True])
def test_cluster_by_sorts_each_file_by_the_written_value_then_by_line(
    tmp_path: Path, key: HmacKey, monkeypatch: pytest.MonkeyPatch, pieces: bool
) -> None:
    import ingest.transform as module

    if pieces:  # two files for the month: each sorted on its own
        monkeypatch.setattr(module, "_BLOCK_ROWS", 10)
        monkeypatch.setattr(module, "PIECE_ROWS", 20)
    text = HEADER + _month_rows(40)  # customers C0..C6 in turn (i % 7)
    result = run(tmp_path, text, key, cluster_by=("customer_id",))
    files = [pq.read_table(o.path).to_pylist() for o in result.outputs]
    assert len(files) == (2 if pieces else 1)
    first = 0
    for rows in files:
        numbers = range(first, first + len(rows))
        # the written (pseudonymised) customer_id, then the CSV's order among equals
        expected = sorted(numbers, key=lambda i: (P(f"C{i % 7}"), i))
        assert [r["transaction_id"] for r in rows] == [f"T{i}" for i in expected]
        first += len(rows)
