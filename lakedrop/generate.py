"""Synthetic transaction logs for the ``transactions`` dataset contract.

``generate(path, spec)`` writes a CSV file (optionally CP949, with a UTF-8 BOM, or gzipped) that
looks like a Korean retailer's point-of-sale / online transaction export: one row per basket
line, in event-time order, with the columns of ``functions/ingest/datasets/transactions.yaml``.
The same seed and spec always produce the same bytes. Memory is bounded by the number of
customers (about 1 kB each) plus one chunk of ``_CHUNK_ROWS`` lines, however many rows are
requested (default customers grow as ``rows // 80``: 10 M rows peak at ~210 MB RSS).

How the data is simulated
-------------------------
*Customers.* Each customer gets an id (``C0001234``), a Korean name (~85 %) or a Latin one, an
e-mail derived from the romanised name and the id number (unique per customer), a Korean mobile
number, a country (mostly ``KR``), a preferred channel and category, a category concentration,
a spend level (log-normal), a basket size and a purchase rhythm: weekly, fortnightly, monthly or
sporadic, i.e. a per-customer mean gap between visits and a gamma shape (regular customers have
low-variance gaps, sporadic ones exponential-like gaps). About 45 % are customers already at the
window's start (their first visit falls at a random phase of their rhythm); the others sign up
during the first 85 % of the window and visit a few days after signing up.

*Visits.* A visit time is the previous one plus a gamma-distributed gap; visits are simulated
for all customers at once, one week of calendar at a time (vectorised over the customers whose
next visit falls in that week), so events are produced in time order and streamed out. A visit
has ``1 + Poisson(basket)`` lines (rows); every line of a visit shares time, customer, channel
and the formatting of the phone / e-mail. Time of day follows a retail hourly profile.

*Churn (the signal a model must learn).* About 30 % of the customers stop buying before the
window's end: each churner gets a churn date, uniform between 90 days after it became active
and 60 days *after* the end, after which it never buys again (so ~7 % more are visibly
declining when the window closes: the customers a score at the end should flag). Churn is
preceded by a *decline phase* of 75-200 days; with ``p`` = progress through it (0 → 1):

- the mean gap between visits grows by a factor ``1 + g·p`` (``g`` in 2.5-6): recency and
  inter-purchase gaps lengthen, visit frequency drops;
- spend per line drops by a factor ``1 - d·p`` (``d`` in 0.35-0.65) and baskets get smaller
  (the Poisson mean of extra lines shrinks by ``0.7·p``);
- lines concentrate on the customer's main category (single-category baskets);
- the refund rate rises from 2.6 % to 14.6 % of lines.

Non-churners keep their rhythm to the end, but sporadic buyers can still go quiet for more
than 90 days: label noise, as in real data. Measured on 40,000-row files (500 customers), with
label "no purchase in the next 90 days" at cutoffs 90/180/270 days before the end: recency
alone has AUC ≈ 0.9 (it finds the customers who already left); among customers who bought in
the 30 days before the cutoff, "last 90 days' spend vs the customer's own 90-day average"
has AUC ≈ 0.75 (0.65-0.85 across seeds). So features at a cutoff (recency, frequency and
spend relative to the customer's own history, refund share, category diversity) predict churn,
and no single column gives the label away.

*Exact row count.* The total number of lines is calibrated by scaling every customer's mean
gap: a first pass counts the lines a scale produces (the simulation is deterministic, so a
second pass reproduces it exactly), then surplus lines are thinned uniformly at random, week by
week, with a hypergeometric draw so the output has exactly ``spec.rows`` rows.

*Formatting.* Amounts are KRW integers (refund lines negative), ``is_refund`` is ``Y``/``N``,
``event_time`` is local time ``YYYY-MM-DD HH:MM:SS``. Phones are written as ``010-1234-5678``,
``01012345678``, ``+82 10-1234-5678`` or ``010 1234 5678`` (same number); e-mails are sometimes
capitalised or upper-case. ``messy=True`` adds, from a separate random stream (so the
underlying data is the same as the clean file's): spaces around values, empty optional fields,
quoted thousands separators in amounts (``"12,500"``), ``YYYY/MM/DD HH:MM`` and
``YYYY-MM-DDTHH:MM:SS+09:00`` timestamps, and names with commas or quotes (properly quoted).
Every file is valid CSV with twelve fields on every row.
"""

from __future__ import annotations

import datetime as dt
import gzip
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

Encoding = Literal["utf-8", "utf-8-sig", "cp949"]
ENCODINGS: tuple[Encoding, ...] = ("utf-8", "utf-8-sig", "cp949")

COLUMNS: tuple[str, ...] = (
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
)
KOREAN_HEADERS: tuple[str, ...] = (
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
)

CATEGORIES: tuple[str, ...] = ("식품", "패션", "뷰티", "전자제품", "생활용품", "도서", "스포츠")
_CATEGORY_WEIGHTS = np.array([0.28, 0.16, 0.13, 0.07, 0.18, 0.08, 0.10])
# Unit price relative to a customer's spend level, per category.
_CATEGORY_LOG_PRICE = np.log(np.array([0.6, 2.2, 1.3, 8.0, 0.9, 0.8, 2.5]))
CHANNELS: tuple[str, ...] = ("online", "offline", "app")
_CHANNEL_WEIGHTS = np.array([0.35, 0.40, 0.25])

