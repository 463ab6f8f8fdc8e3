"""What the report computes from what the pipeline wrote. Pure and typed: no Streamlit, no I/O.

Inputs are the documents as read from the lake (``dict`` from JSON, ``pyarrow.Table`` from
Parquet, see docs/report.md for where each comes from); outputs are small dataclasses and lists
the pages lay out. Nothing here formats for a language: ``frontend.i18n`` does that.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

BAND_ORDER: Final[tuple[str, ...]] = ("high", "medium", "low")
SEGMENT_ORDER: Final[tuple[str, ...]] = (
    "champions",
    "loyal",
    "potential",
    "new",
    "at_risk",
    "hibernating",
)
CHANNEL_ORDER: Final[tuple[str, ...]] = ("online", "offline", "app", "other")

# The predictions columns the at-risk page reads (the rest of the file stays unread).
AT_RISK_COLUMNS: Final[tuple[str, ...]] = (
    "customer_id",
    "churn_probability",
    "risk_band",
    "segment",
    "main_channel",
    "days_since_last_purchase",
    "orders_total",
    "spend_365d",
    "top_factors",
)


def parse_time(value: object) -> dt.datetime | None:
    """An ISO timestamp from a JSON document (naive means UTC); None if absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_day(value: object) -> dt.date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def ordered(values: Iterable[str], order: Sequence[str]) -> list[str]:
    """``values`` in the documented order first, unknown ones after them alphabetically."""
    present = set(values)
    return [v for v in order if v in present] + sorted(present - set(order))


# --------------------------------------------------------------------------------------------
# Overview


