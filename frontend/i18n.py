"""UI text in Korean (the default) and English, and number / date formatting per language.

Pure: no Streamlit import. Every string a page shows comes from ``TEXT`` through ``t()``;
numbers, amounts (KRW), percentages and dates go through the ``fmt_*`` functions so that one
language formats them one way everywhere (2026년 11월 28일 · 1.2억 vs 28 Nov 2026 · ₩120.0M).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Final, Literal
from zoneinfo import ZoneInfo

Lang = Literal["ko", "en"]
LANGS: Final[tuple[Lang, ...]] = ("ko", "en")
DEFAULT_LANG: Final[Lang] = "ko"
LANG_NAMES: Final[dict[Lang, str]] = {"ko": "한국어", "en": "English"}
# Times are shown in the business's time zone (the contracts' default), whatever the browser's.
DISPLAY_TZ: Final = ZoneInfo("Asia/Seoul")
TZ_LABEL: Final = "KST"

_MONTHS_EN: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                     "Nov", "Dec")  # fmt: skip

TEXT: Final[dict[str, dict[Lang, str]]] = {
    "app.title": {"ko": "lakedrop 이탈 위험 리포트", "en": "lakedrop churn risk report"},
    "lang.label": {"ko": "언어 / Language", "en": "언어 / Language"},
    "sidebar.zones": {"ko": "데이터 위치", "en": "Data locations"},
    "page.overview": {"ko": "개요", "en": "Overview"},
    "page.customers": {"ko": "이탈 위험 고객", "en": "Customers at risk"},
    "page.model": {"ko": "모델", "en": "Model"},
    "page.segments": {"ko": "고객 세그먼트", "en": "Segments"},
    "page.health": {"ko": "파이프라인 상태", "en": "Pipeline health"},
    # empty states and errors
    "empty.no_run": {
        "ko": "아직 학습된 모델이 없습니다. 파이프라인을 실행하면 여기에 결과가 표시됩니다 "
        "(`lakedrop demo` → `lakedrop features` → `lakedrop train`).",
        "en": "No model has been trained yet. Results appear here once the pipeline has run "
        "(`lakedrop demo` → `lakedrop features` → `lakedrop train`).",
    },
    "empty.no_predictions": {
        "ko": "현재 학습 실행({run_id})의 결과 파일을 찾을 수 없습니다: 실행이 게시 도중 "
        "중단되었거나 파일이 삭제되었습니다.",
        "en": "The outputs of the current training run ({run_id}) cannot be found: the run "
        "stopped while publishing, or its files were removed.",
    },
    "empty.no_manifests": {
        "ko": "아직 수집된 파일이 없습니다. CSV 파일을 랜딩 영역에 올리면 여기에 표시됩니다 "
        "(`lakedrop drop FILE`).",
        "en": "No file has been ingested yet. Files appear here once a CSV lands "
        "(`lakedrop drop FILE`).",
    },
    "empty.no_quarantine": {
        "ko": "격리된 파일이 없습니다.",
        "en": "No quarantined files.",
    },
    "empty.no_match": {
        "ko": "선택한 조건에 맞는 고객이 없습니다.",
        "en": "No customer matches the selected filters.",
    },
    "empty.no_history": {"ko": "이전 학습 실행이 없습니다.", "en": "No earlier training run."},
    "error.data": {
        "ko": "데이터를 읽지 못했습니다: {detail}",
        "en": "The data could not be read: {detail}",
    },
    # overview
    "kpi.customers": {"ko": "점수 산출 고객", "en": "Scored customers"},
    "kpi.revenue": {"ko": "최근 365일 매출", "en": "Revenue, last 365 days"},
    "kpi.churn_rate": {"ko": "학습 스냅샷 이탈률", "en": "Churn rate (training snapshot)"},
    "kpi.high_risk": {"ko": "고위험 고객", "en": "Customers at high risk"},
    "kpi.revenue_at_risk": {"ko": "고위험 고객 매출", "en": "Revenue at high risk"},
    "kpi.latest_event": {"ko": "최신 거래일", "en": "Latest event"},
    "kpi.latest_ingest": {"ko": "최근 수집", "en": "Latest ingest"},
    "kpi.vs_previous": {"ko": "이전 실행 대비", "en": "vs previous run"},
    "overview.freshness": {"ko": "데이터 최신성", "en": "Data freshness"},
    "overview.bands": {"ko": "위험 등급별 고객", "en": "Customers by risk band"},
    "overview.run": {
        "ko": "모델 실행 {run_id} · 점수 기준일 {cutoff}",
        "en": "Model run {run_id} · scored as of {cutoff}",
    },
    "overview.previous": {
        "ko": "이전 실행 {run_id}와 비교",
        "en": "Compared with the previous run {run_id}",
    },
    "overview.no_previous": {
        "ko": "비교할 이전 실행이 없습니다.",
        "en": "No previous run to compare with.",
    },
    # customers at risk
    "filter.band": {"ko": "위험 등급", "en": "Risk band"},
    "filter.segment": {"ko": "세그먼트", "en": "Segment"},
    "filter.channel": {"ko": "주 채널", "en": "Main channel"},
    "filter.all": {"ko": "전체", "en": "All"},
    "filter.top_n": {"ko": "표시할 고객 수", "en": "Customers shown"},
    "customers.matching": {
        "ko": "조건에 맞는 고객 {n}명 · 이탈 확률 상위 {shown}명 표시",
        "en": "{n} matching customers · top {shown} by churn probability shown",
    },
    "customers.download": {"ko": "CSV 다운로드 ({n}명)", "en": "Download CSV ({n} customers)"},
    "customers.ids_note": {
        "ko": "고객 ID는 가명(HMAC)입니다. 원래 고객을 찾으려면 수집 키를 가진 팀에 문의하세요.",
        "en": "Customer ids are pseudonyms (HMAC); the team holding the ingest key can "
        "re-identify them.",
    },
    "col.customer_id": {"ko": "고객 ID (가명)", "en": "Customer id (pseudonym)"},
    "col.churn_probability": {"ko": "이탈 확률", "en": "Churn probability"},
    "col.risk_band": {"ko": "위험 등급", "en": "Risk band"},
    "col.segment": {"ko": "세그먼트", "en": "Segment"},
    "col.main_channel": {"ko": "주 채널", "en": "Main channel"},
    "col.days_since_last_purchase": {"ko": "마지막 구매 후 일수", "en": "Days since purchase"},
    "col.orders_total": {"ko": "총 주문 수", "en": "Orders"},
    "col.spend_365d": {"ko": "365일 매출 (₩)", "en": "Spend, 365 days (₩)"},
    "col.top_factors": {"ko": "주요 위험 요인", "en": "Main risk factors"},
    # model
    "model.quality": {"ko": "모델 품질 (검증 데이터)", "en": "Model quality (validation data)"},
    "model.threshold": {"ko": "운영 임계값", "en": "Operating threshold"},
    "model.threshold_help": {
        "ko": "점수 산출 모델(모든 기간으로 재학습)의 임계값: 이탈 확률이 이 값 이상이면 "
        "위험 등급 '높음'입니다. 혼동 행렬은 검증한 모델의 임계값 {validated}에서 계산됩니다.",
        "en": "The threshold of the scoring model (refitted on every cutoff): customers with a "
        "churn probability at or above it are in the high risk band. The confusion matrix is "
        "at the validated model's own threshold, {validated}.",
    },
    "model.roc": {"ko": "ROC 곡선", "en": "ROC curve"},
    "model.pr": {"ko": "정밀도–재현율 곡선", "en": "Precision–recall curve"},
    "model.calibration": {"ko": "보정 (예측 확률 vs 실제 이탈률)", "en": "Calibration"},
    "model.confusion": {
        "ko": "혼동 행렬 (검증 모델 임계값 {threshold})",
        "en": "Confusion matrix at the validated model's threshold {threshold}",
    },
    "model.importance": {"ko": "변수 중요도 (순열)", "en": "Feature importance (permutation)"},
    "model.baseline": {"ko": "기준 모델과 비교", "en": "Comparison with the baseline"},
    "model.vs_baseline": {"ko": "기준 모델 대비", "en": "vs baseline"},
    "model.history": {"ko": "학습 실행 이력", "en": "Training run history"},
    "model.run": {
        "ko": "실행 {run_id} · 학습 {n_train}건 · 검증 {n_validation}건 · {created}",
        "en": "Run {run_id} · {n_train} training rows · {n_validation} validation rows · {created}",
    },
    "metric.name": {"ko": "지표", "en": "Metric"},
    "metric.model": {"ko": "모델", "en": "Model"},
    "metric.baseline": {"ko": "기준 모델", "en": "Baseline"},
    "metric.lift": {"ko": "개선", "en": "Lift"},
    "metric.roc_auc": {"ko": "ROC AUC", "en": "ROC AUC"},
    "metric.pr_auc": {"ko": "PR AUC", "en": "PR AUC"},
    "metric.brier": {"ko": "Brier 점수 (낮을수록 좋음)", "en": "Brier score (lower is better)"},
    "metric.log_loss": {"ko": "로그 손실 (낮을수록 좋음)", "en": "Log loss (lower is better)"},
    "metric.precision": {"ko": "정밀도", "en": "Precision"},
    "metric.recall": {"ko": "재현율", "en": "Recall"},
    "metric.f1": {"ko": "F1", "en": "F1"},
    "cm.actual": {"ko": "실제", "en": "Actual"},
    "cm.predicted": {"ko": "예측", "en": "Predicted"},
    "cm.churn": {"ko": "이탈", "en": "Churn"},
    "cm.stay": {"ko": "유지", "en": "Stay"},
    "chart.fpr": {"ko": "거짓 양성률", "en": "False positive rate"},
    "chart.tpr": {"ko": "참 양성률", "en": "True positive rate"},
    "chart.precision": {"ko": "정밀도", "en": "Precision"},
    "chart.recall": {"ko": "재현율", "en": "Recall"},
    "chart.predicted": {"ko": "평균 예측 확률", "en": "Mean predicted probability"},
    "chart.observed": {"ko": "실제 이탈 비율", "en": "Observed churn rate"},
    "chart.curve": {"ko": "곡선", "en": "Curve"},
    "chart.importance": {"ko": "PR AUC 감소량", "en": "Drop in PR AUC"},
    "chart.importance_std": {"ko": "표준편차", "en": "Standard deviation"},
    "chart.share": {"ko": "비중", "en": "Share"},
    "chart.value": {"ko": "값", "en": "Value"},
    "chart.feature": {"ko": "변수", "en": "Feature"},
    "chart.count": {"ko": "고객 수", "en": "Customers"},
    "hist.run_id": {"ko": "실행", "en": "Run"},
    "hist.created_at": {"ko": "학습 시각", "en": "Trained at"},
    "hist.n_train": {"ko": "학습 건수", "en": "Training rows"},
    "hist.threshold": {"ko": "운영 임계값", "en": "Operating threshold"},
    # segments
    "segments.table": {"ko": "세그먼트별 요약", "en": "Segments at a glance"},
    "segments.rule": {
        "ko": "RFM 방식 세그먼트: 최근성·구매 빈도·구매 금액으로 나눕니다 (학습 단계에서 계산).",
        "en": "RFM-style segments: recency, frequency and monetary value (computed by training).",
    },
    "seg.customers": {"ko": "고객 수", "en": "Customers"},
    "seg.customer_share": {"ko": "고객 비중", "en": "Share of customers"},
    "seg.revenue": {"ko": "365일 매출", "en": "Revenue, 365 days"},
    "seg.revenue_share": {"ko": "매출 비중", "en": "Share of revenue"},
    "seg.mean_probability": {"ko": "평균 이탈 확률", "en": "Mean churn probability"},
    "seg.high_risk": {"ko": "고위험 고객", "en": "High-risk customers"},
    "seg.high_risk_share": {"ko": "고위험 비율", "en": "High-risk share"},
    # pipeline health
    "health.files": {"ko": "수집된 파일", "en": "Landed files"},
    "health.curated": {"ko": "정제 완료", "en": "Curated"},
    "health.quarantined": {"ko": "격리", "en": "Quarantined"},
    "health.rows_read": {"ko": "읽은 행", "en": "Rows read"},
    "health.rows_written": {"ko": "저장된 행", "en": "Rows written"},
    "health.rows_rejected": {"ko": "거부된 행", "en": "Rows rejected"},
    "health.duplicates": {"ko": "중복 파일", "en": "Duplicate files"},
    "health.rows_duplicate": {"ko": "중복 행", "en": "Duplicate rows"},
    "health.rows_quarantined": {
        "ko": "격리된 파일의 정상 행",
        "en": "Good rows of quarantined files",
    },
    "health.duplicate_list": {
        "ko": "이미 정제된 데이터를 다시 담은 파일",
        "en": "Files that repeat data already curated",
    },
    "health.duplicate_caption": {
        "ko": "먼저 게시된 값이 유지됩니다. 값이 다른 중복 행은 격리 영역의 "
        "*.conflicting-rows.jsonl 파일에 있습니다.",
        "en": "The first published copy is kept. Repeated rows with other values are in "
        "*.conflicting-rows.jsonl in quarantine.",
    },
    "col.rows_conflicting": {"ko": "값이 다른 행", "en": "With other values"},
    "col.duplicate_of": {"ko": "먼저 들어온 파일", "en": "Earlier file"},
    "health.bytes_in": {"ko": "원본 크기 (정제된 파일)", "en": "Source size (curated files)"},
    "health.bytes_out": {"ko": "Parquet 크기", "en": "Parquet size"},
    "health.saving": {"ko": "{pct} 절감", "en": "{pct} smaller"},
    "health.table": {"ko": "파일별 결과", "en": "File by file"},
    "health.quarantine_list": {"ko": "격리된 파일과 사유", "en": "Quarantined files and why"},
    "health.runs": {"ko": "단계별 최근 실행", "en": "Last runs of each step"},
    "col.file": {"ko": "파일", "en": "File"},
    "col.status": {"ko": "상태", "en": "Status"},
    "col.reason": {"ko": "사유 (수집 단계의 설명)", "en": "Reason (as the ingest wrote it)"},
    "col.kind": {"ko": "유형", "en": "Kind"},
    "col.bytes_in": {"ko": "원본 크기", "en": "Size in"},
    "col.bytes_out": {"ko": "Parquet 크기", "en": "Size out"},
    "col.processed_at": {"ko": "처리 시각", "en": "Processed at"},
    "col.step": {"ko": "단계", "en": "Step"},
    "col.run": {"ko": "실행", "en": "Run"},
    "col.finished_at": {"ko": "완료 시각", "en": "Finished at"},
    "col.duration": {"ko": "소요 시간(초)", "en": "Duration (s)"},
    "col.detail": {"ko": "내용", "en": "Detail"},
    "status.curated": {"ko": "정제 완료", "en": "curated"},
    "status.quarantined": {"ko": "격리", "en": "quarantined"},
    "status.duplicate": {"ko": "중복", "en": "duplicate"},
    "status.publishing": {"ko": "게시 중", "en": "publishing"},
    "step.ingest": {"ko": "수집", "en": "Ingest"},
    "step.features": {"ko": "피처", "en": "Features"},
    "step.training": {"ko": "학습", "en": "Training"},
    "detail.ingest": {
        "ko": "{files}개 파일 · {rows}행",
        "en": "{files} files · {rows} rows",
    },
    "detail.features": {
        "ko": "고객 {customers}명 · 학습 이탈률 {rate}",
        "en": "{customers} customers · training churn rate {rate}",
    },
    "detail.training": {
        "ko": "ROC AUC {auc} · 학습 {n_train}건 · 모델 적합 {fit}초",
        "en": "ROC AUC {auc} · {n_train} training rows · model fit {fit} s",
    },
}

BANDS: Final[dict[str, dict[Lang, str]]] = {
    "high": {"ko": "높음", "en": "high"},
    "medium": {"ko": "중간", "en": "medium"},
    "low": {"ko": "낮음", "en": "low"},
}

SEGMENTS: Final[dict[str, dict[Lang, str]]] = {
    "champions": {"ko": "최우수", "en": "champions"},
    "loyal": {"ko": "충성", "en": "loyal"},
    "potential": {"ko": "잠재 충성", "en": "potential"},
    "new": {"ko": "신규", "en": "new"},
    "at_risk": {"ko": "이탈 우려", "en": "at risk"},
    "hibernating": {"ko": "휴면", "en": "hibernating"},
}

CHANNELS: Final[dict[str, dict[Lang, str]]] = {
    "online": {"ko": "온라인", "en": "online"},
    "offline": {"ko": "오프라인", "en": "offline"},
    "app": {"ko": "앱", "en": "app"},
    "other": {"ko": "기타", "en": "other"},
}

# Why a file was quarantined: the ingest manifest's ``code`` (the ingest's QUARANTINE_CODES),
# shown beside its ``reason``, which the ingest writes in English with the details.
QUARANTINE_KINDS: Final[dict[str, dict[Lang, str]]] = {
    "no_dataset": {"ko": "데이터셋 폴더 밖에 올림", "en": "not in a dataset folder"},
    "unknown_dataset": {"ko": "알 수 없는 데이터셋", "en": "unknown dataset"},
    "empty": {"ko": "빈 파일", "en": "empty file"},
    "no_header": {"ko": "헤더 없음", "en": "no header"},
    "not_text": {"ko": "CSV가 아님", "en": "not a CSV file"},
    "bad_gzip": {"ko": "손상된 gzip", "en": "broken gzip"},
    "unknown_encoding": {"ko": "알 수 없는 인코딩", "en": "unknown encoding"},
    "undecodable": {"ko": "문자 디코딩 실패", "en": "undecodable text"},
    "missing_column": {"ko": "필수 열 누락", "en": "required column missing"},
    "duplicate_column": {"ko": "중복된 열", "en": "duplicate column"},
    "no_rows": {"ko": "데이터 행 없음", "en": "no data rows"},
    "unparseable": {"ko": "CSV 해석 실패", "en": "unparseable CSV"},
    "too_many_rejects": {"ko": "거부된 행이 너무 많음", "en": "too many rejected rows"},
    "reconciliation": {"ko": "행 수 불일치", "en": "row counts do not reconcile"},
    "too_large": {"ko": "파일이 너무 큼", "en": "file too large"},
    "exhausted": {
        "ko": "처리 한도 초과 (메모리·디스크·시간)",
        "en": "over the memory, disk or time limit",
    },
}

FEATURES: Final[dict[str, dict[Lang, str]]] = {
    "days_since_last_purchase": {"ko": "마지막 구매 후 경과일", "en": "days since last purchase"},
    "recency": {"ko": "첫 구매~마지막 구매 기간", "en": "recency"},
    "frequency": {"ko": "재구매 일수", "en": "repeat purchase days"},
    "T": {"ko": "첫 구매 후 경과일", "en": "days since first purchase"},
    "monetary_value": {"ko": "평균 재구매 금액", "en": "mean repeat spend"},
    "orders_30d": {"ko": "30일 주문 수", "en": "orders, 30 days"},
    "orders_90d": {"ko": "90일 주문 수", "en": "orders, 90 days"},
    "orders_365d": {"ko": "365일 주문 수", "en": "orders, 365 days"},
    "spend_30d": {"ko": "30일 구매액", "en": "spend, 30 days"},
    "spend_90d": {"ko": "90일 구매액", "en": "spend, 90 days"},
    "spend_365d": {"ko": "365일 구매액", "en": "spend, 365 days"},
    "orders_total": {"ko": "총 주문 수", "en": "orders in total"},
    "spend_total": {"ko": "총 구매액", "en": "spend in total"},
    "avg_basket": {"ko": "평균 장바구니", "en": "average basket"},
    "n_categories": {"ko": "구매 카테고리 수", "en": "categories bought"},
    "refund_rate": {"ko": "환불 비율", "en": "refund rate"},
    "refund_rate_90d": {"ko": "90일 환불 비율", "en": "refund rate, 90 days"},
    "tenure_days": {"ko": "거래 기간(일)", "en": "tenure (days)"},
    "spend_trend_90d": {"ko": "90일 구매 추세", "en": "spend trend, 90 days"},
    "orders_prev_90d": {"ko": "직전 90일 주문 수", "en": "orders, previous 90 days"},
    "orders_change_90d": {"ko": "주문 수 변화(90일)", "en": "change in orders, 90 days"},
}


def t(key: str, lang: Lang, **values: object) -> str:
    """The text for ``key`` in ``lang`` with ``{placeholders}`` filled (the key if unknown)."""
    entry = TEXT.get(key)
    text = entry[lang] if entry else key
    return text.format(**values) if values else text


def _label(table: dict[str, dict[Lang, str]], value: str, lang: Lang) -> str:
    entry = table.get(value)
    return entry[lang] if entry else value


def band_label(band: str, lang: Lang) -> str:
    return _label(BANDS, band, lang)


def segment_label(segment: str, lang: Lang) -> str:
    return _label(SEGMENTS, segment, lang)


def quarantine_kind(code: str | None, lang: Lang) -> str:
    """The kind of failure, in the reader's language; an unknown code as it is, none as a dash."""
    return _label(QUARANTINE_KINDS, code, lang) if code else "–"


