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


def run(tmp_path: Path, text: str, key: HmacKey, name: str = "in.csv") -> TransformResult:
    contract = ContractRegistry().get("transactions")
    assert contract is not None
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
