"""Keyed pseudonyms: HMAC-SHA256 over normalised values, computed inside DuckDB.

DuckDB has no HMAC function, but HMAC is two SHA-256 passes over key pads (RFC 2104):

    HMAC(K, m) = SHA256((K' ^ opad) || SHA256((K' ^ ipad) || m))

The pads are prepared here in Python and handed to DuckDB as data (a one-row table), never
spliced into SQL text, so no statement or error message can carry key material.
Normalisers run over the *distinct* raw values of a column only; phone numbers are put in
E.164 form by ``phonenumbers`` (with a vectorised SQL fast path for the Korean mobile shapes
that make up nearly all rows, checked against the library in the tests).

Lower-casing means Python's ``str.lower()``: Unicode's full lowercase mapping (toLowercase,
Unicode section 3.13), which is also what ICU's root locale and JavaScript give. DuckDB's
``lower()`` is the simple mapping and differs from it in two places only: U+0130 İ (full:
"i" + U+0307 combining dot above) and Σ at the end of a word (full: final ς). So values holding
Σ or İ are normalised in Python (``normalise``), all others in SQL (``normalise_sql``); the
tests compare the two on every code point.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass, field

import phonenumbers

BLOCK = 64  # SHA-256 block size in bytes


@dataclass(frozen=True)
class HmacKey:
    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.material) < 32:
            raise ValueError("an HMAC key must be at least 32 bytes")

    @property
    def key_id(self) -> str:
        """A public fingerprint of the key, safe to record in manifests."""
        return hmac.new(self.material, b"lakedrop key id", hashlib.sha256).hexdigest()[:16]

    def pads(self) -> tuple[bytes, bytes]:
        """(K' ^ ipad, K' ^ opad) for the SQL form of HMAC-SHA256."""
        key = self.material
        if len(key) > BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(BLOCK, b"\0")
        return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)

    def pseudonym(self, value: str) -> str:
        """Python reference of the pseudonym ingest computes in SQL for a normalised value."""
        digest = hmac.new(self.material, value.encode("utf-8"), hashlib.sha256).hexdigest()
        return digest[:PSEUDONYM_HEX_CHARS]


PADS_TABLE = "_hmac_pads"
# Pseudonyms are HMAC-SHA256 truncated to 128 bits (RFC 2104 section 5; RFC 4231 test case 5),
# written as 32 hex characters. 128 bits keep collisions out of reach (about 1e-26 for a
# million customers) while halving what a high-entropy column costs in every Parquet file.
PSEUDONYM_HEX_CHARS = 32


def hmac_sql(value_sql: str) -> str:
    """SQL for the hex HMAC-SHA256 of a VARCHAR expression; needs PADS_TABLE aliased as ``k``."""
    return f"sha256(k.opad || unhex(sha256(k.ipad || encode({value_sql}))))"


# RE2 class of exactly the characters Python's str.isspace() accepts (RE2's \s is ASCII only;
# \p{Z} adds the no-break, ideographic and other Unicode spaces found in Excel exports).
_SPACE = r"[\s\x{0B}\x{1C}-\x{1F}\x{85}\p{Z}]"


def _strip_sql(value_sql: str) -> str:
    """SQL removing leading and trailing whitespace of any kind (DuckDB's trim keeps tabs)."""
    return f"regexp_replace({value_sql}, '^{_SPACE}+|{_SPACE}+$', '', 'g')"


def blank_sql(value_sql: str) -> str:
    """SQL: the value is NULL or whitespace of any kind, i.e. nothing is left to pseudonymise.

    The same whitespace ``normalise_sql`` strips (a required PII field of a tab or a no-break
    space has no value, and must not become a NULL pseudonym in a required column).
    """
    return f"({value_sql} IS NULL OR regexp_full_match({value_sql}, '{_SPACE}*'))"


def normalise_sql(normaliser: str | None, value_sql: str) -> str:
    """SQL normalising a raw value before it is hashed (NULL when nothing is left)."""
    v = _strip_sql(value_sql)
    match normaliser:
        case None | "trim":
            expr = v
        case "lower" | "email":
            expr = f"lower({v})"
        case "name":
            expr = f"regexp_replace(lower(nfc_normalize({v})), '{_SPACE}+', ' ', 'g')"
        case "phone":
            raise ValueError("phone numbers are normalised with phone_fast_sql + phonenumbers")
        case other:
            raise ValueError(f"unknown normaliser {other!r}")
    return f"nullif({expr}, '')"


# Characters whose lower case DuckDB's lower() gives differently from str.lower() (see above).
_LOWER_DIFFERS = "[\u03a3\u0130]"  # Σ, İ


def lower_in_python_sql(normaliser: str | None, value_sql: str) -> str:
    """SQL: true when ``normalise_sql`` would lower-case this value differently from ``normalise``.

    Those values (names or e-mails with Σ or İ: rare) are normalised in Python instead.
    """
    match normaliser:
        case "lower" | "email":
            return f"regexp_matches({value_sql}, '{_LOWER_DIFFERS}')"
        case "name":  # composition can make an İ out of I + U+0307
            return f"regexp_matches(nfc_normalize({value_sql}), '{_LOWER_DIFFERS}')"
    return "false"


def normalise(normaliser: str | None, value: str) -> str | None:
    """Python reference of ``normalise_sql`` (None when nothing is left); the definition of
    lower-casing is ``str.lower()``."""
    match normaliser:
        case None | "trim":
            text = value.strip()
        case "lower" | "email":
            text = value.strip().lower()
        case "name":
            text = " ".join(unicodedata.normalize("NFC", value).lower().split())
        case "phone":
            raise ValueError("phone numbers are normalised with phone_fast_sql + phonenumbers")
        case other:
            raise ValueError(f"unknown normaliser {other!r}")
    return text or None


def phone_fast_sql(value_sql: str, default_region: str) -> str:
    """E.164 for the common Korean mobile shapes, NULL for anything else (left to phonenumbers).

    Covers ``010-1234-5678``, ``01012345678``, ``010 1234 5678`` (region KR) and
    ``+82 10-1234-5678``; any other character than digits, spaces, '-', '.', '(' and ')'
    sends the value to the library.
    """
    v = f"trim({value_sql})"
    clean = f"regexp_full_match({v}, '\\+?[0-9 ().-]+')"
    digits = f"regexp_replace({v}, '[^0-9]', '', 'g')"
    plus = f"starts_with({v}, '+')"
    international = f"({plus} AND regexp_full_match({digits}, '821[016789][0-9]{{7,8}}'))"
    branches = [f"WHEN {clean} AND {international} THEN '+' || {digits}"]
    if default_region == "KR":
        national = f"(NOT {plus} AND regexp_full_match({digits}, '01[016789][0-9]{{7,8}}'))"
        branches.append(f"WHEN {clean} AND {national} THEN '+82' || substr({digits}, 2)")
    return f"CASE {' '.join(branches)} END"


def phone_to_e164(raw: str, default_region: str) -> str | None:
    """E.164 form of a phone number, or the trimmed text when it is not a phone number at all.

    Returns None for blank values. Unparseable values are still pseudonymised (as text), so
    nothing is lost and nothing stays in clear.
    """
    text = raw.strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return text.lower()
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
