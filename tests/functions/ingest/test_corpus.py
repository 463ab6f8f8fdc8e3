"""The bad-input corpus (issue 14, docs/reliability.md "Bad-input corpus").

Every case is a landed file with the outcome worked out by hand from the file itself: curated
with N rows written, rows rejected with their reasons, or quarantined with a code of
``QUARANTINE_CODES``. For every case, afterwards:

- the landed object is still there, byte-identical;
- the counts reconcile: read = written + rejected + duplicates, the curated Parquet holds
  ``written`` rows, the rejected-rows file ``rejected`` lines;
- a quarantined file has an untouched copy and an ``.error.json`` with the same code.

Large inputs (a gzip bomb, a header of 100 000 columns, one 200 MB line) are generated at test
time in tmp_path. Keys (spaces, Unicode, ``+``, percent-encoding as S3 sends them, keys
outside any dataset, ``..`` segments) go through the Lambda handler with S3 events, in
test_corpus_keys.py.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from ingest import layout
from ingest.contracts import ContractRegistry
from ingest.pseudonymise import HmacKey
from ingest.service import QUARANTINE_CODES, LandedObject, Options, Outcome, Zones, ingest_object
from ingest.sniff import MAX_COLUMNS, SAMPLE_BYTES
from lakedrop.generate import COLUMNS

HEADER = ",".join(COLUMNS)
KOREAN_HEADER = "거래번호,고객번호,고객명,이메일,전화번호,거래일시,금액,수량"
BOMB_LIMIT = 64 << 20  # Options.max_object_bytes for the gzip bomb (Settings: 3 GB)
# what a row holds unless a case says otherwise
DEFAULTS = {
    "customer_name": "김민수",
    "email": "kim@naver.com",
    "phone": "010-1234-5678",
    "event_time": "2025-06-10 10:00:00",
    "amount": "1000",
    "quantity": "1",
    "category": "식품",
    "channel": "online",
    "country": "KR",
    "is_refund": "N",
}
QUOTE_OPEN = "a quote is opened and never closed (or text follows a closing quote)"


def row(i: int, sep: str = ",", **values: str) -> str:
    fields = {"transaction_id": f"T{i}", "customer_id": f"C{i % 7}", **DEFAULTS, **values}
    return sep.join(fields[c] for c in COLUMNS)


def rows(start: int, stop: int, sep: str = ",", **values: str) -> list[str]:
    return [row(i, sep, **values) for i in range(start, stop)]


def csv(lines: list[str], newline: str = "\n", header: str = HEADER) -> bytes:
    return (newline.join([header, *lines]) + newline).encode("utf-8")


@dataclass(frozen=True)
class Case:
    """A landed file and the outcome it must get, worked out by hand."""

    name: str
    data: Callable[[Path], bytes]  # built at test time (in tmp_path when large)
    status: str  # curated | quarantined
    code: str | None = None
    read: int | None = None
    written: int = 0  # rows written (for a quarantined file: the good rows, not written)
    rejected: int = 0
    duplicates: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    check: Callable[[Outcome, Zones], object] | None = None  # returning False fails
    key: str = ""  # landing key (default transactions/<name>.csv)
    max_object_bytes: int | None = None
    what: str = ""  # one line for docs/reliability.md

    @property
    def landing_key(self) -> str:
        return self.key or f"transactions/{self.name}.csv"


def fixed(data: bytes) -> Callable[[Path], bytes]:
    return lambda _tmp: data


def curated_values(zones: Zones, outcome: Outcome, column: str) -> list[Any]:
    values: list[Any] = []
    for output in outcome.manifest["outputs"]:
        path = Path(zones.curated.uri) / output["key"]
        values += pq.read_table(path, columns=[column]).column(column).to_pylist()
    return values


def expect_values(column: str, expected: list[Any]) -> Callable[[Outcome, Zones], None]:
    def check(outcome: Outcome, zones: Zones) -> None:
        assert sorted(curated_values(zones, outcome, column), key=str) == sorted(expected, key=str)

    return check


def expect_format(**expected: Any) -> Callable[[Outcome, Zones], None]:
    def check(outcome: Outcome, _zones: Zones) -> None:
        fmt = outcome.manifest["format"]
        assert {k: fmt[k] for k in expected} == expected

    return check


def expect_reason(*words: str) -> Callable[[Outcome, Zones], None]:
    def check(outcome: Outcome, _zones: Zones) -> None:
        assert outcome.reason is not None
        for word in words:
            assert word in outcome.reason
        assert "/tmp" not in outcome.reason and "ingest-" not in outcome.reason

    return check


# --- generated large inputs ------------------------------------------------------------------


def gzip_bomb(_tmp: Path) -> bytes:
    """~1 MB of gzip that expands to 1 GiB: a header, three rows, then one line of commas."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(csv(rows(0, 3)))]
    block = b"," * (1 << 20)
    parts += [compressor.compress(block) for _ in range(1024)]
    parts.append(compressor.flush())
    data = b"".join(parts)
    assert len(data) < 4 << 20
    return data


