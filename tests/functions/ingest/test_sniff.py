"""sniff() and transcode_to_utf8() on real files of every shape a landing zone receives."""

from __future__ import annotations

import codecs
import gzip
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from ingest.sniff import (
    MAX_TITLE_LINES,
    SAMPLE_BYTES,
    RecordCount,
    SourceFormat,
    UnreadableFile,
    count_records,
    prepare,
    sniff,
    transcode_to_utf8,
)
from lakedrop.generate import KOREAN_HEADERS, GenerateSpec, generate

HEADER = ("customer_id", "customer_name", "amount")
KOREAN = ("고객번호", "고객명", "금액")
ROWS = [("C001", "홍길동", "1000"), ("C002", "김철수", "2500"), ("C003", "Émile Zoë", "3")]
ROWS_KO = ROWS[:2]  # representable in CP949 / EUC-KR


def _csv(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], delimiter: str = ",") -> str:
    return "".join(delimiter.join(fields) + "\r\n" for fields in [header, *rows])


def _write(path: Path, data: bytes, *, gzipped: bool = False) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0) if gzipped else data)
    return path


def _transcoded(path: Path, fmt: SourceFormat, tmp_path: Path) -> str:
    target = tmp_path / "utf8.csv"
    transcode_to_utf8(path, fmt, target)
    return target.read_bytes().decode("utf-8")  # strict: the output is UTF-8


GZIP = [pytest.param(False, id="plain"), pytest.param(True, id="gzip")]


# --- encodings ---------------------------------------------------------------------------


@pytest.mark.parametrize("gzipped", GZIP)
def test_utf8(tmp_path: Path, gzipped: bool) -> None:
    path = _write(tmp_path / "f.csv", _csv(KOREAN, ROWS).encode("utf-8"), gzipped=gzipped)
    fmt = sniff(path)
    assert fmt == SourceFormat("gzip" if gzipped else None, "utf-8", ",", KOREAN)
    assert fmt.duckdb_readable


@pytest.mark.parametrize("gzipped", GZIP)
def test_utf8_with_bom_has_no_bom_in_the_header(tmp_path: Path, gzipped: bool) -> None:
    data = codecs.BOM_UTF8 + _csv(HEADER, ROWS).encode("utf-8")
    fmt = sniff(_write(tmp_path / "f.csv", data, gzipped=gzipped))
    assert fmt.encoding == "utf-8-sig"
    assert fmt.header == HEADER
    assert fmt.header[0] == "customer_id"  # not "\ufeffcustomer_id"
    assert fmt.duckdb_readable
    assert fmt.compression == ("gzip" if gzipped else None)


@pytest.mark.parametrize("gzipped", GZIP)
def test_cp949_excel_export_with_korean_headers(tmp_path: Path, gzipped: bool) -> None:
    path = tmp_path / ("cp949.csv.gz" if gzipped else "cp949.csv")
    generate(path, GenerateSpec(rows=200, encoding="cp949", korean_headers=True, gzip=gzipped))
    fmt = sniff(path)
    assert fmt.encoding == "cp949"
    assert fmt.compression == ("gzip" if gzipped else None)
    assert fmt.delimiter == ","
    assert fmt.header[:3] == ("거래번호", "고객번호", "고객명")
    assert fmt.header == KOREAN_HEADERS
    assert not fmt.duckdb_readable
    text = _transcoded(path, fmt, tmp_path)
    raw = gzip.decompress(path.read_bytes()) if gzipped else path.read_bytes()
    assert text == raw.decode("cp949")
    assert text.startswith("거래번호,고객번호,고객명,")
    assert len(text.splitlines()) == 201


def test_euc_kr_is_decoded_as_cp949(tmp_path: Path) -> None:
    """EUC-KR is a subset of CP949: decoding with CP949 also keeps its extended syllables."""
    path = _write(tmp_path / "euc.csv", _csv(KOREAN, ROWS_KO).encode("euc_kr"))
    fmt = sniff(path)
    assert fmt.encoding == "cp949"
    assert fmt.header == KOREAN
    assert _transcoded(path, fmt, tmp_path) == _csv(KOREAN, ROWS_KO)


