"""The report's entry point: ``streamlit run frontend/app.py`` (``lakedrop report`` does it).

Page setup, the language switch in the sidebar and the navigation over the pages; the pages
are in ``frontend/views/``. A lake that cannot be read shows a message, not a stack trace.
"""

from __future__ import annotations

import streamlit as st

from frontend import data, i18n, ui

# (name, script, icon): the name is the page's URL path and its title's key in i18n.TEXT
PAGES = (
    ("overview", "views/overview.py", ":material/dashboard:"),
    ("customers", "views/customers.py", ":material/person_alert:"),
    ("model", "views/model.py", ":material/model_training:"),
    ("segments", "views/segments.py", ":material/donut_small:"),
    ("pipeline", "views/health.py", ":material/monitor_heart:"),
)
TITLE_KEYS = {"pipeline": "page.health"}

st.set_page_config(page_title="lakedrop", page_icon=":material/insights:", layout="wide")
lang = ui.language_switch()
navigation = st.navigation(
    [
        st.Page(
            script,
            title=i18n.t(TITLE_KEYS.get(name, f"page.{name}"), lang),
            icon=icon,
            url_path=name,
            default=name == "overview",
        )
        for name, script, icon in PAGES
    ]
)
with st.sidebar:
    st.caption(i18n.t("app.title", lang))
    with st.expander(i18n.t("sidebar.zones", lang)):
        zones = data.zones()
        st.caption(f"analytics: `{zones.analytics}`")
        st.caption(f"curated: `{zones.curated}`")
        st.caption(f"quarantine: `{zones.quarantine}`")
try:
    navigation.run()
except data.DataError as error:
    st.error(i18n.t("error.data", lang, detail=str(error)), icon=":material/error:")
