"""Korean and English text and formatting."""

from __future__ import annotations

import datetime as dt
import string

import pytest

from frontend import i18n


def test_every_text_has_both_languages_with_the_same_placeholders() -> None:
    for key, entry in i18n.TEXT.items():
        assert set(entry) == set(i18n.LANGS), key
        fields = [
            {name for _, name, _, _ in string.Formatter().parse(entry[lang]) if name}
            for lang in i18n.LANGS
        ]
        assert fields[0] == fields[1], key


def test_text_lookup() -> None:
    assert i18n.t("page.overview", "ko") == "개요"
    assert i18n.t("page.overview", "en") == "Overview"
    assert i18n.t("health.saving", "en", pct="75.0%") == "75.0% smaller"
    assert i18n.t("no.such.key", "en") == "no.such.key"
    assert i18n.DEFAULT_LANG == "ko"


@pytest.mark.parametrize(
    ("amount", "ko", "en"),
    [
        (1_234_567_890, "₩12.3억", "₩1.23B"),
        (824_924_600, "₩8.2억", "₩824.92M"),
        (69_024_800, "₩6,902만", "₩69.02M"),
        (12_500, "₩1만", "₩12.5K"),
        (999, "₩999", "₩999"),
        (-4_770_000, "-₩477만", "-₩4.77M"),
    ],
)
def test_compact_amounts(amount: float, ko: str, en: str) -> None:
    assert i18n.fmt_krw_compact(amount, "ko") == ko
    assert i18n.fmt_krw_compact(amount, "en") == en


def test_numbers() -> None:
    assert i18n.fmt_krw(1_234_567.4) == "₩1,234,567"
    assert i18n.fmt_krw(-5) == "-₩5"
    assert i18n.fmt_int(1234567) == "1,234,567"
    assert i18n.fmt_int(None) == "–"
    assert i18n.fmt_pct(0.2634) == "26.3%"
    assert i18n.fmt_num(0.93312) == "0.933"
    assert i18n.fmt_num(float("nan")) == "–"
    assert i18n.fmt_bytes(2_400_000) == "2.3 MB"
    assert i18n.fmt_bytes(512) == "512 B"
    assert i18n.fmt_delta_int(50) == "+50"
    assert i18n.fmt_delta_int(-1200) == "-1,200"
    assert i18n.fmt_delta_int(None) is None
    assert i18n.fmt_delta_points(0.012, "ko") == "+1.2%p"
    assert i18n.fmt_delta_points(-0.012, "en") == "-1.2 pp"
    assert i18n.fmt_delta_krw(4_770_000, "ko") == "+₩477만"
    assert i18n.fmt_delta_krw(-4_770_000, "en") == "-₩4.77M"


def test_dates_and_times() -> None:
    day = dt.date(2026, 11, 28)
    assert i18n.fmt_date(day, "ko") == "2026년 11월 28일"
    assert i18n.fmt_date(day, "en") == "28 Nov 2026"
    # 15:30 UTC is 00:30 the next day in Seoul
    moment = dt.datetime(2026, 11, 28, 15, 30, tzinfo=dt.UTC)
    assert i18n.fmt_datetime(moment, "ko") == "2026년 11월 29일 00:30 KST"
    assert i18n.fmt_datetime(moment, "en") == "29 Nov 2026 00:30 KST"
    assert i18n.fmt_datetime(moment.replace(tzinfo=None), "en") == "29 Nov 2026 00:30 KST"
    assert i18n.fmt_date(None, "ko") == "–"


def test_labels_for_codes() -> None:
    assert i18n.band_label("high", "ko") == "높음"
    assert i18n.segment_label("at_risk", "en") == "at risk"
    assert i18n.segment_label("vip", "ko") == "vip"  # unknown codes are shown as they are
    assert i18n.channel_label("app", "ko") == "앱"
    assert i18n.feature_label("channel_share_online", "ko") == "온라인 비중"
    assert i18n.feature_label("channel_share_app", "en") == "app share"
    assert i18n.factors_label("days_since_last_purchase; spend_trend_90d", "en") == (
        "days since last purchase, spend trend, 90 days"
    )
    assert i18n.factors_label("", "ko") == ""
    assert i18n.status_label("quarantined", "ko") == "격리"
    assert i18n.status_label("odd", "ko") == "odd"