def test_cp949_extended_hangul_survives(tmp_path: Path) -> None:
    text = _csv(("이름", "금액"), [("똠방각하", "1"), ("뷁", "2"), ("홍길동", "3")])
    data = text.encode("cp949")
    with pytest.raises(UnicodeDecodeError):  # 똠 and 뷁 are CP949 extensions (UHC)
        data.decode("euc_kr")
    path = _write(tmp_path / "uhc.csv", data)
    fmt = sniff(path)
    assert fmt.encoding == "cp949"
    assert _transcoded(path, fmt, tmp_path) == text


@pytest.mark.parametrize("gzipped", GZIP)
def test_utf16_unicode_text_from_excel(tmp_path: Path, gzipped: bool) -> None:
    """Excel's "Unicode text": UTF-16 LE with a BOM, tab-separated."""
    text = _csv(KOREAN, ROWS, delimiter="\t")
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    path = _write(tmp_path / "unicode.txt", data, gzipped=gzipped)
    fmt = sniff(path)
    assert fmt.encoding == "utf-16"
    assert fmt.delimiter == "\t"
    assert fmt.header == KOREAN
    assert not fmt.duckdb_readable
    assert _transcoded(path, fmt, tmp_path) == text  # BOM gone, UTF-8


def test_windows_1252(tmp_path: Path) -> None:
    text = _csv(("name", "city"), [("José", "Zürich"), ("Zoë", "Besançon")], delimiter=";")
    path = _write(tmp_path / "latin.csv", text.encode("cp1252"))
    fmt = sniff(path)
    assert (fmt.encoding, fmt.delimiter, fmt.header) == ("cp1252", ";", ("name", "city"))
    assert _transcoded(path, fmt, tmp_path) == text


# --- delimiters and header ---------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"])
def test_delimiters(tmp_path: Path, delimiter: str) -> None:
    path = _write(tmp_path / "f.csv", _csv(HEADER, ROWS, delimiter).encode("utf-8"))
    fmt = sniff(path)
    assert fmt.delimiter == delimiter
    assert fmt.header == HEADER


def test_quoted_header_field_with_a_comma(tmp_path: Path) -> None:
    data = b'id,"amount, KRW","note ""x"""\n1,2,3\n'
    fmt = sniff(_write(tmp_path / "f.csv", data))
    assert fmt.delimiter == ","
    assert fmt.header == ("id", "amount, KRW", 'note "x"')


def test_quoted_commas_do_not_outvote_the_real_delimiter(tmp_path: Path) -> None:
    data = b'"a, b, c";"d, e";f\n1;2;3\n'
    fmt = sniff(_write(tmp_path / "f.csv", data))
    assert fmt.delimiter == ";"
    assert fmt.header == ("a, b, c", "d, e", "f")


def test_header_fields_are_stripped(tmp_path: Path) -> None:
    fmt = sniff(_write(tmp_path / "f.csv", b" id ,  amount \n1,2\n"))
    assert fmt.header == ("id", "amount")


def test_single_column_file_defaults_to_comma(tmp_path: Path) -> None:
    fmt = sniff(_write(tmp_path / "f.csv", b"customer_id\nC1\nC2\n"))
    assert (fmt.delimiter, fmt.header) == (",", ("customer_id",))


def test_blank_first_line_is_no_header(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile) as err:
        sniff(_write(tmp_path / "f.csv", b"\nid,amount\n1,2\n"))
    assert err.value.code == "no_header"
    assert "header" in err.value.reason


def test_header_of_only_delimiters_is_no_header(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile) as err:
        sniff(_write(tmp_path / "f.csv", b",,,\n1,2,3,4\n"))
    assert err.value.code == "no_header"


