"""frontend.logic, with values worked out by hand."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pyarrow as pa
import pytest

from frontend import logic

UTC = dt.UTC


def summary(customers: int, revenue: float, rate: float, high: int, high_rev: float) -> dict:
    return {
        "customers": customers,
        "revenue_365d": revenue,
        "churn_rate_train": rate,
        "mean_probability": 0.3,
        "by_band": {
            "low": {"customers": customers - high - 10, "revenue_365d": revenue - high_rev - 5},
            "high": {"customers": high, "revenue_365d": high_rev},
            "medium": {"customers": 10, "revenue_365d": 5.0},
        },
    }


def test_overview_kpis_and_deltas() -> None:
    now = summary(1000, 5_000_000.0, 0.25, 120, 300_000.0)
    before = summary(950, 5_200_000.0, 0.27, 100, 250_000.0)
    kpis = logic.overview_kpis(now, before)
    assert kpis["customers"] == logic.Kpi(1000, 950)
    assert kpis["customers"].delta == 50
    assert kpis["revenue_365d"].delta == -200_000.0
    assert kpis["churn_rate_train"].delta == pytest.approx(-0.02)
    assert kpis["high_risk"].delta == 20
    assert kpis["revenue_at_risk"].delta == 50_000.0
    first = logic.overview_kpis(now)
    assert first["customers"].delta is None and first["customers"].value == 1000
    # a summary without bands (an older or partial run) has no high-risk figure, not 0
    bare = logic.overview_kpis({"customers": 5}, now)
    assert bare["high_risk"] == logic.Kpi(None, 120) and bare["high_risk"].delta is None
    assert bare["revenue_at_risk"].value is None
    no_high = {**now, "by_band": {"low": {"customers": 5, "revenue_365d": 1.0}}}
    assert logic.overview_kpis(no_high)["high_risk"].value == 0


def test_previous_run_is_the_one_created_before_not_the_one_named_before() -> None:
    history = [
        {"run_id": "b-second", "created_at": "2026-11-02T00:00:00+00:00"},
        {"run_id": "a-third", "created_at": "2026-11-03T00:00:00Z"},
        {"run_id": "c-first", "created_at": "2026-11-01T00:00:00+00:00"},
    ]
    assert logic.previous_run_id(history, "a-third") == "b-second"
    assert logic.previous_run_id(history, "b-second") == "c-first"
    assert logic.previous_run_id(history, "c-first") is None
    assert logic.previous_run_id([], "x") is None
    assert [r.run_id for r in logic.history_rows(history)] == ["a-third", "b-second", "c-first"]


def test_band_rows_in_risk_order_with_shares() -> None:
    rows = logic.band_rows(summary(100, 1000.0, 0.2, 30, 400.0))
    assert [r.band for r in rows] == ["high", "medium", "low"]
    assert [r.customers for r in rows] == [30, 10, 60]
    assert [r.share for r in rows] == pytest.approx([0.3, 0.1, 0.6])


def test_freshness_takes_the_latest_of_each() -> None:
    reports = [
        {"input": {"last_day": "2026-11-20"}, "started_at": "2026-11-21T01:00:00+00:00",
         "duration_s": 90},
        {"input": {"last_day": "2026-11-27"}, "started_at": "2026-11-28T01:00:00+00:00",
         "duration_s": 30.5},
    ]  # fmt: skip
    manifests = [
        {"processed_at": "2026-11-28T00:10:00+00:00"},
        {"processed_at": "2026-11-27T23:59:00+00:00"},
        {"status": "publishing"},
    ]
    fresh = logic.freshness(reports, manifests, [{"created_at": "2026-11-28T02:00:00+00:00"}])
    assert fresh.latest_event == dt.date(2026, 11, 27)
    assert fresh.latest_ingest == dt.datetime(2026, 11, 28, 0, 10, tzinfo=UTC)
    assert fresh.latest_features == dt.datetime(2026, 11, 28, 1, 0, 30, 500000, tzinfo=UTC)
    assert fresh.latest_training == dt.datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    empty = logic.freshness([], [], [])
    assert empty == logic.Freshness(None, None, None, None)


def predictions() -> pa.Table:
    return pa.table(
        {
            "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
            "churn_probability": [0.9, 0.2, 0.7, 0.9, 0.5, 0.05],
            "risk_band": ["high", "low", "high", "high", "medium", "low"],
            "segment": ["at_risk", "loyal", "hibernating", "at_risk", "new", "champions"],
            "main_channel": ["app", "online", "app", "offline", "app", "online"],
        }
    )


def test_filters_combine_and_empty_means_all() -> None:
    table = predictions()
    assert logic.filter_predictions(table, logic.Filters()).num_rows == 6
    high = logic.filter_predictions(table, logic.Filters(bands=("high",)))
    assert high["customer_id"].to_pylist() == ["c1", "c3", "c4"]
    high_app = logic.filter_predictions(table, logic.Filters(("high",), (), ("app",)))
    assert high_app["customer_id"].to_pylist() == ["c1", "c3"]
    at_risk_app = logic.filter_predictions(
        table, logic.Filters(("high", "medium"), ("at_risk", "new"), ("app",))
    )
    assert at_risk_app["customer_id"].to_pylist() == ["c1", "c5"]
    none = logic.filter_predictions(table, logic.Filters(("low",), ("at_risk",), ()))
    assert none.num_rows == 0
    assert logic.top_by_probability(none, 10).num_rows == 0


def test_top_by_probability_breaks_ties_by_id() -> None:
    table = predictions()
    assert logic.top_by_probability(table, 3)["customer_id"].to_pylist() == ["c1", "c4", "c3"]
    assert logic.top_by_probability(table, 100)["customer_id"].to_pylist() == [
        "c1", "c4", "c3", "c5", "c2", "c6",
    ]  # fmt: skip
    assert logic.top_by_probability(table, 0).num_rows == 0


def test_distinct_values_in_documented_order() -> None:
    table = predictions()
    assert logic.distinct(table, "risk_band", logic.BAND_ORDER) == ["high", "medium", "low"]
    assert logic.distinct(table, "segment", logic.SEGMENT_ORDER) == [
        "champions", "loyal", "new", "at_risk", "hibernating",
    ]  # fmt: skip
    assert logic.ordered(["zz", "app", "aa"], logic.CHANNEL_ORDER) == ["app", "aa", "zz"]
    assert logic.distinct(table, "no_such_column", ()) == []


def test_csv_opens_in_excel_with_korean_text() -> None:
    table = pa.table({"customer_id": ["c1"], "segment": ["휴면"], "p": [0.5]})
    raw = logic.to_csv(table)
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows == [["customer_id", "segment", "p"], ["c1", "휴면", "0.5"]]


def test_segment_rows_shares() -> None:
    rows = logic.segment_rows(
        {
            "by_segment": {
                "hibernating": {"customers": 30, "revenue_365d": 100.0, "mean_probability": 0.8,
                                "high_risk": 24},
                "champions": {"customers": 10, "revenue_365d": 900.0, "mean_probability": 0.1,
                              "high_risk": 0},
                "vip": {"customers": 0, "revenue_365d": 0.0, "high_risk": 0},
            }
        }
    )  # fmt: skip
    assert [r.segment for r in rows] == ["champions", "hibernating"]  # nobody is a "vip"
    champions, hibernating = rows
    assert champions.customer_share == 0.25 and champions.revenue_share == 0.9
    assert hibernating.customer_share == 0.75 and hibernating.revenue_share == 0.1
    assert hibernating.high_risk_share == 0.8
    assert logic.segment_rows({}) == []


METRICS = {
    "threshold": 0.4,
    "model": {
        "name": "hgb", "roc_auc": 0.9, "pr_auc": 0.7, "brier": 0.1, "log_loss": 0.3,
        "precision": 0.6, "recall": 0.8, "f1": 0.69,
        "confusion_matrix": {"tp": 80, "fp": 53, "tn": 847, "fn": 20},
        "roc_curve": {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.9, 1.0], "thresholds": [1, 0.5, 0]},
        "pr_curve": {"precision": [1.0, 0.5], "recall": [0.1, 1.0], "thresholds": [0.9, 0.1]},
        "calibration": [
            {"bin_lower": 0.0, "bin_upper": 0.1, "mean_predicted": 0.05,
             "fraction_positive": 0.04, "count": 500},
            {"bin_lower": 0.1, "bin_upper": 0.2, "mean_predicted": None,
             "fraction_positive": None, "count": 0},
        ],
    },
    "baseline": {"name": "recency", "roc_auc": 0.8, "pr_auc": 0.5, "brier": 0.15,
                 "log_loss": 0.4, "precision": 0.5, "recall": 0.5, "f1": 0.5},
    "permutation_importance": [
        {"feature": "a", "importance_mean": 0.01, "importance_std": 0.001},
        {"feature": "b", "importance_mean": 0.2, "importance_std": 0.02},
    ],
}  # fmt: skip


def test_comparison_lift_is_positive_when_the_model_is_better() -> None:
    rows = {r.metric: r for r in logic.comparison_rows(METRICS)}
    assert rows["roc_auc"].lift == pytest.approx(0.1)
    assert rows["brier"].lift == pytest.approx(0.05)  # lower is better: 0.15 - 0.10
    assert rows["log_loss"].lift == pytest.approx(0.1)
    assert list(rows) == ["roc_auc", "pr_auc", "brier", "log_loss", "precision", "recall", "f1"]


def test_confusion_curves_calibration_importance() -> None:
    cm = logic.confusion(METRICS)
    assert (cm.tp, cm.fp, cm.tn, cm.fn, cm.total) == (80, 53, 847, 20, 1000)
    assert logic.confusion(METRICS, "baseline") == logic.Confusion(0, 0, 0, 0)
    roc = logic.curve_points(METRICS, "roc_curve")
    assert roc == [
        {"curve": "hgb", "x": 0.0, "y": 0.0},
        {"curve": "hgb", "x": 0.5, "y": 0.9},
        {"curve": "hgb", "x": 1.0, "y": 1.0},
    ]
    pr = logic.curve_points(METRICS, "pr_curve")
    assert pr == [{"curve": "hgb", "x": 0.1, "y": 1.0}, {"curve": "hgb", "x": 1.0, "y": 0.5}]
    # the empty bin is left out
    assert logic.calibration_points(METRICS) == [
        {"curve": "hgb", "x": 0.05, "y": 0.04, "count": 500}
    ]
    assert [r.feature for r in logic.importance_rows(METRICS)] == ["b", "a"]
    assert [r.feature for r in logic.importance_rows(METRICS, top=1)] == ["b"]


MANIFESTS = [
    {"source": {"key": "transactions/a.csv", "size": 1000}, "dataset": "transactions",
     "status": "curated", "rows": {"read": 100, "written": 98, "rejected": 2},
     "bytes": {"in": 1000, "out": 250}, "processed_at": "2026-11-27T10:00:00+00:00",
     "timings_s": {"total": 1.5}},
    {"source": {"key": "transactions/b.csv", "size": 50}, "dataset": "transactions",
     "status": "quarantined", "reason": "missing column", "code": "missing_column",
     "bytes": {"in": 50, "out": 0}, "processed_at": "2026-11-28T10:00:00+00:00"},
    {"source": {"key": "transactions/c.csv", "size": 3000}, "dataset": "transactions",
     "status": "curated", "rows": {"read": 300, "written": 300, "rejected": 0},
     "bytes": {"in": 3000, "out": 750}, "processed_at": "2026-11-26T10:00:00+00:00"},
]  # fmt: skip


def test_file_rows_newest_first_and_totals() -> None:
    rows = logic.file_rows(MANIFESTS)
    assert [r.key for r in rows] == ["transactions/b.csv", "transactions/a.csv",
                                     "transactions/c.csv"]  # fmt: skip
    assert rows[0].reason == "missing column" and rows[0].rows_read is None
    totals = logic.health_totals(rows)
    assert (totals.files, totals.curated, totals.quarantined) == (3, 2, 1)
    assert (totals.rows_read, totals.rows_written, totals.rows_rejected) == (400, 398, 2)
    # bytes of curated files only: 4000 → 1000
    assert (totals.bytes_in, totals.bytes_out, totals.saving) == (4000, 1000, 0.75)
    assert logic.health_totals([]).saving is None


def test_last_runs_of_each_step() -> None:
    reports = [
        {"run_id": "f1", "started_at": "2026-11-27T00:00:00+00:00", "duration_s": 10,
         "input": {"customers": 5}, "snapshots": {"train": {"positive_rate": 0.2}}},
        {"run_id": "f2", "started_at": "2026-11-28T00:00:00+00:00", "duration_s": 20,
         "input": {"customers": 6}, "snapshots": {"train": {"positive_rate": 0.3}}},
    ]  # fmt: skip
    history = [{"run_id": "t1", "created_at": "2026-11-28T01:00:00+00:00", "fit_seconds": 3.0,
                "model": {"roc_auc": 0.9}, "data": {"n_train": 50}}]  # fmt: skip
    runs = logic.last_runs(logic.file_rows(MANIFESTS), reports, history, per_step=2)
    assert [(r.step, r.run_id) for r in runs] == [
        ("ingest", "transactions/b.csv"),
        ("ingest", "transactions/a.csv"),
        ("features", "f2"),
        ("features", "f1"),
        ("training", "t1"),
    ]
    assert runs[2].finished_at == dt.datetime(2026, 11, 28, 0, 0, 20, tzinfo=UTC)
    assert runs[2].detail == {"customers": 6, "positive_rate": 0.3}
    # a training run's duration is unknown: fit_seconds times one forest's fit, shown as such
    assert runs[4].seconds is None
    assert runs[4].detail == {"roc_auc": 0.9, "n_train": 50, "fit_seconds": 3.0}


def test_parsing_is_forgiving() -> None:
    assert logic.parse_time("2026-11-28T01:02:03") == dt.datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC)
    assert logic.parse_time("yesterday") is None and logic.parse_time(None) is None
    assert logic.parse_day("2026-11-28T01:00:00Z") == dt.date(2026, 11, 28)
    assert logic.parse_day("") is None


def test_curves_are_labelled_in_the_readers_language() -> None:
    labels = {"model": "모델", "baseline": "기준 모델"}
    metrics = {**METRICS, "baseline": {**METRICS["baseline"], "roc_curve": {"fpr": [0.0],
                                                                            "tpr": [0.0]}}}  # fmt: skip
    roc = logic.curve_points(metrics, "roc_curve", labels)
    assert {p["curve"] for p in roc} == {"모델 (hgb)", "기준 모델 (recency)"}
    assert {p["curve"] for p in logic.calibration_points(METRICS, labels)} == {"모델 (hgb)"}


def test_a_quarantined_file_wrote_no_rows() -> None:
    """Too many rejected rows: the manifest records the good rows, then the whole file is
    quarantined. Nothing reached curated, so "rows written" must not count them."""
    too_many_rejects = {
        "source": {"key": "transactions/d.csv", "size": 500}, "dataset": "transactions",
        "status": "quarantined", "reason": "12 of 100 rows rejected", "code": "too_many_rejects",
        "rows": {"read": 100, "written": 88, "rejected": 12},
        "bytes": {"in": 500, "out": 0}, "processed_at": "2026-11-29T10:00:00+00:00",
    }  # fmt: skip
    rows = logic.file_rows([*MANIFESTS, too_many_rejects])
    assert rows[0].key == "transactions/d.csv"
    assert (rows[0].rows_read, rows[0].rows_written, rows[0].rows_rejected) == (100, 0, 12)
    totals = logic.health_totals(rows)
    # 400 read, 398 written, 2 rejected in the curated files; 100 read, 12 rejected in d.csv
    assert (totals.rows_read, totals.rows_written, totals.rows_rejected) == (500, 398, 14)
    # an older manifest's "written" 88 of a quarantined file are its quarantined good rows
    assert (rows[0].rows_quarantined, totals.rows_quarantined) == (88, 88)
    assert totals.rows_read == totals.rows_written + totals.rows_rejected + 88
    # as ingest writes it now: written 0, the good rows as quarantined; the same totals
    current = {**too_many_rejects, "rows": {"read": 100, "written": 0, "rejected": 12,
                                            "duplicates": 0, "quarantined": 88}}  # fmt: skip
    assert logic.health_totals(logic.file_rows([*MANIFESTS, current])) == totals


def test_duplicates_are_counted_per_file_and_in_the_totals() -> None:
    """A whole file dropped twice (status duplicate) and an overlapping export (curated, some
    rows already curated): both show, and read = written + rejected + duplicates holds."""
    copy = {
        "source": {"key": "transactions/a (1).csv", "size": 1000},
        "dataset": "transactions",
        "status": "duplicate",
        "reason": "the same content was already curated from a.csv",
        "code": "duplicate_file",
        "duplicate_of": {"source_id": "x", "key": "transactions/a.csv"},
        "rows": {"read": 100, "written": 0, "rejected": 0, "duplicates": 100},
        "bytes": {"in": 1000, "out": 0},
        "processed_at": "2026-11-29T10:00:00+00:00",
    }
    overlap = {
        "source": {"key": "transactions/e.csv", "size": 900}, "dataset": "transactions",
        "status": "curated",
        "rows": {"read": 90, "written": 60, "rejected": 1, "duplicates": 29},
        "duplicates": {"rows": 29, "conflicting": 4, "earlier": [
            {"source_id": "x", "key": "transactions/a.csv", "rows": 20},
            {"source_id": "y", "key": "transactions/c.csv", "rows": 9}]},
        "bytes": {"in": 900, "out": 200}, "processed_at": "2026-11-30T10:00:00+00:00",
    }  # fmt: skip
    rows = logic.file_rows([*MANIFESTS, copy, overlap])
    assert [r.key for r in rows[:2]] == ["transactions/e.csv", "transactions/a (1).csv"]
    assert (rows[0].rows_duplicate, rows[0].rows_conflicting) == (29, 4)
    assert rows[0].duplicate_of == ("transactions/a.csv", "transactions/c.csv")
    assert (rows[1].status, rows[1].rows_duplicate) == ("duplicate", 100)
    assert rows[1].duplicate_of == ("transactions/a.csv",)
    totals = logic.health_totals(rows)
    assert (totals.files, totals.curated, totals.quarantined, totals.duplicates) == (5, 3, 1, 1)
    # read 100 + 300 + 100 + 90 = 590 = written 398 + 60, rejected 2 + 1, duplicates 129
    assert (totals.rows_read, totals.rows_written) == (590, 458)
    assert (totals.rows_rejected, totals.rows_duplicate) == (3, 129)
    assert totals.rows_read == totals.rows_written + totals.rows_rejected + totals.rows_duplicate
    # a duplicate file's bytes are not the curated files' bytes
    assert (totals.bytes_in, totals.bytes_out) == (4900, 1200)
