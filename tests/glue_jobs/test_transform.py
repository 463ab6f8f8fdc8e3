"""The features of hand-made customers, against values worked out by hand (in the comments).

Cutoff C = 2025-03-31 (the last observed day), horizon 90 days: the label looks at
(2025-03-31, 2025-06-29]. Windows: last 30 days = (2025-03-01, 2025-03-31], i.e. C-30 = 03-01
is out and C-29 = 03-02 is in; last 90 = (2024-12-31, C]; last 365 = (2024-03-31, C]; the
previous 90 = (2024-10-02, 2024-12-31]. 2025 is not a leap year: February has 28 days.
Times are Seoul local time unless a row says UTC.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from glue_jobs.features import transform
from tests.glue_jobs.conftest import Tx, curated_frame, utc_tx

C = dt.date(2025, 3, 31)
HORIZON = 90

ROWS = [
    # --- single: one basket of two lines on 03-01 (= C-30: outside the 30-day window)
    Tx("single", "2025-03-01 12:00", "10000", category="식품"),
    Tx("single", "2025-03-01 12:00", "5000", category="패션"),
    Tx("single", "2025-06-30 10:00", "7000"),  # C+91: after the horizon, so still churned
    # --- repeat: two orders on the same day, a zero-amount line, a purchase on C-29
    Tx("repeat", "2025-01-10 10:00", "1000", channel="offline"),
    Tx("repeat", "2025-01-10 18:00", "2000", channel="offline"),
    Tx("repeat", "2025-02-10 12:00", "3000", category="뷰티"),
    Tx("repeat", "2025-02-10 12:00", "0", category="도서"),  # free item: not a purchase
    Tx("repeat", "2025-03-02 00:00", "4000", channel="app"),  # C-29, local midnight
    Tx("repeat", "2025-06-29 23:59", "100"),  # C+90: inside the horizon → not churned
    # --- refunds: flagged and unflagged, before the first purchase and after the cutoff
    Tx("refunds", "2025-01-20 12:00", "-3000", is_refund=True),  # first event of any kind
    Tx("refunds", "2025-02-01 12:00", "20000", category="패션"),
    Tx("refunds", "2025-02-05 12:00", "-20000", is_refund=True),
    Tx("refunds", "2025-03-20 12:00", "5000"),
    Tx("refunds", "2025-03-25 12:00", "-1500", is_refund=False),  # negative: a refund
    Tx("refunds", "2025-03-26 12:00", "2500", is_refund=True),  # flagged: a refund of 2500
    Tx("refunds", "2025-04-10 12:00", "-5000", is_refund=True),  # after C, not a purchase
    # --- late: buys only after the cutoff → in no snapshot at C
    Tx("late", "2025-04-05 12:00", "9000"),
    # --- refund_only / zero_only: no purchase on or before C → in no snapshot at C
    Tx("refund_only", "2025-03-10 12:00", "-1000", is_refund=True),
    Tx("zero_only", "2025-03-11 12:00", "0"),
    # --- tz: days are Seoul days; UTC 15:00 is already the next local day
    utc_tx("tz", "2025-01-14 15:00:00", "8000"),  # = 2025-01-15 00:00 local
    utc_tx("tz", "2025-03-31 14:59:59", "2000"),  # = 2025-03-31 23:59:59 local: day C
    utc_tx("tz", "2025-03-31 15:00:00", "9999"),  # = 2025-04-01 00:00 local: after C
    # --- trend: a year of history, one purchase on C-90 (previous window, not the last 90)
    Tx("trend", "2024-06-01 12:00", "10000"),
    Tx("trend", "2024-09-01 12:00", "10000"),
    Tx("trend", "2024-12-31 12:00", "6000"),  # C-90
    Tx("trend", "2025-03-15 12:00", "5000"),
    # --- year: C-365 is outside the 365-day window, C-364 inside
    Tx("year", "2024-03-31 12:00", "1000"),
    Tx("year", "2024-04-01 12:00", "2000"),
    # --- channels: mixed basket, unknown, missing and untidy channel names, null category
    Tx("channels", "2025-03-10 12:00", "1000", channel="online"),
    Tx("channels", "2025-03-10 12:00", "1000", channel="app"),  # same order: counts as app
    Tx("channels", "2025-03-12 12:00", "1000", channel="Kiosk", category=None),  # other
    Tx("channels", "2025-03-13 12:00", "1000", channel=None, category="뷰티"),  # other
    Tx("channels", "2025-03-14 12:00", "1000", channel=" Online "),  # online
]

# Features every expected row shares unless it says otherwise.
DEFAULTS: dict[str, Any] = {
    "cutoff_date": C,
    "orders_prev_90d": 0,
    "refund_count_365d": 0,
    "refund_amount_365d": 0.0,
    "refund_rate": 0.0,
    "refund_rate_90d": 0.0,
    "zero_amount_rows": 0,
    "channel_share_online": 0.0,
    "channel_share_offline": 0.0,
    "channel_share_app": 0.0,
    "channel_share_other": 0.0,
    # T + 1 <= 90 days observed: the 90-day rate is the whole-history rate
    "spend_trend_90d": 1.0,
}

EXPECTED: dict[str, dict[str, Any]] = {
    "single": {
        # one purchase day: frequency 0, recency 0, T = 03-01 → 03-31 = 30, monetary 0
        "frequency": 0, "recency": 0, "T": 30, "monetary_value": 0.0,
        "orders_30d": 0, "orders_90d": 1, "orders_365d": 1,  # 03-01 = C-30 is not in 30d
        "spend_30d": 0.0, "spend_90d": 15000.0, "spend_365d": 15000.0,
        "days_since_last_purchase": 30, "orders_total": 1, "spend_total": 15000.0,
        "avg_basket": 15000.0, "n_categories": 2, "channel_share_online": 1.0,
        "tenure_days": 30, "orders_change_90d": 1,
        "churned": 1,  # next purchase 06-30 = C+91, outside (C, C+90]
    },
    "repeat": {
        # purchase days 01-10 (two orders: 1000 + 2000), 02-10 (3000), 03-02 (4000)
        # frequency = 3 days - 1 = 2; recency = 01-10 → 03-02 = 21 + 28 + 2 = 51;
        # T = 01-10 → 03-31 = 21 + 28 + 31 = 80; monetary = mean(3000, 4000) = 3500
        # (lifetimes sums a period, then drops the first period: 1000 + 2000 is not counted)
        "frequency": 2, "recency": 51, "T": 80, "monetary_value": 3500.0,
        "orders_30d": 1, "orders_90d": 4, "orders_365d": 4,  # 03-02 = C-29 is in 30d
        "spend_30d": 4000.0, "spend_90d": 10000.0, "spend_365d": 10000.0,
        "days_since_last_purchase": 29, "orders_total": 4, "spend_total": 10000.0,
        "avg_basket": 2500.0,  # 10000 / 4 orders
        "n_categories": 2,  # 식품, 뷰티 (도서 was the free item)
        "channel_share_offline": 0.5, "channel_share_online": 0.25, "channel_share_app": 0.25,
        "zero_amount_rows": 1, "tenure_days": 80, "orders_change_90d": 4,
        "churned": 0,  # 06-29 = C+90 is inside the horizon
    },
    "refunds": {
        # purchases 02-01 (20000) and 03-20 (5000); refunds 01-20 (3000), 02-05 (20000),
        # 03-25 (1500, unflagged but negative), 03-26 (2500, flagged but positive)
        # frequency 1; recency = 02-01 → 03-20 = 27 + 20 = 47; T = 02-01 → 03-31 = 27 + 31 = 58
        "frequency": 1, "recency": 47, "T": 58, "monetary_value": 5000.0,
        "orders_30d": 1, "orders_90d": 2, "orders_365d": 2,
        "spend_30d": 5000.0, "spend_90d": 25000.0, "spend_365d": 25000.0,  # gross of refunds
        "days_since_last_purchase": 11, "orders_total": 2, "spend_total": 25000.0,
        "avg_basket": 12500.0, "n_categories": 2, "channel_share_online": 1.0,
        "refund_count_365d": 4, "refund_amount_365d": 27000.0,  # 3000 + 20000 + 1500 + 2500
        "refund_rate": 4 / 6, "refund_rate_90d": 4 / 6,  # 4 refund rows / (2 + 4) rows
        "tenure_days": 70,  # from the 01-20 refund: 11 + 28 + 31 (T counts from 02-01)
        "orders_change_90d": 2,
        "churned": 1,  # only a refund after C
    },
    "tz": {
        # local days 01-15 and 03-31 (the 9999 purchase is on local 04-01, after C)
        # recency = T = 01-15 → 03-31 = 16 + 28 + 31 = 75
        "frequency": 1, "recency": 75, "T": 75, "monetary_value": 2000.0,
        "orders_30d": 1, "orders_90d": 2, "orders_365d": 2,
        "spend_30d": 2000.0, "spend_90d": 10000.0, "spend_365d": 10000.0,
        "days_since_last_purchase": 0, "orders_total": 2, "spend_total": 10000.0,
        "avg_basket": 5000.0, "n_categories": 1, "channel_share_online": 1.0,
        "tenure_days": 75, "orders_change_90d": 2,
        "churned": 0,  # the purchase at local 04-01 00:00 is in the horizon
    },
    "trend": {
        # 2024-06-01 → 2025-03-31: 2024-06-01 → 2025-06-01 is 365 days, minus 62 (04-01..06-01)
        # T = 303; recency = T - 16 = 287; frequency 3; monetary = (10000 + 6000 + 5000) / 3
        "frequency": 3, "recency": 287, "T": 303, "monetary_value": 7000.0,
        "orders_30d": 1, "orders_90d": 1, "orders_365d": 4,  # 12-31 = C-90 is not in 90d
        "spend_30d": 5000.0, "spend_90d": 5000.0, "spend_365d": 31000.0,
        "days_since_last_purchase": 16, "orders_total": 4, "spend_total": 31000.0,
        "avg_basket": 7750.0, "n_categories": 1, "channel_share_online": 1.0,
        "tenure_days": 303,
        # (5000 / 90 days) / (31000 / min(365, 304) days) = 5000 * 304 / (90 * 31000)
        "spend_trend_90d": 5000 * 304 / (90 * 31000),
        "orders_prev_90d": 1,  # 12-31 is in (2024-10-02, 2024-12-31]
        "orders_change_90d": 0,
        "churned": 1,
    },
    "year": {
        # 2024-03-31 = C-365 (not in the 365-day window) and 2024-04-01 = C-364 (in it)
        "frequency": 1, "recency": 1, "T": 365, "monetary_value": 2000.0,
        "orders_30d": 0, "orders_90d": 0, "orders_365d": 1,
        "spend_30d": 0.0, "spend_90d": 0.0, "spend_365d": 2000.0,
        "days_since_last_purchase": 364, "orders_total": 2, "spend_total": 3000.0,
        "avg_basket": 1500.0, "n_categories": 1, "channel_share_online": 1.0,
        "tenure_days": 365,
        "spend_trend_90d": 0.0,  # nothing in the last 90 days
        "orders_change_90d": 0,
        "churned": 1,
    },
    "channels": {
        # orders 03-10 (online + app lines: one order, counted as app), 03-12 (Kiosk → other),
        # 03-13 (no channel → other), 03-14 (" Online " → online)
        # frequency 3; recency 4; T 21; monetary = (1000 + 1000 + 1000) / 3
        "frequency": 3, "recency": 4, "T": 21, "monetary_value": 1000.0,
        "orders_30d": 4, "orders_90d": 4, "orders_365d": 4,
        "spend_30d": 5000.0, "spend_90d": 5000.0, "spend_365d": 5000.0,
        "days_since_last_purchase": 17, "orders_total": 4, "spend_total": 5000.0,
        "avg_basket": 1250.0,
        "n_categories": 2,  # 식품, 뷰티 (a missing category is not one)
        "channel_share_app": 0.25, "channel_share_other": 0.5, "channel_share_online": 0.25,
        "tenure_days": 21, "orders_change_90d": 4,
        "churned": 1,
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def daily(spark: SparkSession) -> DataFrame:
    events = transform.prepare_events(curated_frame(spark, ROWS), "Asia/Seoul")
    return transform.daily_activity(transform.orders(events)).cache()


@pytest.fixture(scope="module")
def labelled(daily: DataFrame) -> dict[str, dict[str, Any]]:
    frame = transform.customer_snapshot(daily, C, HORIZON)
    return {row["customer_id"]: row.asDict() for row in frame.collect()}


def test_snapshot_has_exactly_the_customers_who_bought_on_or_before_the_cutoff(
    labelled: dict[str, dict[str, Any]],
) -> None:
    # late bought only after C; refund_only and zero_only never bought
    assert sorted(labelled) == sorted(EXPECTED)


@pytest.mark.parametrize("customer", sorted(EXPECTED))
def test_features_match_the_hand_worked_values(
    labelled: dict[str, dict[str, Any]], customer: str
) -> None:
    expected = {**DEFAULTS, **EXPECTED[customer], "customer_id": customer}
    got = labelled[customer]
    assert set(got) == set(expected), set(got) ^ set(expected)
    mismatches = {
        name: (got[name], want)
        for name, want in expected.items()
        if not (
            math.isclose(got[name], want, rel_tol=1e-12, abs_tol=1e-12)
            if isinstance(want, float)
            else got[name] == want
        )
    }
    assert not mismatches, mismatches


def test_columns_types_and_order(daily: DataFrame) -> None:
    labelled = transform.customer_snapshot(daily, C, HORIZON)
    unlabelled = transform.customer_snapshot(daily, C)
    assert tuple(labelled.columns) == (*transform.FEATURE_COLUMNS, "churned")
    assert tuple(unlabelled.columns) == transform.FEATURE_COLUMNS
    types = dict(labelled.dtypes)
    assert types["customer_id"] == "string" and types["cutoff_date"] == "date"
    assert types["churned"] == "int"
    for name in ("frequency", "recency", "T", "days_since_last_purchase", "tenure_days"):
        assert types[name] == "int", name
    for name in transform.FEATURE_COLUMNS:
        if name.startswith(("spend_", "channel_share_", "refund_rate", "refund_amount")) or (
            name in ("monetary_value", "avg_basket")
        ):
            assert types[name] == "double", name
        elif name.startswith(("orders_", "refund_count")) or name in ("zero_amount_rows",):
            assert types[name] == "bigint", name


def test_no_feature_is_ever_null(daily: DataFrame) -> None:
    frame = transform.customer_snapshot(daily, C, HORIZON)
    for row in frame.collect():
        assert None not in row, row


def test_unlabelled_snapshot_uses_nothing_after_the_cutoff(
    daily: DataFrame, labelled: dict[str, dict[str, Any]]
) -> None:
    score = {r["customer_id"]: r.asDict() for r in transform.customer_snapshot(daily, C).collect()}
    assert score == {
        c: {k: v for k, v in row.items() if k != "churned"} for c, row in labelled.items()
    }


def test_a_later_cutoff_sees_the_late_customer(daily: DataFrame) -> None:
    later = dt.date(2025, 4, 30)
    rows = {r["customer_id"]: r for r in transform.customer_snapshot(daily, later).collect()}
    assert "late" in rows and "refund_only" not in rows
    # late: one purchase on 04-05 → T = 25, frequency 0
    assert (rows["late"]["frequency"], rows["late"]["T"], rows["late"]["recency"]) == (0, 25, 0)
    # tz: the 9999 purchase on local 04-01 now counts: days 01-15, 03-31, 04-01
    assert rows["tz"]["frequency"] == 2 and rows["tz"]["spend_total"] == 19999.0


def test_label_horizon_must_be_positive(daily: DataFrame) -> None:
    with pytest.raises(ValueError, match="horizon_days"):
        transform.customer_snapshot(daily, C, 0)


def test_local_days_need_a_utc_session(spark: SparkSession) -> None:
    frame = curated_frame(spark, ROWS[:1])
    spark.conf.set("spark.sql.session.timeZone", "Asia/Seoul")
    try:
        with pytest.raises(transform.SessionTimeZoneError):
            transform.prepare_events(frame, "Asia/Seoul")
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")


def test_activity_summary(daily: DataFrame) -> None:
    summary = transform.activity_summary(daily).first()
    assert summary is not None
    assert summary["first_day"] == dt.date(2024, 3, 31)  # year's first purchase
    assert summary["last_day"] == dt.date(2025, 6, 30)  # single's purchase at C+91
    assert summary["first_purchase_day"] == dt.date(2024, 3, 31)
    # purchases: single 3, repeat 5, refunds 2, late 1, tz 3, trend 4, year 2, channels 5
    assert summary["purchase_rows"] == 25
    assert summary["refund_rows"] == 6  # refunds 5 + refund_only 1
    assert summary["zero_amount_rows"] == 2  # repeat 1 + zero_only 1
    assert summary["customers"] == 10


# --------------------------------------------------------------------------------------------
# The BTYD summary in the convention of lifetimes.utils.summary_data_from_transaction_data


def test_lifetimes_readme_example(spark: SparkSession) -> None:
    """The quick-start data of the lifetimes README (group A), observation_period_end =
    the last date, 2015-02-06. By hand:
    id 1: 01-01, 01-05, 01-08 → frequency 2, recency 7, T = 31 + 5 = 36
    id 2: 01-04, 01-30       → frequency 1, recency 26, T = 28 + 5 = 33
    id 3: 01-10, 02-05, 02-06 → frequency 2, recency 27, T = 27
    """
    dates = {
        "1": ["2015-01-01", "2015-01-05", "2015-01-08"],
        "2": ["2015-01-04", "2015-01-30"],
        "3": ["2015-01-10", "2015-02-05", "2015-02-06"],
    }
    rows = [Tx(c, f"{d} 12:00", "10") for c, ds in dates.items() for d in ds]
    daily = transform.daily_activity(
        transform.orders(transform.prepare_events(curated_frame(spark, rows), "Asia/Seoul"))
    )
    got = {
        r["customer_id"]: (r["frequency"], r["recency"], r["T"])
        for r in transform.customer_snapshot(daily, dt.date(2015, 2, 6)).collect()
    }
    assert got == {"1": (2, 7, 36), "2": (1, 26, 33), "3": (2, 27, 27)}


def _lifetimes_reference(
    purchases: list[tuple[str, dt.date, int]], end: dt.date
) -> dict[str, tuple[int, int, int, float]]:
    """lifetimes' algorithm, restated: sum the value per (customer, day) period up to the
    observation end; frequency = periods - 1; recency = last - first; T = end - first;
    monetary_value = mean of the period sums except the first period (0 without repeats)."""
    periods: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    for customer, day, value in purchases:
        if day <= end:
            periods[customer][day] += value
    out = {}
    for customer, by_day in periods.items():
        days = sorted(by_day)
        repeat = [by_day[d] for d in days[1:]]
        out[customer] = (
            len(days) - 1,
            (days[-1] - days[0]).days,
            (end - days[0]).days,
            sum(repeat) / len(repeat) if repeat else 0.0,
        )
    return out


def test_btyd_summary_matches_the_lifetimes_convention_on_random_data(
    spark: SparkSession,
) -> None:
    rng = random.Random(20250331)
    purchases = []
    for n in range(40):
        for _ in range(rng.randint(1, 12)):
            day = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 500))
            purchases.append((f"c{n:02d}", day, rng.randint(1, 500) * 100))
    end = dt.date(2025, 1, 31)
    rows = [
        Tx(c, f"{d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}", str(v))
        for c, d, v in purchases
    ]
    daily = transform.daily_activity(
        transform.orders(transform.prepare_events(curated_frame(spark, rows), "Asia/Seoul"))
    )
    got = {
        r["customer_id"]: (r["frequency"], r["recency"], r["T"], r["monetary_value"])
        for r in transform.customer_snapshot(daily, end).collect()
    }
    expected = _lifetimes_reference(purchases, end)
    assert got.keys() == expected.keys()
    for customer, (frequency, recency, age, money) in expected.items():
        assert got[customer][:3] == (frequency, recency, age), customer
        assert math.isclose(got[customer][3], money, rel_tol=1e-12), customer
