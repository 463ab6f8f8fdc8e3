"""What the pipeline lake's training run published is what the report's contract says
(docs/lake.md "Analytics zone", docs/training.md)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tests.pipeline import TRAINING_RUN_ID

METRICS_KEYS = {
    "run_id", "created_at", "sklearn_version", "python_version", "seed", "n_jobs",
    "fit_seconds", "features", "cutoffs", "horizon_days", "hyperparameters", "feature_names",
    "data", "threshold", "threshold_rule", "model", "baseline", "lift",
    "permutation_importance", "risk_bands",
}  # fmt: skip
SCORER_KEYS = {
    "name", "roc_auc", "pr_auc", "brier", "log_loss", "confusion_matrix", "precision",
    "recall", "f1", "roc_curve", "pr_curve", "calibration",
}  # fmt: skip
PREDICTION_TYPES = {
    "customer_id": pa.string(),
    "churn_probability": pa.float64(),
    "risk_band": pa.string(),
    "segment": pa.string(),
    "main_channel": pa.string(),
    "days_since_last_purchase": pa.int32(),
    "orders_total": pa.int64(),
    "spend_total": pa.float64(),
    "spend_365d": pa.float64(),
    "top_factors": pa.string(),
    "score_cutoff": pa.date32(),
    "run_id": pa.string(),
}


def test_pointer_names_every_output(published: dict[str, Any]) -> None:
    pointer, root = published["pointer"], published["root"]
    assert pointer["run_id"] == TRAINING_RUN_ID
    assert pointer["metrics"] == f"metrics/{TRAINING_RUN_ID}.json"
    assert pointer["predictions"] == f"predictions/{TRAINING_RUN_ID}/"
    assert pointer["model"] == f"models/{TRAINING_RUN_ID}/"
    dt.datetime.fromisoformat(pointer["created_at"])
    for key in (
        pointer["metrics"],
        pointer["model"] + "model.joblib",
        pointer["predictions"] + "predictions.parquet",
        pointer["predictions"] + "_summary.json",
    ):
        assert (root / key).is_file(), key
    assert not [p for p in root.rglob("*.part")]


def test_metrics_hold_the_contracts_keys(published: dict[str, Any]) -> None:
    m = published["metrics"]
    assert m.keys() >= METRICS_KEYS
    assert m["features"] == {
        "train_run_id": "pipeline-features",
        "score_run_id": "pipeline-features",
    }
    assert m["horizon_days"] == 90 and m["seed"] == 5 and m["sklearn_version"] == "1.9.1"
    # the features job's default backtest: four cutoffs 90 days apart; the latest validates
    assert len(m["cutoffs"]["train"]) == 3
    assert m["cutoffs"]["train"] == sorted(m["cutoffs"]["train"])
    assert m["cutoffs"]["validation"] > m["cutoffs"]["train"][-1]
    assert m["cutoffs"]["score"] > m["cutoffs"]["validation"]
    for scorer in ("model", "baseline"):
        assert m[scorer].keys() >= SCORER_KEYS
        assert set(m[scorer]["confusion_matrix"]) == {"tp", "fp", "tn", "fn"}
        assert sum(m[scorer]["confusion_matrix"].values()) == m["data"]["n_validation"]
        assert len(m[scorer]["calibration"]) == 10
        assert len(m[scorer]["roc_curve"]["fpr"]) <= 200
    assert {r["feature"] for r in m["permutation_importance"]} == set(m["feature_names"])
    means = [r["importance_mean"] for r in m["permutation_importance"]]
    assert means == sorted(means, reverse=True)
    assert m["risk_bands"]["low"] == 0.0
    assert m["risk_bands"]["high"] == m["threshold"] > m["risk_bands"]["medium"]


def test_predictions_columns_and_values(published: dict[str, Any]) -> None:
    root, pointer, summary = published["root"], published["pointer"], published["summary"]
    table = pq.read_table(root / pointer["predictions"] / "predictions.parquet")
    assert {f.name: f.type for f in table.schema} == PREDICTION_TYPES
    rows = table.to_pylist()
    assert len(rows) == summary["customers"] == published["metrics"]["data"]["n_scored"]
    assert len({r["customer_id"] for r in rows}) == len(rows)
    assert all(len(r["customer_id"]) == 32 for r in rows)  # the curated pseudonyms
    assert {r["risk_band"] for r in rows} == {"high", "medium", "low"}
    assert {r["segment"] for r in rows} <= {
        "champions", "loyal", "potential", "at_risk", "hibernating", "new",
    }  # fmt: skip
    assert {r["main_channel"] for r in rows} <= {"online", "offline", "app", "other"}
    assert {r["run_id"] for r in rows} == {TRAINING_RUN_ID}
    assert {r["score_cutoff"].isoformat() for r in rows} == {summary["score_cutoff"]}
    names = set(published["metrics"]["feature_names"])
    factors = [f for r in rows for f in r["top_factors"].split("; ") if f]
    assert factors and set(factors) <= names
    high = [r for r in rows if r["risk_band"] == "high"]
    assert min(r["churn_probability"] for r in high) >= published["metrics"]["threshold"]


def test_summary_matches_the_predictions(published: dict[str, Any]) -> None:
    root, pointer, summary = published["root"], published["pointer"], published["summary"]
    rows = pq.read_table(root / pointer["predictions"] / "predictions.parquet").to_pylist()
    assert summary["run_id"] == TRAINING_RUN_ID
    assert sum(b["customers"] for b in summary["by_band"].values()) == len(rows)
    assert sum(s["customers"] for s in summary["by_segment"].values()) == len(rows)
    high = sum(1 for r in rows if r["risk_band"] == "high")
    assert summary["by_band"]["high"]["customers"] == high
    assert sum(s["high_risk"] for s in summary["by_segment"].values()) == high
    revenue = sum(r["spend_365d"] for r in rows)
    assert abs(summary["revenue_365d"] - revenue) < 1e-6 * max(revenue, 1)
    assert summary["churn_rate_train"] == published["metrics"]["data"]["positive_rate_labelled"]


# --- the Athena tables over these outputs (template.yaml PredictionsTable, MetricsTable) -----

ATHENA_TYPES = {
    pa.string(): "string",
    pa.float64(): "double",
    pa.int32(): "int",
    pa.int64(): "bigint",
    pa.date32(): "date",
}


def _table(logical_id: str) -> dict[str, Any]:
    from tests.test_template import load_template

    table: dict[str, Any] = load_template()["Resources"][logical_id]["Properties"]["TableInput"]
    return table


def _struct_fields(type_text: str) -> dict[str, str]:
    """``struct<a:string,b:array<string>>`` -> {"a": "string", "b": "array<string>"}."""
    inner, fields, depth, start = type_text[len("struct<") : -1], {}, 0, 0
    for i, char in enumerate(inner + ","):
        depth += char == "<"
        depth -= char == ">"
        if char == "," and depth == 0:
            name, kind = inner[start:i].split(":", 1)
            fields[name] = kind
            start = i + 1
    return fields


def _json_fits(value: Any, kind: str) -> bool:
    if value is None:
        return True
    if kind.startswith("struct<"):
        fields = _struct_fields(kind)
        return isinstance(value, dict) and all(
            name in value and _json_fits(value[name], k) for name, k in fields.items()
        )
    if kind.startswith("array<"):
        return isinstance(value, list) and all(_json_fits(v, kind[6:-1]) for v in value)
    types: dict[str, type | tuple[type, ...]] = {
        "string": str, "double": (int, float), "bigint": int, "int": int,
    }  # fmt: skip
    expected = types[kind]
    return isinstance(value, expected) and not isinstance(value, bool)


def test_predictions_table_reads_the_published_parquet(published: dict[str, Any]) -> None:
    root, pointer = published["root"], published["pointer"]
    schema = pq.read_schema(root / pointer["predictions"] / "predictions.parquet")
    table = _table("PredictionsTable")
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == [(f.name, ATHENA_TYPES[f.type]) for f in schema]
    # the partition is the run's folder; everything else there starts with "_" (Athena skips)
    template = table["Parameters"]["storage.location.template"]["Fn::Sub"]
    assert template == "s3://${AnalyticsBucket}/predictions/${!run}/"
    assert pointer["predictions"] == f"predictions/{TRAINING_RUN_ID}/"
    others = [p.name for p in (root / pointer["predictions"]).iterdir()]
    assert all(n == "predictions.parquet" or n.startswith(("_", ".")) for n in others), others


def test_metrics_table_reads_the_published_json_lines(published: dict[str, Any]) -> None:
    root, pointer = published["root"], published["pointer"]
    text = (root / pointer["metrics"]).read_text("utf-8")
    assert text.count("\n") == 1 and text.endswith("\n")  # one object on one line
    document = json.loads(text)
    assert document == published["metrics"]
    table = _table("MetricsTable")
    assert table["StorageDescriptor"]["Location"] == {"Fn::Sub": "s3://${AnalyticsBucket}/metrics/"}
    for column in table["StorageDescriptor"]["Columns"]:
        assert column["Name"] in document, column
        assert _json_fits(document[column["Name"]], column["Type"]), column
