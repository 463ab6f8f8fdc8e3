"""Every page of the report, run with AppTest against a lake the real pipeline filled.

The expected numbers are computed here, independently of ``frontend.logic``: straight from the
files (DuckDB over the Parquet, ``json`` over the manifests and reports), then formatted by
hand the way each language writes them.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from tests.frontend.conftest import BROKEN_KEY, DUPLICATE_KEY, AppFactory
from tests.pipeline import DEFAULT_ROWS

SEOUL = ZoneInfo("Asia/Seoul")
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


# --------------------------------------------------------------------------------------------
# what the files say


def read_json(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def current_run(root: Path) -> str:
    return str(read_json(root / "analytics" / "models" / "_LATEST.json")["run_id"])


def previous_run(root: Path) -> str:
    runs = sorted(
        (read_json(p) for p in (root / "analytics" / "metrics").glob("*.json")),
        key=lambda m: dt.datetime.fromisoformat(m["created_at"]),
    )
    ids = [m["run_id"] for m in runs]
    return ids[ids.index(current_run(root)) - 1]


def predictions(root: Path, run_id: str) -> str:
    return str(root / "analytics" / "predictions" / run_id / "predictions.parquet")


def one(sql: str) -> Any:
    row = duckdb.sql(sql).fetchall()[0]
    return row[0] if len(row) == 1 else row


def manifests(root: Path) -> list[dict[str, Any]]:
    return [read_json(p) for p in (root / "curated" / "_manifests").rglob("*.json")]


# --------------------------------------------------------------------------------------------
# how each language writes them


def compact_krw(amount: float, lang: str) -> str:
    if lang == "ko":
        if amount >= 1e8:
            return f"₩{amount / 1e8:,.1f}억"
        if amount >= 1e4:
            return f"₩{amount / 1e4:,.0f}만"
        return f"₩{amount:,.0f}"
    for size, suffix, digits in ((1e9, "B", 2), (1e6, "M", 2), (1e3, "K", 1)):
        if amount >= size:
            return f"₩{amount / size:,.{digits}f}{suffix}"
    return f"₩{amount:,.0f}"


def date_text(day: dt.date, lang: str) -> str:
    if lang == "ko":
        return f"{day.year}년 {day.month}월 {day.day}일"
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def metrics_by_label(at: AppTest) -> dict[str, Any]:
    return {m.label: m for m in at.metric}


def charts(at: AppTest) -> list[Any]:
    return list(at.get("vega_lite_chart"))


# --------------------------------------------------------------------------------------------
# Overview


@pytest.mark.parametrize(
    ("lang", "labels"),
    [
        ("ko", ("개요", "점수 산출 고객", "최근 365일 매출", "학습 스냅샷 이탈률", "고위험 고객",
                "고위험 고객 매출", "최신 거래일", "최근 수집")),
        ("en", ("Overview", "Scored customers", "Revenue, last 365 days",
                "Churn rate (training snapshot)", "Customers at high risk",
                "Revenue at high risk", "Latest event", "Latest ingest")),
    ],
)  # fmt: skip
def test_overview_shows_the_runs_numbers(
    report_app: AppFactory, report_lake: Path, lang: str, labels: tuple[str, ...]
) -> None:
    at = report_app(lang=lang)
    title, customers, revenue, churn, high, at_risk, latest_event, latest_ingest = labels
    assert at.title[0].value == title
    shown = metrics_by_label(at)

    run, before = current_run(report_lake), previous_run(report_lake)
    now_file, before_file = predictions(report_lake, run), predictions(report_lake, before)
    n, rev = one(f"SELECT count(*), sum(spend_365d) FROM '{now_file}'")
    n_before = one(f"SELECT count(*) FROM '{before_file}'")
    high_n, high_rev = one(
        f"SELECT count(*), coalesce(sum(spend_365d), 0) FROM '{now_file}' WHERE risk_band = 'high'"
    )
    high_before = one(f"SELECT count(*) FROM '{before_file}' WHERE risk_band = 'high'")

    assert shown[customers].value == f"{n:,}"
    assert shown[customers].delta == f"{n - n_before:+,}"
    assert shown[revenue].value == compact_krw(rev, lang)
    assert shown[revenue].proto.help == f"₩{round(rev):,}"
    assert shown[high].value == f"{high_n:,}"
    assert shown[high].delta == f"{high_n - high_before:+,}"
    assert shown[at_risk].proto.help == f"₩{round(high_rev):,}"

    # the churn rate of the training snapshot the features job wrote
    train = read_json(report_lake / "analytics" / "features" / "train" / "_LATEST.json")
    rate = one(f"SELECT avg(churned) FROM '{report_lake / 'analytics' / train['path']}/*.parquet'")
    assert shown[churn].value == f"{rate * 100:.1f}%"

    # freshness: the last local day in the curated data, the last manifest written
    last_day = one(
        "SELECT max(timezone('Asia/Seoul', event_time))::DATE FROM "
        f"'{report_lake}/curated/transactions/*/*.parquet'"
    )
    assert shown[latest_event].value == date_text(last_day, lang)
    ingested = max(dt.datetime.fromisoformat(m["processed_at"]) for m in manifests(report_lake))
    local = ingested.astimezone(SEOUL)
    assert shown[latest_ingest].value == f"{date_text(local.date(), lang)} {local:%H:%M} KST"
    assert len(charts(at)) == 1  # customers by risk band


def test_language_switch_renames_the_pages(report_app: AppFactory) -> None:
    at = report_app()
    assert at.sidebar.radio(key="lang").value == "ko"
    assert at.title[0].value == "개요"
    at.sidebar.radio(key="lang").set_value("en").run()
    assert at.title[0].value == "Overview"
    at.switch_page("views/health.py").run()
    assert at.title[0].value == "Pipeline health"  # the choice holds across pages


# --------------------------------------------------------------------------------------------
# Customers at risk


def dataframe_values(at: AppTest, index: int = 0) -> Any:
    return at.dataframe[index].value


def test_customers_at_risk_lists_the_riskiest_first(
    report_app: AppFactory, report_lake: Path
) -> None:
    at = report_app("views/customers.py", lang="en")
    assert at.title[0].value == "Customers at risk"
    file = predictions(report_lake, current_run(report_lake))
    n_high = one(f"SELECT count(*) FROM '{file}' WHERE risk_band = 'high'")
    expected = duckdb.sql(
        f"SELECT customer_id, churn_probability FROM '{file}' WHERE risk_band = 'high' "
        "ORDER BY churn_probability DESC, customer_id LIMIT 100"
    ).fetchall()
    assert at.multiselect(key="filter_band").value == ["high"]  # the default view
    assert at.caption[0].value.startswith(f"{n_high:,} matching customers")
    table = dataframe_values(at)
    assert list(table["Customer id (pseudonym)"]) == [r[0] for r in expected]
    assert list(table["Churn probability"]) == pytest.approx([r[1] for r in expected])
    assert set(table["Risk band"]) == {"high"}
    assert at.get("download_button")[0].proto.label == f"Download CSV ({n_high:,} customers)"


def test_customers_filters(report_app: AppFactory, report_lake: Path) -> None:
    file = predictions(report_lake, current_run(report_lake))
    segment, channel, n = duckdb.sql(
        f"SELECT segment, main_channel, count(*) AS n FROM '{file}' "
        "WHERE risk_band IN ('high', 'medium') GROUP BY ALL ORDER BY n DESC, 1, 2 LIMIT 1"
    ).fetchall()[0]
    at = report_app("views/customers.py", lang="en")
    at.multiselect(key="filter_band").set_value(["high", "medium"])
    at.multiselect(key="filter_segment").set_value([segment])
    at.multiselect(key="filter_channel").set_value([channel]).run()
    assert at.caption[0].value.startswith(f"{n:,} matching customers")
    table = dataframe_values(at)
    assert len(table) == min(n, 100)
    expected_ids = duckdb.sql(
        f"SELECT customer_id FROM '{file}' WHERE risk_band IN ('high', 'medium') "
        f"AND segment = '{segment}' AND main_channel = '{channel}' "
        "ORDER BY churn_probability DESC, customer_id LIMIT 100"
    ).fetchall()
    assert list(table["Customer id (pseudonym)"]) == [r[0] for r in expected_ids]

    # no band selected = every band; fewer rows shown on request
    at.multiselect(key="filter_band").set_value([])
    at.multiselect(key="filter_segment").set_value([])
    at.multiselect(key="filter_channel").set_value([])
    at.number_input(key="top_n").set_value(10).run()
    total = one(f"SELECT count(*) FROM '{file}'")
    assert at.caption[0].value.startswith(f"{total:,} matching customers · top 10")
    assert len(dataframe_values(at)) == 10


def test_customers_filter_with_no_match_says_so(report_app: AppFactory, report_lake: Path) -> None:
    file = predictions(report_lake, current_run(report_lake))
    absent = duckdb.sql(
        f"SELECT b.risk_band, s.segment FROM (SELECT DISTINCT risk_band FROM '{file}') b, "
        f"(SELECT DISTINCT segment FROM '{file}') s "
        f"EXCEPT SELECT risk_band, segment FROM '{file}' ORDER BY ALL LIMIT 1"
    ).fetchall()
    if not absent:
        pytest.skip("every risk band meets every segment in this lake")
    band, segment = absent[0]
    at = report_app("views/customers.py")
    at.multiselect(key="filter_band").set_value([band])
    at.multiselect(key="filter_segment").set_value([segment]).run()
    assert not at.dataframe
    assert at.info[0].value == "선택한 조건에 맞는 고객이 없습니다."
    assert at.caption[0].value.startswith("조건에 맞는 고객 0명")


# --------------------------------------------------------------------------------------------
# Model


def test_model_page_shows_the_metrics_file(report_app: AppFactory, report_lake: Path) -> None:
    at = report_app("views/model.py", lang="en")
    assert at.title[0].value == "Model"
    metrics = read_json(report_lake / "analytics" / "metrics" / f"{current_run(report_lake)}.json")
    model, baseline = metrics["model"], metrics["baseline"]
    shown = metrics_by_label(at)
    assert shown["ROC AUC"].value == f"{model['roc_auc']:.3f}"
    assert shown["ROC AUC"].delta.startswith(f"{model['roc_auc'] - baseline['roc_auc']:+.3f}")
    assert shown["PR AUC"].value == f"{model['pr_auc']:.3f}"
    assert shown["Brier score (lower is better)"].value == f"{model['brier']:.3f}"
    assert shown["Operating threshold"].value == f"{metrics['threshold']:.3f}"

    cm = model["confusion_matrix"]
    confusion = at.table[0].value
    assert confusion.to_numpy().tolist() == [[cm["tp"], cm["fn"]], [cm["fp"], cm["tn"]]]

    comparison = dataframe_values(at, 0)
    rows = {r["Metric"]: r for r in comparison.to_dict("records")}
    model_col = f"Model ({model['name']})"
    baseline_col = f"Baseline ({baseline['name']})"
    assert rows["ROC AUC"][model_col] == pytest.approx(model["roc_auc"])
    assert rows["ROC AUC"][baseline_col] == pytest.approx(baseline["roc_auc"])
    assert rows["Brier score (lower is better)"]["Lift"] == pytest.approx(
        baseline["brier"] - model["brier"]
    )

    history = dataframe_values(at, 1)
    runs = sorted(
        (read_json(p) for p in (report_lake / "analytics" / "metrics").glob("*.json")),
        key=lambda m: m["created_at"],
        reverse=True,
    )
    assert list(history["Run"]) == [m["run_id"] for m in runs]
    assert list(history["ROC AUC"]) == pytest.approx([m["model"]["roc_auc"] for m in runs])
    # ROC, precision-recall, calibration, confusion matrix, importance, history
    assert len(charts(at)) == 6


def test_model_page_tells_the_two_thresholds_apart(
    report_app: AppFactory, report_lake: Path
) -> None:
    """``threshold`` is the scoring model's (the risk bands use it); the confusion matrix is the
    validated model's, at ``model.threshold``: each number is named for what it is."""
    at = report_app("views/model.py", lang="en")
    metrics = read_json(report_lake / "analytics" / "metrics" / f"{current_run(report_lake)}.json")
    scoring, validated = f"{metrics['threshold']:.3f}", f"{metrics['model']['threshold']:.3f}"
    shown = metrics_by_label(at)["Operating threshold"]
    assert shown.value == scoring
    assert f"validated model's own threshold, {validated}" in shown.proto.help
    subheaders = [s.value for s in at.subheader]
    assert f"Confusion matrix at the validated model's threshold {validated}" in subheaders
    if scoring != validated:  # two refits, two out-of-bag thresholds (on this lake: they differ)
        assert not any(scoring in s for s in subheaders)
    # the curves' legend says which is the model and which the baseline, in the language
    names = set()
    for dataset in charts(at)[0].proto.datasets:
        table = pa.ipc.open_stream(dataset.data.data).read_all()
        if "curve" in table.column_names:
            names |= set(table["curve"].to_pylist())
    assert names == {
        f"Model ({metrics['model']['name']})",
        f"Baseline ({metrics['baseline']['name']})",
    }


