"""Vega-Lite charts (Altair) of what ``frontend.logic`` computed. Pure: no Streamlit, no I/O.

Each function takes rows and a language and returns a chart specification; the pages hand it
to ``st.altair_chart``. Labels come from ``frontend.i18n``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import pandas as pd

from frontend import i18n, logic
from frontend.i18n import Lang

BAND_COLORS = {"high": "#d62728", "medium": "#ff7f0e", "low": "#2ca02c"}
HEIGHT = 300


def band_bars(rows: Sequence[logic.BandRow], lang: Lang) -> alt.Chart:
    frame = pd.DataFrame(
        [
            {
                "band": i18n.band_label(r.band, lang),
                "key": r.band,
                "customers": r.customers,
                "share": i18n.fmt_pct(r.share),
            }
            for r in rows
        ]
    )
    order = [i18n.band_label(b, lang) for b in logic.BAND_ORDER]
    chart: alt.Chart = (
        alt.Chart(frame, height=160)
        .mark_bar()
        .encode(
            x=alt.X("customers:Q", title=i18n.t("chart.count", lang)),
            y=alt.Y("band:N", sort=order, title=None),
            color=alt.Color(
                "key:N",
                scale=alt.Scale(domain=list(BAND_COLORS), range=list(BAND_COLORS.values())),
                legend=None,
            ),
            tooltip=[
                alt.Tooltip("band:N", title=i18n.t("col.risk_band", lang)),
                alt.Tooltip("customers:Q", title=i18n.t("chart.count", lang), format=","),
                alt.Tooltip("share:N", title=i18n.t("chart.share", lang)),
            ],
        )
    )
    return chart


def _diagonal(x_title: str, y_title: str) -> alt.Chart:
    frame = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_line(strokeDash=[4, 4], color="#999999")
        .encode(x=alt.X("x:Q", title=x_title), y=alt.Y("y:Q", title=y_title))
    )
    return chart


def _curve_color(frame: pd.DataFrame, lang: Lang) -> alt.Color:
    """Model first, then the baseline (their order in the data), the legend below the chart
    so that long names are not cut."""
    return alt.Color(
        "curve:N",
        title=i18n.t("chart.curve", lang),
        sort=list(dict.fromkeys(frame["curve"])),
        legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=0),
    )


def curve(
    points: Sequence[dict[str, Any]], x_title: str, y_title: str, lang: Lang, diagonal: bool
) -> alt.LayerChart | alt.Chart:
    """ROC (with the chance diagonal) or precision-recall curves, model and baseline."""
    frame = pd.DataFrame(points or [], columns=["curve", "x", "y"])
    lines: alt.Chart = (
        alt.Chart(frame, height=HEIGHT)
        .mark_line()
        .encode(
            x=alt.X("x:Q", title=x_title, scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("y:Q", title=y_title, scale=alt.Scale(domain=[0, 1])),
            color=_curve_color(frame, lang),
            order="x:Q",
        )
    )
    if not diagonal:
        return lines
    return alt.LayerChart(layer=[_diagonal(x_title, y_title), lines])


def calibration(points: Sequence[dict[str, Any]], lang: Lang) -> alt.LayerChart:
    x_title, y_title = i18n.t("chart.predicted", lang), i18n.t("chart.observed", lang)
    frame = pd.DataFrame(points or [], columns=["curve", "x", "y", "count"])
    lines: alt.Chart = (
        alt.Chart(frame, height=HEIGHT)
        .mark_line(point=True)
        .encode(
            x=alt.X("x:Q", title=x_title, scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("y:Q", title=y_title, scale=alt.Scale(domain=[0, 1])),
            color=_curve_color(frame, lang),
            tooltip=[
                alt.Tooltip("curve:N", title=i18n.t("chart.curve", lang)),
                alt.Tooltip("x:Q", title=x_title, format=".3f"),
                alt.Tooltip("y:Q", title=y_title, format=".3f"),
                alt.Tooltip("count:Q", title=i18n.t("chart.count", lang), format=","),
            ],
        )
    )
    return alt.LayerChart(layer=[_diagonal(x_title, y_title), lines])


def confusion(cm: logic.Confusion, lang: Lang) -> alt.LayerChart:
    churn, stay = i18n.t("cm.churn", lang), i18n.t("cm.stay", lang)
    frame = pd.DataFrame(
        [
            {"actual": churn, "predicted": churn, "n": cm.tp},
            {"actual": churn, "predicted": stay, "n": cm.fn},
            {"actual": stay, "predicted": churn, "n": cm.fp},
            {"actual": stay, "predicted": stay, "n": cm.tn},
        ]
    )
    base = alt.Chart(frame, height=220).encode(
        x=alt.X("predicted:N", sort=[churn, stay], title=i18n.t("cm.predicted", lang)),
        y=alt.Y("actual:N", sort=[churn, stay], title=i18n.t("cm.actual", lang)),
    )
    cells = base.mark_rect().encode(color=alt.Color("n:Q", legend=None))
    labels = base.mark_text(fontSize=16).encode(
        text=alt.Text("n:Q", format=","),
        color=alt.condition(
            alt.datum.n > max(cm.tp, cm.fp, cm.tn, cm.fn) / 2,
            alt.value("white"),
            alt.value("black"),
        ),
    )
    return alt.LayerChart(layer=[cells, labels])


def importance(rows: Sequence[logic.Importance], lang: Lang) -> alt.Chart:
    frame = pd.DataFrame(
        [
            {"feature": i18n.feature_label(r.feature, lang), "mean": r.mean, "std": r.std}
            for r in rows
        ],
        columns=["feature", "mean", "std"],
    )
    chart: alt.Chart = (
        alt.Chart(frame, height=max(160, 22 * len(rows)))
        .mark_bar()
        .encode(
            x=alt.X("mean:Q", title=i18n.t("chart.importance", lang)),
            y=alt.Y("feature:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260)),
            tooltip=[
                alt.Tooltip("feature:N", title=i18n.t("chart.feature", lang)),
                alt.Tooltip("mean:Q", title=i18n.t("chart.importance", lang), format=".4f"),
                alt.Tooltip("std:Q", title=i18n.t("chart.importance_std", lang), format=".4f"),
            ],
        )
    )
    return chart


def history(rows: Sequence[logic.HistoryRow], lang: Lang) -> alt.Chart:
    frame = pd.DataFrame(
        [
            {"created_at": i18n.display_wall_time(r.created_at), "metric": name, "value": value}
            for r in rows
            for name, value in (
                ("ROC AUC", r.roc_auc),
                ("PR AUC", r.pr_auc),
                (i18n.t("metric.baseline", lang) + " ROC AUC", r.baseline_roc_auc),
            )
            if value is not None and r.created_at is not None
        ],
        columns=["created_at", "metric", "value"],
    )
    chart: alt.Chart = (
        alt.Chart(frame, height=240)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "created_at:T",
                title=f"{i18n.t('hist.created_at', lang)} ({i18n.TZ_LABEL})",
                axis=alt.Axis(format=i18n.CHART_DAY_TIME[lang]),
            ),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("metric:N", title=None),
            tooltip=[
                alt.Tooltip(
                    "created_at:T",
                    title=i18n.t("hist.created_at", lang),
                    format=i18n.CHART_DATETIME[lang],
                ),
                alt.Tooltip("metric:N", title=i18n.t("metric.name", lang)),
                alt.Tooltip("value:Q", title=i18n.t("chart.value", lang), format=".3f"),
            ],
        )
    )
    return chart


def segment_shares(rows: Sequence[logic.SegmentRow], lang: Lang) -> alt.Chart:
    """Each segment's share of customers next to its share of revenue."""
    customers, revenue = i18n.t("seg.customer_share", lang), i18n.t("seg.revenue_share", lang)
    frame = pd.DataFrame(
        [
            {"segment": i18n.segment_label(r.segment, lang), "what": what, "share": share}
            for r in rows
            for what, share in ((customers, r.customer_share), (revenue, r.revenue_share))
        ],
        columns=["segment", "what", "share"],
    )
    order = [i18n.segment_label(r.segment, lang) for r in rows]
    chart: alt.Chart = (
        alt.Chart(frame, height=HEIGHT)
        .mark_bar()
        .encode(
            x=alt.X("segment:N", sort=order, title=None),
            xOffset="what:N",
            y=alt.Y("share:Q", axis=alt.Axis(format="%"), title=None),
            color=alt.Color("what:N", title=None),
            tooltip=[
                alt.Tooltip("segment:N", title=i18n.t("col.segment", lang)),
                alt.Tooltip("what:N", title=i18n.t("metric.name", lang)),
                alt.Tooltip("share:Q", title=i18n.t("chart.share", lang), format=".1%"),
            ],
        )
    )
    return chart


def segment_risk(rows: Sequence[logic.SegmentRow], lang: Lang) -> alt.Chart:
    frame = pd.DataFrame(
        [
            {
                "segment": i18n.segment_label(r.segment, lang),
                "probability": r.mean_probability,
                "high_risk": r.high_risk,
            }
            for r in rows
        ],
        columns=["segment", "probability", "high_risk"],
    )
    order = [i18n.segment_label(r.segment, lang) for r in rows]
    chart: alt.Chart = (
        alt.Chart(frame, height=HEIGHT)
        .mark_bar(color=BAND_COLORS["high"])
        .encode(
            x=alt.X("segment:N", sort=order, title=None),
            y=alt.Y(
                "probability:Q",
                axis=alt.Axis(format="%"),
                title=i18n.t("seg.mean_probability", lang),
            ),
            tooltip=[
                alt.Tooltip("segment:N", title=i18n.t("col.segment", lang)),
                alt.Tooltip(
                    "probability:Q", title=i18n.t("seg.mean_probability", lang), format=".1%"
                ),
                alt.Tooltip("high_risk:Q", title=i18n.t("seg.high_risk", lang), format=","),
            ],
        )
    )
    return chart