_FAMILY: tuple[tuple[str, str, float], ...] = (
    ("김", "kim", 21.5),
    ("이", "lee", 14.7),
    ("박", "park", 8.4),
    ("최", "choi", 4.7),
    ("정", "jung", 4.4),
    ("강", "kang", 2.3),
    ("조", "cho", 2.1),
    ("윤", "yoon", 2.1),
    ("장", "jang", 2.0),
    ("임", "lim", 1.7),
    ("한", "han", 1.5),
    ("오", "oh", 1.5),
    ("서", "seo", 1.5),
    ("신", "shin", 1.5),
    ("권", "kwon", 1.4),
    ("황", "hwang", 1.4),
    ("안", "ahn", 1.3),
    ("송", "song", 1.3),
    ("류", "ryu", 1.2),
    ("홍", "hong", 1.1),
    ("전", "jeon", 1.1),
    ("고", "ko", 0.9),
    ("문", "moon", 0.9),
    ("양", "yang", 0.9),
    ("손", "son", 0.9),
    ("배", "bae", 0.8),
    ("백", "baek", 0.8),
    ("허", "heo", 0.6),
    ("남", "nam", 0.6),
    ("노", "noh", 0.6),
)
_GIVEN_FIRST: tuple[tuple[str, str], ...] = (
    ("민", "min"), ("서", "seo"), ("지", "ji"), ("하", "ha"), ("도", "do"), ("예", "ye"),
    ("수", "su"), ("주", "ju"), ("시", "si"), ("은", "eun"), ("현", "hyun"), ("준", "jun"),
    ("유", "yu"), ("채", "chae"), ("윤", "yoon"), ("건", "gun"), ("우", "woo"), ("진", "jin"),
    ("다", "da"), ("소", "so"), ("태", "tae"), ("성", "sung"), ("재", "jae"), ("영", "young"),
    ("혜", "hye"), ("승", "seung"), ("동", "dong"), ("상", "sang"), ("미", "mi"), ("경", "kyung"),
)  # fmt: skip
_GIVEN_SECOND: tuple[tuple[str, str], ...] = (
    ("준", "jun"), ("우", "woo"), ("윤", "yoon"), ("서", "seo"), ("연", "yeon"), ("민", "min"),
    ("아", "a"), ("현", "hyun"), ("진", "jin"), ("호", "ho"), ("원", "won"), ("빈", "bin"),
    ("희", "hee"), ("은", "eun"), ("영", "young"), ("수", "su"), ("린", "rin"), ("율", "yul"),
    ("훈", "hoon"), ("혁", "hyuk"), ("석", "seok"), ("지", "ji"), ("나", "na"), ("철", "chul"),
)  # fmt: skip
_LATIN_FIRST: tuple[str, ...] = (
    "Emma", "John", "Liam", "Olivia", "Noah", "Mia", "Lukas", "Sofia", "David", "Anna", "James",
    "Sarah", "Daniel", "Julia", "Michael", "Laura", "Thomas", "Grace", "Lucas", "Chloe", "Ethan",
    "Hannah", "Nina", "Paul",
)  # fmt: skip
_LATIN_LAST: tuple[str, ...] = (
    "Schmidt", "Park", "Kim", "Lee", "Smith", "Johnson", "Brown", "Garcia", "Miller", "Wagner",
    "Becker", "Martin", "Nguyen", "Tanaka", "Choi", "Wilson", "Taylor", "Fischer", "Weber",
    "Dubois",
)  # fmt: skip
_DOMAINS: tuple[str, ...] = ("naver.com", "gmail.com", "daum.net", "kakao.com", "hanmail.net")
_DOMAIN_WEIGHTS = np.array([0.40, 0.25, 0.12, 0.10, 0.13])
_COUNTRIES_KOREAN: tuple[str, ...] = ("KR", "JP", "US", "CN")
_COUNTRY_KOREAN_WEIGHTS = np.array([0.97, 0.01, 0.01, 0.01])
_COUNTRIES_LATIN: tuple[str, ...] = ("KR", "US", "DE", "GB", "FR", "CA", "AU", "VN")
_COUNTRY_LATIN_WEIGHTS = np.array([0.45, 0.20, 0.10, 0.08, 0.05, 0.05, 0.04, 0.03])
_COUNTRIES: tuple[str, ...] = tuple(dict.fromkeys(_COUNTRIES_KOREAN + _COUNTRIES_LATIN))

# Purchase rhythms: weekly, fortnightly, monthly, sporadic.
_RHYTHM_WEIGHTS = np.array([0.20, 0.25, 0.35, 0.20])
_RHYTHM_MEAN_DAYS = np.array([7.0, 14.0, 30.0, 60.0])
_RHYTHM_SHAPE = np.array([3.0, 2.5, 2.0, 1.0])

_HOUR_WEIGHTS = np.array(
    [0.3, 0.15, 0.1, 0.08, 0.08, 0.15, 0.4, 0.8, 1.2, 1.5, 2.0, 2.6,
     3.2, 3.0, 2.4, 2.2, 2.3, 2.6, 3.2, 3.6, 3.8, 3.4, 2.4, 1.1]
)  # fmt: skip
_QUANTITY_WEIGHTS = np.array([0.58, 0.24, 0.10, 0.05, 0.03])
_PHONE_FORMAT_WEIGHTS = np.array([0.60, 0.20, 0.10, 0.10])
_EMAIL_CASE_WEIGHTS = np.array([0.93, 0.04, 0.03])  # as stored, Capitalised, UPPER