# --------------------------------------------------------------------------------------------
# Segments


def test_segments_split_customers_revenue_and_risk(
    report_app: AppFactory, report_lake: Path
) -> None:
    at = report_app("views/segments.py", lang="en")
    assert at.title[0].value == "Segments"
    file = predictions(report_lake, current_run(report_lake))
    expected = {
        segment: (n, revenue, mean_p, high)
        for segment, n, revenue, mean_p, high in duckdb.sql(
            "SELECT segment, count(*), sum(spend_365d), avg(churn_probability), "
            f"count(*) FILTER (risk_band = 'high') FROM '{file}' GROUP BY segment"
        ).fetchall()
    }
    total_n = sum(v[0] for v in expected.values())
    total_revenue = sum(v[1] for v in expected.values())
    labels = {"champions": "champions", "loyal": "loyal", "potential": "potential",
              "new": "new", "at_risk": "at risk", "hibernating": "hibernating"}  # fmt: skip
    table = {r["Segment"]: r for r in dataframe_values(at).to_dict("records")}
    assert set(table) == {labels.get(s, s) for s in expected}
    for segment, (n, revenue, mean_p, high) in expected.items():
        row = table[labels.get(segment, segment)]
        assert row["Customers"] == n
        assert row["Share of customers"] == pytest.approx(n / total_n)
        assert row["Revenue, 365 days"] == pytest.approx(revenue)
        assert row["Share of revenue"] == pytest.approx(revenue / total_revenue)
        assert row["Mean churn probability"] == pytest.approx(mean_p)
        assert row["High-risk customers"] == high
    assert len(charts(at)) == 2


