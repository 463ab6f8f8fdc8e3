"""Overview: the headline figures of the latest run, against the previous one, and freshness.

Reads only small documents (_summary.json, the pointers, run reports and manifests), never the
predictions table: this is the first page and renders in well under a second at 10⁶ customers.
"""

from __future__ import annotations

import streamlit as st

from frontend import charts, data, i18n, logic, ui

lang = ui.lang()
t = i18n.t
st.title(t("page.overview", lang))

pointer = ui.current_run(lang)
if pointer is not None:
    run_id = str(pointer["run_id"])
    summary = data.summary(run_id)
    if summary is None:
        st.warning(t("empty.no_predictions", lang, run_id=pointer["run_id"]))
    else:
        previous_id = logic.previous_run_id(data.metrics_history(), run_id)
        previous = data.summary(previous_id) if previous_id else None
        st.caption(
            t(
                "overview.run",
                lang,
                run_id=run_id,
                cutoff=i18n.fmt_date(logic.parse_day(summary.get("score_cutoff")), lang),
            )
            + " · "
            + (
                t("overview.previous", lang, run_id=previous_id)
                if previous is not None
                else t("overview.no_previous", lang)
            )
        )
        kpis = logic.overview_kpis(summary, previous)
        columns = st.columns(4)
        with columns[0]:
            k = kpis["customers"]
            ui.metric(
                t("kpi.customers", lang),
                i18n.fmt_int(k.value),
                i18n.fmt_delta_int(k.delta),
                change=k.delta,
            )
        with columns[1]:
            k = kpis["revenue_365d"]
            ui.metric(
                t("kpi.revenue", lang),
                i18n.fmt_krw_compact(k.value, lang),
                i18n.fmt_delta_krw(k.delta, lang),
                help=i18n.fmt_krw(k.value),
                change=k.delta,
            )
        with columns[2]:
            k = kpis["churn_rate_train"]
            ui.metric(
                t("kpi.churn_rate", lang),
                i18n.fmt_pct(k.value),
                i18n.fmt_delta_points(k.delta, lang),
                inverse=True,
                change=k.delta,
            )
        with columns[3]:
            k = kpis["high_risk"]
            ui.metric(
                t("kpi.high_risk", lang),
                i18n.fmt_int(k.value),
                i18n.fmt_delta_int(k.delta),
                inverse=True,
                change=k.delta,
            )
        left, right = st.columns([2, 1])
        with left:
            st.subheader(t("overview.bands", lang))
            st.altair_chart(charts.band_bars(logic.band_rows(summary), lang))
        with right:
            k = kpis["revenue_at_risk"]
            ui.metric(
                t("kpi.revenue_at_risk", lang),
                i18n.fmt_krw_compact(k.value, lang),
                i18n.fmt_delta_krw(k.delta, lang),
                help=i18n.fmt_krw(k.value),
                inverse=True,
                change=k.delta,
            )

st.subheader(t("overview.freshness", lang))
fresh = logic.freshness(data.features_reports(), data.manifests(), data.metrics_history())
freshness_columns = st.columns(2)
with freshness_columns[0]:
    ui.metric(t("kpi.latest_event", lang), i18n.fmt_date(fresh.latest_event, lang))
with freshness_columns[1]:
    ui.metric(t("kpi.latest_ingest", lang), i18n.fmt_datetime(fresh.latest_ingest, lang))
