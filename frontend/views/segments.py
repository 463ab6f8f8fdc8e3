"""Segments: RFM-style segments (assigned by the training job) and how churn risk and revenue
split across them. From ``_summary.json``'s ``by_segment``: no scan of the predictions."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from frontend import charts, data, i18n, logic, ui

lang = ui.lang()
t = i18n.t
st.title(t("page.segments", lang))

pointer = ui.current_run(lang)
summary = data.summary(str(pointer["run_id"])) if pointer is not None else None
if pointer is not None and summary is None:
    st.warning(t("empty.no_predictions", lang, run_id=pointer["run_id"]))

if summary is not None:
    rows = logic.segment_rows(summary)
    st.caption(t("segments.rule", lang))
    st.subheader(t("segments.table", lang))
    st.dataframe(
        pd.DataFrame(
            {
                t("col.segment", lang): [i18n.segment_label(r.segment, lang) for r in rows],
                t("seg.customers", lang): [r.customers for r in rows],
                t("seg.customer_share", lang): [r.customer_share for r in rows],
                t("seg.revenue", lang): [r.revenue_365d for r in rows],
                t("seg.revenue_share", lang): [r.revenue_share for r in rows],
                t("seg.mean_probability", lang): [r.mean_probability for r in rows],
                t("seg.high_risk", lang): [r.high_risk for r in rows],
                t("seg.high_risk_share", lang): [r.high_risk_share for r in rows],
            }
        ),
        hide_index=True,
        column_config={
            t("seg.customer_share", lang): st.column_config.NumberColumn(format="percent"),
            t("seg.revenue", lang): st.column_config.NumberColumn(format="localized"),
            t("seg.revenue_share", lang): st.column_config.NumberColumn(format="percent"),
            t("seg.mean_probability", lang): st.column_config.NumberColumn(format="percent"),
            t("seg.high_risk_share", lang): st.column_config.NumberColumn(format="percent"),
        },
    )
    left, right = st.columns(2)
    with left:
        st.subheader(t("seg.revenue_share", lang))
        st.altair_chart(charts.segment_shares(rows, lang))
    with right:
        st.subheader(t("seg.mean_probability", lang))
        st.altair_chart(charts.segment_risk(rows, lang))
