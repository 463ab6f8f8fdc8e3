"""frontend.data: zone URIs from the environment, folders and S3 (moto), failures as DataError."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from frontend import data


def test_zones_default_to_the_local_lake(tmp_path: Path) -> None:
    zones = data.Zones.from_env({"LAKEDROP_HOME": str(tmp_path)})
    assert zones == data.Zones(
        str(tmp_path / "analytics"), str(tmp_path / "curated"), str(tmp_path / "quarantine")
    )
    assert data.Zones.from_env({}).analytics == str(Path(".lakedrop/analytics").resolve())


def test_zones_from_their_own_variables() -> None:
    zones = data.Zones.from_env(
        {
            "LAKEDROP_HOME": "/ignored",
            "LAKEDROP_ANALYTICS_URI": "s3://analytics-bucket/lake",
            "LAKEDROP_CURATED_URI": "s3://curated-bucket",
            "LAKEDROP_QUARANTINE_URI": "s3://quarantine-bucket",
        }
    )
    assert zones == data.Zones(
        "s3://analytics-bucket/lake", "s3://curated-bucket", "s3://quarantine-bucket"
    )


def test_zones_are_read_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAKEDROP_ANALYTICS_URI", str(tmp_path / "one"))
    first = data.zones()
    monkeypatch.setenv("LAKEDROP_ANALYTICS_URI", str(tmp_path / "two"))
    assert data.zones() is first
    data.clear_caches()
    assert data.zones().analytics == str(tmp_path / "two")


def test_local_store(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "r1.json").write_text('{"run_id": "r1"}', "utf-8")
    (tmp_path / "metrics" / ".r2.json.abc.part").write_text("{", "utf-8")  # a write in progress
    (tmp_path / "metrics" / "notes.txt").write_text("x", "utf-8")
    store = data.open_store(str(tmp_path))
    assert store.keys("metrics/", ".json") == ["metrics/r1.json"]
    assert data.read_all_json(store, "metrics/") == [{"run_id": "r1"}]
    assert data.read_json(store, "metrics/none.json") is None
    assert data.read_all_json(store, "nothing/") == []
    assert data.open_store(f"file://{tmp_path}").read_bytes("metrics/r1.json") is not None
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), tmp_path / "t.parquet")
    table = store.read_parquet("t.parquet", ("b",))
    assert table is not None and table.column_names == ["b"]
    assert store.read_parquet("missing.parquet", None) is None


def test_bad_documents_are_data_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{", "utf-8")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    store = data.open_store(str(tmp_path))
    with pytest.raises(data.DataError, match=r"broken\.json is not valid JSON"):
        data.read_json(store, "broken.json")
    with pytest.raises(data.DataError, match=r"broken\.parquet"):
        data._guarded("broken.parquet", lambda: store.read_parquet("broken.parquet", None))
    with pytest.raises(data.DataError, match="unsupported zone URI"):
        data.open_store("gs://bucket")


def test_s3_store(aws_env: str) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name=aws_env)
        s3.create_bucket(
            Bucket="analytics", CreateBucketConfiguration={"LocationConstraint": aws_env}
        )
        for i in range(40):  # more than one reader thread's worth
            body = json.dumps({"run_id": f"r{i:02d}"}).encode()
            s3.put_object(Bucket="analytics", Key=f"lake/metrics/r{i:02d}.json", Body=body)
        s3.put_object(Bucket="analytics", Key="lake/metrics/.tmp.json", Body=b"{")
        sink = pa.BufferOutputStream()
        pq.write_table(pa.table({"customer_id": ["c1"], "churn_probability": [0.5]}), sink)
        s3.put_object(
            Bucket="analytics",
            Key="lake/predictions/r1/predictions.parquet",
            Body=sink.getvalue().to_pybytes(),
        )
        store = data.open_store("s3://analytics/lake/")  # the default credential chain
        assert store.uri == "s3://analytics/lake"
        docs = data.read_all_json(store, "metrics/")
        assert sorted(d["run_id"] for d in docs) == [f"r{i:02d}" for i in range(40)]
        assert data.read_json(store, "models/_LATEST.json") is None
        table = store.read_parquet("predictions/r1/predictions.parquet", ("churn_probability",))
        assert table is not None and table.to_pylist() == [{"churn_probability": 0.5}]
        denied = data.open_store("s3://no-such-bucket")
        with pytest.raises(data.DataError, match="NoSuchBucket"):
            data.read_all_json(denied, "metrics/")


def test_cached_readers_follow_the_zones(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    analytics = tmp_path / "analytics"
    (analytics / "models").mkdir(parents=True)
    monkeypatch.setenv("LAKEDROP_ANALYTICS_URI", str(analytics))
    assert data.model_pointer() is None
    (analytics / "models" / "_LATEST.json").write_text('{"run_id": "r1"}', "utf-8")
    assert data.model_pointer() is None  # cached for FRESH_TTL_S
    data.clear_caches()
    assert data.model_pointer() == {"run_id": "r1"}
    assert data.summary("r1") is None
    assert data.predictions("r1", ("customer_id",)) is None
    assert data.metrics_history() == [] and data.features_reports() == []