CHURN_SHARE = 0.30  # of all customers, stopping before the end of the window
_CHURN_AFTER_END_DAYS = 60.0
_EXISTING_SHARE = 0.45
_BASE_REFUND_RATE = 0.026
_DECLINE_REFUND_RATE = 0.12
_BASE_PRICE_KRW = 15_000.0
_WEEK_DAYS = 7
_CHUNK_ROWS = 50_000  # measured: same speed as 200k rows, half the peak memory
_LINE_END = "\n"
_SECONDS_PER_DAY = 86_400
_EPOCH = dt.date(1970, 1, 1)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class GenerateSpec:
    """What to generate. ``customers=None`` means ``max(20, rows // 80)``."""

    rows: int = 100_000
    seed: int = 42
    customers: int | None = None
    start: dt.date = dt.date(2025, 6, 1)
    months: int = 18
    encoding: Encoding = "utf-8"
    korean_headers: bool = False
    gzip: bool = False
    messy: bool = False

    def __post_init__(self) -> None:
        if self.rows < 0:
            raise ValueError(f"rows must be >= 0, got {self.rows}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.customers is not None and self.customers < 1:
            raise ValueError(f"customers must be >= 1, got {self.customers}")
        if self.months < 1:
            raise ValueError(f"months must be >= 1, got {self.months}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")

    @property
    def customer_count(self) -> int:
        return self.customers if self.customers is not None else max(20, self.rows // 80)

    @property
    def end(self) -> dt.date:
        """First day after the window (``start`` plus ``months`` calendar months)."""
        return add_months(self.start, self.months)

    @property
    def headers(self) -> tuple[str, ...]:
        return KOREAN_HEADERS if self.korean_headers else COLUMNS


@dataclass(frozen=True)
class GenerateReport:
    path: Path
    rows: int
    customers: int  # distinct customers that appear in the file
    bytes_written: int  # size of the file on disk (compressed size when gzipped)
    first_event: dt.date | None
    last_event: dt.date | None


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months, clamped to the end of the target month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    next_month = dt.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    last_day = (next_month - dt.timedelta(days=1)).day
    return dt.date(year, month + 1, min(day.day, last_day))


# --------------------------------------------------------------------------------------------
# Customers


@dataclass(frozen=True)
class _Behaviour:
    """Per-customer simulation parameters (times in days since ``spec.start``)."""

    mean_gap: FloatArray  # before calibration scaling
    shape: FloatArray
    phase: FloatArray  # existing customers: first visit at phase * scaled mean gap
    existing: NDArray[np.bool_]
    first_new: FloatArray  # new customers: time of first visit
    end: FloatArray  # churn time, or the horizon
    decline_start: FloatArray  # +inf for non-churners
    decline_len: FloatArray
    gap_growth: FloatArray
    spend_drop: FloatArray
    basket: FloatArray  # Poisson mean of extra lines per visit
    log_price: FloatArray
    concentration: FloatArray
    main_category: IntArray
    channel: IntArray

    @property
    def size(self) -> int:
        return len(self.mean_gap)


@dataclass(frozen=True)
class _Identities:
    """Per-customer text, as Arrow arrays ready to be taken row-wise."""

    customer_id: pa.Array
    name: pa.Array
    emails: pa.Array  # element case * customers + customer
    phones: pa.Array  # element format * customers + customer
    country: pa.Array


def _choice(rng: np.random.Generator, weights: FloatArray, size: int) -> IntArray:
    """Indices drawn with the given (unnormalised) weights."""
    cumulative = np.cumsum(weights / weights.sum())
    return np.minimum(np.searchsorted(cumulative, rng.random(size), side="right"), len(weights) - 1)


def _behaviour(n: int, horizon: float, rng: np.random.Generator) -> _Behaviour:
    rhythm = _choice(rng, _RHYTHM_WEIGHTS, n)
    mean_gap = _RHYTHM_MEAN_DAYS[rhythm] * rng.lognormal(0.0, 0.25, n)
    existing = rng.random(n) < _EXISTING_SHARE
    signup = np.where(existing, 0.0, rng.uniform(0.0, 0.85 * horizon, n))
    first_new = signup + rng.exponential(2.0, n)
    phase = rng.random(n)

    # Churn dates run past the horizon so that some churners are still declining at the end.
    earliest_churn = signup + 90.0
    latest_churn = horizon + _CHURN_AFTER_END_DAYS
    eligible = earliest_churn < horizon - 10.0
    span = np.maximum(latest_churn - earliest_churn, 1.0)
    in_window = np.where(eligible, (horizon - earliest_churn) / span, 0.0)
    churn_probability = min(0.95, CHURN_SHARE * n / max(float(in_window.sum()), 1.0))
    churner = eligible & (rng.random(n) < churn_probability)
    churn_at = earliest_churn + rng.random(n) * span
    decline_len = np.minimum(rng.uniform(75.0, 200.0, n), churn_at - signup - 30.0)
    decline_len = np.maximum(decline_len, 1.0)

    return _Behaviour(
        mean_gap=mean_gap,
        shape=_RHYTHM_SHAPE[rhythm],
        phase=phase,
        existing=existing,
        first_new=first_new,
        end=np.where(churner, churn_at, horizon),
        decline_start=np.where(churner, churn_at - decline_len, np.inf),
        decline_len=np.where(churner, decline_len, 1.0),
        gap_growth=rng.uniform(2.5, 6.0, n),
        spend_drop=rng.uniform(0.35, 0.65, n),
        basket=rng.gamma(2.0, 0.75, n),
        log_price=np.log(_BASE_PRICE_KRW) + rng.normal(0.0, 0.4, n),
        concentration=rng.uniform(0.3, 0.7, n),
        main_category=_choice(rng, _CATEGORY_WEIGHTS, n),
        channel=_choice(rng, _CHANNEL_WEIGHTS, n),
    )


def _pick(options: tuple[str, ...], index: IntArray) -> pa.Array:
    return pc.take(pa.array(options, pa.string()), pa.array(index))


def _concat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise string concatenation (Arrow strings: compact, no per-row Python)."""
    return pc.binary_join_element_wise(*parts, "")


def _digits(values: IntArray, width: int) -> pa.Array:
    return pc.utf8_lpad(pa.array(values).cast(pa.string()), width=width, padding="0")


def _customer_numbers(n: int, rng: np.random.Generator) -> tuple[IntArray, int]:
    """Distinct random customer numbers and the zero-padded width to print them with."""
    space = max(9_999_999, 10 * n)
    return rng.choice(space, size=n, replace=False) + 1, len(str(space))


@dataclass(frozen=True)
class _Names:
    name: pa.Array
    email_local: pa.Array
    latin: NDArray[np.bool_]


def _names(
    n: int, numbers: IntArray, rng: np.random.Generator, messy_rng: np.random.Generator | None
) -> _Names:
    """Display names (messy: some "Last, First" or with a quoted nickname) and e-mail locals."""
    number = pa.array(numbers).cast(pa.string())
    family = _choice(rng, np.array([w for _, _, w in _FAMILY]), n)
    first = rng.integers(0, len(_GIVEN_FIRST), n)
    second = rng.integers(0, len(_GIVEN_SECOND), n)
    family_ro = _pick(tuple(r for _, r, _ in _FAMILY), family)
    given_ro = _concat(
        _pick(tuple(r for _, r in _GIVEN_FIRST), first),
        _pick(tuple(r for _, r in _GIVEN_SECOND), second),
    )
    korean_name = _concat(
        _pick(tuple(f for f, _, _ in _FAMILY), family),
        _pick(tuple(s for s, _ in _GIVEN_FIRST), first),
        _pick(tuple(s for s, _ in _GIVEN_SECOND), second),
    )
    korean_local = pc.if_else(
        pa.array(rng.random(n) < 0.5),
        _concat(given_ro, number),
        _concat(family_ro, ".", given_ro, number),
    )

    latin_first = _pick(_LATIN_FIRST, rng.integers(0, len(_LATIN_FIRST), n))
    latin_last = _pick(_LATIN_LAST, rng.integers(0, len(_LATIN_LAST), n))
    latin_name = _concat(latin_first, " ", latin_last)
    latin_local = pc.utf8_lower(
        pc.if_else(
            pa.array(rng.random(n) < 0.5),
            _concat(latin_first, ".", latin_last, number),
            _concat(pc.utf8_slice_codeunits(latin_first, 0, 1), latin_last, number),
        )
    )
    latin = rng.random(n) < 0.15
    if messy_rng is not None:
        u = messy_rng.random(n)
        variant = np.where(u < 0.20, 1, np.where(u < 0.27, 2, 0)).astype(np.int8)
        latin_name = pc.choose(
            pa.array(variant),
            latin_name,
            _concat(latin_last, ", ", latin_first),
            _concat(
                latin_first, ' "', pc.utf8_slice_codeunits(latin_first, 0, 2), '" ', latin_last
            ),
        )
    is_latin = pa.array(latin)
    return _Names(
        name=pc.if_else(is_latin, latin_name, korean_name),
        email_local=pc.if_else(is_latin, latin_local, korean_local),
        latin=latin,
    )


def _phone_formats(n: int, rng: np.random.Generator) -> pa.Array:
    """``n`` distinct 010 numbers in four formats: element ``format * n + customer``."""
    digits = rng.choice(90_000_000, size=n, replace=False) + 10_000_000
    mid, last = _digits(digits // 10_000, 4), _digits(digits % 10_000, 4)
    return pa.concat_arrays(
        [
            _concat("010-", mid, "-", last),
            _concat("010", mid, last),
            _concat("+82 10-", mid, "-", last),
            _concat("010 ", mid, " ", last),
        ]
    )


def _identities(
    n: int, rng: np.random.Generator, messy_rng: np.random.Generator | None
) -> _Identities:
    numbers, width = _customer_numbers(n, rng)
    names = _names(n, numbers, rng, messy_rng)
    email = _concat(names.email_local, "@", _pick(_DOMAINS, _choice(rng, _DOMAIN_WEIGHTS, n)))
    country = pc.if_else(
        pa.array(names.latin),
        _pick(_COUNTRIES_LATIN, _choice(rng, _COUNTRY_LATIN_WEIGHTS, n)),
        _pick(_COUNTRIES_KOREAN, _choice(rng, _COUNTRY_KOREAN_WEIGHTS, n)),
    )
    return _Identities(
        customer_id=_concat("C", _digits(numbers, width)),
        name=names.name,
        emails=pa.concat_arrays([email, pc.utf8_capitalize(email), pc.utf8_upper(email)]),
        phones=_phone_formats(n, rng),
        country=country,
    )


# --------------------------------------------------------------------------------------------
# Visits


@dataclass(frozen=True)
class _Visits:
    """Visits simulated in one calendar week (not sorted)."""

    time: FloatArray  # days since start
    customer: IntArray
    lines: IntArray
    progress: FloatArray  # through the customer's decline phase, 0..1

    @staticmethod
    def concat(parts: list[_Visits]) -> _Visits:
        if not parts:
            empty = np.empty(0, np.int64)
            return _Visits(np.empty(0), empty, empty, np.empty(0))
        return _Visits(
            time=np.concatenate([p.time for p in parts]),
            customer=np.concatenate([p.customer for p in parts]),
            lines=np.concatenate([p.lines for p in parts]),
            progress=np.concatenate([p.progress for p in parts]),
        )


def _progress(time: FloatArray, start: FloatArray, length: FloatArray) -> FloatArray:
    return np.clip((time - start) / length, 0.0, 1.0)


def _simulate(
    behaviour: _Behaviour, scale: float, horizon: float, rng: np.random.Generator
) -> Iterator[_Visits]:
    """Yield each week's visits; deterministic for a given ``rng`` state and ``scale``."""
    mean_gap = behaviour.mean_gap * scale
    first_existing = behaviour.phase * np.minimum(mean_gap, horizon)
    next_visit = np.where(behaviour.existing, first_existing, behaviour.first_new)
    stop = np.minimum(behaviour.end, horizon)
    for week_start in range(0, math.ceil(horizon), _WEEK_DAYS):
        week_end = min(week_start + _WEEK_DAYS, horizon)
        due = np.flatnonzero((next_visit < week_end) & (next_visit < stop))
        parts: list[_Visits] = []
        while due.size:
            time = next_visit[due]
            progress = _progress(time, behaviour.decline_start[due], behaviour.decline_len[due])
            lines = 1 + rng.poisson(behaviour.basket[due] * (1.0 - 0.7 * progress))
            parts.append(_Visits(time, due, lines, progress))
            shape = behaviour.shape[due]
            mean = mean_gap[due] * (1.0 + behaviour.gap_growth[due] * progress)
            following = time + rng.gamma(shape, mean / shape)
            next_visit[due] = following
            due = due[(following < week_end) & (following < stop[due])]
        yield _Visits.concat(parts)


def _expected_scale(behaviour: _Behaviour, horizon: float, target: float) -> float:
    """Gap scale that makes the expected number of lines roughly ``target``."""
    lines = 1.0 + behaviour.basket
    first = np.where(behaviour.existing, 0.0, behaviour.first_new)
    stop = np.minimum(behaviour.end, horizon)
    active = first < stop
    decline_from = np.minimum(behaviour.decline_start, stop)
    steady = np.maximum(decline_from - first, 0.0)
    growth = behaviour.gap_growth
    declining = np.maximum(stop - np.maximum(decline_from, first), 0.0) * (
        np.log1p(growth) / growth
    )
    per_unit_scale = float(np.sum(active * lines * (steady + declining) / behaviour.mean_gap))
    fixed = float(np.sum(active * lines))
    return per_unit_scale / max(target - fixed, 0.05 * fixed, 1.0)


def _count_lines(
    behaviour: _Behaviour, scale: float, horizon: float, seed: np.random.SeedSequence
) -> int:
    rng = np.random.default_rng(seed)
    return sum(int(v.lines.sum()) for v in _simulate(behaviour, scale, horizon, rng))


def _calibrate(
    behaviour: _Behaviour, rows: int, horizon: float, seed: np.random.SeedSequence
) -> tuple[float, int]:
    """A gap scale producing at least ``rows`` lines (not many more), and its line count."""
    target = rows * 1.02 + 3.0 * math.sqrt(rows) + 5.0
    scale = _expected_scale(behaviour, horizon, target)
    total = _count_lines(behaviour, scale, horizon, seed)
    if total > 1.25 * target:  # few rows per customer: the estimate is rough, refine once
        coarser = scale * total / target
        coarser_total = _count_lines(behaviour, coarser, horizon, seed)
        if coarser_total >= rows:
            scale, total = coarser, coarser_total
    for _ in range(30):
        if total >= rows:
            return scale, total
        scale *= 0.8 * max(total, 1) / target
        total = _count_lines(behaviour, scale, horizon, seed)
    raise RuntimeError(f"could not simulate {rows} rows with {behaviour.size} customers")


# --------------------------------------------------------------------------------------------
# Rows


@dataclass(frozen=True)
class _Lines:
    """Basket lines in time order, ready to be formatted."""

    timestamp: IntArray  # local seconds since 1970-01-01
    customer: IntArray
    progress: FloatArray
    channel: IntArray
    phone_format: IntArray
    email_case: IntArray

    def __len__(self) -> int:
        return len(self.timestamp)

    def select(self, index: slice | IntArray) -> _Lines:
        return _Lines(
            timestamp=self.timestamp[index],
            customer=self.customer[index],
            progress=self.progress[index],
            channel=self.channel[index],
            phone_format=self.phone_format[index],
            email_case=self.email_case[index],
        )

    @staticmethod
    def concat(parts: list[_Lines]) -> _Lines:
        return _Lines(
            timestamp=np.concatenate([p.timestamp for p in parts]),
            customer=np.concatenate([p.customer for p in parts]),
            progress=np.concatenate([p.progress for p in parts]),
            channel=np.concatenate([p.channel for p in parts]),
            phone_format=np.concatenate([p.phone_format for p in parts]),
            email_case=np.concatenate([p.email_case for p in parts]),
        )


def _rechunk(blocks: Iterator[_Lines], size: int) -> Iterator[_Lines]:
    """Regroup blocks of any length into chunks of ``size`` lines (the last may be shorter)."""
    pending: list[_Lines] = []
    count = 0
    for block in blocks:
        pending.append(block)
        count += len(block)
        if count < size:
            continue
        merged = _Lines.concat(pending)
        full = count - count % size
        for offset in range(0, full, size):
            yield merged.select(slice(offset, offset + size))
        pending, count = [merged.select(slice(full, None))], count - full
    if count:
        yield _Lines.concat(pending)


def _visit_lines(
    visits: _Visits, behaviour: _Behaviour, start_second: int, rng: np.random.Generator
) -> _Lines:
    """Give visits a time of day, channel and formatting; sort them; expand to lines."""
    n = len(visits.time)
    day = np.floor(visits.time).astype(np.int64)
    second_of_day = _choice(rng, _HOUR_WEIGHTS, n) * 3600 + rng.integers(0, 3600, n)
    timestamp = start_second + day * _SECONDS_PER_DAY + second_of_day
    preferred = rng.random(n) < 0.8
    channel = np.where(preferred, behaviour.channel[visits.customer], rng.integers(0, 3, n))
    phone_format = _choice(rng, _PHONE_FORMAT_WEIGHTS, n)
    email_case = _choice(rng, _EMAIL_CASE_WEIGHTS, n)
    order = np.argsort(timestamp, kind="stable")
    lines = visits.lines[order]
    return _Lines(
        timestamp=np.repeat(timestamp[order], lines),
        customer=np.repeat(visits.customer[order], lines),
        progress=np.repeat(visits.progress[order], lines),
        channel=np.repeat(channel[order], lines),
        phone_format=np.repeat(phone_format[order], lines),
        email_case=np.repeat(email_case[order], lines),
    )


@dataclass
class _Thinning:
    """Keeps exactly ``keep`` of ``total`` lines, uniformly, one block at a time."""

    keep: int
    total: int

    def take(self, lines: _Lines, rng: np.random.Generator) -> _Lines:
        n = len(lines)
        low, high = max(0, self.keep - (self.total - n)), min(n, self.keep)
        if self.total < 10**9:
            kept = int(rng.hypergeometric(self.keep, self.total - self.keep, n)) if n else 0
        else:
            kept = round(n * self.keep / self.total)
        kept = min(max(kept, low), high)
        self.keep -= kept
        self.total -= n
        if kept == n:
            return lines
        mask = np.ones(n, dtype=bool)
        mask[rng.choice(n, size=n - kept, replace=False)] = False
        return lines.select(np.flatnonzero(mask))


@dataclass(frozen=True)
class _LineValues:
    """Per-line values drawn from the behaviour (before formatting)."""

    category: IntArray
    quantity: IntArray
    amount: IntArray
    refund: NDArray[np.bool_]


def _line_values(lines: _Lines, behaviour: _Behaviour, rng: np.random.Generator) -> _LineValues:
    n = len(lines)
    customer, progress = lines.customer, lines.progress
    concentration = behaviour.concentration[customer]
    concentration = concentration + (0.95 - concentration) * progress
    category = np.where(
        rng.random(n) < concentration,
        behaviour.main_category[customer],
        _choice(rng, _CATEGORY_WEIGHTS, n),
    )
    quantity = _choice(rng, _QUANTITY_WEIGHTS, n) + 1
    log_price = behaviour.log_price[customer] + _CATEGORY_LOG_PRICE[category]
    price = np.exp(log_price + rng.normal(0.0, 0.5, n))
    price *= 1.0 - behaviour.spend_drop[customer] * progress
    unit = np.maximum(np.round(price / 100.0), 1.0).astype(np.int64) * 100
    refund = rng.random(n) < _BASE_REFUND_RATE + _DECLINE_REFUND_RATE * progress
    amount = np.where(refund, -1, 1) * unit * quantity
    return _LineValues(category=category, quantity=quantity, amount=amount, refund=refund)


_CATEGORY_ARRAY = pa.array(CATEGORIES, pa.string())
_CHANNEL_ARRAY = pa.array(CHANNELS, pa.string())
# The last column carries the line terminator, so rows join with no extra pass.
_REFUND_ARRAY = pa.array(["N" + _LINE_END, "Y" + _LINE_END], pa.string())


def _quote_where_needed(values: pa.Array) -> pa.Array:
    """RFC 4180 quoting for values containing a comma, a quote or a line break."""
    needs = pc.match_substring_regex(values, '[",\r\n]')
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, values)


def _twelve_hour(standard: pa.Array) -> pa.Array:
    """``2025-06-01 13:05:00`` as Korean Excel writes it: ``2025-06-01 오후 1:05:00``."""
    hour = pc.cast(pc.utf8_slice_codeunits(standard, 11, 13), pa.int8())
    afternoon = pc.greater_equal(hour, 12)
    meridiem = pc.if_else(afternoon, "오후", "오전")
    twelve = pc.subtract(hour, pc.if_else(afternoon, pa.scalar(12, pa.int8()), 0))
    twelve = pc.if_else(pc.equal(twelve, 0), pa.scalar(12, pa.int8()), twelve)
    return pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(standard, 0, 10),
        meridiem,
        pc.binary_join_element_wise(
            pc.cast(twelve, pa.string()), pc.utf8_slice_codeunits(standard, 14, 19), ":"
        ),
        " ",
    )