# --------------------------------------------------------------------------------------------
# Pipeline health


def test_pipeline_health_reconciles_with_the_manifests(
    report_app: AppFactory, report_lake: Path
) -> None:
    at = report_app("views/health.py", lang="en")
    assert at.title[0].value == "Pipeline health"
    docs = manifests(report_lake)
    curated = [m for m in docs if m["status"] == "curated"]
    quarantined = [m for m in docs if m["status"] == "quarantined"]
    shown = metrics_by_label(at)
    assert shown["Landed files"].value == str(len(docs))
    assert shown["Curated"].value == str(len(curated))
    assert shown["Quarantined"].value == str(len(quarantined)) == "1"
    # the generated file landed twice: every row of the copy is a duplicate, none written
    assert shown["Duplicate files"].value == "1"
    assert shown["Duplicate rows"].value == f"{DEFAULT_ROWS:,}"
    assert shown["Rows read"].value == f"{sum(m['rows']['read'] for m in curated) + DEFAULT_ROWS:,}"
    assert shown["Rows written"].value == f"{sum(m['rows']['written'] for m in curated):,}"
    assert shown["Rows rejected"].value == f"{sum(m['rows']['rejected'] for m in curated):,}"
    duplicates = dataframe_values(at, 1)
    assert list(duplicates["File"]) == [DUPLICATE_KEY]
    assert list(duplicates["Earlier file"]) == [curated[0]["source"]["key"]]
    size_in = sum(m["bytes"]["in"] for m in curated)
    size_out = sum(m["bytes"]["out"] for m in curated)
    assert shown["Parquet size"].delta == f"{(1 - size_out / size_in) * 100:.1f}% smaller"
    assert shown["Source size (curated files)"].value == f"{size_in / 1024 / 1024:.1f} MB"

    quarantine_table = dataframe_values(at, 0)
    assert list(quarantine_table["File"]) == [BROKEN_KEY]
    assert list(quarantine_table["Reason (as the ingest wrote it)"]) == [quarantined[0]["reason"]]
    # the broken file's header lacks the required columns: the ingest says so with its code
    assert quarantined[0]["code"] == "missing_column"
    assert list(quarantine_table["Kind"]) == ["required column missing"]
    files = dataframe_values(at, 2)
    assert sorted(files["File"]) == sorted(m["source"]["key"] for m in docs)
    # the quarantined file has no row counts: a dash, not a grid's "None"
    broken = files[files["File"] == BROKEN_KEY].iloc[0]
    assert (broken["Rows read"], broken["Rows written"], broken["Rows rejected"]) == ("–",) * 3
    assert not files.isna().any().any()
    by_file = files.set_index("File")
    for m in curated:
        assert by_file.loc[m["source"]["key"], "Rows read"] == f"{m['rows']['read']:,}"
    runs = dataframe_values(at, 3)
    steps = list(runs["Step"])
    assert {"Ingest", "Features", "Training"} <= set(steps)
    features_ids = {p.stem for p in (report_lake / "analytics" / "features" / "_runs").glob("*")}
    assert set(runs[runs["Step"] == "Features"]["Run"]) <= features_ids
    assert runs[runs["Step"] == "Training"]["Run"].iloc[0] == current_run(report_lake)
    # metrics.json times one forest's fit, not the run: named in the detail, no duration
    training = runs[runs["Step"] == "Training"]
    assert set(training["Duration (s)"]) == {"–"}
    fit = read_json(report_lake / "analytics" / "metrics" / f"{current_run(report_lake)}.json")
    assert training["Detail"].iloc[0].endswith(f"model fit {fit['fit_seconds']:.1f} s")


