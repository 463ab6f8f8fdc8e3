"""Tests of the sample data generator, checked against the file it writes (not its internals)."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import importlib.resources
import io
import re
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from lakedrop.generate import GenerateSpec, generate

CANONICAL = [
    "transaction_id",
    "customer_id",
    "customer_name",
    "email",
    "phone",
    "event_time",
    "amount",
    "quantity",
    "category",
    "channel",
    "country",
    "is_refund",
]
KOREAN = [
    "거래번호",
    "고객번호",
    "고객명",
    "이메일",
    "전화번호",
    "거래일시",
    "금액",
    "수량",
    "카테고리",
    "채널",
    "국가",
    "환불여부",
]
CATEGORIES = {"식품", "패션", "뷰티", "전자제품", "생활용품", "도서", "스포츠"}
DOMAINS = {"naver.com", "gmail.com", "daum.net", "kakao.com", "hanmail.net"}
PHONE_FORMATS = {
    "dashed": re.compile(r"010-\d{4}-\d{4}"),
    "digits": re.compile(r"010\d{8}"),
    "international": re.compile(r"\+82 10-\d{4}-\d{4}"),
    "spaced": re.compile(r"010 \d{4} \d{4}"),
}
SMALL = GenerateSpec(rows=3_000, seed=7)


def read_rows(data: bytes, encoding: str = "utf-8") -> tuple[list[str], list[list[str]]]:
    reader = csv.reader(io.StringIO(data.decode(encoding), newline=""))
    header = next(reader)
    return header, list(reader)


def write(tmp_path: Path, spec: GenerateSpec, name: str = "out.csv") -> bytes:
    path = tmp_path / name
    generate(path, spec)
    return path.read_bytes()


def parse_time(text: str) -> dt.datetime:
    """Every timestamp variant the generator writes, as naive local time."""
    text = text.strip().removesuffix("+09:00").replace("T", " ").replace("/", "-")
    twelve = re.fullmatch(r"(\S+) (오전|오후) (\d{1,2}):(\d\d):(\d\d)", text)
    if twelve:  # 12-hour clock: 오전 12:xx is just after midnight, 오후 12:xx just after noon
        day, meridiem, hour, minute, second = twelve.groups()
        hour24 = int(hour) % 12 + (12 if meridiem == "오후" else 0)
        text = f"{day} {hour24:02d}:{minute}:{second}"
    return dt.datetime.fromisoformat(text)


def phone_digits(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    return "0" + digits[2:] if digits.startswith("82") else digits


@pytest.fixture(scope="module")
def contract_columns() -> list[dict[str, object]]:
    resource = importlib.resources.files("ingest") / "datasets" / "transactions.yaml"
    columns: list[dict[str, object]] = yaml.safe_load(resource.read_text(encoding="utf-8"))[
        "columns"
    ]
    return columns


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerateSpec, list[list[str]]]:
    """A file big enough for behavioural statistics (500 customers)."""
    spec = GenerateSpec(rows=40_000, seed=11)
    path = tmp_path_factory.mktemp("large") / "large.csv"
    generate(path, spec)
    return spec, read_rows(path.read_bytes())[1]


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[list[str]], list[list[str]]]:
    """The rows of a messy file and of the clean file made from the same spec."""
    directory = tmp_path_factory.mktemp("messy")
    spec = GenerateSpec(rows=20_000, seed=5)
    generate(directory / "clean.csv", spec)
    generate(directory / "messy.csv", replace(spec, messy=True))
    clean_rows = read_rows((directory / "clean.csv").read_bytes())[1]
    messy_rows = read_rows((directory / "messy.csv").read_bytes())[1]
    return clean_rows, messy_rows


@pytest.mark.parametrize("rows", [0, 1, 17, 2_345])
def test_writes_exactly_the_requested_rows_and_reports_them(tmp_path: Path, rows: int) -> None:
    path = tmp_path / "t.csv"
    seen: list[int] = []
    report = generate(path, GenerateSpec(rows=rows, seed=3), progress=seen.append)

    header, body = read_rows(path.read_bytes())
    assert header == CANONICAL
    assert len(body) == rows == report.rows
    assert report.path == path
    assert report.bytes_written == path.stat().st_size
    assert report.customers == len({r[1] for r in body})
    assert seen == sorted(seen)
    assert seen[-1:] == ([rows] if rows else [])
    if rows:
        assert report.first_event == parse_time(body[0][5]).date()
        assert report.last_event == parse_time(body[-1][5]).date()
    else:
        assert report.first_event is None
        assert report.last_event is None
    assert not list(tmp_path.glob(".*part")), "the temporary file is renamed, not left behind"


def test_canonical_header_is_the_contract_column_order(
    tmp_path: Path, contract_columns: list[dict[str, object]]
) -> None:
    header, _ = read_rows(write(tmp_path, SMALL))
    assert header == [column["name"] for column in contract_columns]


def test_korean_headers_are_contract_aliases_of_the_same_columns(
    tmp_path: Path, contract_columns: list[dict[str, object]]
) -> None:
    header, body = read_rows(write(tmp_path, replace(SMALL, korean_headers=True)))
    assert header == KOREAN
    aliases = [column["aliases"] for column in contract_columns]
    for korean, column_aliases in zip(header, aliases, strict=True):
        assert isinstance(column_aliases, list)
        assert korean in column_aliases
    assert body == read_rows(write(tmp_path, SMALL, "canonical.csv"))[1]


@pytest.mark.parametrize(
    "variant",
    [{}, {"messy": True}, {"encoding": "cp949", "korean_headers": True}, {"gzip": True}],
    ids=["plain", "messy", "cp949", "gzip"],
)
def test_same_seed_gives_identical_bytes_and_another_seed_differs(
    tmp_path: Path, variant: dict[str, object]
) -> None:
    spec = replace(SMALL, **variant)  # type: ignore[arg-type]
    first = write(tmp_path, spec, "a")
    assert write(tmp_path, spec, "b") == first
    assert write(tmp_path, replace(spec, seed=spec.seed + 1), "c") != first


def test_cp949_file_is_the_same_text_in_cp949(tmp_path: Path) -> None:
    spec = replace(SMALL, korean_headers=True, messy=True)
    utf8 = write(tmp_path, spec, "utf8.csv")
    legacy = write(tmp_path, replace(spec, encoding="cp949"), "cp949.csv")
    with pytest.raises(UnicodeDecodeError):
        legacy.decode("utf-8")
    assert legacy.decode("cp949") == utf8.decode("utf-8")


def test_utf8_sig_adds_only_a_bom(tmp_path: Path) -> None:
    with_bom = write(tmp_path, replace(SMALL, encoding="utf-8-sig"), "bom.csv")
    assert with_bom == b"\xef\xbb\xbf" + write(tmp_path, SMALL, "plain.csv")


def test_gzip_output_decompresses_to_the_plain_file(tmp_path: Path) -> None:
    spec = replace(SMALL, encoding="cp949")
    compressed = write(tmp_path, replace(spec, gzip=True), "t.csv.gz")
    assert compressed[:2] == b"\x1f\x8b"
    assert gzip.decompress(compressed) == write(tmp_path, spec, "t.csv")


def test_values_are_well_formed(large: tuple[GenerateSpec, list[list[str]]]) -> None:
    spec, rows = large
    end = dt.datetime.combine(spec.end, dt.time())
    ids = [r[0] for r in rows]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(rf"T{spec.seed}-\d{{9}}", i) for i in ids)  # the seed in every id
    assert all(re.fullmatch(r"C\d{7}", r[1]) for r in rows)
    assert all(r[3].split("@")[1].lower() in DOMAINS for r in rows)
    assert {r[8] for r in rows} == CATEGORIES
    assert {r[9] for r in rows} <= {"online", "offline", "app"}
    assert all(re.fullmatch(r"[A-Z]{2}", r[10]) for r in rows)
    countries = [r[10] for r in rows]
    assert 0.8 < countries.count("KR") / len(countries) < 0.98
    assert {int(r[7]) for r in rows} == {1, 2, 3, 4, 5}

    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r[5]) for r in rows)
    times = [dt.datetime.fromisoformat(r[5]) for r in rows]
    assert times == sorted(times)
    assert dt.datetime(2025, 6, 1) <= times[0]
    assert times[-1] < end
    assert (end - times[0]).days > 500, "the log spans about 18 months"

    refunds = [r[11] == "Y" for r in rows]
    assert {r[11] for r in rows} == {"Y", "N"}
    assert 0.015 < sum(refunds) / len(rows) < 0.06
    for row, refund in zip(rows, refunds, strict=True):
        assert re.fullmatch(r"-?\d+", row[6])
        assert (int(row[6]) < 0) == refund
        assert int(row[6]) % 100 == 0


def test_names_are_mostly_korean(large: tuple[GenerateSpec, list[list[str]]]) -> None:
    _, rows = large
    names = {r[1]: r[2] for r in rows}
    korean = [n for n in names.values() if re.fullmatch(r"[가-힣]{3}", n)]
    latin = [n for n in names.values() if re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", n)]
    assert len(korean) + len(latin) == len(names)
    assert 0.75 < len(korean) / len(names) < 0.95


def test_phone_formats_vary(large: tuple[GenerateSpec, list[list[str]]]) -> None:
    _, rows = large
    used = {
        kind for r in rows for kind, pattern in PHONE_FORMATS.items() if pattern.fullmatch(r[4])
    }
    assert used == set(PHONE_FORMATS)
    assert all(any(p.fullmatch(r[4]) for p in PHONE_FORMATS.values()) for r in rows)


def test_each_customer_has_one_phone_email_and_name_even_when_messy(
    messy: tuple[list[list[str]], list[list[str]]],
) -> None:
    _, rows = messy
    phones: dict[str, set[str]] = defaultdict(set)
    emails: dict[str, set[str]] = defaultdict(set)
    names: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        customer = row[1].strip()
        if row[4]:
            phones[customer].add(phone_digits(row[4]))
        if row[3]:
            emails[customer].add(row[3].strip().lower())
        if row[2]:
            names[customer].add(row[2].strip())
    assert all(len(v) == 1 for v in phones.values())
    assert all(len(v) == 1 for v in emails.values())
    assert all(len(v) == 1 for v in names.values())
    assert all(re.fullmatch(r"010\d{8}", next(iter(v))) for v in phones.values())
    numbers = [next(iter(v)) for v in phones.values()]
    assert len(set(numbers)) == len(numbers), "customers do not share a phone number"
    cased = {row[3].strip() for row in rows if row[3]}
    assert any(e != e.lower() for e in cased), "some e-mails are written in another case"


def test_messy_file_is_valid_csv_with_realistic_dirt(
    messy: tuple[list[list[str]], list[list[str]]],
) -> None:
    clean, rows = messy
    assert all(len(r) == 12 for r in rows)
    assert len(rows) == len(clean)
    assert [r[0] for r in rows] == [r[0] for r in clean]
    assert [r[1].strip() for r in rows] == [r[1] for r in clean]
    for messy_row, clean_row in zip(rows, clean, strict=True):
        minute = parse_time(clean_row[5]).replace(second=0)
        assert parse_time(messy_row[5]).replace(second=0) == minute
        assert int(messy_row[6].replace(",", "")) == int(clean_row[6])

    assert any("," in r[2] for r in rows), "a name with a comma (quoted)"
    assert any('"' in r[2] for r in rows), "a name with quotes (quoted)"
    assert any(re.fullmatch(r"-?\d{1,3}(,\d{3})+", r[6]) for r in rows)
    assert any(r[1] != r[1].strip() for r in rows), "customer ids with spaces"
    assert any(r[2] != r[2].strip() for r in rows), "names with spaces"
    for column in (2, 3, 4, 7, 8, 9, 10):
        assert any(r[column] == "" for r in rows), f"column {column} is sometimes empty"
    assert all(r[0] and r[1] and r[5] and r[6] and r[11] for r in rows), "required fields"
    times = [r[5] for r in rows]
    assert any(re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d", t) for t in times)
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00", t) for t in times)
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\d 오후 \d{1,2}:\d\d:\d\d", t) for t in times)
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\d 오전 \d{1,2}:\d\d:\d\d", t) for t in times)


def _activity(
    rows: list[list[str]], end: dt.date
) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Per customer: purchase days (counted back from ``end``) and signed amounts."""
    days: dict[str, list[int]] = defaultdict(list)
    amounts: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        days[row[1]].append((end - parse_time(row[5]).date()).days)
        amounts[row[1]].append(int(row[6]))
    return days, amounts


