"""Pipeline health: every landed file (curated, quarantined and why, or a duplicate), row and
byte counts, duplicates, and the last runs of each step. From the ingest manifests and the
features / training reports."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from frontend import data, i18n, logic, ui

lang = ui.lang()
t = i18n.t
st.title(t("page.health", lang))

files = logic.file_rows(data.manifests())
if not files:
    st.info(t("empty.no_manifests", lang), icon=":material/inbox:")
else:
    totals = logic.health_totals(files)
    saving = None
    if totals.saving is not None:
        saving = t("health.saving", lang, pct=i18n.fmt_pct(totals.saving))
    grid: list[list[tuple[str, str, str | None]]] = [
        [
            ("health.files", i18n.fmt_int(totals.files), None),
            ("health.curated", i18n.fmt_int(totals.curated), None),
            ("health.quarantined", i18n.fmt_int(totals.quarantined), None),
            ("health.duplicates", i18n.fmt_int(totals.duplicates), None),
        ],
        [
            ("health.rows_read", i18n.fmt_int(totals.rows_read), None),
            ("health.rows_written", i18n.fmt_int(totals.rows_written), None),
            ("health.rows_rejected", i18n.fmt_int(totals.rows_rejected), None),
            ("health.rows_duplicate", i18n.fmt_int(totals.rows_duplicate), None),
        ],
        [
            ("health.rows_quarantined", i18n.fmt_int(totals.rows_quarantined), None),
            ("health.bytes_in", i18n.fmt_bytes(totals.bytes_in), None),
            ("health.bytes_out", i18n.fmt_bytes(totals.bytes_out), saving),
        ],
    ]
    for row in grid:  # four to a row; the last row leaves one column empty
        for column, (label, value, delta) in zip(st.columns(4), row, strict=False):
            with column:
                ui.metric(t(label, lang), value, delta)

    st.subheader(t("health.quarantine_list", lang))
    quarantined = [f for f in files if f.status == "quarantined"]
    if not quarantined:
        st.success(t("empty.no_quarantine", lang), icon=":material/check_circle:")
    else:
        st.dataframe(
            pd.DataFrame(
                {
                    t("col.file", lang): [f.key for f in quarantined],
                    t("col.kind", lang): [i18n.quarantine_kind(f.code, lang) for f in quarantined],
                    t("col.reason", lang): [f.reason or "" for f in quarantined],
                    t("col.processed_at", lang): [
                        i18n.fmt_datetime(f.processed_at, lang) for f in quarantined
                    ],
                }
            ),
            hide_index=True,
        )
        st.caption(f"{t('health.quarantined', lang)}: {data.zones().quarantine}")

    repeated = [f for f in files if f.rows_duplicate]
    if repeated:
        st.subheader(t("health.duplicate_list", lang))
        st.dataframe(
            pd.DataFrame(
                {
                    t("col.file", lang): [f.key for f in repeated],
                    t("col.status", lang): [i18n.status_label(f.status, lang) for f in repeated],
                    t("health.rows_duplicate", lang): [
                        i18n.fmt_int(f.rows_duplicate) for f in repeated
                    ],
                    t("col.rows_conflicting", lang): [
                        i18n.fmt_int(f.rows_conflicting) for f in repeated
                    ],
                    t("col.duplicate_of", lang): [", ".join(f.duplicate_of) for f in repeated],
                }
            ),
            hide_index=True,
        )
        st.caption(t("health.duplicate_caption", lang))

    st.subheader(t("health.table", lang))
    st.dataframe(
        pd.DataFrame(
            {
                t("col.file", lang): [f.key for f in files],
                t("col.status", lang): [i18n.status_label(f.status, lang) for f in files],
                # text, like the sizes: a count the manifest does not have is "–", not "None"
                t("health.rows_read", lang): [i18n.fmt_int(f.rows_read) for f in files],
                t("health.rows_written", lang): [i18n.fmt_int(f.rows_written) for f in files],
                t("health.rows_rejected", lang): [i18n.fmt_int(f.rows_rejected) for f in files],
                t("health.rows_duplicate", lang): [i18n.fmt_int(f.rows_duplicate) for f in files],
                t("col.bytes_in", lang): [i18n.fmt_bytes(f.bytes_in) for f in files],
                t("col.bytes_out", lang): [i18n.fmt_bytes(f.bytes_out) for f in files],
                t("col.processed_at", lang): [
                    i18n.fmt_datetime(f.processed_at, lang) for f in files
                ],
            }
        ),
        hide_index=True,
        column_config={
            t(name, lang): st.column_config.Column(alignment="right")
            for name in (
                "health.rows_read",
                "health.rows_written",
                "health.rows_rejected",
                "health.rows_duplicate",
                "col.bytes_in",
                "col.bytes_out",
            )
        },
    )

st.subheader(t("health.runs", lang))
runs = logic.last_runs(files, data.features_reports(), data.metrics_history())
if not runs:
    st.info(t("empty.no_manifests", lang))
else:

    def detail(run: logic.StepRun) -> str:
        d = run.detail
        if run.step == "ingest":
            return f"{i18n.status_label(str(d['status']), lang)} · {i18n.fmt_int(d['rows'])}"
        if run.step == "features":
            return t(
                "detail.features",
                lang,
                customers=i18n.fmt_int(d["customers"]),
                rate=i18n.fmt_pct(d["positive_rate"]),
            )
        return t(
            "detail.training",
            lang,
            auc=i18n.fmt_num(d["roc_auc"]),
            n_train=i18n.fmt_int(d["n_train"]),
            fit=i18n.fmt_num(d["fit_seconds"], 1),
        )

    st.dataframe(
        pd.DataFrame(
            {
                t("col.step", lang): [t(f"step.{r.step}", lang) for r in runs],
                t("col.run", lang): [r.run_id for r in runs],
                t("col.finished_at", lang): [i18n.fmt_datetime(r.finished_at, lang) for r in runs],
                t("col.duration", lang): [i18n.fmt_num(r.seconds, 2) for r in runs],
                t("col.detail", lang): [detail(r) for r in runs],
            }
        ),
        hide_index=True,
        column_config={t("col.duration", lang): st.column_config.Column(alignment="right")},
    )