# --------------------------------------------------------------------------------------------
# Empty states and unreadable data


@pytest.mark.parametrize(
    ("page", "message"),
    [
        (None, "No model has been trained yet"),
        ("views/customers.py", "No model has been trained yet"),
        ("views/model.py", "No model has been trained yet"),
        ("views/segments.py", "No model has been trained yet"),
        ("views/health.py", "No file has been ingested yet"),
    ],
)
def test_empty_lake_explains_itself(empty_app: AppFactory, page: str | None, message: str) -> None:
    at = empty_app(page, lang="en")
    assert at.info and at.info[0].value.startswith(message)
    assert not at.error


def test_empty_lake_in_korean(empty_app: AppFactory) -> None:
    at = empty_app()
    assert at.info[0].value.startswith("아직 학습된 모델이 없습니다")


def test_unreadable_document_is_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.frontend.conftest import open_app, point_report_at

    pointer = tmp_path / "analytics" / "models" / "_LATEST.json"
    pointer.parent.mkdir(parents=True)
    pointer.write_text("{not json", "utf-8")
    point_report_at(monkeypatch, tmp_path)
    at = open_app(lang="en")
    assert at.error[0].value.startswith("The data could not be read:")
    assert "_LATEST.json is not valid JSON" in at.error[0].value