def test_about_a_third_of_customers_stop_buying_before_the_end(
    large: tuple[GenerateSpec, list[list[str]]],
) -> None:
    spec, rows = large
    days, _ = _activity(rows, spec.end)
    active_before = [c for c, d in days.items() if max(d) > 90]
    churned = [c for c in active_before if min(days[c]) > 90]
    assert 0.15 < len(churned) / len(active_before) < 0.50


def auc(scores: list[float], labels: list[bool]) -> float:
    """Probability that a positive scores above a negative (ties count half)."""
    positive = np.array([s for s, y in zip(scores, labels, strict=True) if y])
    negative = np.array([s for s, y in zip(scores, labels, strict=True) if not y])
    above = positive[:, None] > negative[None, :]
    tied = positive[:, None] == negative[None, :]
    return float(np.mean(above + 0.5 * tied))


def test_churn_is_predictable_from_behaviour_before_the_cutoff(
    large: tuple[GenerateSpec, list[list[str]]],
) -> None:
    """At cutoffs 90/180/270 days before the end, label = no purchase in the next 90 days."""
    spec, rows = large
    days, amounts = _activity(rows, spec.end)
    recency: dict[bool, list[int]] = {True: [], False: []}
    spend_trend: list[float] = []
    still_buying_churned: list[bool] = []
    for cutoff in (90, 180, 270):
        for customer, customer_days in days.items():
            # (days before the cutoff, amount) of each purchase line before the cutoff
            before = [
                (d - cutoff, a)
                for d, a in zip(customer_days, amounts[customer], strict=True)
                if d > cutoff
            ]
            if not before:
                continue
            churned = not any(cutoff - 90 < d <= cutoff for d in customer_days)
            recency[churned].append(min(d for d, _ in before))
            history = max(d for d, _ in before)
            if min(d for d, _ in before) > 30 or history <= 180:
                continue  # only customers still buying, with some history
            recent = sum(a for d, a in before if d <= 90 and a > 0)
            baseline_days = min(history, 360) - 90
            baseline = sum(a for d, a in before if 90 < d <= 360 and a > 0)
            spend_trend.append(recent / max(baseline * 90 / baseline_days, 1.0))
            still_buying_churned.append(churned)
    # Recency separates the customers who already left ...
    assert np.mean(recency[True]) > 3 * np.mean(recency[False])
    # ... and among customers still buying at the cutoff, those about to churn have been
    # spending less than their own usual 90-day spend (gaps lengthen, baskets shrink).
    assert sum(still_buying_churned) >= 20
    assert auc([-t for t in spend_trend], still_buying_churned) > 0.6
    # Refunds rise before churn: refund share of the lines of a customer's last 60 days of
    # purchases, for customers who stopped buying, vs all lines of those still buying.
    final_lines: list[bool] = []
    other_lines: list[bool] = []
    for customer, customer_days in days.items():
        refunds = [a < 0 for a in amounts[customer]]
        if min(customer_days) > 90:
            last = min(customer_days)
            final_lines += [
                r for d, r in zip(customer_days, refunds, strict=True) if d <= last + 60
            ]
        else:
            other_lines += refunds
    assert np.mean(final_lines) > 1.25 * np.mean(other_lines)


def test_default_customer_count(tmp_path: Path) -> None:
    assert GenerateSpec(rows=100_000).customer_count == 1_250
    assert GenerateSpec(rows=100).customer_count == 20
    assert GenerateSpec(rows=100, customers=3).customer_count == 3
    report = generate(tmp_path / "t.csv", GenerateSpec(rows=2_000, customers=7, seed=1))
    assert report.customers <= 7


@pytest.mark.parametrize(
    "bad", [{"rows": -1}, {"customers": 0}, {"months": 0}, {"seed": -1}, {"encoding": "latin-1"}]
)
def test_rejects_invalid_specs(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        GenerateSpec(**bad)  # type: ignore[arg-type]
