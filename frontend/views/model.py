"""Model: how good the current model is, against the baseline and across training runs.

Everything comes from ``metrics/<run_id>.json`` (curves, calibration, confusion matrix and
importances are computed by the training job on its validation data) and the earlier runs'.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from frontend import charts, data, i18n, logic, ui

lang = ui.lang()
t = i18n.t
st.title(t("page.model", lang))

pointer = ui.current_run(lang)
metrics = data.metrics(str(pointer["run_id"])) if pointer is not None else None
if pointer is not None and metrics is None:
    st.warning(t("empty.no_predictions", lang, run_id=pointer["run_id"]))

if metrics is not None:
    dataset = metrics.get("data") or {}
    st.caption(
        t(
            "model.run",
            lang,
            run_id=metrics.get("run_id"),
            n_train=i18n.fmt_int(dataset.get("n_train")),
            n_validation=i18n.fmt_int(dataset.get("n_validation")),
            created=i18n.fmt_datetime(logic.parse_time(metrics.get("created_at")), lang),
        )
    )
    rows = {r.metric: r for r in logic.comparison_rows(metrics)}
    st.subheader(t("model.quality", lang))
    columns = st.columns(4)
    for column, name in zip(columns[:3], ("roc_auc", "pr_auc", "brier"), strict=True):
        row = rows.get(name)
        if row is None:
            continue
        with column:
            lift = row.lift
            ui.metric(
                t(f"metric.{name}", lang),
                i18n.fmt_num(row.model),
                None if lift is None else f"{lift:+.3f} {t('model.vs_baseline', lang)}",
                help=f"{t('metric.baseline', lang)}: {i18n.fmt_num(row.baseline)}",
            )
    # two thresholds: ``threshold``, the scoring model's (the risk bands use it), and
    # ``model.threshold``, the validated model's (its confusion matrix is at that one)
    validated_threshold = i18n.fmt_num((metrics.get("model") or {}).get("threshold"))
    with columns[3]:
        ui.metric(
            t("model.threshold", lang),
            i18n.fmt_num(metrics.get("threshold")),
            help=t("model.threshold_help", lang, validated=validated_threshold),
        )
    curve_labels = {"model": t("metric.model", lang), "baseline": t("metric.baseline", lang)}

    left, right = st.columns(2)
    with left:
        st.subheader(t("model.roc", lang))
        st.altair_chart(
            charts.curve(
                logic.curve_points(metrics, "roc_curve", curve_labels),
                t("chart.fpr", lang),
                t("chart.tpr", lang),
                lang,
                diagonal=True,
            )
        )
    with right:
        st.subheader(t("model.pr", lang))
        st.altair_chart(
            charts.curve(
                logic.curve_points(metrics, "pr_curve", curve_labels),
                t("chart.recall", lang),
                t("chart.precision", lang),
                lang,
                diagonal=False,
            )
        )
    left, right = st.columns(2)
    with left:
        st.subheader(t("model.calibration", lang))
        st.altair_chart(charts.calibration(logic.calibration_points(metrics, curve_labels), lang))
    with right:
        st.subheader(t("model.confusion", lang, threshold=validated_threshold))
        cm = logic.confusion(metrics)
        st.altair_chart(charts.confusion(cm, lang))
        churn, stay = t("cm.churn", lang), t("cm.stay", lang)
        st.table(
            pd.DataFrame(
                {f"{t('cm.predicted', lang)}: {churn}": [cm.tp, cm.fp],
                 f"{t('cm.predicted', lang)}: {stay}": [cm.fn, cm.tn]},
                index=[f"{t('cm.actual', lang)}: {churn}", f"{t('cm.actual', lang)}: {stay}"],
            )
        )  # fmt: skip

    st.subheader(t("model.importance", lang))
    st.altair_chart(charts.importance(logic.importance_rows(metrics), lang))

    st.subheader(t("model.baseline", lang))
    model_name = str((metrics.get("model") or {}).get("name") or t("metric.model", lang))
    baseline_name = str((metrics.get("baseline") or {}).get("name") or t("metric.baseline", lang))
    st.dataframe(
        pd.DataFrame(
            {
                t("metric.name", lang): [t(f"metric.{r.metric}", lang) for r in rows.values()],
                f"{t('metric.model', lang)} ({model_name})": [r.model for r in rows.values()],
                f"{t('metric.baseline', lang)} ({baseline_name})": [
                    r.baseline for r in rows.values()
                ],
                t("metric.lift", lang): [r.lift for r in rows.values()],
            }
        ),
        hide_index=True,
        column_config={
            name: st.column_config.NumberColumn(format="%.4f")
            for name in (
                f"{t('metric.model', lang)} ({model_name})",
                f"{t('metric.baseline', lang)} ({baseline_name})",
                t("metric.lift", lang),
            )
        },
    )

    st.subheader(t("model.history", lang))
    history = logic.history_rows(data.metrics_history())
    st.altair_chart(charts.history(history, lang))
    st.dataframe(
        pd.DataFrame(
            {
                t("hist.run_id", lang): [h.run_id for h in history],
                t("hist.created_at", lang): [
                    i18n.fmt_datetime(h.created_at, lang) for h in history
                ],
                "ROC AUC": [h.roc_auc for h in history],
                "PR AUC": [h.pr_auc for h in history],
                "Brier": [h.brier for h in history],
                f"{t('metric.baseline', lang)} ROC AUC": [h.baseline_roc_auc for h in history],
                t("hist.n_train", lang): [h.n_train for h in history],
                t("hist.threshold", lang): [h.threshold for h in history],
            }
        ),
        hide_index=True,
    )
