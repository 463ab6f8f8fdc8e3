"""Tell what a landed file is before parsing it: compression, text encoding, delimiter, header.

Only a sample is read here. Files that are not UTF-8 (CP949/EUC-KR Excel exports, UTF-16
"Unicode text") are transcoded to UTF-8 in a streaming pass, because DuckDB reads UTF-8 only
and its encodings extension is far too large for a Lambda package.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
    if b"\x00" in sample:
        raise UnreadableFile(
            "the file contains NUL bytes: it is binary data, not a CSV text file", "not_text"
        )
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        pass
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
    """A line's delimiter and its fields, stripped; None when it cannot be a header."""
    delimiter = _delimiter(line)
    try:
        fields = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:  # a field longer than the csv module reads (128 KiB)
        return None
    return delimiter, tuple(f.strip() for f in fields)


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
    first_line = text.splitlines()[0] if text else ""
    first = _fields(first_line)
    if first is None:
        raise UnreadableFile(
            "the first line holds a field longer than 128 KiB: it is not a CSV header",
            "no_header",
        )
    delimiter, header = first
    skip = 0
    if is_header is not None and not is_header(header):
        # lines as DuckDB's `skip` counts them; a sample cut short may end inside the last one
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        if len(sample) >= SAMPLE_BYTES:
            lines.pop()
        for number, line in enumerate(lines[1 : MAX_TITLE_LINES + 1], start=1):
            found = _fields(line)
            if found is not None and any(found[1]) and is_header(found[1]):
                (delimiter, header), skip = found, number
                break
    if not any(header):
        raise UnreadableFile("the first line is blank: a CSV must start with a header", "no_header")
    return SourceFormat(compression, encoding, delimiter, header, skip)


def transcode_to_utf8(path: Path, fmt: SourceFormat, target: Path) -> None:
    """Stream ``path`` (maybe gzipped, in ``fmt.encoding``) into UTF-8 at ``target``.

    Raises UnreadableFile when a byte sequence is invalid in the detected encoding (naming the
    byte's offset in the decompressed text) or when a gzip stream breaks off after the sample.
    """
    opener = gzip.open if fmt.compression == "gzip" else open
    decoder = codecs.getincrementaldecoder(fmt.encoding)(errors="strict")
    where = " of the decompressed text" if fmt.compression == "gzip" else ""
    offset = 0  # bytes read from the (decompressed) source so far
    try:
        with opener(path, "rb") as source, target.open("wb") as sink:
            while chunk := source.read(4 << 20):
                # a multibyte character may straddle chunks: the decoder holds its first
                # bytes, and an error's position counts from them
                pending = len(decoder.getstate()[0])
                try:
                    sink.write(decoder.decode(chunk).encode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise UnreadableFile(
                        f"byte {offset - pending + exc.start}{where} is not valid "
                        f"{fmt.encoding.upper()} text (the encoding was guessed from the start "
                        "of the file); save the file as UTF-8 CSV",
                        "undecodable",
                    ) from exc
                offset += len(chunk)
            try:
                sink.write(decoder.decode(b"", final=True).encode("utf-8"))
            except UnicodeDecodeError as exc:
                raise UnreadableFile(
                    f"the file ends in the middle of a {fmt.encoding.upper()} character",
                    "undecodable",
                ) from exc
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        # only gzip raises these here; a failing disk (OSError) is not the file's fault
        raise UnreadableFile(
            f"the gzip stream breaks off or is corrupt after {offset} bytes of text ({exc})",
            "bad_gzip",
        ) from exc
