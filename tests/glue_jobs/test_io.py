"""Zones (a folder, an S3 prefix through moto) and publishing: pointers and old-run removal.

No Spark here: a run folder is whatever objects sit under ``features/<kind>/run=<id>/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from moto import mock_aws

from glue_jobs.features import io, layout

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

BUCKET = "lakedrop-analytics"


@pytest.fixture
def s3(aws_env: str) -> Iterator[S3Client]:
    with mock_aws():
        client = boto3.client("s3", region_name=aws_env)
        client.create_bucket(
            Bucket=BUCKET,
            CreateBucketConfiguration={"LocationConstraint": aws_env},  # type: ignore[typeddict-item]
        )
        yield client


@pytest.fixture(params=["local", "s3"])
def zone(request: pytest.FixtureRequest, tmp_path: Path) -> io.Zone:
    if request.param == "local":
        return io.open_zone(str(tmp_path / "analytics"))
    client = request.getfixturevalue("s3")
    return io.open_zone(f"s3://{BUCKET}/lake/analytics", s3_client=lambda: client)


def _touch_run(zone: io.Zone, kind: layout.Kind, run_id: str, files: int = 1) -> None:
    """Stand-in for Spark's output: a few objects under the run folder."""
    for n in range(files):
        zone.put_json(f"{layout.run_key(kind, run_id)}/part-{n:05d}.json", {"n": n})


def _runs(zone: io.Zone, kind: layout.Kind) -> list[str]:
    return [f for f in zone.folders(layout.snapshot_prefix(kind)) if f.startswith("run=")]


def _no_client() -> S3Client:
    return cast("S3Client", None)  # open_zone only stores it


def test_open_zone() -> None:
    s3_zone = io.open_zone("s3://bucket/some/prefix/", s3_client=_no_client)
    assert isinstance(s3_zone, io.S3Zone)
    assert (s3_zone.bucket, s3_zone.prefix, s3_zone.uri) == (
        "bucket",
        "some/prefix/",
        "s3://bucket/some/prefix",
    )
    assert io.spark_uri(s3_zone, "features/train/run=x") == (
        "s3://bucket/some/prefix/features/train/run=x"
    )
    bare = io.open_zone("s3://bucket", s3_client=_no_client)
    assert isinstance(bare, io.S3Zone) and bare.prefix == "" and bare.uri == "s3://bucket"
    assert io.spark_uri(bare, "features/x") == "s3://bucket/features/x"
    local = io.open_zone("relative/analytics")
    assert isinstance(local, io.LocalZone) and local.root.is_absolute()
    assert io.spark_uri(local, "features/x") == str(local.root / "features" / "x")
    assert isinstance(io.open_zone("file:///tmp/a"), io.LocalZone)
    with pytest.raises(ValueError, match="unsupported"):
        io.open_zone("gs://bucket/x")


def test_json_round_trip_and_missing(zone: io.Zone) -> None:
    assert zone.get_json("features/train/_LATEST.json") is None
    zone.put_json("features/train/_LATEST.json", {"run_id": "a", "여기": 1})
    zone.put_json("features/train/_LATEST.json", {"run_id": "b"})
    assert zone.get_json("features/train/_LATEST.json") == {"run_id": "b"}


def test_local_put_is_write_then_rename(tmp_path: Path) -> None:
    zone = io.LocalZone(tmp_path)
    zone.put_json("a/b.json", [1, 2])
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.json"]  # no temp left
    assert json.loads((tmp_path / "a" / "b.json").read_text("utf-8")) == [1, 2]


def test_folders_and_delete(zone: io.Zone) -> None:
    assert zone.folders("features/train/") == []
    _touch_run(zone, "train", "r1", files=2)
    _touch_run(zone, "train", "r2")
    zone.put_json("features/train/_LATEST.json", {})
    assert zone.folders("features/train/") == ["run=r1", "run=r2"]
    zone.delete_folder("features/train/run=r1")
    zone.delete_folder("features/train/run=missing")  # nothing there: no error
    assert zone.folders("features/train/") == ["run=r2"]
    assert zone.get_json("features/train/_LATEST.json") == {}


