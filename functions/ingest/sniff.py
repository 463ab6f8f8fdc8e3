"""Tell what a landed file is before parsing it: compression, text encoding, delimiter, header.

Only a sample is read here. Files that are not UTF-8 (CP949/EUC-KR Excel exports, UTF-16
"Unicode text") are transcoded to UTF-8 in a streaming pass, because DuckDB reads UTF-8 only
and its encodings extension is far too large for a Lambda package.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from charset_normalizer import from_bytes

SAMPLE_BYTES = 256 * 1024
DELIMITERS = (",", "\t", ";", "|")
# Encodings charset-normalizer may choose between for a file that is not UTF-8: Korean first.
LEGACY_ENCODINGS = ["cp949", "euc_kr", "utf_16", "cp1252", "latin_1"]
MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an .xlsx workbook is one) — export the sheet as CSV",
    b"\xd0\xcf\x11\xe0": "a legacy Excel/Office document (.xls) — export the sheet as CSV",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"PAR1": "a Parquet file",
}
# Spreadsheet exports often start with a title (and a blank line) above the table: the header
# is looked for in this many lines after the first.
MAX_TITLE_LINES = 10
# A file whose header has more fields than this is not parsed (the ingest quarantines it,
# ``too_large``): DuckDB plans one column per field, and a header of 100 000 fields exhausts
# the function's memory before a row is read (measured: 4 000 fields parse 200 rows in 2.6 s;
# 100 000 fail with 500 MB). Real exports have dozens.
MAX_COLUMNS = 4_096


class UnreadableFile(ValueError):
    """The file as a whole cannot be read as a CSV; the message says why in plain words."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class SourceFormat:
    compression: str | None  # "gzip" or None
    encoding: str  # Python codec name as detected: utf-8, utf-8-sig, cp949, utf-16, ...
    delimiter: str
    header: tuple[str, ...]
    skip: int = 0  # lines above the header (a title, blank lines), left out of the parse
    newline: str = "\n"  # "\r" in the rare files with old-Mac line ends (no "\n" at all)

    @property
    def duckdb_readable(self) -> bool:
        """DuckDB can read the file as it is (UTF-8, with or without BOM, maybe gzipped)."""
        return self.encoding in ("utf-8", "utf-8-sig")


def _read_sample(path: Path) -> tuple[bytes, str | None]:
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if head[:2] != b"\x1f\x8b":
        return head, None
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read(SAMPLE_BYTES), "gzip"
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFile(
            f"the file looks gzip-compressed but cannot be decompressed ({exc})", "bad_gzip"
        ) from exc


def _encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for magic, what in MAGIC.items():
        if sample.startswith(magic):
            raise UnreadableFile(f"this is not a CSV file but {what}", "not_text")
    utf16 = _utf16_without_bom(sample)
    if utf16 is not None:
        return utf16
    if b"\x00" in sample:
        raise UnreadableFile(
            "the file contains NUL bytes: it is binary data, not a CSV text file", "not_text"
        )
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        if _mostly_utf8(sample, whole=len(sample) < SAMPLE_BYTES):
            return "utf-8"  # a UTF-8 file with a few broken lines: those are rejected rows
    else:
        return "utf-8"
    # judge whole lines: a sample (or a broken file) may end inside a multibyte character,
    # and charset-normalizer then rules CP949 out (no CP949 trail byte is a newline)
    end = sample.rfind(b"\n") + 1
    best = from_bytes(sample[:end] or sample, cp_isolation=LEGACY_ENCODINGS).best()
    if best is None:
        raise UnreadableFile(
            "the text encoding could not be recognised (tried UTF-8, CP949/EUC-KR, UTF-16, "
            "Windows-1252); save the file as UTF-8 CSV",
            "unknown_encoding",
        )
    # CP949 is a superset of EUC-KR: decode with it so extended Hangul survives
    return "cp949" if best.encoding in ("euc_kr", "cp949") else best.encoding