# --------------------------------------------------------------------------------------------
# The same report on S3 (moto): what the container does with its task role


def test_the_report_reads_s3_zones(
    monkeypatch: pytest.MonkeyPatch, report_lake: Path, aws_env: str
) -> None:
    import boto3
    from moto import mock_aws

    from tests.frontend.conftest import open_app

    with mock_aws():
        s3 = boto3.client("s3", region_name=aws_env)
        for bucket in ("acme-analytics", "acme-curated"):
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": aws_env}
            )
        uploads = [
            ("acme-analytics", "lake/", report_lake / "analytics", folder)
            for folder in ("models", "metrics", "predictions", "features/_runs")
        ] + [("acme-curated", "", report_lake / "curated", "_manifests")]
        for bucket, prefix, zone, folder in uploads:
            for path in (zone / folder).rglob("*"):
                if path.is_file():
                    key = prefix + path.relative_to(zone).as_posix()
                    s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        monkeypatch.setenv("LAKEDROP_HOME", str(report_lake / "not-used"))
        monkeypatch.setenv("LAKEDROP_ANALYTICS_URI", "s3://acme-analytics/lake")
        monkeypatch.setenv("LAKEDROP_CURATED_URI", "s3://acme-curated")
        monkeypatch.setenv("LAKEDROP_QUARANTINE_URI", "s3://acme-quarantine")

        at = open_app(lang="en")
        file = predictions(report_lake, current_run(report_lake))
        n, high = one(f"SELECT count(*), count(*) FILTER (risk_band = 'high') FROM '{file}'")
        shown = metrics_by_label(at)
        assert shown["Scored customers"].value == f"{n:,}"
        assert shown["Customers at high risk"].value == f"{high:,}"
        at.switch_page("views/customers.py").run()
        assert at.caption[0].value.startswith(f"{high:,} matching customers")
        at.switch_page("views/health.py").run()
        assert metrics_by_label(at)["Landed files"].value == str(len(manifests(report_lake)))


