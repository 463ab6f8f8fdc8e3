"""The SQL form of HMAC-SHA256, the normalisers and the phone fast path, run in real DuckDB.

Expected digests are typed in from RFC 4231 section 4; expected normal forms are written by
hand. Python's own ``hmac`` module (not the code under test) is the reference where a case
needs one.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import pytest

from ingest.pseudonymise import (
    PADS_TABLE,
    PSEUDONYM_HEX_CHARS,
    HmacKey,
    hmac_sql,
    lower_in_python_sql,
    normalise,
    normalise_sql,
    phone_fast_sql,
    phone_to_e164,
)

KEY_A = b"A" * 32 + b"-lakedrop-test-key-a"
KEY_B = b"B" * 32 + b"-lakedrop-test-key-b"


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as connection:
        yield connection


def _unchecked_key(material: bytes) -> HmacKey:
    """An HmacKey around ``material`` without the 32-byte minimum.

    RFC 4231 cases 1-5 use keys of 4 to 25 bytes, which ingest rightly refuses. The minimum is
    policy, not part of HMAC: bypassing ``__post_init__`` lets the real ``pads()`` (and so the
    real key handling: zero padding, hashing of long keys) be checked against every vector.
    """
    key = object.__new__(HmacKey)
    object.__setattr__(key, "material", material)
    return key


def _load_pads(con: duckdb.DuckDBPyConnection, key: HmacKey) -> None:
    ipad, opad = key.pads()
    con.execute(f"CREATE OR REPLACE TEMP TABLE {PADS_TABLE} (ipad BLOB, opad BLOB)")
    con.execute(f"INSERT INTO {PADS_TABLE} VALUES ($1, $2)", [ipad, opad])


def _sql_hmac_text(con: duckdb.DuckDBPyConnection, key: HmacKey, text: str) -> str:
    """hmac_sql over a VARCHAR, exactly as ingest runs it."""
    _load_pads(con, key)
    row = con.execute(
        f"SELECT {hmac_sql('v')} FROM (SELECT $1::VARCHAR AS v) CROSS JOIN {PADS_TABLE} AS k",
        [text],
    ).fetchall()
    return str(row[0][0])


def _sql_hmac_bytes(con: duckdb.DuckDBPyConnection, key: HmacKey, data: bytes) -> str:
    """hmac_sql with its ``encode(value)`` step swapped for a BLOB parameter.

    RFC 4231 cases 3 and 4 hash bytes that are not UTF-8 text (0xdd..., 0xcd...), which no
    VARCHAR can hold. Everything around ``encode()`` (pads, concatenation, both SHA-256 passes,
    unhex) is still the statement ingest runs; the text-to-bytes step is tested on its own below.
    """
    _load_pads(con, key)
    sql = hmac_sql("v")
    assert sql.count("encode(v)") == 1, sql
    sql = sql.replace("encode(v)", "$1::BLOB")
    return str(con.execute(f"SELECT {sql} FROM {PADS_TABLE} AS k", [data]).fetchall()[0][0])


@dataclass(frozen=True)
class Rfc4231Case:
    number: int
    key: bytes
    data: bytes
    digest: str  # hex, as printed in the RFC (case 5: only the first 128 bits)


RFC_4231 = [
    Rfc4231Case(
        1,
        b"\x0b" * 20,
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    Rfc4231Case(
        2,
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    Rfc4231Case(
        3,
        b"\xaa" * 20,
        b"\xdd" * 50,
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    Rfc4231Case(
        4,
        bytes.fromhex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
        b"\xcd" * 50,
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ),
    Rfc4231Case(
        5,
        b"\x0c" * 20,
        b"Test With Truncation",
        "a3b6167473100ee06e0c796c2955552b",
    ),
    Rfc4231Case(
        6,
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    Rfc4231Case(
        7,
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size "
        b"data. The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
]


@pytest.mark.parametrize("case", RFC_4231, ids=lambda c: f"rfc4231-case{c.number}")
def test_sql_hmac_reproduces_rfc_4231(con: duckdb.DuckDBPyConnection, case: Rfc4231Case) -> None:
    key = _unchecked_key(case.key)
    digest = _sql_hmac_bytes(con, key, case.data)
    assert digest[: len(case.digest)] == case.digest
    if case.data.isascii():  # cases 1, 2, 5, 6, 7: also through encode() of a VARCHAR
        text_digest = _sql_hmac_text(con, key, case.data.decode("ascii"))
        assert text_digest[: len(case.digest)] == case.digest


def test_rfc_4231_case_5_is_an_ingest_pseudonym(con: duckdb.DuckDBPyConnection) -> None:
    """Case 5 is HMAC truncated to 128 bits: exactly the 32 hex characters ingest keeps."""
    case = RFC_4231[4]
    assert PSEUDONYM_HEX_CHARS == len(case.digest) == 32
    key = _unchecked_key(case.key)
    assert key.pseudonym(case.data.decode("ascii")) == case.digest
    assert _sql_hmac_text(con, key, case.data.decode("ascii"))[:PSEUDONYM_HEX_CHARS] == case.digest


def test_rfc_4231_keys_longer_than_a_block_pass_the_key_check(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """Cases 6 and 7 (131-byte keys) go through the real constructor, hashing the key first."""
    for case in RFC_4231[5:]:
        key = HmacKey(case.key)
        assert _sql_hmac_text(con, key, case.data.decode("ascii")) == case.digest


def test_short_keys_are_refused() -> None:
    for case in RFC_4231[:5]:
        with pytest.raises(ValueError, match="at least 32 bytes"):
            HmacKey(case.key)


TEXTS = [
    "홍길동",  # Korean
    "김민수 <kim@example.co.kr>",
    "🎉🙂 emoji",  # 4-byte UTF-8
    "é (NFC) vs e\u0301 (NFD)",
    r"\x41\x42 looks like an escape",  # value::BLOB would turn this into "AB"
    r"back\\slash and \n",
    "'quote' and \"double\"",
    "",  # empty string: hashes the empty message
    "a" * 200,  # message longer than a block
]


@pytest.mark.parametrize("text", TEXTS)
def test_sql_hmac_of_text_matches_python_hmac(con: duckdb.DuckDBPyConnection, text: str) -> None:
    key = HmacKey(KEY_A)
    expected = hmac.new(KEY_A, text.encode("utf-8"), hashlib.sha256).hexdigest()
    assert _sql_hmac_text(con, key, text) == expected


def test_escape_text_is_hashed_as_written_not_unescaped(con: duckdb.DuckDBPyConnection) -> None:
    key = HmacKey(KEY_A)
    as_written = hmac.new(KEY_A, rb"\x41", hashlib.sha256).hexdigest()
    unescaped = hmac.new(KEY_A, b"A", hashlib.sha256).hexdigest()
    assert _sql_hmac_text(con, key, r"\x41") == as_written != unescaped


def test_pseudonym_is_truncated_python_hmac() -> None:
    key = HmacKey(KEY_A)
    for text in TEXTS:
        full = hmac.new(KEY_A, text.encode("utf-8"), hashlib.sha256).hexdigest()
        assert key.pseudonym(text) == full[:32]
        assert len(key.pseudonym(text)) == 32


def test_pseudonyms_depend_on_the_key() -> None:
    assert HmacKey(KEY_A).pseudonym("010-1234-5678") != HmacKey(KEY_B).pseudonym("010-1234-5678")


def test_repr_and_str_hide_the_material() -> None:
    key = HmacKey(KEY_A)
    for shown in (repr(key), str(key), f"{key}", repr([key])):
        assert "AAAA" not in shown
        assert "lakedrop-test-key" not in shown
        assert KEY_A.hex() not in shown


def test_key_id_is_a_stable_public_fingerprint() -> None:
    key_id = HmacKey(KEY_A).key_id
    assert len(key_id) == 16
    assert set(key_id) <= set("0123456789abcdef")
    assert HmacKey(KEY_A).key_id == key_id  # stable across instances
    assert HmacKey(KEY_B).key_id != key_id
    # keyed, not a plain hash of the material (which would let anyone test a guessed key)
    assert not hashlib.sha256(KEY_A).hexdigest().startswith(key_id)


def test_pads_are_the_rfc_2104_pads() -> None:
    """K' = key zero-padded to 64 bytes (hashed first when longer); pads are K' ^ 0x36 / 0x5c."""
    ipad, opad = HmacKey(b"\x01" * 40).pads()
    assert ipad == b"\x37" * 40 + b"\x36" * 24
    assert opad == b"\x5d" * 40 + b"\x5c" * 24
    long_key = b"\x02" * 65
    hashed = hashlib.sha256(long_key).digest()
    ipad, opad = HmacKey(long_key).pads()
    assert ipad == bytes(b ^ 0x36 for b in hashed) + b"\x36" * 32
    assert opad == bytes(b ^ 0x5C for b in hashed) + b"\x5c" * 32


def test_pads_of_a_64_byte_key_are_not_hashed() -> None:
    key = bytes(range(64))
    ipad, _opad = HmacKey(key).pads()
    assert ipad == bytes(b ^ 0x36 for b in key)


# --- normalisers -------------------------------------------------------------------------


def _normalise(con: duckdb.DuckDBPyConnection, normaliser: str | None, value: str) -> str | None:
    row = con.execute(f"SELECT {normalise_sql(normaliser, '$1::VARCHAR')}", [value]).fetchall()
    result = row[0][0]
    assert result is None or isinstance(result, str)
    return result


@pytest.mark.parametrize(
    ("normaliser", "raw", "expected"),
    [
        ("email", "  Kim.MinSu@Example.COM ", "kim.minsu@example.com"),
        ("email", "\tuser@example.com\r\n", "user@example.com"),
        ("email", "ÜBER@Example.de", "über@example.de"),
        ("email", "   ", None),
        ("email", "", None),
        ("name", "  Hong   Gil\tDong ", "hong gil dong"),
        ("name", "홍\u3000길동", "홍 길동"),  # ideographic space
        ("name", "Kim\u00a0Min-su", "kim min-su"),  # no-break space (Excel)
        ("name", "Jose\u0301 Garci\u0301a", "jos\u00e9 garc\u00eda"),  # NFD → NFC
        ("name", "\t\n", None),
        ("name", "", None),
        ("trim", "  C000123\t", "C000123"),
        ("trim", " Mixed Case ", "Mixed Case"),  # trim keeps case and inner spaces
        ("trim", "\u00a0", None),
        (None, " x ", "x"),
        ("lower", " ABC ", "abc"),
    ],
)
def test_normalise_sql(
    con: duckdb.DuckDBPyConnection, normaliser: str | None, raw: str, expected: str | None
) -> None:
    assert _normalise(con, normaliser, raw) == expected


def test_name_normaliser_makes_nfd_and_nfc_spellings_equal(con: duckdb.DuckDBPyConnection) -> None:
    # 한 as one precomposed syllable (U+D55C) and as conjoining jamo (U+1112 U+1161 U+11AB)
    assert _normalise(con, "name", "\ud55c") == _normalise(con, "name", "\u1112\u1161\u11ab")
    assert _normalise(con, "name", "\u1112\u1161\u11ab") == "\ud55c"


def test_normalise_sql_refuses_phone_and_unknown_normalisers() -> None:
    with pytest.raises(ValueError, match="phone"):
        normalise_sql("phone", "v")
    with pytest.raises(ValueError, match="unknown normaliser"):
        normalise_sql("soundex", "v")


# --- phone numbers -----------------------------------------------------------------------

MOBILE_PREFIXES = ("010", "011", "016", "017", "018", "019")


def _fast(
    con: duckdb.DuckDBPyConnection, values: list[str], region: str = "KR"
) -> list[str | None]:
    con.execute("CREATE OR REPLACE TEMP TABLE phones (i INTEGER, v VARCHAR)")
    con.executemany("INSERT INTO phones VALUES (?, ?)", list(enumerate(values)))
    rows = con.execute(f"SELECT {phone_fast_sql('v', region)} FROM phones ORDER BY i").fetchall()
    return [row[0] for row in rows]


def _common_shapes(rng: random.Random) -> list[tuple[str, str]]:
    """(raw, expected E.164) for every shape the fast path covers, built from the digits."""
    prefix = rng.choice(MOBILE_PREFIXES)
    middle = "".join(rng.choices("0123456789", k=rng.choice((3, 4))))
    last = "".join(rng.choices("0123456789", k=4))
    e164 = f"+82{prefix[1:]}{middle}{last}"  # by hand: drop the trunk 0, add +82
    national = prefix[1:]
    return [
        (f"{prefix}-{middle}-{last}", e164),
        (f"{prefix}{middle}{last}", e164),
        (f"{prefix} {middle} {last}", e164),
        (f"+82 {national}-{middle}-{last}", e164),
        (f"+82-{national}-{middle}-{last}", e164),
        (f"+82{national}{middle}{last}", e164),
        (f"({prefix}) {middle}-{last}", e164),
        (f"{prefix}.{middle}.{last}", e164),
        (f"  {prefix}-{middle}-{last} ", e164),
    ]


def test_phone_fast_path_agrees_with_phonenumbers(con: duckdb.DuckDBPyConnection) -> None:
    rng = random.Random(20240611)
    cases = [pair for _ in range(400) for pair in _common_shapes(rng)]
    # old 10-digit numbers (011-123-4567) are among them
    assert any(len(expected) == 12 for _raw, expected in cases)
    fast = _fast(con, [raw for raw, _ in cases])
    for (raw, expected), got in zip(cases, fast, strict=True):
        assert got == expected, raw
        assert phone_to_e164(raw, "KR") == expected, raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("011-123-4567", "+82111234567"),
        ("016 234 5678", "+82162345678"),
        ("010-1234-5678", "+821012345678"),
        ("+82 10-1234-5678", "+821012345678"),
    ],
)
def test_phone_fast_path_by_hand(con: duckdb.DuckDBPyConnection, raw: str, expected: str) -> None:
    assert _fast(con, [raw]) == [expected]
    assert phone_to_e164(raw, "KR") == expected


# Shapes the fast path leaves to the library, with what the library must make of them.
LIBRARY_SHAPES = [
    ("+82 010-1234-5678", "+821012345678"),  # trunk 0 written after the country code
    ("02-312-3456", "+8223123456"),  # Seoul landline
    ("+82 2-312-3456", "+8223123456"),
    ("+1 415 555 2671", "+14155552671"),
    ("010-1234-5678 ext 9", "+821012345678"),  # E.164 has no extensions
    ("\t010-1234-5678", "+821012345678"),  # DuckDB's trim keeps tabs
    ("０１０-１２３４-５６７８", "+821012345678"),  # full-width digits
    ("N/A", "n/a"),  # not a number: pseudonymised as text
    ("없음", "없음"),
    ("  Unknown ", "unknown"),
]


@pytest.mark.parametrize(("raw", "expected"), LIBRARY_SHAPES)
def test_phone_shapes_left_to_the_library(
    con: duckdb.DuckDBPyConnection, raw: str, expected: str
) -> None:
    assert _fast(con, [raw]) == [None]
    assert phone_to_e164(raw, "KR") == expected


def test_phone_fast_path_never_disagrees_with_the_library(con: duckdb.DuckDBPyConnection) -> None:
    """Near-miss shapes (wrong lengths, stray punctuation): answered right or left to the library."""
    rng = random.Random(5)
    values: set[str] = set()
    while len(values) < 4000:
        start = rng.choice(("01", "010", "011", "+821", "+82 1", "+82-10", "0 1", "(0", ""))
        tail = "".join(rng.choices("0123456789" * 6 + "+-() .", k=rng.randint(6, 14)))
        values.add(start + tail)
    raws = sorted(values)
    answered = 0
    for raw, got in zip(raws, _fast(con, raws), strict=True):
        if got is not None:
            answered += 1
            assert got == phone_to_e164(raw, "KR"), raw
    assert answered > 100  # the comparison is not vacuous


def test_phone_fast_path_outside_korea(con: duckdb.DuckDBPyConnection) -> None:
    """With another default region only explicit +82 mobiles take the fast path."""
    assert _fast(con, ["010-1234-5678", "+82 10-1234-5678"], region="US") == [
        None,
        "+821012345678",
    ]
    assert phone_to_e164("415-555-2671", "US") == "+14155552671"


def test_blank_phone_is_none() -> None:
    assert phone_to_e164("   ", "KR") is None
    assert phone_to_e164("", "KR") is None


# --- lower-casing: one definition (str.lower()) -----------------------------------------

# Worked out from Unicode's SpecialCasing.txt: U+0130 lower-cases to "i" + U+0307, and Σ at the
# end of a word (after a letter, before none) to final ς, elsewhere to σ.
LOWERED = [
    ("email", "İZMIR@Example.com", "i\u0307zmir@example.com"),
    ("name", "ΟΔΟΣ ΠΑΠΑΣ", "οδος παπας"),
    ("name", "ΣΟΦΙΑ", "σοφια"),  # Σ first in a word: σ
    ("name", "Σ", "σ"),  # alone: not final (no letter before it)
    ("name", " ΑΣΣ  Β ", "ασς β"),
    ("name", "I\u0307stanbul", "i\u0307stanbul"),  # composes to İ first (NFC)
    ("lower", "ΌΣΟΣ", "όσος"),
]


@pytest.mark.parametrize(("normaliser", "raw", "expected"), LOWERED)
def test_lower_casing_is_str_lower(normaliser: str, raw: str, expected: str) -> None:
    assert normalise(normaliser, raw) == expected


@pytest.mark.parametrize(("normaliser", "raw", "expected"), LOWERED)
def test_values_duckdb_lowers_otherwise_are_sent_to_python(
    con: duckdb.DuckDBPyConnection, normaliser: str, raw: str, expected: str
) -> None:
    odd = con.execute(f"SELECT {lower_in_python_sql(normaliser, '$1::VARCHAR')}", [raw])
    assert odd.fetchall() == [(True,)]


def test_duckdb_lower_alone_would_differ(con: duckdb.DuckDBPyConnection) -> None:
    # why those values go to Python: DuckDB's lower() is Unicode's simple mapping
    assert _normalise(con, "name", "ΟΔΟΣ") == "οδοσ" != normalise("name", "ΟΔΟΣ")
    assert _normalise(con, "email", "İ@x") == "i@x" != normalise("email", "İ@x")


def test_sql_lower_casing_agrees_with_str_lower_on_every_other_code_point(
    con: duckdb.DuckDBPyConnection,
) -> None:
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    values = [f"A{c}b" for c in chars]  # inside a word, so no character is word-final
    for normaliser in ("email", "name"):
        got = con.execute(
            f"SELECT list_transform($1::VARCHAR[], lambda v: "
            f"CASE WHEN {lower_in_python_sql(normaliser, 'v')} THEN NULL "
            f"ELSE {normalise_sql(normaliser, 'v')} END)",
            [values],
        ).fetchall()[0][0]
        differ = [
            (hex(ord(c)), want, sql)
            for c, value, sql in zip(chars, values, got, strict=True)
            if sql is not None and sql != (want := normalise(normaliser, value))
        ]
        assert differ == []
        sent = {c for c, sql in zip(chars, got, strict=True) if sql is None}
        # only Σ, İ (and, for names, what NFC-composes into İ) go to Python; blanks are None
        assert sent - {c for c in chars if c.isspace()} <= {"\u03a3", "\u0130"}


def test_normalise_refuses_phone_and_unknown_normalisers() -> None:
    with pytest.raises(ValueError, match="phone"):
        normalise("phone", "x")
    with pytest.raises(ValueError, match="unknown normaliser"):
        normalise("soundex", "x")