def _mostly_utf8(text: bytes, whole: bool) -> bool:
    """Most lines holding non-ASCII bytes are valid UTF-8 (and one is at least).

    Then the text is UTF-8 with a few broken lines (a row pasted from another encoding, a
    byte damaged), whose rows are rejected, not a legacy encoding: CP949 or Windows-1252 text
    almost never forms valid UTF-8 sequences, so their non-ASCII lines all fail. The last
    line is not judged unless ``whole``: the sample's end may cut a character.
    """
    lines = text.split(b"\n")
    if not whole:
        lines = lines[:-1]
    valid = invalid = 0
    for line in lines:
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            invalid += 1
        else:
            valid += 1
    return valid > invalid


def _utf16_without_bom(sample: bytes) -> str | None:
    """``utf-16-le`` or ``utf-16-be`` for UTF-16 text without a byte order mark, else None.

    Digits, delimiters, line breaks and Latin letters have a zero high byte in UTF-16, so such
    text has NUL bytes at every other position (odd ones in little-endian). It is taken for
    UTF-16 when the NULs are all on one side, the sample decodes, and the text has a line
    break and no control characters but tab and line breaks (binary data has many).
    """
    even = sample[: len(sample) // 2 * 2]
    zeros_at_odd, zeros_at_even = even[1::2].count(0), even[0::2].count(0)
    if zeros_at_odd and not zeros_at_even:
        codec = "utf-16-le"
    elif zeros_at_even and not zeros_at_odd:
        codec = "utf-16-be"
    else:
        return None
    try:
        text = codecs.getincrementaldecoder(codec)().decode(even, final=False)
    except UnicodeDecodeError:
        return None
    controls = any(ord(c) < 32 and c not in "\t\r\n" for c in text)
    return codec if ("\n" in text or "\r" in text) and not controls else None


def _delimiter(line: str) -> str:
    counts = {d: 0 for d in DELIMITERS}
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _fields(line: str) -> tuple[str, tuple[str, ...]] | None:
    """A record's delimiter and its fields, stripped; None when it cannot be a header.

    The record may hold line breaks inside quoted fields (Excel writes a header cell with a
    line break, ``"금액\n(원)"``, that way); they stay in the field.
    """
    delimiter = _delimiter(line)
    try:
        fields = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:  # a field longer than the csv module reads (128 KiB)
        return None
    return delimiter, tuple(f.strip() for f in fields)


def _records(text: str, whole: bool, limit: int) -> list[tuple[int, str]]:
    """The first ``limit`` CSV records of a sample: (index of its first line, its text).

    Line breaks inside quoted fields stay in their record, as in DuckDB's reader: a quote opens
    a field only at its start (after a delimiter or a line break); a doubled quote inside is
    one quote. The last record is left out unless ``whole`` (the sample is the whole file) or
    a line break ends it: the sample's end may cut it.
    """
    records: list[tuple[int, str]] = []
    start, line, quoted, previous = 0, 0, False, "\n"
    starts = "\n\r" + "".join(DELIMITERS)
    i = 0
    while i < len(text) and len(records) < limit:
        char = text[i]
        if quoted:
            if char == '"':
                if text.startswith('"', i + 1):
                    i += 1
                else:
                    quoted = False
        elif char == '"' and previous in starts:
            quoted = True
        elif char == "\n":
            records.append((line, text[start:i].removesuffix("\r")))
            line += text.count("\n", start, i + 1)
            start = i + 1
        previous = char
        i += 1
    if whole and start < len(text) and len(records) < limit:
        records.append((line, text[start:]))
    return records


def sniff(path: Path, is_header: Callable[[tuple[str, ...]], bool] | None = None) -> SourceFormat:
    """Compression, encoding, delimiter and header of a landed file, from a sample.

    The header is the first line, unless ``is_header`` (the dataset's test, e.g. "names every
    required column") rejects it and accepts one of the next MAX_TITLE_LINES lines: then the
    lines above it (a spreadsheet's title, blank lines) are skipped.
    """
    sample, compression = _read_sample(path)
    if not sample.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise UnreadableFile("the file is empty", "empty")
    encoding = _encoding(sample)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=False)
    text = text.lstrip("\ufeff")
    newline = "\n"
    if "\n" not in text and "\r" in text:  # old-Mac line ends
        newline, text = "\r", text.replace("\r", "\n")
    # records, not lines: a header cell may hold a line break; the lines above the header are
    # counted as DuckDB's `skip` counts them
    whole = len(sample) < SAMPLE_BYTES
    records = _records(text, whole, MAX_TITLE_LINES + 1) or [(0, text)]
    first = _fields(records[0][1])
    if first is None:
        raise UnreadableFile(
            "the first line holds a field longer than 128 KiB: it is not a CSV header",
            "no_header",
        )
    delimiter, header = first
    skip = 0
    if is_header is not None and not is_header(header):
        for line, record in records[1:]:
            found = _fields(record)
            if (
                line <= MAX_TITLE_LINES
                and found is not None
                and any(found[1])
                and is_header(found[1])
            ):
                (delimiter, header), skip = found, line
                break
    if not any(header):
        raise UnreadableFile("the first line is blank: a CSV must start with a header", "no_header")
    return SourceFormat(compression, encoding, delimiter, header, skip, newline)