@dataclass(frozen=True)
class Kpi:
    value: float | None
    previous: float | None = None

    @property
    def delta(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


def _band(summary: Mapping[str, Any], band: str, field: str) -> float | None:
    """A band's figure; 0 for a band nobody is in, None when the summary has no bands."""
    by_band = summary.get("by_band")
    if not isinstance(by_band, Mapping) or not by_band:
        return None
    return _float((by_band.get(band) or {}).get(field, 0))


def _kpi_values(summary: Mapping[str, Any]) -> dict[str, float | None]:
    return {
        "customers": _float(summary.get("customers")),
        "revenue_365d": _float(summary.get("revenue_365d")),
        "churn_rate_train": _float(summary.get("churn_rate_train")),
        "high_risk": _band(summary, "high", "customers"),
        "revenue_at_risk": _band(summary, "high", "revenue_365d"),
        "mean_probability": _float(summary.get("mean_probability")),
    }


def overview_kpis(
    summary: Mapping[str, Any], previous: Mapping[str, Any] | None = None
) -> dict[str, Kpi]:
    """The headline figures of a run's ``_summary.json``, with the previous run's beside them."""
    now = _kpi_values(summary)
    before = _kpi_values(previous) if previous else {}
    return {name: Kpi(value, before.get(name)) for name, value in now.items()}


def sorted_runs(history: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Training runs (``metrics/*.json``) oldest first, by ``created_at`` (then run id)."""
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(
        history,
        key=lambda m: (parse_time(m.get("created_at")) or epoch, str(m.get("run_id", ""))),
    )


def previous_run_id(history: Iterable[Mapping[str, Any]], run_id: str) -> str | None:
    """The training run before ``run_id`` (by ``created_at``); None when it is the first."""
    ids = [str(m.get("run_id")) for m in sorted_runs(history)]
    if run_id not in ids:
        return ids[-1] if ids else None
    position = ids.index(run_id)
    return ids[position - 1] if position > 0 else None


@dataclass(frozen=True)
class BandRow:
    band: str
    customers: int
    revenue_365d: float
    share: float


def band_rows(summary: Mapping[str, Any]) -> list[BandRow]:
    by_band: Mapping[str, Any] = summary.get("by_band") or {}
    total = sum(int(v.get("customers", 0)) for v in by_band.values()) or 1
    return [
        BandRow(
            band,
            int(by_band[band].get("customers", 0)),
            float(by_band[band].get("revenue_365d", 0.0)),
            int(by_band[band].get("customers", 0)) / total,
        )
        for band in ordered(by_band, BAND_ORDER)
    ]


@dataclass(frozen=True)
class Freshness:
    latest_event: dt.date | None  # last day with data, as the latest features run saw it
    latest_ingest: dt.datetime | None  # when the most recent landed file was processed
    latest_features: dt.datetime | None
    latest_training: dt.datetime | None


def features_finished_at(report: Mapping[str, Any]) -> dt.datetime | None:
    started = parse_time(report.get("started_at"))
    duration = _float(report.get("duration_s"))
    if started is None:
        return None
    return started + dt.timedelta(seconds=duration or 0.0)


def freshness(
    features_reports: Iterable[Mapping[str, Any]],
    manifests: Iterable[Mapping[str, Any]],
    history: Iterable[Mapping[str, Any]],
) -> Freshness:
    reports = list(features_reports)
    days = [parse_day((r.get("input") or {}).get("last_day")) for r in reports]
    ingests = [parse_time(m.get("processed_at")) for m in manifests]
    features = [features_finished_at(r) for r in reports]
    trained = [parse_time(m.get("created_at")) for m in history]
    return Freshness(
        latest_event=max((d for d in days if d), default=None),
        latest_ingest=max((t for t in ingests if t), default=None),
        latest_features=max((t for t in features if t), default=None),
        latest_training=max((t for t in trained if t), default=None),
    )


# --------------------------------------------------------------------------------------------
# Customers at risk


@dataclass(frozen=True)
class Filters:
    """What the at-risk page shows; an empty selection means "no filter" on that column."""

    bands: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()


def distinct(table: pa.Table, column: str, order: Sequence[str]) -> list[str]:
    if column not in table.column_names:
        return []
    values = [v for v in pc.unique(table[column]).to_pylist() if v is not None]
    return ordered(values, order)


def filter_predictions(table: pa.Table, filters: Filters) -> pa.Table:
    mask: pa.ChunkedArray | None = None
    for column, wanted in (
        ("risk_band", filters.bands),
        ("segment", filters.segments),
        ("main_channel", filters.channels),
    ):
        if not wanted:
            continue
        condition = pc.is_in(table[column], value_set=pa.array(list(wanted), pa.string()))
        mask = condition if mask is None else pc.and_(mask, condition)
    return table if mask is None else table.filter(mask)


_BY_RISK: Final = [("churn_probability", "descending"), ("customer_id", "ascending")]


def top_by_probability(table: pa.Table, n: int) -> pa.Table:
    """The ``n`` customers most likely to churn, most likely first (ties by id)."""
    if n <= 0 or table.num_rows == 0:
        return table.slice(0, 0)
    if table.num_rows > n:
        table = table.take(pc.select_k_unstable(table, k=n, sort_keys=_BY_RISK))
    return table.sort_by(_BY_RISK)


def by_probability(table: pa.Table) -> pa.Table:
    return table.sort_by(_BY_RISK)


def to_csv(table: pa.Table) -> bytes:
    """UTF-8 CSV with a BOM, so that Excel (the stakeholders' tool) opens Korean text right."""
    buffer = io.BytesIO()
    buffer.write("\ufeff".encode())
    pacsv.write_csv(table, buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Segments


@dataclass(frozen=True)
class SegmentRow:
    segment: str
    customers: int
    customer_share: float
    revenue_365d: float
    revenue_share: float
    mean_probability: float | None
    high_risk: int
    high_risk_share: float


def segment_rows(summary: Mapping[str, Any]) -> list[SegmentRow]:
    by_segment: Mapping[str, Any] = summary.get("by_segment") or {}
    customers = sum(int(v.get("customers", 0)) for v in by_segment.values())
    revenue = sum(float(v.get("revenue_365d", 0.0)) for v in by_segment.values())
    rows = []
    for name in ordered(by_segment, SEGMENT_ORDER):
        v = by_segment[name]
        n = int(v.get("customers", 0))
        if n == 0:  # a segment nobody is in (the summary lists every documented one)
            continue
        high = int(v.get("high_risk", 0))
        rows.append(
            SegmentRow(
                segment=name,
                customers=n,
                customer_share=n / customers if customers else 0.0,
                revenue_365d=float(v.get("revenue_365d", 0.0)),
                revenue_share=float(v.get("revenue_365d", 0.0)) / revenue if revenue else 0.0,
                mean_probability=_float(v.get("mean_probability")),
                high_risk=high,
                high_risk_share=high / n if n else 0.0,
            )
        )
    return rows


# --------------------------------------------------------------------------------------------
# Model


@dataclass(frozen=True)
class ComparisonRow:
    metric: str  # roc_auc | pr_auc | brier | log_loss | precision | recall | f1
    model: float | None
    baseline: float | None
    higher_is_better: bool

    @property
    def lift(self) -> float | None:
        """How much better the model is (positive = better, whichever way the metric runs)."""
        if self.model is None or self.baseline is None:
            return None
        gain = self.model - self.baseline
        return gain if self.higher_is_better else -gain


COMPARED: Final[tuple[tuple[str, bool], ...]] = (
    ("roc_auc", True),
    ("pr_auc", True),
    ("brier", False),
    ("log_loss", False),
    ("precision", True),
    ("recall", True),
    ("f1", True),
)


def comparison_rows(metrics: Mapping[str, Any]) -> list[ComparisonRow]:
    model: Mapping[str, Any] = metrics.get("model") or {}
    baseline: Mapping[str, Any] = metrics.get("baseline") or {}
    return [
        ComparisonRow(name, _float(model.get(name)), _float(baseline.get(name)), higher)
        for name, higher in COMPARED
        if name in model
    ]


@dataclass(frozen=True)
class Confusion:
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.tn + self.fn


def confusion(metrics: Mapping[str, Any], which: str = "model") -> Confusion:
    cm: Mapping[str, Any] = (metrics.get(which) or {}).get("confusion_matrix") or {}
    return Confusion(*(int(cm.get(k, 0)) for k in ("tp", "fp", "tn", "fn")))


def _curve_name(part: Mapping[str, Any], which: str, labels: Mapping[str, str] | None) -> str:
    """``which`` ("model" / "baseline") as ``labels`` names it, with the run's own name."""
    name = part.get("name")
    if labels is None or which not in labels:
        return str(name or which)
    return f"{labels[which]} ({name})" if name else labels[which]


def curve_points(
    metrics: Mapping[str, Any], curve: str, labels: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Long-form points of the ROC (``x`` = FPR, ``y`` = TPR) or PR (``x`` = recall,
    ``y`` = precision) curve of the model and of the baseline, labelled by their names
    (``labels``: {"model": …, "baseline": …} in the reader's language, name in brackets)."""
    x_name, y_name = ("fpr", "tpr") if curve == "roc_curve" else ("recall", "precision")
    points: list[dict[str, Any]] = []
    for which in ("model", "baseline"):
        part: Mapping[str, Any] = metrics.get(which) or {}
        data: Mapping[str, Any] = part.get(curve) or {}
        name = _curve_name(part, which, labels)
        points += [
            {"curve": name, "x": float(x), "y": float(y)}
            for x, y in zip(data.get(x_name, []), data.get(y_name, []), strict=False)
        ]
    return points


def calibration_points(
    metrics: Mapping[str, Any], labels: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    for which in ("model", "baseline"):
        part: Mapping[str, Any] = metrics.get(which) or {}
        name = _curve_name(part, which, labels)
        points += [
            {
                "curve": name,
                "x": float(b["mean_predicted"]),
                "y": float(b["fraction_positive"]),
                "count": int(b.get("count", 0)),
            }
            for b in part.get("calibration") or []
            if b.get("count") and b.get("mean_predicted") is not None
        ]
    return points


@dataclass(frozen=True)
class Importance:
    feature: str
    mean: float
    std: float


def importance_rows(metrics: Mapping[str, Any], top: int = 15) -> list[Importance]:
    rows = [
        Importance(
            str(r["feature"]), float(r["importance_mean"]), float(r.get("importance_std", 0))
        )
        for r in metrics.get("permutation_importance") or []
    ]
    return sorted(rows, key=lambda r: -r.mean)[:top]


@dataclass(frozen=True)
class HistoryRow:
    run_id: str
    created_at: dt.datetime | None
    roc_auc: float | None
    pr_auc: float | None
    brier: float | None
    baseline_roc_auc: float | None
    n_train: int | None
    threshold: float | None


def history_rows(history: Iterable[Mapping[str, Any]]) -> list[HistoryRow]:
    """Every training run, newest first."""
    rows = []
    for m in reversed(sorted_runs(history)):
        model: Mapping[str, Any] = m.get("model") or {}
        n_train = (m.get("data") or {}).get("n_train")
        rows.append(
            HistoryRow(
                run_id=str(m.get("run_id")),
                created_at=parse_time(m.get("created_at")),
                roc_auc=_float(model.get("roc_auc")),
                pr_auc=_float(model.get("pr_auc")),
                brier=_float(model.get("brier")),
                baseline_roc_auc=_float((m.get("baseline") or {}).get("roc_auc")),
                n_train=int(n_train) if isinstance(n_train, int) else None,
                threshold=_float(m.get("threshold")),
            )
        )
    return rows


# --------------------------------------------------------------------------------------------
# Pipeline health


@dataclass(frozen=True)
class FileRow:
    key: str
    dataset: str
    status: str
    reason: str | None
    code: str | None
    rows_read: int | None
    rows_written: int | None
    rows_rejected: int | None
    rows_duplicate: int | None  # not written: their key (or the whole file) was curated before
    rows_conflicting: int | None  # ... of which with other values than the kept copy
    rows_quarantined: int | None  # good rows of a file quarantined whole: not written either
    duplicate_of: tuple[str, ...]  # the earlier files those rows (or the whole file) repeat
    bytes_in: int | None
    bytes_out: int | None
    processed_at: dt.datetime | None
    seconds: float | None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def file_rows(manifests: Iterable[Mapping[str, Any]]) -> list[FileRow]:
    """One row per landed object (its ingest manifest), most recently processed first.

    The counts are the manifest's ``rows`` (docs/lake.md), for which read = written +
    rejected + duplicates + quarantined: a file quarantined whole writes nothing, and its good
    rows are ``quarantined``. Manifests written before that count existed said such a file's
    good rows as ``written``: they are read as quarantined.
    """
    rows = []
    for m in manifests:
        counts: Mapping[str, Any] = m.get("rows") or {}
        size: Mapping[str, Any] = m.get("bytes") or {}
        source: Mapping[str, Any] = m.get("source") or {}
        status = str(m.get("status") or "unknown")
        written = _int(counts.get("written"))
        quarantined = _int(counts.get("quarantined"))
        if status == "quarantined" and quarantined is None and written is not None:
            quarantined, written = written, 0  # an older manifest
        duplicates: Mapping[str, Any] = m.get("duplicates") or {}
        earlier = [e.get("key") for e in duplicates.get("earlier") or []]
        if m.get("duplicate_of"):
            earlier = [m["duplicate_of"].get("key")]
        rows.append(
            FileRow(
                key=str(source.get("key") or m.get("source_id") or "?"),
                dataset=str(m.get("dataset") or ""),
                status=status,
                reason=m.get("reason"),
                code=m.get("code"),
                rows_read=_int(counts.get("read")),
                rows_written=written,
                rows_rejected=_int(counts.get("rejected")),
                rows_duplicate=_int(counts.get("duplicates")),
                rows_conflicting=_int(duplicates.get("conflicting")),
                rows_quarantined=quarantined,
                duplicate_of=tuple(str(k) for k in earlier if k),
                bytes_in=_int(size.get("in", source.get("size"))),
                bytes_out=_int(size.get("out")),
                processed_at=parse_time(m.get("processed_at")),
                seconds=_float((m.get("timings_s") or {}).get("total")),
            )
        )
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(rows, key=lambda r: (r.processed_at or epoch, r.key), reverse=True)


@dataclass(frozen=True)
class HealthTotals:
    files: int
    curated: int
    quarantined: int
    duplicates: int  # files whose whole content was curated before
    rows_read: int
    rows_written: int
    rows_rejected: int
    rows_duplicate: int
    rows_quarantined: int  # good rows of files quarantined whole
    bytes_in: int  # source bytes of the curated files
    bytes_out: int  # their Parquet bytes

    @property
    def saving(self) -> float | None:
        """How much smaller the Parquet is than its sources (0.75: a quarter of the size)."""
        return 1 - self.bytes_out / self.bytes_in if self.bytes_in else None


def health_totals(rows: Sequence[FileRow]) -> HealthTotals:
    curated = [r for r in rows if r.status == "curated"]
    return HealthTotals(
        files=len(rows),
        curated=len(curated),
        quarantined=sum(r.status == "quarantined" for r in rows),
        duplicates=sum(r.status == "duplicate" for r in rows),
        rows_read=sum(r.rows_read or 0 for r in rows),
        rows_written=sum(r.rows_written or 0 for r in rows),
        rows_rejected=sum(r.rows_rejected or 0 for r in rows),
        rows_duplicate=sum(r.rows_duplicate or 0 for r in rows),
        rows_quarantined=sum(r.rows_quarantined or 0 for r in rows),
        bytes_in=sum(r.bytes_in or 0 for r in curated),
        bytes_out=sum(r.bytes_out or 0 for r in curated),
    )


@dataclass(frozen=True)
class StepRun:
    step: str  # ingest | features | training
    run_id: str
    finished_at: dt.datetime | None
    seconds: float | None
    detail: dict[str, Any]


def last_runs(
    files: Sequence[FileRow],
    features_reports: Iterable[Mapping[str, Any]],
    history: Iterable[Mapping[str, Any]],
    per_step: int = 3,
) -> list[StepRun]:
    """The most recent runs of each step, newest first within a step."""
    runs = [
        StepRun(
            "ingest", f.key, f.processed_at, f.seconds, {"status": f.status, "rows": f.rows_read}
        )
        for f in files[:per_step]
    ]
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    features = sorted(
        features_reports, key=lambda r: features_finished_at(r) or epoch, reverse=True
    )
    for r in features[:per_step]:
        train = (r.get("snapshots") or {}).get("train") or {}
        runs.append(
            StepRun(
                "features",
                str(r.get("run_id")),
                features_finished_at(r),
                _float(r.get("duration_s")),
                {
                    "customers": (r.get("input") or {}).get("customers"),
                    "positive_rate": _float(train.get("positive_rate")),
                },
            )
        )
    for m in list(reversed(sorted_runs(history)))[:per_step]:
        # metrics.json has no duration of the run: ``fit_seconds`` is the fit of one of its
        # two forests only, so it goes in the detail, named, not in the duration column
        runs.append(
            StepRun(
                "training",
                str(m.get("run_id")),
                parse_time(m.get("created_at")),
                None,
                {
                    "roc_auc": _float((m.get("model") or {}).get("roc_auc")),
                    "n_train": (m.get("data") or {}).get("n_train"),
                    "fit_seconds": _float(m.get("fit_seconds")),
                },
            )
        )
    return runs