def _messy_timestamps(standard: pa.Array, n: int, rng: np.random.Generator) -> pa.Array:
    slashed = pc.replace_substring(pc.utf8_slice_codeunits(standard, 0, 16), "-", "/")
    iso = pc.binary_join_element_wise(pc.replace_substring(standard, " ", "T"), "+09:00", "")
    variant = pa.array(_choice(rng, np.array([0.90, 0.05, 0.03, 0.02]), n).astype(np.int8))
    return pc.choose(variant, standard, slashed, iso, _twelve_hour(standard))


def _thousands(amount: IntArray) -> pa.Array:
    return pa.array([f"{v:,}" for v in amount.tolist()], pa.string())


def _pad_some(values: pa.Array, rate: float, rng: np.random.Generator) -> pa.Array:
    n = len(values)
    u = rng.random(n)
    lead = pc.binary_join_element_wise(" ", values, "")
    trail = pc.binary_join_element_wise(values, "  ", "")
    variant = np.where(u < rate / 2, 1, np.where(u < rate, 2, 0)).astype(np.int8)
    return pc.choose(pa.array(variant), values, lead, trail)


def _blank_some(values: pa.Array, rate: float, rng: np.random.Generator) -> pa.Array:
    mask = pa.array(rng.random(len(values)) < rate)
    return pc.if_else(mask, pa.scalar(None, values.type), values)