def channel_label(channel: str, lang: Lang) -> str:
    return _label(CHANNELS, channel, lang)


def feature_label(feature: str, lang: Lang) -> str:
    """A feature's name for people; channel shares get a generated one."""
    if feature.startswith("channel_share_"):
        channel = channel_label(feature.removeprefix("channel_share_"), lang)
        return f"{channel} 비중" if lang == "ko" else f"{channel} share"
    return _label(FEATURES, feature, lang)


def factors_label(factors: str, lang: Lang) -> str:
    """``"a; b"`` (the predictions' ``top_factors``) with each feature named for people."""
    names = [f.strip() for f in factors.split(";") if f.strip()]
    return ", ".join(feature_label(n, lang) for n in names)


def status_label(status: str, lang: Lang) -> str:
    return t(f"status.{status}", lang) if f"status.{status}" in TEXT else status


# --------------------------------------------------------------------------------------------
# Numbers and dates


def fmt_int(value: float | None) -> str:
    """1234567 → ``1,234,567`` (both languages group by thousands)."""
    return "–" if value is None else f"{round(value):,}"


def fmt_num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def fmt_pct(ratio: float | None, digits: int = 1) -> str:
    """0.2634 → ``26.3%``."""
    return "–" if ratio is None else f"{ratio * 100:.{digits}f}%"