def test_s3_delete_folder_pages_past_1000_keys(s3: S3Client) -> None:
    zone = io.open_zone(f"s3://{BUCKET}", s3_client=lambda: s3)
    for n in range(1005):
        s3.put_object(Bucket=BUCKET, Key=f"features/score/run=big/part-{n:05d}", Body=b"")
    s3.put_object(Bucket=BUCKET, Key="features/score/run=bigger/part-0", Body=b"")
    zone.delete_folder("features/score/run=big")
    left = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [o["Key"] for o in left] == ["features/score/run=bigger/part-0"]


def _pointer(run_id: str) -> dict[str, Any]:
    return {"run_id": run_id, "path": f"…/run={run_id}", "cutoff": "2025-01-01", "rows": 1}


def test_publish_moves_the_pointer_and_keeps_the_last_runs(zone: io.Zone) -> None:
    for run_id in ("r1", "r2", "r3"):
        _touch_run(zone, "train", run_id)
        assert io.publish(zone, "train", _pointer(run_id), keep_runs=3) == []
    _touch_run(zone, "train", "r4")
    _touch_run(zone, "train", "orphan")  # died before publishing
    assert sorted(io.publish(zone, "train", _pointer("r4"), keep_runs=3)) == ["orphan", "r1"]
    assert _runs(zone, "train") == ["run=r2", "run=r3", "run=r4"]
    latest = zone.get_json(layout.latest_key("train"))
    assert latest == {**_pointer("r4"), "previous_runs": ["r3", "r2"]}
    # the other kind is untouched
    assert zone.get_json(layout.latest_key("score")) is None


def test_republishing_the_same_run_id_does_not_list_it_twice(zone: io.Zone) -> None:
    _touch_run(zone, "score", "r1")
    io.publish(zone, "score", _pointer("r1"), keep_runs=2)
    _touch_run(zone, "score", "r2")
    io.publish(zone, "score", _pointer("r2"), keep_runs=2)
    io.publish(zone, "score", _pointer("r2"), keep_runs=2)  # a retried publish
    latest = zone.get_json(layout.latest_key("score"))
    assert latest is not None and latest["previous_runs"] == ["r1"]
    assert _runs(zone, "score") == ["run=r1", "run=r2"]


def test_keep_one_run(zone: io.Zone) -> None:
    for run_id in ("r1", "r2"):
        _touch_run(zone, "train", run_id)
        io.publish(zone, "train", _pointer(run_id), keep_runs=1)
    assert _runs(zone, "train") == ["run=r2"]
    with pytest.raises(ValueError, match="keep_runs"):
        io.publish(zone, "train", _pointer("r3"), keep_runs=0)


def test_curated_files_are_the_ones_curated_manifests_name(zone: io.Zone) -> None:
    """The job's consistent view of the curated zone: manifests, not a folder listing."""
    prefix = layout.manifest_prefix()
    zone.put_json(
        f"{prefix}a.json",
        {
            "status": "curated",
            "outputs": [{"key": "transactions/event_month=2025-06/a-v2-0.parquet"}],
        },
    )
    # a source whose new version is being published still names its current files
    zone.put_json(
        f"{prefix}b.json",
        {
            "status": "curated",
            "outputs": [{"key": "transactions/event_month=2025-07/b-v1-0.parquet"}],
            "pending_outputs": ["transactions/event_month=2025-07/b-v2-0.parquet"],
        },
    )
    zone.put_json(f"{prefix}c.json", {"status": "quarantined", "outputs": []})
    zone.put_json(f"{prefix}d.json", {"status": "duplicate", "outputs": []})
    zone.put_json(f"{prefix}e.json", {"status": "publishing", "outputs": []})  # first version
    # objects that are not manifests of this dataset are not read
    zone.put_json("_manifests/other/x.json", {"status": "curated", "outputs": [{"key": "x"}]})
    zone.put_json(f"{prefix}sub/y.json", {"status": "curated", "outputs": [{"key": "y"}]})

    assert io.curated_files(zone) == [
        "transactions/event_month=2025-06/a-v2-0.parquet",
        "transactions/event_month=2025-07/b-v1-0.parquet",
    ]