def _format_rows(
    lines: _Lines,
    values: _LineValues,
    identities: _Identities,
    first_row: int,
    id_width: int,
    *,
    messy_rng: np.random.Generator | None,
    id_prefix: str = "T",
) -> pa.Array:
    """One string per row, each a complete CSV line including its terminator."""
    n = len(lines)
    customers = len(identities.customer_id)
    customer = pa.array(lines.customer)
    transaction_id = pc.binary_join_element_wise(
        id_prefix,
        pc.utf8_lpad(
            pa.array(np.arange(first_row, first_row + n, dtype=np.int64)).cast(pa.string()),
            width=id_width,
            padding="0",
        ),
        "",
    )
    columns: list[pa.Array] = [
        transaction_id,
        pc.take(identities.customer_id, customer),
        pc.take(identities.name, customer),
        pc.take(identities.emails, pa.array(lines.email_case * customers + lines.customer)),
        pc.take(identities.phones, pa.array(lines.phone_format * customers + lines.customer)),
        pa.array(lines.timestamp).cast(pa.timestamp("s")).cast(pa.string()),
        pa.array(values.amount).cast(pa.string()),
        pa.array(values.quantity).cast(pa.string()),
        pc.take(_CATEGORY_ARRAY, pa.array(values.category)),
        pc.take(_CHANNEL_ARRAY, pa.array(lines.channel)),
        pc.take(identities.country, customer),
    ]
    if messy_rng is not None:
        columns = _dirty(columns, values.amount, messy_rng)
    columns[2] = _quote_where_needed(columns[2])  # names may hold commas or quotes
    columns.append(pc.take(_REFUND_ARRAY, pa.array(values.refund.astype(np.int8))))
    return pc.binary_join_element_wise(*columns, ",", null_handling="replace", null_replacement="")