def fmt_krw(amount: float | None) -> str:
    """The exact amount: ``₩1,234,567`` (won have no minor unit in everyday use)."""
    if amount is None:
        return "–"
    sign = "-" if amount < 0 else ""
    return f"{sign}₩{round(abs(amount)):,}"


def fmt_krw_compact(amount: float | None, lang: Lang) -> str:
    """Large amounts the way each audience reads them: ``₩12.3억`` / ``₩1.23B``.

    Korean counts in 만 (10⁴) and 억 (10⁸); English in thousands, millions and billions.
    Amounts below the first unit are shown exactly.
    """
    if amount is None:
        return "–"
    sign = "-" if amount < 0 else ""
    value = abs(amount)
    units: tuple[tuple[float, str, int], ...] = (
        ((1e8, "억", 1), (1e4, "만", 0))
        if lang == "ko"
        else ((1e9, "B", 2), (1e6, "M", 2), (1e3, "K", 1))
    )
    for size, suffix, digits in units:
        if value >= size:
            return f"{sign}₩{value / size:,.{digits}f}{suffix}"
    return f"{sign}₩{round(value):,}"


def fmt_bytes(size: float | None) -> str:
    if size is None:
        return "–"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def fmt_date(day: dt.date | None, lang: Lang) -> str:
    """``2026년 11월 28일`` / ``28 Nov 2026``."""
    if day is None:
        return "–"
    if lang == "ko":
        return f"{day.year}년 {day.month}월 {day.day}일"
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"