def test_no_quarantined_file_is_good_news(
    monkeypatch: pytest.MonkeyPatch, pipeline_lake: Any
) -> None:
    from tests.frontend.conftest import open_app, point_report_at

    point_report_at(monkeypatch, pipeline_lake.root)
    at = open_app("views/health.py", lang="en")
    assert at.success[0].value == "No quarantined files."
    assert metrics_by_label(at)["Quarantined"].value == "0"


def test_a_run_without_its_predictions_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.frontend.conftest import open_app, point_report_at

    pointer = tmp_path / "analytics" / "models" / "_LATEST.json"
    pointer.parent.mkdir(parents=True)
    pointer.write_text('{"run_id": "lost-run"}', "utf-8")
    point_report_at(monkeypatch, tmp_path)
    for page in (None, "views/customers.py", "views/model.py", "views/segments.py"):
        at = open_app(page, lang="en")
        assert at.warning[0].value.startswith(
            "The outputs of the current training run (lost-run) cannot be found"
        )
        assert not at.error


def test_pipeline_health_names_the_quarantine_kind_in_korean(
    report_app: AppFactory, report_lake: Path
) -> None:
    at = report_app("views/health.py", lang="ko")
    quarantine_table = dataframe_values(at, 0)
    assert list(quarantine_table["파일"]) == [BROKEN_KEY]
    assert list(quarantine_table["유형"]) == ["필수 열 누락"]
