"""frontend.charts: what a reader sees on a chart (titles, tooltips, times) is in their language."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from frontend import charts, i18n, logic

ROWS_SEGMENTS = [
    logic.SegmentRow("champions", 10, 0.25, 900.0, 0.9, 0.1, 0, 0.0),
    logic.SegmentRow("hibernating", 30, 0.75, 100.0, 0.1, 0.8, 24, 0.8),
]
HISTORY = [
    logic.HistoryRow(
        "r1", dt.datetime(2026, 11, 28, 15, 30, tzinfo=dt.UTC), 0.9, 0.8, 0.1, 0.85, 100, 0.4
    )
]


def _walk(spec: Any, key: str) -> Iterator[Any]:
    if isinstance(spec, dict):
        for k, v in spec.items():
            if k == key:
                yield v
            yield from _walk(v, key)
    elif isinstance(spec, list):
        for item in spec:
            yield from _walk(item, key)


def _all_charts(lang: i18n.Lang) -> dict[str, Any]:
    points = [{"curve": "m", "x": 0.1, "y": 0.2, "count": 5}]
    return {
        "bands": charts.band_bars([logic.BandRow("high", 3, 10.0, 0.3)], lang),
        "calibration": charts.calibration(points, lang),
        "importance": charts.importance([logic.Importance("spend_trend_90d", 0.1, 0.01)], lang),
        "history": charts.history(HISTORY, lang),
        "segment_shares": charts.segment_shares(ROWS_SEGMENTS, lang),
        "segment_risk": charts.segment_risk(ROWS_SEGMENTS, lang),
    }


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_every_tooltip_field_has_a_title_in_the_language(lang: i18n.Lang) -> None:
    """Without a title Vega-Lite labels a tooltip with the column name ("customers", "x")."""
    for name, chart in _all_charts(lang).items():
        tooltips = [t for found in _walk(chart.to_dict(), "tooltip") for t in found]
        assert tooltips, name
        for tooltip in tooltips:
            assert tooltip.get("title"), f"{name}: {tooltip['field']} has no title"
            assert tooltip["title"] != tooltip["field"], name
    korean = _all_charts("ko")["bands"].to_dict()["encoding"]["tooltip"]
    assert [t["title"] for t in korean] == ["위험 등급", "고객 수", "비중"]


def test_importance_is_the_drop_in_pr_auc() -> None:
    """The training job permutes on average precision (metrics' ``permutation_scoring``)."""
    for lang, title in (("ko", "PR AUC 감소량"), ("en", "Drop in PR AUC")):
        chart = charts.importance([logic.Importance("spend_trend_90d", 0.1, 0.01)], lang)
        assert chart.to_dict()["encoding"]["x"]["title"] == title


def test_history_times_are_korean_wall_clock_times() -> None:
    """15:30 UTC is 00:30 the next day in Seoul: the chart says so in any browser."""
    spec = charts.history(HISTORY, "ko").to_dict()
    (values,) = [v for v in spec["datasets"].values()]
    assert {v["created_at"] for v in values} == {"2026-11-29T00:30:00"}
    assert spec["encoding"]["x"]["axis"]["format"] == "%-m월 %-d일 %H:%M"
    assert spec["encoding"]["x"]["title"] == "학습 시각 (KST)"