def _dirty(columns: list[pa.Array], amount: IntArray, rng: np.random.Generator) -> list[pa.Array]:
    """Messy mode: spaces, blanks, thousands separators and other timestamp formats
    (``2025/06/01 13:05``, ISO with an offset, 12-hour ``2025-06-01 오후 1:05:00``)."""
    n = len(amount)
    out = list(columns)
    for index in (1, 2, 3, 8, 9, 10):  # customer_id, name, email, category, channel, country
        out[index] = _pad_some(out[index], 0.02, rng)
    for index in (2, 3, 4, 7, 8, 9, 10):  # the optional columns except is_refund
        out[index] = _blank_some(out[index], 0.015, rng)
    out[5] = _messy_timestamps(out[5], n, rng)
    separated = rng.random(n) < 0.05
    if separated.any():
        with_commas = _thousands(amount[separated])
        out[6] = _quote_where_needed(pc.replace_with_mask(out[6], pa.array(separated), with_commas))
    return out


def _csv_bytes(rows: pa.Array) -> memoryview:
    """The concatenated text of a null-free string array, without copying."""
    if rows.null_count:
        raise AssertionError("a CSV row was null")
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32)[rows.offset :][: len(rows) + 1]
    data = rows.buffers()[2]
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


# --------------------------------------------------------------------------------------------
# Output