def fmt_datetime(moment: dt.datetime | None, lang: Lang) -> str:
    """An instant in the display time zone: ``2026년 11월 28일 19:03 KST``.

    A naive datetime is taken to be UTC (the lake writes UTC timestamps).
    """
    if moment is None:
        return "–"
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    local = aware.astimezone(DISPLAY_TZ)
    return f"{fmt_date(local.date(), lang)} {local:%H:%M} {TZ_LABEL}"


# Vega-Lite (d3-time-format) patterns for chart axes and tooltips, the same shapes as fmt_datetime
CHART_DATETIME: Final[dict[Lang, str]] = {"ko": "%Y년 %-m월 %-d일 %H:%M", "en": "%-d %b %Y %H:%M"}
CHART_DAY_TIME: Final[dict[Lang, str]] = {"ko": "%-m월 %-d일 %H:%M", "en": "%-d %b %H:%M"}


def display_wall_time(moment: dt.datetime) -> dt.datetime:
    """``moment`` as a naive wall-clock time in the display time zone, for charts: the browser
    draws a naive time as it is, whatever its own time zone (a UTC one it would convert)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(DISPLAY_TZ).replace(tzinfo=None)


def fmt_delta_int(delta: float | None) -> str | None:
    return None if delta is None else f"{round(delta):+,}"


def fmt_delta_krw(delta: float | None, lang: Lang) -> str | None:
    if delta is None:
        return None
    text = fmt_krw_compact(delta, lang)
    return text if delta < 0 else f"+{text}"


def fmt_delta_points(delta: float | None, lang: Lang) -> str | None:
    """A change of a rate in percentage points: ``+1.2%p`` / ``+1.2 pp``."""
    if delta is None:
        return None
    return f"{delta * 100:+.1f}%p" if lang == "ko" else f"{delta * 100:+.1f} pp"