# DuckDB's max_line_size in the transform: a longer record is rejected. (DuckDB reports one
# up to its buffer size, 16 times this; longer ones it drops without a word, so the count
# below finds them.)
MAX_RECORD_BYTES = 8 << 20
CHUNK_BYTES = 4 << 20


@dataclass(frozen=True)
class RecordCount:
    """The data records of a CSV as DuckDB's reader delimits them, counted without DuckDB."""

    records: int  # non-blank records below the header
    # (line as DuckDB numbers it, bytes) of each record longer than MAX_RECORD_BYTES
    oversized: tuple[tuple[int, int], ...] = ()


class RecordCounter:
    """Counts the records of UTF-8 CSV bytes fed to it in pieces, as DuckDB's reader sees them.

    The first ``skip`` lines are passed over as lines (DuckDB's ``skip``), the next record is
    the header. A quote opens a field only at its start (after a delimiter or a line break);
    inside, a doubled quote is one quote, and the next quote closes it (what follows a closing
    quote up to the next delimiter stays in the field, as an error in DuckDB's reader). Blank
    lines are not records when the header has more than one field (DuckDB skips them), but
    they are numbered, as DuckDB numbers lines. The work is a few ``bytes.find`` per quoted
    field and a ``bytes.count`` per piece: a piece without quotes costs a memory scan.
    """

    def __init__(self, fmt: SourceFormat, limit: int = MAX_RECORD_BYTES) -> None:
        self._nl = fmt.newline.encode()
        self._delim = fmt.delimiter.encode()
        self._starts = (self._delim[0], self._nl[0], 13)  # bytes after which a quote opens
        self._blank_lines_count = len(fmt.header) > 1
        self._crlf = False  # a carriage return was seen (blank lines may be CRLF ones)
        # a line break followed by an empty line (CRLF or not): one per blank line
        self._blank = re.compile(re.escape(self._nl) + rb"(?=\r?" + re.escape(self._nl) + rb")")
        self._skip = self._skip_left = fmt.skip
        self._limit = limit
        self._offset = 0  # of the piece being fed, in the whole text
        self._first = True
        self._quoted = False
        self._quote_pending = False  # the piece ended on a quote inside a quoted field
        self._previous = self._nl[0]
        self._start = 0  # offset where the current record starts
        self._content = False  # the current record is not blank
        self._number = 0  # records ended so far (header and blank lines included)
        self._records = 0
        self._oversized: list[tuple[int, int]] = []

    def _end(self, at: int, content: bool) -> None:
        """A line break at offset ``at`` ends the current record."""
        self._number += 1
        size = at - self._start
        if self._number > 1 and (content or not self._blank_lines_count):
            self._records += 1
            if size > self._limit:
                self._oversized.append((self._skip + self._number, size))
        self._start, self._content = at + 1, False

    def _plain(self, data: bytes, a: int, b: int) -> None:
        """``data[a:b]``: no quote opens a field in it."""
        nl = self._nl
        first = data.find(nl, a, b)
        if first < 0:
            if data[a:b].strip(b"\r"):
                self._content = True
            return
        self._end(self._offset + first, self._content or bool(data[a:first].strip(b"\r")))
        last = data.rfind(nl, a, b)
        between = data.count(nl, first + 1, last + 1)  # records wholly inside the piece
        if between:
            if last - first > self._limit:  # (pieces are smaller: only if fed big ones)
                start = first + 1
                while (end := data.find(nl, start, last + 1)) >= 0:
                    self._end(self._offset + end, bool(data[start:end].strip(b"\r")))
                    start = end + 1
            else:
                region = data[first : last + 1]
                blank = 0
                crlf = self._crlf or b"\r" in region  # (a memchr when there is none)
                self._crlf = crlf
                if nl + nl in region or (crlf and nl + b"\r" + nl in region):
                    blank = len(self._blank.findall(region))
                counted = between - blank if self._blank_lines_count else between
                self._number += between
                self._records += counted
                self._start = self._offset + last + 1
        if data[last + 1 : b].strip(b"\r"):
            self._content = True

    def feed(self, data: bytes) -> None:
        i, n = 0, len(data)
        if self._first:
            self._first = False
            if data.startswith(codecs.BOM_UTF8):
                i = len(codecs.BOM_UTF8)
        while self._skip_left and i < n:  # not records: DuckDB skips lines, quotes or not
            j = data.find(self._nl, i)
            if j < 0:
                i = n
                break
            self._skip_left -= 1
            i = j + 1
            self._start = self._offset + i
        while i < n:
            if self._quote_pending:
                self._quote_pending = False
                if data[i] == 34:  # a doubled quote
                    i += 1
                    continue
                self._quoted = False
                continue
            if self._quoted:
                j = data.find(b'"', i)
                if j < 0:
                    break
                if j + 1 == n:
                    self._quote_pending = True
                    break
                if data[j + 1] == 34:
                    i = j + 2
                    continue
                i = j + 1
                self._quoted = False
                continue
            q = data.find(b'"', i)
            if q < 0:
                self._plain(data, i, n)
                break
            self._plain(data, i, q)
            before = data[q - 1] if q > 0 else self._previous
            if before in self._starts or self._offset + q == self._start:
                self._quoted = True
            self._content = True
            i = q + 1
        if n:
            self._previous = data[-1]
        self._offset += n

    def result(self) -> RecordCount:
        """The count, once every byte was fed (a last record needs no line break)."""
        if self._quote_pending:
            self._quoted = False
        if self._content or self._quoted:
            self._end(self._offset, True)
        return RecordCount(self._records, tuple(self._oversized))


