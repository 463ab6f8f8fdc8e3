"""Customers at risk: the scored customers (pseudonyms only), filtered, most at risk first.

Reads the predictions' needed columns once (a shared Arrow table), filters with Arrow compute,
shows the top N and offers the whole filtered set as CSV (built only when downloaded).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from frontend import data, i18n, logic, ui

lang = ui.lang()
t = i18n.t
st.title(t("page.customers", lang))

pointer = ui.current_run(lang)
table = None
if pointer is not None:
    run_id = str(pointer["run_id"])
    table = data.predictions(run_id, logic.AT_RISK_COLUMNS)
    if table is None:
        st.warning(t("empty.no_predictions", lang, run_id=pointer["run_id"]))

if pointer is not None and table is not None:
    bands = logic.distinct(table, "risk_band", logic.BAND_ORDER)
    segments = logic.distinct(table, "segment", logic.SEGMENT_ORDER)
    channels = logic.distinct(table, "main_channel", logic.CHANNEL_ORDER)
    columns = st.columns([1, 1, 1, 1])
    chosen_bands = columns[0].multiselect(
        t("filter.band", lang),
        bands,
        default=["high"] if "high" in bands else None,
        format_func=lambda b: i18n.band_label(b, lang),
        key="filter_band",
        placeholder=t("filter.all", lang),
    )
    chosen_segments = columns[1].multiselect(
        t("filter.segment", lang),
        segments,
        format_func=lambda s: i18n.segment_label(s, lang),
        key="filter_segment",
        placeholder=t("filter.all", lang),
    )
    chosen_channels = columns[2].multiselect(
        t("filter.channel", lang),
        channels,
        format_func=lambda c: i18n.channel_label(c, lang),
        key="filter_channel",
        placeholder=t("filter.all", lang),
    )
    top_n = int(
        columns[3].number_input(
            t("filter.top_n", lang), min_value=10, max_value=5000, value=100, step=10, key="top_n"
        )
    )
    filters = logic.Filters(tuple(chosen_bands), tuple(chosen_segments), tuple(chosen_channels))
    matching = logic.filter_predictions(table, filters)
    top = logic.top_by_probability(matching, top_n)
    st.caption(
        t(
            "customers.matching",
            lang,
            n=i18n.fmt_int(matching.num_rows),
            shown=i18n.fmt_int(top.num_rows),
        )
    )
    if matching.num_rows == 0:
        st.info(t("empty.no_match", lang))
    else:
        frame = pd.DataFrame(
            {
                t("col.customer_id", lang): top["customer_id"].to_pylist(),
                t("col.churn_probability", lang): top["churn_probability"].to_pylist(),
                t("col.risk_band", lang): [
                    i18n.band_label(b, lang) for b in top["risk_band"].to_pylist()
                ],
                t("col.segment", lang): [
                    i18n.segment_label(s, lang) for s in top["segment"].to_pylist()
                ],
                t("col.main_channel", lang): [
                    i18n.channel_label(c, lang) for c in top["main_channel"].to_pylist()
                ],
                t("col.days_since_last_purchase", lang): top[
                    "days_since_last_purchase"
                ].to_pylist(),
                t("col.orders_total", lang): top["orders_total"].to_pylist(),
                t("col.spend_365d", lang): top["spend_365d"].to_pylist(),
                t("col.top_factors", lang): [
                    i18n.factors_label(f or "", lang) for f in top["top_factors"].to_pylist()
                ],
            }
        )
        st.dataframe(
            frame,
            hide_index=True,
            column_config={
                t("col.churn_probability", lang): st.column_config.ProgressColumn(
                    format="percent", min_value=0.0, max_value=1.0
                ),
                t("col.spend_365d", lang): st.column_config.NumberColumn(format="localized"),
            },
        )
        st.download_button(
            t("customers.download", lang, n=i18n.fmt_int(matching.num_rows)),
            data=lambda: logic.to_csv(logic.by_probability(matching)),
            file_name=f"churn-risk-{run_id}.csv",
            mime="text/csv",
            key="download_csv",
            icon=":material/download:",
        )
    st.caption(t("customers.ids_note", lang))