def wide_header(_tmp: Path) -> bytes:
    extra = [f"extra_{i}" for i in range(100_000 - len(COLUMNS))]
    line = "," * len(extra)
    return csv([r + line for r in rows(0, 3)], header=",".join([*COLUMNS, *extra]))


def long_line(_tmp: Path) -> bytes:
    """40 rows, one row with a 200 MB category, 40 rows: the long one is rejected (8 MB max)."""
    big = row(40, category="y" * (200 << 20))
    return csv([*rows(0, 40), big, *rows(41, 81)])


def xlsx(_tmp: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


def nul_after_sample(_tmp: Path) -> bytes:
    body = rows(0, 6000)
    assert len(csv(body)) > SAMPLE_BYTES
    return csv([*body, row(6000, category="a\x00b")])


def bad_utf8_after_sample(_tmp: Path) -> bytes:
    head = csv(rows(0, 6000))
    assert len(head) > SAMPLE_BYTES
    bad = row(6000, customer_name="Z").encode().replace(b"Z", b"\xff") + b"\n"
    return head + bad + csv(rows(6001, 6010))[len(HEADER) + 1 :]


def cp949_after_ascii_sample(_tmp: Path) -> bytes:
    """An all-ASCII sample, then Korean in CP949: the whole file decides (CP949)."""
    head = csv(rows(0, 6000, customer_name="Kim", category="food"))
    assert len(head) > SAMPLE_BYTES
    tail = "\n".join(rows(6000, 6010, customer_name="김민수")) + "\n"
    return head + tail.encode("cp949")


FORMULAS = {
    "category": '=HYPERLINK("http://evil.example","x")',
    "channel": "+cmd|' /C calc'!A0",
    "country": "@SUM(1+1)",
}


def formulas(_tmp: Path) -> bytes:
    quoted = '"=HYPERLINK(""http://evil.example"",""x"")"'
    return csv(
        [
            row(1, category=quoted, channel=FORMULAS["channel"], country=FORMULAS["country"]),
            row(2, customer_name="=1+2", email="-2+3@x.kr"),
            row(3),
        ]
    )


def utf16(bom: bool) -> Callable[[Path], bytes]:
    def build(_tmp: Path) -> bytes:
        text = "\r\n".join([HEADER.replace(",", "\t"), *rows(0, 5, sep="\t")]) + "\r\n"
        return (codecs.BOM_UTF16_LE if bom else b"") + text.encode("utf-16-le")

    return build


CASES: list[Case] = [
    # --- RFC 4180 ----------------------------------------------------------------------------
    Case(
        "quoted_newline",
        fixed(csv([row(1, category='"식품\n음료"'), row(2)])),
        "curated",
        read=2,
        written=2,
        check=expect_values("category", ["식품\n음료", "식품"]),
        what="a quoted field holds a line break",
    ),
    Case(
        "doubled_quotes",
        fixed(csv([row(1, category='"say ""hi"""')])),
        "curated",
        read=1,
        written=1,
        check=expect_values("category", ['say "hi"']),
        what='doubled quotes inside a quoted field ("say ""hi""")',
    ),
    Case("crlf", fixed(csv(rows(0, 5), "\r\n")), "curated", read=5, written=5, what="CRLF"),
    Case(
        "cr_only",
        fixed(csv(rows(0, 5), "\r")),
        "curated",
        read=5,
        written=5,
        what="old-Mac CR line ends only",
    ),
    Case(
        "crlf_and_lf_mixed",
        fixed(
            (HEADER + "\r\n" + row(1) + "\n" + row(2, category='"a\r\nb"') + "\r\n").encode()
            + (row(3) + "\n").encode()
        ),
        "curated",
        read=3,
        written=3,
        check=expect_values("category", ["식품", "a\nb", "식품"]),
        what="CRLF and LF mixed in one file (a quoted CRLF becomes LF)",
    ),
    Case(
        "cr_inside_lf_file",
        fixed(f"{HEADER}\n{row(1)}\r{row(2)}\n{row(3)}\n".encode()),
        "quarantined",
        "unparseable",
        check=expect_reason("could not read the file"),
        what="a bare CR (old-Mac) line end among LF ones",
    ),
    Case(
        "utf8_bom",
        fixed(codecs.BOM_UTF8 + csv(rows(0, 5))),
        "curated",
        read=5,
        written=5,
        check=expect_format(encoding="utf-8-sig"),
        what="UTF-8 with BOM",
    ),
    Case(
        "utf8_bom_crlf_excel",
        fixed(codecs.BOM_UTF8 + csv([row(1, category='"식품\r\n음료"'), row(2)], "\r\n")),
        "curated",
        read=2,
        written=2,
        what="Excel 'CSV UTF-8': BOM, CRLF, a quoted line break",
    ),
    Case(
        "trailing_delimiter_everywhere",
        fixed(csv([r + "," for r in rows(0, 5)], header=HEADER + ",")),
        "curated",
        read=5,
        written=5,
        what="every line, header included, ends with a delimiter (a blank column)",
    ),
    Case(
        "trailing_delimiter_on_rows",
        fixed(csv([r + "," for r in rows(0, 5)])),
        "curated",
        read=5,
        written=5,
        check=expect_values("is_refund", [False] * 5),
        what="data rows end with a delimiter, the header does not",
    ),
    Case(
        "empty_lines",
        fixed(("\n\n".join([HEADER, *rows(0, 5)]) + "\n\n\n").encode()),
        "curated",
        read=5,
        written=5,
        what="blank lines between rows and at the end",
    ),
    Case(
        "no_final_newline",
        fixed(csv(rows(0, 5))[:-1]),
        "curated",
        read=5,
        written=5,
        what="the last line has no line break",
    ),
    Case("empty", fixed(b""), "quarantined", "empty", what="0 bytes"),
    Case(
        "whitespace_only",
        fixed(b"\r\n \n\t\n"),
        "quarantined",
        "empty",
        what="only blank lines",
    ),
    Case(
        "header_only",
        fixed(csv([])),
        "quarantined",
        "no_rows",
        what="a header and no rows",
    ),
    Case(
        "no_header",
        fixed(("\n".join(rows(0, 5)) + "\n").encode()),
        "quarantined",
        "missing_column",
        check=lambda o, _z: "columns" not in o.manifest,  # its first row (PII) is not recorded
        what="rows without a header line",
    ),
    Case(
        "semicolons",
        fixed(csv(rows(0, 5, sep=";"), header=HEADER.replace(",", ";"))),
        "curated",
        read=5,
        written=5,
        check=expect_format(delimiter=";"),
        what="semicolon-separated (European Excel)",
    ),
    Case(
        "pipes",
        fixed(csv(rows(0, 5, sep="|"), header=HEADER.replace(",", "|"))),
        "curated",
        read=5,
        written=5,
        what="pipe-separated",
    ),
    Case(
        "ragged_row",
        fixed(csv([*rows(0, 30), "T99,C1,x"])),
        "curated",
        read=31,
        written=30,
        rejected=1,
        reasons={"the line has fewer fields than the header": 1},
        what="one row with fewer fields",
    ),
    Case(
        "extra_fields_half",
        fixed(csv([*rows(0, 10), *rows(10, 20, amount="1,5")])),
        "quarantined",
        "too_many_rejects",
        read=20,
        written=10,
        rejected=10,
        reasons={"the line has more fields than the header": 10},
        what="half the rows have an unquoted decimal comma (one field too many)",
    ),
    Case(
        "unterminated_quote_last_row",
        fixed(csv([*rows(0, 30), row(30, category='"food')])),
        "curated",
        read=31,
        written=30,
        rejected=1,
        reasons={QUOTE_OPEN: 1},
        what="the last row opens a quote and never closes it",
    ),
    Case(
        "unterminated_quote_middle",
        fixed(csv([*rows(0, 30), row(30, category='"food'), *rows(31, 41)])),
        "quarantined",
        "too_many_rejects",
        read=31,
        written=30,
        rejected=1,
        reasons={QUOTE_OPEN: 1},
        check=lambda o, _z: o.manifest["rows"]["lines_rejected"] == 11,
        what="a quote opened mid-file swallows the 10 rows after it (11 lines rejected)",
    ),
    Case(
        "duplicate_keys",
        fixed(csv([row(1), row(1), row(2), row(2, amount="5")])),
        "curated",
        read=4,
        written=2,
        duplicates=2,
        what="a transaction repeated identically and with another amount",
    ),
    # --- spreadsheet exports -----------------------------------------------------------------
    Case(
        "cp949_korean_headers",
        fixed(
            csv(
                [
                    f'T{i},C{i},김민수,kim@naver.com,010-1234-5678,2025-06-10 10:00:00,"1,000",1'
                    for i in range(5)
                ],
                header=KOREAN_HEADER,
            )
            .decode()
            .encode("cp949")
        ),
        "curated",
        read=5,
        written=5,
        check=expect_format(encoding="cp949"),
        what="Korean Excel 'CSV (쉼표로 분리)': CP949, Korean headers, 1,000 quoted",
    ),
    Case(
        "cp949_after_ascii_sample",
        cp949_after_ascii_sample,
        "curated",
        read=6010,
        written=6010,
        check=expect_format(encoding="cp949"),
        what="CP949 whose first Korean is past the 256 KiB sample",
    ),
    Case(
        "utf16_tabs_bom",
        utf16(bom=True),
        "curated",
        read=5,
        written=5,
        check=expect_format(encoding="utf-16", delimiter="\t"),
        what="Excel 'Unicode text': UTF-16 LE with BOM, tabs, CRLF",
    ),
    Case(
        "utf16_tabs_no_bom",
        utf16(bom=False),
        "curated",
        read=5,
        written=5,
        check=expect_format(encoding="utf-16-le"),
        what="UTF-16 LE without BOM, tabs",
    ),
    Case(
        "title_rows",
        fixed(
            ("거래내역 2025년 6월,,,\n\n" + HEADER + "\n" + "\n".join(rows(0, 5)) + "\n").encode()
        ),
        "curated",
        read=5,
        written=5,
        check=expect_format(header_line=3),
        what="a title and a blank line above the header",
    ),
    Case(
        "totals_row",
        fixed(csv([*rows(0, 30), ",,,,,합계,30000,30,,,,"])),
        "curated",
        read=31,
        written=30,
        rejected=1,
        reasons={
            "transaction_id: missing; customer_id: missing; event_time: not a valid timestamp": 1
        },
        what="a totals row at the bottom",
    ),
    Case(
        "sheets_korean_times",
        fixed(csv(rows(0, 5, event_time="2025. 6. 1 오후 1:05:00"))),
        "curated",
        read=5,
        written=5,
        what="Google Sheets Korean 12-hour times (2025. 6. 1 오후 1:05:00)",
    ),
    Case(
        "xlsx_renamed",
        xlsx,
        "quarantined",
        "not_text",
        check=expect_reason("ZIP archive"),
        what="an .xlsx (a zip) renamed .csv",
    ),
    Case(
        "xls_renamed",
        fixed(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512),
        "quarantined",
        "not_text",
        what="a legacy .xls renamed .csv",
    ),
    Case("pdf", fixed(b"%PDF-1.4\n%..."), "quarantined", "not_text", what="a PDF"),
    # --- compression ---------------------------------------------------------------------------
    Case("gzip", fixed(gzip.compress(csv(rows(0, 5)))), "curated", read=5, written=5, what="gzip"),
    Case(
        "gzip_truncated",
        fixed(gzip.compress(csv(rows(0, 50_000)))[:3000]),
        "quarantined",
        "bad_gzip",
        what="a gzip stream cut off",
    ),
    Case(
        "gzip_bomb",
        gzip_bomb,
        "quarantined",
        "too_large",
        max_object_bytes=BOMB_LIMIT,
        check=expect_reason("decompresses to more than 67,108,864 bytes"),
        what="1 MB of gzip expanding to 1 GiB (limit 64 MiB here, 3 GB deployed)",
    ),
    # --- bytes -------------------------------------------------------------------------------
    Case(
        "nul_in_sample",
        fixed(csv(rows(0, 5)).replace(b"T3", b"T\x003")),
        "quarantined",
        "not_text",
        what="a NUL byte in the first 256 KiB",
    ),
    Case(
        "nul_after_sample",
        nul_after_sample,
        "curated",
        read=6001,
        written=6001,
        check=lambda o, z: "a\x00b" in curated_values(z, o, "category"),
        what="a NUL byte inside a field past the sample (kept as text)",
    ),
    Case(
        "invalid_utf8_in_sample",
        fixed(
            csv(rows(0, 30))
            + row(30, customer_name="Z").encode().replace(b"Z", b"\xff\xfe")
            + b"\n"
            + "\n".join(rows(31, 40)).encode()
            + b"\n"
        ),
        "curated",
        read=40,
        written=39,
        rejected=1,
        reasons={"the line is not valid UTF-8 text": 1},
        what="one line with invalid UTF-8 in a small UTF-8 file",
    ),
    Case(
        "invalid_utf8_after_sample",
        bad_utf8_after_sample,
        "curated",
        read=6010,
        written=6009,
        rejected=1,
        reasons={"the line is not valid UTF-8 text": 1},
        what="one line with invalid UTF-8 past the sample",
    ),
    Case(
        "unicode_values",
        fixed(csv([row(1, customer_name="İSTANBUL ΟΔΟΣ 😀", category="🍜 라면")])),
        "curated",
        read=1,
        written=1,
        check=expect_values("category", ["🍜 라면"]),
        what="emoji, İ, final sigma, Hangul in values",
    ),
    # --- the header --------------------------------------------------------------------------
    Case(
        "duplicate_header",
        fixed(csv([r + ",5" for r in rows(0, 5)], header=HEADER + ",amount")),
        "quarantined",
        "duplicate_column",
        what="two columns named amount",
    ),
    Case(
        "alias_duplicate_header",
        fixed(csv([r + ",5" for r in rows(0, 5)], header=HEADER + ",금액")),
        "quarantined",
        "duplicate_column",
        what="amount and its alias 금액",
    ),
    Case(
        "blank_header_names",
        fixed(csv(rows(0, 5), header=HEADER.replace("category,channel", ","))),
        "curated",
        read=5,
        written=5,
        check=expect_values("category", [None] * 5),
        what="two blank header names (their columns are ignored)",
    ),
    Case(
        "header_field_over_128k",
        fixed(("x" * 200_000 + "," + HEADER + "\n" + row(1) + "\n").encode()),
        "quarantined",
        "no_header",
        what="a first line with a 200 KB field",
    ),
    Case(
        "header_100000_columns",
        wide_header,
        "quarantined",
        "too_large",
        check=expect_reason(f"at most {MAX_COLUMNS:,} columns"),
        what="a header of 100 000 columns",
    ),
    Case(
        "line_200mb",
        long_line,
        "curated",
        read=81,
        written=80,
        rejected=1,
        reasons={"the line is longer than the 8 MB limit": 1},
        what="one 200 MB line among 80 rows",
    ),
    # --- values ------------------------------------------------------------------------------
    Case(
        "formula_cells",
        formulas,
        "curated",
        read=3,
        written=3,
        check=expect_values(
            "category", [FORMULAS["category"], DEFAULTS["category"], DEFAULTS["category"]]
        ),
        what="=HYPERLINK(...), +cmd|, @SUM in text cells: curated as text, unchanged",
    ),
    Case(
        "formula_amount",
        fixed(csv([*rows(0, 30), row(30, amount="=1+2")])),
        "curated",
        read=31,
        written=30,
        rejected=1,
        reasons={"amount: not a valid decimal": 1},
        what="a formula in a number column",
    ),
    Case(
        "decimal_commas",
        fixed(csv([*rows(0, 10), *rows(10, 20, amount='"1,5"')])),
        "quarantined",
        "too_many_rejects",
        read=20,
        written=10,
        rejected=10,
        reasons={"amount: not a valid decimal": 10},
        what='half the amounts are "1,5" (a decimal comma)',
    ),
    # --- where it landed ---------------------------------------------------------------------
    Case(
        "top_level",
        fixed(csv(rows(0, 5))),
        "quarantined",
        "no_dataset",
        key="export.csv",
        what="a key outside any dataset folder",
    ),
    Case(
        "unknown_dataset",
        fixed(csv(rows(0, 5))),
        "quarantined",
        "unknown_dataset",
        key="customers/export.csv",
        what="a folder that names no dataset contract",
    ),
    Case(
        "dot_dot_segment",
        fixed(csv(rows(0, 5))),
        "quarantined",
        "no_dataset",
        key="transactions/sub/../dot-dot.csv",
        what="a key with a '..' segment",
    ),
]


def test_the_corpus_is_large_and_its_codes_exist() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)
    for case in CASES:
        assert case.status in ("curated", "quarantined")
        assert (case.code is None) == (case.status == "curated"), case.name
        assert case.code is None or case.code in QUARANTINE_CODES, case.name
        assert case.what, case.name


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus(case: Case, zones: Zones, key: HmacKey, tmp_path: Path) -> None:
    data = case.data(tmp_path)
    digest = hashlib.sha256(data).hexdigest()
    zones.landing.put_bytes(case.landing_key, data)
    del data  # (the 200 MB case)
    work = tmp_path / "work"
    work.mkdir()
    options = Options(work, "500MB", threads=2, max_object_bytes=case.max_object_bytes)

    outcome = ingest_object(LandedObject(case.landing_key), zones, key, ContractRegistry(), options)

    # the landed object is still there, byte-identical
    landed = zones.landing.get_bytes(case.landing_key)
    assert landed is not None and hashlib.sha256(landed).hexdigest() == digest
    assert outcome.status == case.status, outcome.reason
    assert outcome.code == case.code, outcome.reason
    manifest = outcome.manifest
    stored = zones.curated.get_bytes(str(outcome.manifest_key))
    assert stored is not None and json.loads(stored)["status"] == case.status
    assert list(work.iterdir()) == []  # nothing left on the temporary disk
    if case.status == "quarantined":
        assert outcome.reason
        copy = zones.quarantine.get_bytes(layout.quarantine_key(case.landing_key))
        assert copy is not None and hashlib.sha256(copy).hexdigest() == digest
        error = json.loads(zones.quarantine.get_bytes(layout.error_key(case.landing_key)) or b"")
        assert (error["code"], error["reason"]) == (case.code, outcome.reason)
        assert manifest["outputs"] == []
        assert not [k for k in _files(Path(zones.curated.uri)) if k.endswith(".parquet")]
    if case.read is not None:
        counts = manifest["rows"]
        expected = {
            "read": case.read,
            "written": case.written,
            "rejected": case.rejected,
            "duplicates": case.duplicates,
        }
        if case.status == "quarantined":  # nothing is written: the good rows are quarantined
            expected.update(written=0, quarantined=case.written)
        assert {k: counts.get(k, 0) for k in expected} == expected
        assert counts["read"] == (
            counts["written"]
            + counts["rejected"]
            + counts["duplicates"]
            + counts.get("quarantined", 0)
        )
        assert manifest["reject_reasons"] == case.reasons
    if case.status == "curated":
        written = sum(
            pq.read_metadata(Path(zones.curated.uri) / o["key"]).num_rows
            for o in manifest["outputs"]
        )
        assert written == case.written == sum(o["rows"] for o in manifest["outputs"])
        rejects = zones.quarantine.get_bytes(layout.rejects_key(case.landing_key))
        assert (rejects or b"").count(b"\n") == case.rejected
    if case.check is not None:
        assert case.check(outcome, zones) is not False


def corpus_table() -> str:
    """The corpus as the Markdown table of docs/reliability.md (kept in step by a test)."""
    lines = ["| case | input | outcome |", "|---|---|---|"]
    for case in CASES:
        if case.status == "curated":
            outcome = f"curated: {case.written} written"
            if case.rejected:
                outcome += f", {case.rejected} rejected ({'; '.join(case.reasons)})"
            if case.duplicates:
                outcome += f", {case.duplicates} duplicates"
        else:
            outcome = f"quarantined `{case.code}`"
            if case.read is not None:
                outcome += f" ({case.read} read, {case.written} good, {case.rejected} rejected)"
        what = case.what.replace("|", "\\|")
        lines.append(f"| `{case.name}` | {what} | {outcome} |")
    return "\n".join(lines) + "\n"


def test_docs_list_every_case() -> None:
    docs = Path(__file__).resolve().parents[3] / "docs" / "reliability.md"
    assert corpus_table() in docs.read_text(encoding="utf-8"), (
        "docs/reliability.md's corpus table is out of date; regenerate it with "
        "python -c 'from tests.functions.ingest.test_corpus import corpus_table; "
        "print(corpus_table())'"
    )