@dataclass(frozen=True)
class Prepared:
    """What the transform reads, and what the whole-file pass found out on the way."""

    path: Path  # the source itself (plain UTF-8), or its UTF-8 copy
    fmt: SourceFormat  # the source's format; the encoding may have been re-decided

    @property
    def readable_fmt(self) -> SourceFormat:
        """The format of ``path``: plain UTF-8 when it is a copy."""
        if self.fmt.duckdb_readable and self.fmt.compression is None:
            return self.fmt
        return replace(self.fmt, compression=None, encoding="utf-8")


def prepare(path: Path, fmt: SourceFormat, target: Path, max_bytes: int | None = None) -> Prepared:
    """One streaming pass over the whole file: decompress and transcode.

    A plain UTF-8 file is read where it is (no copy), and only up to its first non-ASCII
    byte: a file judged UTF-8 from an all-ASCII sample is checked there. When that text is not
    UTF-8 but, say, CP949, the encoding is decided again there and the file is transcoded
    (its ASCII start is the same in either encoding): the whole file decides, and only that
    part of it is read twice. Any other file is written to ``target`` as plain UTF-8.

    Records are not counted here: the transform counts what it reads (the source or its
    copy) in a thread while DuckDB parses it. Counting on the way made a CP949 file's pass
    half as fast (79 against 150 MB/s, ``benchmarks/ingest_workloads.py --decoders``), all
    of it before DuckDB started.

    Raises UnreadableFile when a byte sequence is invalid in the encoding (naming the byte's
    offset in the decompressed text), when a gzip stream breaks off after the sample, or
    (``too_large``) when it decompresses to more than ``max_bytes``: a gzip bomb of a few MB
    must not fill the function's temporary disk.
    """
    return _Pass(path, fmt, target, max_bytes=max_bytes).run()