@dataclass
class _Sink:
    """Encodes UTF-8 chunks to the spec's encoding and writes them, gzipped if asked."""

    raw: IO[bytes]
    encoding: Encoding
    compress: bool
    _gzip: gzip.GzipFile | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.compress:
            self._gzip = gzip.GzipFile(
                filename="", mode="wb", fileobj=self.raw, compresslevel=6, mtime=0
            )
        if self.encoding == "utf-8-sig":
            self._out.write(b"\xef\xbb\xbf")

    @property
    def _out(self) -> IO[bytes] | gzip.GzipFile:
        return self._gzip if self._gzip is not None else self.raw

    def write(self, utf8: memoryview | bytes) -> None:
        if self.encoding == "cp949":
            self._out.write(bytes(utf8).decode("utf-8").encode("cp949"))
        else:
            self._out.write(utf8)

    def close(self) -> None:
        if self._gzip is not None:
            self._gzip.close()


@dataclass(frozen=True)
class _Seeds:
    """Independent random streams, so that e.g. messy dirt never shifts the clean data."""

    behaviour: np.random.SeedSequence
    identities: np.random.SeedSequence
    visits: np.random.SeedSequence  # replayed: once to count lines, once to emit them
    visit_details: np.random.SeedSequence
    line_values: np.random.SeedSequence
    messy_customers: np.random.SeedSequence
    messy_rows: np.random.SeedSequence

    @classmethod
    def from_seed(cls, seed: int) -> _Seeds:
        return cls(*np.random.SeedSequence(seed).spawn(7))