# --- empty and binary files --------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"  \r\n\t\n   \n", id="whitespace"),
        pytest.param(codecs.BOM_UTF8, id="utf8-bom-only"),
        pytest.param(codecs.BOM_UTF8 + b"\r\n", id="utf8-bom-newline"),
        pytest.param(codecs.BOM_UTF16_LE, id="utf16-bom-only"),
        pytest.param(codecs.BOM_UTF16_LE + "\r\n \n".encode("utf-16-le"), id="utf16-blank"),
    ],
)
@pytest.mark.parametrize("gzipped", GZIP)
def test_empty_files(tmp_path: Path, data: bytes, gzipped: bool) -> None:
    with pytest.raises(UnreadableFile) as err:
        sniff(_write(tmp_path / "f.csv", data, gzipped=gzipped))
    assert err.value.code == "empty"
    assert str(err.value) == err.value.reason == "the file is empty"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        pytest.param(b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, ".xlsx", id="xlsx"),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40, ".xls", id="xls"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF", id="pdf"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG", id="png"),
        pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG", id="jpeg"),
        pytest.param(b"PAR1\x15\x04\x15", "Parquet", id="parquet"),
    ],
)
@pytest.mark.parametrize("gzipped", GZIP)
def test_other_file_kinds_are_named(tmp_path: Path, data: bytes, words: str, gzipped: bool) -> None:
    with pytest.raises(UnreadableFile) as err:
        sniff(_write(tmp_path / "f.csv", data, gzipped=gzipped))
    assert err.value.code == "not_text"
    assert err.value.reason.startswith("this is not a CSV file but ")
    assert words in err.value.reason


def test_xlsx_reason_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile) as err:
        sniff(_write(tmp_path / "book.csv", b"PK\x03\x04" + b"\x00" * 100))
    assert "export the sheet as CSV" in err.value.reason


def test_nul_bytes_are_not_text(tmp_path: Path) -> None:
    data = b"id,amount\n1,2\x00\x00\x003\n"
    with pytest.raises(UnreadableFile) as err:
        sniff(_write(tmp_path / "f.csv", data))
    assert err.value.code == "not_text"
    assert "NUL" in err.value.reason


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_read_not_called_binary(tmp_path: Path, codec: str) -> None:
    text = _csv(KOREAN, ROWS, delimiter="\t")  # every ASCII character has a NUL byte
    path = _write(tmp_path / "f.txt", text.encode(codec))
    fmt = sniff(path)
    assert (fmt.encoding, fmt.delimiter, fmt.header) == (codec, "\t", KOREAN)
    assert _transcoded(path, fmt, tmp_path) == text