def transcode_to_utf8(path: Path, fmt: SourceFormat, target: Path) -> None:
    """Stream ``path`` (maybe gzipped, in ``fmt.encoding``) into UTF-8 at ``target``."""
    _Pass(path, fmt, target, always_copy=True).run()


_NON_ASCII = re.compile(rb"[\x80-\xff]")


class _Pass:
    def __init__(
        self,
        path: Path,
        fmt: SourceFormat,
        target: Path,
        always_copy: bool = False,
        max_bytes: int | None = None,
    ):
        self.path, self.fmt, self.target = path, fmt, target
        self.max_bytes = max_bytes
        self.copy = always_copy or fmt.compression is not None or not fmt.duckdb_readable
        # until a non-ASCII byte is seen, "utf-8" may be a guess from an all-ASCII sample
        self.checking = fmt.duckdb_readable
        self.decoder: codecs.IncrementalDecoder | None = None
        if not fmt.duckdb_readable:
            self.decoder = codecs.getincrementaldecoder(fmt.encoding)(errors="strict")
        self.offset = 0  # bytes read from the (decompressed) source so far

    def run(self) -> Prepared:
        opener = gzip.open if self.fmt.compression == "gzip" else open
        sink: BinaryIO | None = self.target.open("wb") if self.copy else None
        try:
            with opener(self.path, "rb") as source:
                while chunk := source.read(CHUNK_BYTES):
                    if self.checking and not chunk.isascii():
                        chunk += source.read(64 << 10)  # enough text to judge
                        sink = self._check(chunk, sink)
                        if sink is None:  # UTF-8 indeed, read where it is
                            break
                    if self.max_bytes is not None and self.offset + len(chunk) > self.max_bytes:
                        raise UnreadableFile(
                            f"the file decompresses to more than {self.max_bytes:,} bytes, "
                            "the most the ingest function takes (a compressed file this "
                            "large, or a gzip bomb); split it into smaller files",
                            "too_large",
                        )
                    self._write(chunk, sink)
                    self.offset += len(chunk)
                else:
                    self._write(b"", sink, final=True)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            # only gzip raises these here; a failing disk (OSError) is not the file's fault
            raise UnreadableFile(
                f"the gzip stream breaks off or is corrupt after {self.offset} bytes of text",
                "bad_gzip",
            ) from exc
        finally:
            if sink is not None:
                sink.close()
        return Prepared(self.target if self.copy else self.path, self.fmt)

    def _write(self, chunk: bytes, sink: BinaryIO | None, final: bool = False) -> None:
        if self.decoder is None:
            out = chunk
        else:
            # a multibyte character may straddle chunks: the decoder holds its first bytes,
            # and an error's position counts from them
            pending = len(self.decoder.getstate()[0])
            try:
                out = self.decoder.decode(chunk, final=final).encode("utf-8")
            except UnicodeDecodeError as exc:
                name = self.fmt.encoding.upper()
                if final:
                    raise UnreadableFile(
                        f"the file ends in the middle of a {name} character", "undecodable"
                    ) from exc
                raise UnreadableFile(
                    f"byte {self.offset - pending + exc.start} of the "
                    f"{'decompressed ' if self.fmt.compression else ''}text is not valid {name} "
                    "(the encoding was judged from the text before it); save the file as "
                    "UTF-8 CSV",
                    "undecodable",
                ) from exc
        if sink is not None:
            sink.write(out)

    def _check(self, chunk: bytes, sink: BinaryIO | None) -> BinaryIO | None:
        """The first non-ASCII bytes of a file judged UTF-8: UTF-8 indeed, or another encoding?"""
        self.checking = False
        first = _NON_ASCII.search(chunk)
        line = chunk.rfind(b"\n", 0, first.start() if first else 0) + 1
        window = chunk[line : line + (64 << 10)]
        end = window.rfind(b"\n") + 1 or len(window)
        try:
            codecs.getincrementaldecoder("utf-8")().decode(window[:end], final=False)
        except UnicodeDecodeError:
            if _mostly_utf8(window[:end], whole=True):
                return sink  # UTF-8 with a few broken lines: DuckDB rejects those
        else:
            return sink
        best = from_bytes(window[:end], cp_isolation=LEGACY_ENCODINGS).best()
        if best is None or best.encoding.startswith("utf_16"):
            return sink  # not recognisable: DuckDB rejects the lines that are not UTF-8
        encoding = "cp949" if best.encoding in ("euc_kr", "cp949") else best.encoding
        self.fmt = replace(self.fmt, encoding=encoding)
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        if sink is None:  # the ASCII text so far becomes the copy's start, as it is
            self.copy = True
            sink = self.target.open("wb")
            with self.path.open("rb") as source:
                size = self.offset
                while size > 0 and (block := source.read(min(size, CHUNK_BYTES))):
                    sink.write(block)
                    size -= len(block)
        return sink


