"""The columns the model reads, and the descriptive columns the report filters by.

A *frame* is a snapshot as plain columns: ``{"customer_id": array, "frequency": array, …}``
(what ``pyarrow.Table.to_pydict``/``to_numpy`` gives). The features job defines every column
(docs/features.md); the model uses all of its numeric features, and nothing that names the
customer or the date.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

Frame = Mapping[str, npt.NDArray[Any]]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ID_COLUMN: Final = "customer_id"
CUTOFF_COLUMN: Final = "cutoff_date"
LABEL_COLUMN: Final = "churned"

CHANNELS: Final[tuple[str, ...]] = ("online", "offline", "app", "other")

# Every numeric feature of the snapshots (glue_jobs/features/transform.py FEATURE_COLUMNS
# without customer_id and cutoff_date), in the snapshot's order.
MODEL_FEATURES: Final[tuple[str, ...]] = (
    "frequency",
    "recency",
    "T",
    "monetary_value",
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
    *(f"channel_share_{c}" for c in CHANNELS),
    "refund_count_365d",
    "refund_amount_365d",
    "refund_rate",
    "refund_rate_90d",
    "zero_amount_rows",
    "tenure_days",
    "spend_trend_90d",
    "orders_prev_90d",
    "orders_change_90d",
)

SEGMENTS: Final[tuple[str, ...]] = (
    "new",
    "hibernating",
    "at_risk",
    "champions",
    "loyal",
    "potential",
)
NEW_DAYS: Final = 90  # first purchase within the last 90 days
HIBERNATING_DAYS: Final = 180  # no purchase for more than 180 days
AT_RISK_DAYS: Final = 90  # no purchase for more than 90 days
CHAMPION_RECENCY_DAYS: Final = 30


class SnapshotError(ValueError):
    """A snapshot the model cannot use (missing columns, no rows, one class only)."""


def rows(frame: Frame) -> int:
    return len(frame[ID_COLUMN]) if ID_COLUMN in frame else 0


def require_columns(frame: Frame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise SnapshotError(f"the {what} snapshot lacks the columns {', '.join(missing)}")


def matrix(frame: Frame, features: Sequence[str] = MODEL_FEATURES) -> FloatArray:
    """The model's input: one row per customer, one float64 column per feature, in order."""
    require_columns(frame, features, "given")
    return np.column_stack([np.asarray(frame[f], dtype=np.float64) for f in features])


def main_channel(frame: Frame) -> npt.NDArray[np.str_]:
    """The channel with the largest share of the customer's orders (ties: the first of
    online, offline, app, other)."""
    shares = np.column_stack([np.asarray(frame[f"channel_share_{c}"], float) for c in CHANNELS])
    names: npt.NDArray[np.str_] = np.asarray(CHANNELS)[np.argmax(shares, axis=1)]
    return names


def segments(frame: Frame) -> npt.NDArray[np.str_]:
    """RFM-style segment of each customer at the snapshot's cutoff; the first rule that
    matches wins (R = days_since_last_purchase, F = orders_365d, M = spend_365d; medians and
    the upper quartile are over the customers of this snapshot):

        new          T < 90: first purchase in the last 90 days
        hibernating  R > 180
        at_risk      R > 90
        champions    R <= 30, F >= upper quartile of F, M >= median of M
        loyal        F >= median of F
        potential    everyone else (recent, but buys less often than the median customer)
    """
    recency = np.asarray(frame["days_since_last_purchase"], dtype=np.float64)
    age = np.asarray(frame["T"], dtype=np.float64)
    freq = np.asarray(frame["orders_365d"], dtype=np.float64)
    money = np.asarray(frame["spend_365d"], dtype=np.float64)
    if len(recency) == 0:
        return np.asarray([], dtype=np.str_)
    f_median, f_q75 = np.quantile(freq, [0.5, 0.75])
    m_median = np.quantile(money, 0.5)
    conditions = [
        age < NEW_DAYS,
        recency > HIBERNATING_DAYS,
        recency > AT_RISK_DAYS,
        (recency <= CHAMPION_RECENCY_DAYS) & (freq >= f_q75) & (money >= m_median),
        freq >= f_median,
    ]
    return np.select(conditions, list(SEGMENTS[:-1]), default=SEGMENTS[-1]).astype(np.str_)