def test_nul_bytes_on_both_sides_are_still_binary(tmp_path: Path) -> None:
    data = b"id,amount\n1,2\x00\x003\n"  # NULs at an even and an odd position
    with pytest.raises(UnreadableFile) as err:
        sniff(_write(tmp_path / "f.csv", data))
    assert err.value.code == "not_text"


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("size", [64, 4096, 300_000])
def test_random_bytes_are_unreadable_not_a_crash(tmp_path: Path, seed: int, size: int) -> None:
    data = random.Random(seed).randbytes(size)
    with pytest.raises(UnreadableFile) as err:
        sniff(_write(tmp_path / "f.bin", data))
    assert err.value.code in {"not_text", "unknown_encoding", "bad_gzip", "empty", "no_header"}
    assert err.value.reason


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_without_nul_are_an_unknown_encoding(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    data = bytes(rng.randrange(1, 256) for _ in range(8192))
    with pytest.raises(UnreadableFile) as err:
        sniff(_write(tmp_path / "f.bin", data))
    assert err.value.code == "unknown_encoding"
    assert "save the file as UTF-8 CSV" in err.value.reason


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x1f\x8b\x08\x00garbage that is not deflate" * 4, id="corrupt"),
        pytest.param(b"\x1f\x8b", id="magic-only"),
        pytest.param(gzip.compress(b"id,amount\n" * 1000)[:40], id="truncated"),
    ],
)
def test_bad_gzip(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(UnreadableFile) as err:
        sniff(_write(tmp_path / "f.csv.gz", data))
    assert err.value.code == "bad_gzip"
    assert "gzip" in err.value.reason


# --- problems after the sample -----------------------------------------------------------


CP949_HEADER = "고객번호,이름\n".encode("cp949")
CP949_LINE = "C0000001,홍길동\n".encode("cp949")


def _cp949_file_longer_than_the_sample(bad_at: int) -> bytes:
    """Valid CP949 text of more than SAMPLE_BYTES, with one invalid byte (0x80) at ``bad_at``.

    Every line is 16 bytes ("C0000001,홍길동\\n": 9 ASCII + 3 two-byte syllables + newline),
    so ``bad_at`` a multiple of 16 after the header puts 0x80 at the start of a line.
    """
    assert len(CP949_LINE) == 16
    assert (bad_at - len(CP949_HEADER)) % 16 == 0
    data = CP949_HEADER + CP949_LINE * ((bad_at - len(CP949_HEADER)) // 16 + 2000)
    return data[:bad_at] + b"\x80" + data[bad_at:]


@pytest.mark.parametrize("gzipped", GZIP)
def test_sample_ending_inside_a_cp949_character(tmp_path: Path, gzipped: bool) -> None:
    """The 256 KiB sample cuts a two-byte syllable in half: still recognised as CP949."""
    body = CP949_HEADER + CP949_LINE * (SAMPLE_BYTES // 8)
    shift = next(n for n in range(16) if _cut_inside_a_character(b"#" * n + body))
    data = b"#" * shift + body
    with pytest.raises(UnicodeDecodeError):
        data[:SAMPLE_BYTES].decode("cp949")
    fmt = sniff(_write(tmp_path / "f.csv", data, gzipped=gzipped))
    assert fmt.encoding == "cp949"
    assert fmt.header == ("#" * shift + "고객번호", "이름")


def _cut_inside_a_character(data: bytes) -> bool:
    try:
        data[:SAMPLE_BYTES].decode("cp949")
    except UnicodeDecodeError:
        return True
    return False


@pytest.mark.parametrize("gzipped", GZIP)
def test_invalid_cp949_after_the_sample(tmp_path: Path, gzipped: bool) -> None:
    header_len = len(CP949_HEADER)
    bad_at = header_len + 16 * 20_000  # 320 KB in: beyond what sniff reads
    assert bad_at > SAMPLE_BYTES
    path = _write(tmp_path / "f.csv", _cp949_file_longer_than_the_sample(bad_at), gzipped=gzipped)
    fmt = sniff(path)
    assert fmt.encoding == "cp949"
    with pytest.raises(UnreadableFile) as err:
        transcode_to_utf8(path, fmt, tmp_path / "out.csv")
    assert err.value.code == "undecodable"
    assert err.value.reason.startswith(f"byte {bad_at} ")
    assert "CP949" in err.value.reason


def test_invalid_byte_offset_across_transcoding_chunks(tmp_path: Path) -> None:
    """The offset stays exact when the bad byte ends a 4 MiB read (the decoder holds it back)."""
    header_len = len(CP949_HEADER)
    chunk = 4 << 20
    # the last byte of the first read: line-aligned positions are header_len + 16 k
    bad_at = header_len + 16 * ((chunk - 1 - header_len) // 16)
    data = _cp949_file_longer_than_the_sample(bad_at)
    # shift so that 0x80 is exactly the last byte of the first chunk
    data = b"#" * (chunk - 1 - bad_at) + data
    bad_at = chunk - 1
    assert data[bad_at : bad_at + 1] == b"\x80"
    # the leading '#' run makes the header "####…고객번호": still CP949 text
    path = _write(tmp_path / "f.csv", data)
    fmt = SourceFormat(None, "cp949", ",", ("x",))
    with pytest.raises(UnreadableFile) as err:
        transcode_to_utf8(path, fmt, tmp_path / "out.csv")
    assert err.value.reason.startswith(f"byte {bad_at} ")


def test_cp949_character_split_across_chunks_is_kept(tmp_path: Path) -> None:
    """A two-byte character straddling the 4 MiB read boundary decodes whole."""
    chunk = 4 << 20
    text = "a" * (chunk - 1) + "한글" + "\n"
    path = _write(tmp_path / "f.csv", text.encode("cp949"))
    fmt = SourceFormat(None, "cp949", ",", ("x",))
    assert _transcoded(path, fmt, tmp_path) == text


def test_file_ending_inside_a_character(tmp_path: Path) -> None:
    text = _csv(KOREAN, ROWS_KO * 20)
    path = _write(tmp_path / "f.csv", (text + "C9,홍").encode("cp949")[:-1])
    fmt = sniff(path)
    with pytest.raises(UnreadableFile) as err:
        transcode_to_utf8(path, fmt, tmp_path / "out.csv")
    assert err.value.code == "undecodable"
    assert "ends in the middle" in err.value.reason


def test_gzip_breaking_off_after_the_sample(tmp_path: Path) -> None:
    """A truncated upload: the sample decompresses, the rest of the stream is missing."""
    text = _csv(KOREAN, ROWS_KO * 60_000).encode("cp949")
    assert len(text) > 2 * SAMPLE_BYTES
    compressed = gzip.compress(text, mtime=0)
    path = _write(tmp_path / "f.csv.gz", compressed[: len(compressed) * 3 // 4])
    fmt = sniff(path)
    assert (fmt.compression, fmt.encoding) == ("gzip", "cp949")
    with pytest.raises(UnreadableFile) as err:
        transcode_to_utf8(path, fmt, tmp_path / "out.csv")
    assert err.value.code == "bad_gzip"


def test_utf8_file_with_invalid_bytes_after_the_sample_is_still_utf8(tmp_path: Path) -> None:
    """sniff judges a sample; the whole file is DuckDB's to read (it reports bad lines)."""
    body = _csv(HEADER, ROWS * 20_000).encode("utf-8")
    assert len(body) > SAMPLE_BYTES
    path = _write(tmp_path / "f.csv", body + b"C9,\xff\xfe broken,1\n")
    fmt = sniff(path)
    assert fmt.encoding == "utf-8"
    assert fmt.duckdb_readable  # not transcoded: transform's store_rejects catches the line


def test_utf8_sample_cut_inside_a_character_is_utf8(tmp_path: Path) -> None:
    """The sample ends mid-character: an incomplete sequence at the cut is not an error."""
    prefix = b"id,name\n" + b"x" * (SAMPLE_BYTES - 8 - 1)
    path = _write(tmp_path / "f.csv", prefix + "한".encode() + b"\n")
    assert len(prefix) + 1 == SAMPLE_BYTES  # the cut falls after the first byte of 한
    assert sniff(path).encoding == "utf-8"


# --- a title above the table -------------------------------------------------------------


def _names_amount(fields: tuple[str, ...]) -> bool:
    """Stands in for the dataset's test (service: "names every required column")."""
    return "amount" in fields or "금액" in fields


@pytest.mark.parametrize(
    "title",
    [
        "거래내역 2025년 6월\n\n",  # a title and a blank line
        "거래내역 2025년 6월,,\n,,\n",  # the same as Excel pads it to the table's width
        'Transactions export\r\nGenerated 2025-06-30 by "POS, v2"\r\n\r\n',
    ],
)
def test_a_title_above_the_header_is_skipped(tmp_path: Path, title: str) -> None:
    path = _write(tmp_path / "f.csv", (title + _csv(HEADER, ROWS)).encode("utf-8"))
    fmt = sniff(path, is_header=_names_amount)
    assert fmt == SourceFormat(None, "utf-8", ",", HEADER, skip=title.count("\n"))


def test_a_header_on_the_last_line_without_a_line_break_is_found(tmp_path: Path) -> None:
    path = _write(tmp_path / "f.csv", ("Report\n" + ",".join(HEADER)).encode("utf-8"))
    fmt = sniff(path, is_header=_names_amount)
    assert (fmt.header, fmt.skip) == (HEADER, 1)


def test_a_header_cut_by_the_end_of_the_sample_is_not_taken(tmp_path: Path) -> None:
    # the sample ends inside the line "...,amount_total,...": "amount" alone must not match
    title = "t," * ((SAMPLE_BYTES - 20) // 2) + "\n"
    path = _write(tmp_path / "f.csv", (title + "x,y,amount,amount_total\n").encode("utf-8"))
    fmt = sniff(path, is_header=_names_amount)
    assert fmt.skip == 0


def test_the_delimiter_is_that_of_the_header_found(tmp_path: Path) -> None:
    text = "Report 2025-06\n" + _csv(HEADER, ROWS, delimiter=";")
    fmt = sniff(_write(tmp_path / "f.csv", text.encode("utf-8")), is_header=_names_amount)
    assert (fmt.delimiter, fmt.header, fmt.skip) == (";", HEADER, 1)


def test_a_korean_title_in_cp949_is_skipped(tmp_path: Path) -> None:
    text = "거래내역 조회\r\n" + _csv(KOREAN, ROWS_KO)
    fmt = sniff(_write(tmp_path / "f.csv", text.encode("cp949")), is_header=_names_amount)
    assert (fmt.encoding, fmt.header, fmt.skip) == ("cp949", KOREAN, 1)


def test_the_first_line_stays_the_header_without_a_test_or_a_match(tmp_path: Path) -> None:
    titled = "거래내역 2025년 6월\n\n" + _csv(HEADER, ROWS)
    path = _write(tmp_path / "f.csv", titled.encode("utf-8"))
    assert sniff(path) == SourceFormat(None, "utf-8", ",", ("거래내역 2025년 6월",))
    # no line names what the test asks for: the first line is reported as the header
    fmt = sniff(path, is_header=lambda fields: "nothing" in fields)
    assert (fmt.header, fmt.skip) == (("거래내역 2025년 6월",), 0)
    # a header further down than MAX_TITLE_LINES is not searched for
    deep = "title\n" * (MAX_TITLE_LINES + 1) + _csv(HEADER, ROWS)
    fmt = sniff(_write(tmp_path / "deep.csv", deep.encode("utf-8")), is_header=_names_amount)
    assert (fmt.header, fmt.skip) == (("title",), 0)
    deepest = "title\n" * MAX_TITLE_LINES + _csv(HEADER, ROWS)
    fmt = sniff(_write(tmp_path / "deepest.csv", deepest.encode("utf-8")), is_header=_names_amount)
    assert (fmt.header, fmt.skip) == (HEADER, MAX_TITLE_LINES)


def test_a_first_line_with_a_huge_field_is_not_a_header(tmp_path: Path) -> None:
    # one field over the csv module's 128 KiB limit (a blob, not a header): a plain reason
    path = _write(tmp_path / "f.csv", ("x" * 200_000 + "\n" + _csv(HEADER, ROWS)).encode())
    for test in (None, _names_amount):
        with pytest.raises(UnreadableFile) as caught:
            sniff(path, is_header=test)
        assert caught.value.code == "no_header"
        assert "128 KiB" in caught.value.reason


# --- a header cell with a line break ------------------------------------------------------


def test_a_header_cell_with_a_line_break_stays_one_field(tmp_path: Path) -> None:
    """Excel: the cell "금액" + Alt-Enter + "(원)" is written quoted, rows end in CRLF."""
    data = '고객번호,"금액\r\n(원)",고객명\r\nC1,1000,홍길동\r\n'.encode("cp949")
    fmt = sniff(_write(tmp_path / "f.csv", data))
    assert (fmt.encoding, fmt.header, fmt.skip) == (
        "cp949",
        ("고객번호", "금액\r\n(원)", "고객명"),
        0,
    )


def test_a_header_with_a_line_break_below_a_title(tmp_path: Path) -> None:
    text = 'Report\r\n\r\nid,"amount\r\n(KRW)",x\r\n1,2,3\r\n'
    fmt = sniff(_write(tmp_path / "f.csv", text.encode()), is_header=lambda f: "id" in f)
    assert (fmt.header, fmt.skip) == (("id", "amount\r\n(KRW)", "x"), 2)


def test_old_mac_line_ends_are_found(tmp_path: Path) -> None:
    fmt = sniff(_write(tmp_path / "f.csv", b"id,amount\r1,2\r"))
    assert (fmt.header, fmt.newline) == (("id", "amount"), "\r")


# --- the whole-file pass: prepare ---------------------------------------------------------


def _ascii_then_korean(encoding: str) -> tuple[str, bytes]:
    """A CSV whose first 300 KB are ASCII and whose Korean rows come after (8,000 + 2 rows)."""
    text = "id,name\r\n" + "".join(f"C{i:07d},Kim\r\n" for i in range(20_000))
    text += "K1,김민수\r\nK2,이영희\r\n"
    data = text.encode(encoding)
    assert data[:SAMPLE_BYTES].isascii() and len(data) > SAMPLE_BYTES
    return text, data


@pytest.mark.parametrize("gzipped", GZIP)
def test_cp949_past_the_sample_is_decided_from_the_whole_file(
    tmp_path: Path, gzipped: bool
) -> None:
    text, data = _ascii_then_korean("cp949")
    path = _write(tmp_path / "f.csv", data, gzipped=gzipped)
    fmt = sniff(path)
    assert fmt.encoding == "utf-8"  # all the sample shows
    prepared = prepare(path, fmt, tmp_path / "utf8.csv")
    assert prepared.fmt.encoding == "cp949"
    assert prepared.path == tmp_path / "utf8.csv"
    assert prepared.path.read_bytes().decode("utf-8") == text
    assert count_records(prepared.path, prepared.readable_fmt) == RecordCount(20_002)
    assert prepared.readable_fmt.duckdb_readable
    assert prepared.readable_fmt.compression is None


def test_utf8_korean_past_the_sample_stays_utf8_and_is_not_copied(tmp_path: Path) -> None:
    _text, data = _ascii_then_korean("utf-8")
    path = _write(tmp_path / "f.csv", data)
    prepared = prepare(path, sniff(path), tmp_path / "utf8.csv")
    assert (prepared.fmt.encoding, prepared.path) == ("utf-8", path)
    assert not (tmp_path / "utf8.csv").exists()


def test_a_gzipped_utf8_file_is_decompressed_once(tmp_path: Path) -> None:
    text = _csv(KOREAN, ROWS * 1000)
    path = _write(tmp_path / "f.csv.gz", text.encode(), gzipped=True)
    prepared = prepare(path, sniff(path), tmp_path / "plain.csv")
    assert prepared.path.read_bytes().decode("utf-8") == text
    assert count_records(prepared.path, prepared.readable_fmt) == RecordCount(3000)


def test_a_truncated_gzip_is_bad_gzip(tmp_path: Path) -> None:
    data = gzip.compress(_csv(HEADER, ROWS * 50_000).encode(), mtime=0)
    path = _write(tmp_path / "f.csv.gz", data[: len(data) // 2])
    with pytest.raises(UnreadableFile) as err:
        prepare(path, sniff(path), tmp_path / "plain.csv")
    assert err.value.code == "bad_gzip"
    assert str(tmp_path) not in err.value.reason
