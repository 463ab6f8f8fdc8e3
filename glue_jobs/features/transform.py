"""Curated transactions → one row per customer at a cutoff date. Pure: DataFrame → DataFrame.

No paths, no reads, no writes, no configuration lookups: every function takes the frames and
plain values it needs (docs/features.md defines every column; the tests pin them with values
worked out by hand).

The pipeline is three aggregations, each smaller than the last:

    rows (one per basket line)
      → orders(): one row per (customer, event_time): an *order* is the lines of one basket
      → daily_activity(): one row per (customer, local day): what the snapshots are built from
      → customer_snapshot(daily, cutoff, horizon): one row per customer, features (+ label)

Definitions (docs/features.md has the full list and the reasons):

* a **day** is the local date of ``event_time`` in the contract time zone (Asia/Seoul by
  default); the Spark session time zone must be UTC (``require_utc_session``);
* a **purchase** row: ``is_refund`` is not true and ``amount > 0``;
* a **refund** row: ``is_refund`` is true or ``amount < 0`` (its size is ``abs(amount)``);
* a **zero-amount** row: neither (vouchers, free items): counted, otherwise ignored;
* the cutoff date ``C`` is the **last observed day** (lifetimes' ``observation_period_end``):
  features use days ``<= C``; "the last N days" are the days in ``(C - N, C]``;
* the label: ``churned = 1`` when the customer has no purchase day in ``(C, C + horizon]``.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

CHANNELS: Final[tuple[str, ...]] = ("online", "offline", "app")
OTHER_CHANNEL: Final = "other"
CHANNEL_BUCKETS: Final[tuple[str, ...]] = (*CHANNELS, OTHER_CHANNEL)
WINDOWS: Final[tuple[int, ...]] = (30, 90, 365)
TREND_DAYS: Final = 90
YEAR_DAYS: Final = 365

# The columns the job needs from the curated zone (the rest stay unread).
INPUT_COLUMNS: Final[tuple[str, ...]] = (
    "customer_id",
    "event_time",
    "amount",
    "is_refund",
    "category",
    "channel",
)

# Every snapshot has exactly these columns, in this order (``churned`` only when labelled).
FEATURE_COLUMNS: Final[tuple[str, ...]] = (
    "customer_id",
    "cutoff_date",
    # buy-till-you-die summary (lifetimes' summary_data_from_transaction_data, daily periods)
    "frequency",
    "recency",
    "T",
    "monetary_value",
    # behaviour windows
    "orders_30d",
    "orders_90d",
    "orders_365d",
    "spend_30d",
    "spend_90d",
    "spend_365d",
    "days_since_last_purchase",
    "orders_total",
    "spend_total",
    "avg_basket",
    "n_categories",
    *(f"channel_share_{c}" for c in CHANNEL_BUCKETS),
    # refunds and zero amounts
    "refund_count_365d",
    "refund_amount_365d",
    "refund_rate",
    "refund_rate_90d",
    "zero_amount_rows",
    "tenure_days",
    # relative features: is the customer slowing down?
    "spend_trend_90d",
    "orders_prev_90d",
    "orders_change_90d",
)
LABEL_COLUMN: Final = "churned"

_UTC_NAMES: Final = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "+00:00"})


class SessionTimeZoneError(ValueError):
    """The Spark session time zone is not UTC, so local days would come out wrong."""


def require_utc_session(frame: DataFrame) -> None:
    """Local days are computed as ``to_date(from_utc_timestamp(ts, tz))``: ``to_date`` renders
    in the session time zone, which must therefore be UTC (``start_spark`` sets it)."""
    zone = frame.sparkSession.conf.get("spark.sql.session.timeZone")
    if zone not in _UTC_NAMES:
        raise SessionTimeZoneError(
            f"spark.sql.session.timeZone is {zone!r}; the features job needs 'UTC'"
        )


def local_day(timestamp: Column, timezone: str) -> Column:
    """The local date, in ``timezone``, of an instant (session time zone UTC)."""
    return F.to_date(F.from_utc_timestamp(timestamp, timezone))


def _int(condition: Column) -> Column:
    return condition.cast("int")


def prepare_events(transactions: DataFrame, timezone: str) -> DataFrame:
    """Curated rows → events with their local day and what kind of row they are.

    Rows without a customer, a time or an amount cannot be attributed and are dropped (the
    contract makes all three required, so ingest never writes such rows).
    """
    require_utc_session(transactions)
    amount = F.col("amount")
    refund = F.coalesce(F.col("is_refund"), F.lit(False)) | (amount < 0)
    channel = F.lower(F.trim(F.col("channel")))
    return transactions.where(
        F.col("customer_id").isNotNull() & F.col("event_time").isNotNull() & amount.isNotNull()
    ).select(
        F.col("customer_id"),
        F.col("event_time"),
        local_day(F.col("event_time"), timezone).alias("day"),
        amount,
        (~refund & (amount > 0)).alias("is_purchase"),
        refund.alias("is_refund_row"),
        (~refund & (amount == 0)).alias("is_zero"),
        F.col("category"),
        F.when(channel.isin(*CHANNELS), channel).otherwise(F.lit(OTHER_CHANNEL)).alias("channel"),
    )


def orders(events: DataFrame) -> DataFrame:
    """One row per (customer, event_time): the lines of one basket.

    An order's channel is the channel of its purchase lines (the alphabetically first when
    they disagree, so shares still add up to 1); its categories are those of its purchase
    lines. ``purchase_rows = 0`` marks a "basket" of refund or zero-amount lines only.
    """
    purchase = F.col("is_purchase")
    return events.groupBy("customer_id", "event_time", "day").agg(
        F.sum(_int(purchase)).alias("purchase_rows"),
        F.coalesce(F.sum(F.when(purchase, F.col("amount"))), F.lit(0)).alias("spend"),
        F.sum(_int(F.col("is_refund_row"))).alias("refund_rows"),
        F.coalesce(F.sum(F.when(F.col("is_refund_row"), F.abs(F.col("amount")))), F.lit(0)).alias(
            "refund_amount"
        ),
        F.sum(_int(F.col("is_zero"))).alias("zero_rows"),
        F.min(F.when(purchase, F.col("channel"))).alias("channel"),
        F.collect_set(F.when(purchase, F.col("category"))).alias("categories"),
    )


def daily_activity(order_rows: DataFrame) -> DataFrame:
    """One row per (customer, local day): everything the snapshots need, at any cutoff."""
    is_order = F.col("purchase_rows") > 0
    return order_rows.groupBy("customer_id", "day").agg(
        F.sum(_int(is_order)).alias("orders"),
        F.sum("spend").alias("spend"),
        F.sum("purchase_rows").alias("purchase_rows"),
        F.sum("refund_rows").alias("refund_rows"),
        F.sum("refund_amount").alias("refund_amount"),
        F.sum("zero_rows").alias("zero_rows"),
        *(
            F.sum(_int(is_order & (F.col("channel") == c))).alias(f"orders_{c}")
            for c in CHANNEL_BUCKETS
        ),
        F.array_distinct(F.flatten(F.collect_list("categories"))).alias("categories"),
    )


def _ratio(numerator: Column, denominator: Column) -> Column:
    """``numerator / denominator`` as double; 0 when the denominator is 0."""
    return F.when(denominator > 0, numerator.cast("double") / denominator.cast("double")).otherwise(
        F.lit(0.0)
    )


def customer_snapshot(
    daily: DataFrame, cutoff: dt.date, horizon_days: int | None = None
) -> DataFrame:
    """Features of every customer with at least one purchase on or before ``cutoff``.

    With ``horizon_days`` the snapshot is labelled: ``churned`` = 1 when the customer has no
    purchase day in ``(cutoff, cutoff + horizon_days]``. Days after that are never read, and
    without a horizon nothing after ``cutoff`` is.
    """
    if horizon_days is not None and horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1, got {horizon_days}")
    day = F.col("day")
    c = F.lit(cutoff)
    seen = day <= c
    bought = seen & (F.col("purchase_rows") > 0)

    def since(days: int) -> Column:  # the last `days` days: (C - days, C]
        return seen & (day > F.lit(cutoff - dt.timedelta(days=days)))

    def sum_if(condition: Column, column: str) -> Column:
        return F.coalesce(F.sum(F.when(condition, F.col(column))), F.lit(0))

    last = cutoff + dt.timedelta(days=horizon_days or 0)
    prev_from, prev_to = (
        cutoff - dt.timedelta(days=2 * TREND_DAYS),
        cutoff - dt.timedelta(days=TREND_DAYS),
    )
    in_prev = (day > F.lit(prev_from)) & (day <= F.lit(prev_to))
    aggregates = [
        F.min(F.when(bought, day)).alias("first_purchase"),
        F.max(F.when(bought, day)).alias("last_purchase"),
        F.count(F.when(bought, F.lit(1))).alias("purchase_days"),
        # the spend of the first purchase day: lifetimes leaves it out of monetary_value
        F.min_by(F.col("spend"), F.when(bought, day)).alias("first_day_spend"),
        F.min(F.when(seen, day)).alias("first_event"),
        sum_if(seen, "orders").alias("orders_total"),
        sum_if(seen, "spend").alias("spend_total"),
        sum_if(seen, "purchase_rows").alias("purchase_rows"),
        sum_if(seen, "refund_rows").alias("refund_rows"),
        sum_if(seen, "zero_rows").alias("zero_amount_rows"),
        sum_if(since(TREND_DAYS), "purchase_rows").alias("purchase_rows_90d"),
        sum_if(since(TREND_DAYS), "refund_rows").alias("refund_rows_90d"),
        sum_if(since(YEAR_DAYS), "refund_rows").alias("refund_count_365d"),
        sum_if(since(YEAR_DAYS), "refund_amount").alias("refund_amount_365d"),
        sum_if(in_prev, "orders").alias("orders_prev_90d"),
        F.size(
            F.array_distinct(F.flatten(F.collect_list(F.when(bought, F.col("categories")))))
        ).alias("n_categories"),
        *(sum_if(since(n), "orders").alias(f"orders_{n}d") for n in WINDOWS),
        *(sum_if(since(n), "spend").alias(f"spend_{n}d") for n in WINDOWS),
        *(sum_if(seen, f"orders_{ch}").alias(f"orders_{ch}") for ch in CHANNEL_BUCKETS),
    ]
    if horizon_days is not None:
        ahead = (day > c) & (day <= F.lit(last)) & (F.col("purchase_rows") > 0)
        aggregates.append(F.count(F.when(ahead, F.lit(1))).alias("purchase_days_ahead"))

    per_customer = (
        daily.where(day <= F.lit(last))
        .groupBy("customer_id")
        .agg(*aggregates)
        .where(F.col("purchase_days") > 0)
    )

    frequency = (F.col("purchase_days") - 1).cast("int")
    tenure_in_window = F.datediff(c, F.col("first_purchase")) + 1  # days observed, C included
    recent_rate = F.col("spend_90d").cast("double") / F.least(F.lit(TREND_DAYS), tenure_in_window)
    year_rate = F.col("spend_365d").cast("double") / F.least(F.lit(YEAR_DAYS), tenure_in_window)
    money = {
        "monetary_value": F.when(
            frequency > 0,
            (F.col("spend_total") - F.col("first_day_spend")).cast("double") / frequency,
        ).otherwise(F.lit(0.0)),
        **{f"spend_{n}d": F.col(f"spend_{n}d").cast("double") for n in WINDOWS},
        "spend_total": F.col("spend_total").cast("double"),
        "avg_basket": _ratio(F.col("spend_total"), F.col("orders_total")),
        "refund_amount_365d": F.col("refund_amount_365d").cast("double"),
    }
    derived: dict[str, Column] = {
        "customer_id": F.col("customer_id"),
        "cutoff_date": c,
        "frequency": frequency,
        "recency": F.datediff(F.col("last_purchase"), F.col("first_purchase")),
        "T": F.datediff(c, F.col("first_purchase")),
        **money,
        "days_since_last_purchase": F.datediff(c, F.col("last_purchase")),
        "n_categories": F.col("n_categories"),
        **{
            f"channel_share_{ch}": _ratio(F.col(f"orders_{ch}"), F.col("orders_total"))
            for ch in CHANNEL_BUCKETS
        },
        "refund_rate": _ratio(F.col("refund_rows"), F.col("purchase_rows") + F.col("refund_rows")),
        "refund_rate_90d": _ratio(
            F.col("refund_rows_90d"), F.col("purchase_rows_90d") + F.col("refund_rows_90d")
        ),
        "tenure_days": F.datediff(c, F.col("first_event")),
        "spend_trend_90d": F.when(year_rate > 0, recent_rate / year_rate).otherwise(F.lit(0.0)),
        "orders_change_90d": F.col("orders_90d") - F.col("orders_prev_90d"),
    }
    columns = [
        derived[name].alias(name) if name in derived else F.col(name) for name in FEATURE_COLUMNS
    ]
    if horizon_days is not None:
        columns.append(
            F.when(F.col("purchase_days_ahead") > 0, F.lit(0))
            .otherwise(F.lit(1))
            .alias(LABEL_COLUMN)
        )
    return per_customer.select(*columns)


def activity_summary(daily: DataFrame) -> DataFrame:
    """One row: the day span of the data and its row counts (for cutoffs and the run report)."""
    bought = F.col("purchase_rows") > 0
    return daily.agg(
        F.min("day").alias("first_day"),
        F.max("day").alias("last_day"),
        F.min(F.when(bought, F.col("day"))).alias("first_purchase_day"),
        F.coalesce(F.sum("purchase_rows"), F.lit(0)).alias("purchase_rows"),
        F.coalesce(F.sum("refund_rows"), F.lit(0)).alias("refund_rows"),
        F.coalesce(F.sum("zero_rows"), F.lit(0)).alias("zero_amount_rows"),
        F.count_distinct("customer_id").alias("customers"),
    )
