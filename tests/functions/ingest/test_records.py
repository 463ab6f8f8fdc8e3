"""RecordCounter: the records of a CSV as DuckDB delimits them, counted without DuckDB.

The counts are worked out by hand on small texts, then checked against DuckDB's reader itself
on many generated files (well-formed, and with the stray quotes messy exports hold).
"""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pytest

from ingest.sniff import RecordCount, RecordCounter, SourceFormat, count_records

FMT = SourceFormat(None, "utf-8", ",", ("id", "name", "amount"))


def _count(text: str | bytes, fmt: SourceFormat = FMT, limit: int = 8 << 20) -> RecordCount:
    data = text.encode() if isinstance(text, str) else text
    counter = RecordCounter(fmt, limit)
    counter.feed(data)
    return counter.result()


# (text, records below the header) worked out by hand
CASES = [
    ("id,name,amount\n1,a,2\n3,b,4\n", 2),
    ("id,name,amount\r\n1,a,2\r\n3,b,4", 2),  # CRLF, no line break at the end
    ('id,name,amount\n1,"two\nlines",2\n3,b,4\n', 2),  # a line break inside quotes
    ('id,"금액\r\n(원)",x\r\n1,2,3\r\n4,5,6\r\n', 2),  # ... in the header (Excel)
    ("id,name,amount\n\n1,a,2\n\r\n\n3,b,4\n\n", 2),  # blank lines are not records
    ("id,name,amount\n   \n1,a,2\n", 2),  # spaces are (DuckDB rejects the line)
    ('id,name,amount\n1,5" screen,2\n3,"x",4\n', 2),  # a quote inside a field is a character
    ('id,name,amount\n1,"say ""hi""\n!",2\n', 1),  # doubled quotes inside quotes
    ('id,name,amount\n1,"never closed,2\n3,b,4\n5,c,6\n', 1),  # it swallows the rest
    ('id,name,amount\n1,"5" screen,2\n3,b,4\n', 2),  # text after a closing quote
    ("", 0),
    ("id,name,amount", 0),
]


@pytest.mark.parametrize(("text", "records"), CASES)
def test_records_worked_out_by_hand(text: str, records: int) -> None:
    assert _count(text) == RecordCount(records)


@pytest.mark.parametrize(("text", "records"), CASES)
def test_the_count_does_not_depend_on_where_the_pieces_are_cut(text: str, records: int) -> None:
    data = text.encode()
    for cut in range(len(data) + 1):
        for second in (cut, min(cut + 1, len(data))):
            counter = RecordCounter(FMT)
            for piece in (data[:cut], data[cut:second], data[second:]):
                counter.feed(piece)
            assert counter.result().records == records, (cut, second)


def test_lines_above_the_header_are_skipped_as_lines() -> None:
    # a title with an unbalanced quote: DuckDB's skip counts lines, and so does the counter
    text = 'Report "June\n\nid,name,amount\n1,a,2\n'
    assert _count(text, SourceFormat(None, "utf-8", ",", FMT.header, skip=2)).records == 1


def test_blank_lines_are_rows_of_a_one_column_file() -> None:
    assert _count("id\n1\n\n2\n", SourceFormat(None, "utf-8", ",", ("id",))).records == 3


def test_a_byte_order_mark_does_not_hide_a_quote() -> None:
    assert _count(b'\xef\xbb\xbf"id",name,amount\n"1\n2",a,b\n').records == 1


def test_old_mac_line_ends() -> None:
    fmt = SourceFormat(None, "utf-8", ",", FMT.header, newline="\r")
    assert _count("id,name,amount\r1,a,2\r3,b,4\r", fmt).records == 2


def test_other_delimiters_open_quotes_too() -> None:
    fmt = SourceFormat(None, "utf-8", ";", FMT.header)
    assert _count('id;name;amount\n1;"a\nb";2\n', fmt).records == 1


def test_records_over_the_limit_are_found_with_their_line() -> None:
    # lines as DuckDB numbers them: the header is line 1 (2 with the title above it)
    text = (
        "t\nid,name,amount\n1,a,2\n"
        + "2,"
        + "x" * 100
        + ",3\n4,b,5\n"
        + '6,"'
        + "y\n" * 60
        + '",7\n'
    )
    fmt = SourceFormat(None, "utf-8", ",", FMT.header, skip=1)
    got = _count(text, fmt, limit=100)
    # "2," + 100 x + ",3" = 104 bytes; '6,"' + 60 "y\n" + '",7' = 3 + 120 + 3 = 126 (no line break)
    assert got == RecordCount(4, oversized=((4, 104), (6, 126)))


# --- against DuckDB's own reader ---------------------------------------------------------

FIELDS = ["1", "abc", "", " ", '"q"', '"x,y"', '"two\nlines"', '"say ""hi"""', '5"', "김민수"]


def _duckdb_records(path: Path, width: int) -> int:
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
    with duckdb.connect() as con:
        parsed = con.execute(
            f"SELECT count(*) FROM read_csv('{path}', columns = {columns}, header = true, "
            "auto_detect = false, delim = ',', quote = '\"', escape = '\"', strict_mode = true, "
            "null_padding = false, store_rejects = true)"
        ).fetchall()[0][0]
        broken = con.execute("SELECT count(DISTINCT line) FROM reject_errors").fetchall()[0][0]
    return int(parsed) + int(broken)


@pytest.mark.parametrize("seed", range(3))
def test_the_count_agrees_with_duckdb(tmp_path: Path, seed: int) -> None:
    """Files with quoted fields, line breaks in quotes, stray quotes, ragged and blank lines."""
    rng = random.Random(seed)
    path = tmp_path / "f.csv"
    for _ in range(60):
        width = rng.choice([1, 2, 3, 4])
        lines = [",".join(f"h{i}" for i in range(width))]
        for _ in range(rng.randrange(1, 15)):
            n = width if rng.random() < 0.85 else rng.choice([1, width + 1])
            lines.append(
                ",".join(rng.choice(FIELDS) for _ in range(n)) if rng.random() > 0.05 else ""
            )
        newline = rng.choice(["\n", "\r\n"])
        text = newline.join(lines) + rng.choice([newline, ""])
        path.write_text(text, encoding="utf-8")
        fmt = SourceFormat(None, "utf-8", ",", tuple(f"h{i}" for i in range(width)))
        assert count_records(path, fmt).records == _duckdb_records(path, width), text