def unify_line_ends(path: Path, fmt: SourceFormat, target: Path) -> bool:
    """If the UTF-8 CSV at ``path`` (maybe gzipped) mixes CRLF and LF line ends, write it to
    ``target`` with every CRLF made LF and return True; otherwise write nothing, return False.

    DuckDB's strict reader takes one kind of line end per file and fails on a file that
    mixes them (files joined, rows added by hand in another editor). The copy has the same
    records on the same line numbers; a line break inside a quoted field loses its CR too.
    """
    if fmt.newline != "\n":
        return False
    opener = gzip.open if fmt.compression == "gzip" else open
    crlf = lf = 0
    last = b""
    with opener(path, "rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            lf += chunk.count(b"\n")
            crlf += chunk.count(b"\r\n") + (last == b"\r" and chunk[:1] == b"\n")
            last = chunk[-1:]
    if not 0 < crlf < lf:
        return False
    with opener(path, "rb") as source, target.open("wb") as sink:
        held = b""
        while chunk := source.read(CHUNK_BYTES):
            chunk = held + chunk
            held = b"\r" if chunk.endswith(b"\r") else b""
            sink.write(chunk[: len(chunk) - len(held)].replace(b"\r\n", b"\n"))
        sink.write(held)
    return True


def count_records(path: Path, fmt: SourceFormat) -> RecordCount:
    """The records of a UTF-8 CSV (maybe gzipped), counted in one streaming pass, no copy."""
    counter = RecordCounter(fmt)
    opener = gzip.open if fmt.compression == "gzip" else open
    try:
        with opener(path, "rb") as source:
            while chunk := source.read(CHUNK_BYTES):
                counter.feed(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise UnreadableFile("the gzip stream breaks off or is corrupt", "bad_gzip") from exc
    return counter.result()
