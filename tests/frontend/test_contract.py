"""The keys the report reads are the keys the producers write (each unit defines its own)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from frontend import data, logic
from glue_jobs.features import layout as features_layout
from ingest import layout as ingest_layout


def test_features_and_ingest_keys() -> None:
    assert data.FEATURES_RUNS_PREFIX == features_layout.RUNS_PREFIX + "/"
    assert features_layout.report_key("r1").startswith(data.FEATURES_RUNS_PREFIX)
    assert data.MANIFESTS_PREFIX == ingest_layout.MANIFEST_PREFIX + "/"
    assert ingest_layout.manifest_key("transactions", "abc").startswith(data.MANIFESTS_PREFIX)


def test_training_keys() -> None:
    training = pytest.importorskip("lakedrop.training")
    assert data.MODELS_LATEST == training.LATEST_KEY
    assert data.metrics_key("r1") == training.metrics_key("r1")
    prefix = training.predictions_prefix("r1")
    assert data.predictions_key("r1") == prefix + training.PREDICTIONS_FILE
    assert data.summary_key("r1") == prefix + training.SUMMARY_FILE


def test_the_pipeline_writes_what_the_report_reads(report_lake: Path) -> None:
    """Every column the at-risk page reads is in the predictions, every summary key the
    overview and segments pages read is in _summary.json."""
    import json

    analytics = report_lake / "analytics"
    run_id = json.loads((analytics / data.MODELS_LATEST).read_text("utf-8"))["run_id"]
    schema = pq.read_schema(analytics / data.predictions_key(run_id))
    assert set(logic.AT_RISK_COLUMNS) <= set(schema.names)
    summary = json.loads((analytics / data.summary_key(run_id)).read_text("utf-8"))
    assert {"customers", "revenue_365d", "by_band", "by_segment", "churn_rate_train"} <= set(
        summary
    )
    for part in summary["by_segment"].values():
        assert {"customers", "revenue_365d", "mean_probability", "high_risk"} <= set(part)
    metrics = json.loads((analytics / data.metrics_key(run_id)).read_text("utf-8"))
    for which in ("model", "baseline"):
        assert {"roc_auc", "pr_auc", "brier", "confusion_matrix", "roc_curve", "pr_curve",
                "calibration"} <= set(metrics[which])  # fmt: skip
    assert {"created_at", "threshold", "permutation_importance", "data"} <= set(metrics)


def test_every_quarantine_code_has_a_label_in_both_languages() -> None:
    from frontend import i18n
    from ingest.service import QUARANTINE_CODES

    assert set(i18n.QUARANTINE_KINDS) == set(QUARANTINE_CODES)
    for code in QUARANTINE_CODES:
        ko, en = i18n.quarantine_kind(code, "ko"), i18n.quarantine_kind(code, "en")
        assert ko != en != code, code


def test_the_report_reads_the_manifest_index_ingest_writes(tmp_path: Path) -> None:
    """Ingest's index (ingest.manifest_index) read by the report: the same manifests as one
    GET each, and only what changed since the index was built is read again."""
    import json
    import os

    from ingest import manifest_index
    from ingest.storage import LocalStorage

    assert data.MANIFEST_INDEX_KEY == ingest_layout.MANIFEST_INDEX_KEY
    curated = LocalStorage(tmp_path / "curated")
    for n in range(5):
        key = ingest_layout.manifest_key("transactions", f"s{n}")
        curated.put_bytes(key, json.dumps({"source_id": f"s{n}", "status": "curated"}).encode())
        past = 1_700_000_000 + n  # written long before the index
        os.utime(curated.location(key), (past, past))
    assert manifest_index.refresh(curated) == 5  # no index yet: every manifest read once
    assert manifest_index.refresh(curated) == 0  # then nothing that did not change

    # one manifest rewritten after the index was built, one new
    changed = ingest_layout.manifest_key("transactions", "s2")
    curated.put_bytes(changed, json.dumps({"source_id": "s2", "status": "quarantined"}).encode())
    new = ingest_layout.manifest_key("transactions", "s9")
    curated.put_bytes(new, json.dumps({"source_id": "s9", "status": "duplicate"}).encode())

    reads: list[str] = []
    store = data.LocalStore(tmp_path / "curated")

    class Counting(data.LocalStore):
        def read_bytes(self, key: str) -> bytes | None:
            reads.append(key)
            return super().read_bytes(key)

    docs = data.read_manifests(Counting(store.root))
    assert sorted((d["source_id"], d["status"]) for d in docs) == [
        ("s0", "curated"), ("s1", "curated"), ("s2", "quarantined"), ("s3", "curated"),
        ("s4", "curated"), ("s9", "duplicate"),
    ]  # fmt: skip
    assert sorted(reads) == sorted([data.MANIFEST_INDEX_KEY, changed, new])
    # without an index the report still reads every manifest
    (tmp_path / "curated" / data.MANIFEST_INDEX_KEY).unlink()
    assert len(data.read_manifests(store)) == 6
