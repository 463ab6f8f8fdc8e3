"""Small Streamlit helpers the pages share: the current language, the current run, metrics."""

from __future__ import annotations

from typing import Any, Literal

import streamlit as st

from frontend import data, i18n
from frontend.i18n import Lang

LANG_KEY = "lang"  # the sidebar switch (a widget: its state goes when a page switch drops it)
LANG_STATE = "language"  # the choice itself, kept in session state across pages


def lang() -> Lang:
    """The language chosen in the sidebar (Korean until someone switches)."""
    value = st.session_state.get(LANG_STATE, i18n.DEFAULT_LANG)
    return value if value in i18n.LANGS else i18n.DEFAULT_LANG


def _remember_language() -> None:
    st.session_state[LANG_STATE] = st.session_state[LANG_KEY]


def language_switch() -> Lang:
    st.session_state[LANG_KEY] = lang()  # seeds the widget with the kept choice
    st.sidebar.radio(
        i18n.t("lang.label", i18n.DEFAULT_LANG),
        options=list(i18n.LANGS),
        format_func=lambda code: i18n.LANG_NAMES[code],
        key=LANG_KEY,
        on_change=_remember_language,
        horizontal=True,
    )
    return lang()


def current_run(language: Lang) -> dict[str, Any] | None:
    """The pointer to the latest training run, or an explanation and None."""
    pointer = data.model_pointer()
    if pointer is None:
        st.info(i18n.t("empty.no_run", language), icon=":material/hourglass_empty:")
    return pointer


def metric(
    label: str,
    value: str,
    delta: str | None = None,
    *,
    help: str | None = None,
    inverse: bool = False,
    change: float | None = None,
) -> None:
    """A bordered metric; ``change`` = 0 shows the delta without an arrow or a colour."""
    flat = change == 0
    delta_color: Literal["normal", "inverse", "off"] = (
        "off" if flat else "inverse" if inverse else "normal"
    )
    st.metric(
        label,
        value,
        delta,
        delta_color=delta_color,
        delta_arrow="off" if flat else "auto",
        help=help,
        border=True,
    )
