"""transform(): a hand-made CSV whose expected typed, pseudonymised rows are worked out by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.contracts import ContractRegistry, map_header
from ingest.pseudonymise import HmacKey
from ingest.sniff import sniff
from ingest.transform import TransformResult, transform
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
    tmp_path: Path, text: str, key: HmacKey, name: str = "in.csv", timezone: str | None = None
) -> TransformResult:
    contract = ContractRegistry().get("transactions")
    assert contract is not None
    if timezone is not None:
        contract = contract.model_copy(update={"timezone": timezone})
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