def _line_stream(
    spec: GenerateSpec, behaviour: _Behaviour, horizon: float, seeds: _Seeds
) -> Iterator[_Lines]:
    """Exactly ``spec.rows`` lines in time order, in chunks of ``_CHUNK_ROWS``."""
    if spec.rows == 0:
        return
    yield from _rechunk(_thinned_weeks(spec, behaviour, horizon, seeds), _CHUNK_ROWS)


def _thinned_weeks(
    spec: GenerateSpec, behaviour: _Behaviour, horizon: float, seeds: _Seeds
) -> Iterator[_Lines]:
    """Each simulated week's lines, thinned so that exactly ``spec.rows`` remain in all."""
    scale, total = _calibrate(behaviour, spec.rows, horizon, seeds.visits)
    start_second = (spec.start - _EPOCH).days * _SECONDS_PER_DAY
    sim_rng = np.random.default_rng(seeds.visits)
    row_rng = np.random.default_rng(seeds.visit_details)
    thinning = _Thinning(keep=spec.rows, total=total)
    for visits in _simulate(behaviour, scale, horizon, sim_rng):
        yield thinning.take(_visit_lines(visits, behaviour, start_second, row_rng), row_rng)


def generate(
    path: Path, spec: GenerateSpec, progress: Callable[[int], None] | None = None
) -> GenerateReport:
    """Write a synthetic transaction log to ``path`` (atomically) and describe it.

    ``progress`` is called with the number of rows written so far after each chunk.
    """
    path = Path(path)
    seeds = _Seeds.from_seed(spec.seed)
    horizon = float((spec.end - spec.start).days)
    n_customers = spec.customer_count
    behaviour = _behaviour(n_customers, horizon, np.random.default_rng(seeds.behaviour))
    messy_customer_rng = np.random.default_rng(seeds.messy_customers) if spec.messy else None
    messy_row_rng = np.random.default_rng(seeds.messy_rows) if spec.messy else None
    identities = _identities(
        n_customers, np.random.default_rng(seeds.identities), messy_customer_rng
    )
    value_rng = np.random.default_rng(seeds.line_values)
    id_width = max(9, len(str(spec.rows)))
    # transaction ids carry the seed (T42-000000001): files generated with other seeds never
    # share one (ingest drops a repeated transaction_id as a duplicate)
    id_prefix = f"T{spec.seed}-"

    written = 0
    seen = np.zeros(n_customers, dtype=bool)
    first_second: int | None = None
    last_second: int | None = None
    temporary = path.with_name(f".{path.name}.part")
    try:
        with temporary.open("wb") as raw:
            sink = _Sink(raw, spec.encoding, spec.gzip)
            sink.write((",".join(spec.headers) + _LINE_END).encode("utf-8"))
            for lines in _line_stream(spec, behaviour, horizon, seeds):
                values = _line_values(lines, behaviour, value_rng)
                rows = _format_rows(
                    lines,
                    values,
                    identities,
                    written + 1,
                    id_width,
                    messy_rng=messy_row_rng,
                    id_prefix=id_prefix,
                )
                sink.write(_csv_bytes(rows))
                written += len(lines)
                seen[lines.customer] = True
                if first_second is None:
                    first_second = int(lines.timestamp[0])
                last_second = int(lines.timestamp[-1])
                if progress is not None:
                    progress(written)
            sink.close()
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return GenerateReport(
        path=path,
        rows=written,
        customers=int(seen.sum()),
        bytes_written=path.stat().st_size,
        first_event=_date_of(first_second),
        last_event=_date_of(last_second),
    )


def _date_of(second: int | None) -> dt.date | None:
    return None if second is None else _EPOCH + dt.timedelta(days=second // _SECONDS_PER_DAY)
