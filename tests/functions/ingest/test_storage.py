"""The storage adapters: one set of behavioural tests, run against every kind of zone.

A zone is a local folder (``LocalStorage``), a whole S3 bucket, or a prefix of a bucket; the
S3 zones live in moto and are opened the way the handler opens them, with ``open_storage``.
What an adapter did is checked both through the adapter and from outside it (the files on
disk, or the bucket listed with the raw client).
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ingest.storage import LocalStorage, ObjectInfo, S3Storage, Storage, open_storage

KINDS = ["local", "s3", "s3-prefix"]
SHARED_BUCKET = "lakedrop-lake"  # the s3-prefix zones share one bucket
BIG = 9 * 1024 * 1024 + 123  # above boto3's 8 MiB multipart threshold: parts, not one PUT

ZoneFactory = Callable[[str, str], Storage]


@pytest.fixture
def s3(aws_env: str) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("s3", region_name=aws_env)


@pytest.fixture
def new_zone(request: pytest.FixtureRequest, tmp_path: Path) -> ZoneFactory:
    """``new_zone(kind, name)``: an empty zone of that kind (S3 ones in moto)."""

    def make(kind: str, name: str) -> Storage:
        if kind == "local":
            return LocalStorage(tmp_path / "lake" / name)
        client = request.getfixturevalue("s3")
        if kind == "s3":
            bucket, uri = f"lakedrop-{name}", f"s3://lakedrop-{name}"
        else:
            bucket, uri = SHARED_BUCKET, f"s3://{SHARED_BUCKET}/zones/{name}/"
        existing = {b["Name"] for b in client.list_buckets()["Buckets"]}
        if bucket not in existing:
            client.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": client.meta.region_name},
            )
        return open_storage(uri, client)

    return make


@pytest.fixture(params=KINDS)
def zone(request: pytest.FixtureRequest, new_zone: ZoneFactory) -> Storage:
    return new_zone(request.param, "curated")


def stored(zone: Storage) -> dict[str, bytes]:
    """Every object of the zone, read from outside the adapter: {key relative to zone: bytes}."""
    if isinstance(zone, LocalStorage):
        if not zone.root.exists():
            return {}
        return {
            p.relative_to(zone.root).as_posix(): p.read_bytes()
            for p in zone.root.rglob("*")
            if p.is_file()
        }
    assert isinstance(zone, S3Storage)
    pages = zone.client.get_paginator("list_objects_v2").paginate(Bucket=zone.bucket)
    found = {}
    for page in pages:
        for item in page.get("Contents", []):
            if item["Key"].startswith(zone.prefix):
                body = zone.client.get_object(Bucket=zone.bucket, Key=item["Key"])["Body"]
                found[item["Key"][len(zone.prefix) :]] = body.read()
    return found


def random_file(path: Path, size: int, seed: int = 1) -> bytes:
    data = random.Random(seed).randbytes(size)
    path.write_bytes(data)
    return data


def tmp_leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if p.name.startswith(".tmp-")]


# --- bytes ---------------------------------------------------------------------------------


def test_put_and_get_bytes(zone: Storage) -> None:
    zone.put_bytes(
        "_manifests/transactions/abc.json", b'{"status": "curated"}\n', "application/json"
    )
    zone.put_bytes("transactions/거래 내역 2026-11.csv", "고객,금액\n".encode())

    assert zone.get_bytes("_manifests/transactions/abc.json") == b'{"status": "curated"}\n'
    assert zone.get_bytes("transactions/거래 내역 2026-11.csv") == "고객,금액\n".encode()
    assert stored(zone) == {
        "_manifests/transactions/abc.json": b'{"status": "curated"}\n',
        "transactions/거래 내역 2026-11.csv": "고객,금액\n".encode(),
    }


def test_put_bytes_replaces(zone: Storage) -> None:
    zone.put_bytes("a/b.json", b"first, and longer")
    zone.put_bytes("a/b.json", b"second")

    assert zone.get_bytes("a/b.json") == b"second"
    assert stored(zone) == {"a/b.json": b"second"}


def test_get_bytes_of_a_missing_key_is_none(zone: Storage) -> None:
    assert zone.get_bytes("nothing/here.json") is None
    zone.put_bytes("a/b.json", b"{}")
    assert zone.get_bytes("a/b.jso") is None


def test_head(zone: Storage) -> None:
    zone.put_bytes("transactions/x.csv", b"12345")

    info = zone.head("transactions/x.csv")

    assert info is not None
    assert (info.key, info.size) == ("transactions/x.csv", 5)
    assert info.etag
    assert zone.head("transactions/missing.csv") is None
    assert zone.head("transactions/x.cs") is None


def test_head_sees_a_change(zone: Storage) -> None:
    zone.put_bytes("t/x.csv", b"one")
    before = zone.head("t/x.csv")
    zone.put_bytes("t/x.csv", b"three")
    after = zone.head("t/x.csv")

    assert before is not None and after is not None
    assert (before.size, after.size) == (3, 5)
    assert before.etag != after.etag


# --- files ---------------------------------------------------------------------------------


def test_upload_and_download_a_multi_megabyte_file(zone: Storage, tmp_path: Path) -> None:
    source = tmp_path / "big.parquet"
    data = random_file(source, BIG)

    zone.upload(
        source, "transactions/event_date=2026-11/big.parquet", "application/vnd.apache.parquet"
    )
    target = tmp_path / "downloaded"
    info = zone.download("transactions/event_date=2026-11/big.parquet", target)

    assert target.read_bytes() == data
    assert info.size == BIG
    assert info.key == "transactions/event_date=2026-11/big.parquet"
    assert source.read_bytes() == data  # the source is left alone
    assert stored(zone) == {"transactions/event_date=2026-11/big.parquet": data}


def test_upload_records_the_content_type_on_s3(new_zone: ZoneFactory, tmp_path: Path) -> None:
    zone = new_zone("s3-prefix", "curated")
    assert isinstance(zone, S3Storage)
    source = tmp_path / "m.json"
    source.write_bytes(b"{}")

    zone.upload(source, "m.json", "application/json")
    zone.put_bytes("n.json", b"{}")

    head = zone.client.head_object(Bucket=zone.bucket, Key="zones/curated/m.json")
    assert head["ContentType"] == "application/json"
    head = zone.client.head_object(Bucket=zone.bucket, Key="zones/curated/n.json")
    assert head["ContentType"] == "application/octet-stream"


def test_download_of_a_missing_key_raises_file_not_found(zone: Storage, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.csv"):
        zone.download("transactions/missing.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- listing -------------------------------------------------------------------------------


def test_list_with_prefix_gives_keys_relative_to_the_zone(zone: Storage) -> None:
    contents = {
        "transactions/event_date=2026-11/a-0.parquet": b"a" * 3,
        "transactions/event_date=2026-11/a-1.parquet": b"b" * 4,
        "transactions/event_date=2026-12/a-0.parquet": b"c" * 5,
        "transactions_old/x.parquet": b"d",
        "_manifests/transactions/a.json": b"{}",
    }
    for key, data in contents.items():
        zone.put_bytes(key, data)

    def listed(prefix: str = "") -> dict[str, int]:
        infos = list(zone.list(prefix))
        assert all(isinstance(i, ObjectInfo) for i in infos)
        return {i.key: i.size for i in infos}

    assert listed() == {k: len(v) for k, v in contents.items()}
    assert listed("transactions/") == {
        "transactions/event_date=2026-11/a-0.parquet": 3,
        "transactions/event_date=2026-11/a-1.parquet": 4,
        "transactions/event_date=2026-12/a-0.parquet": 5,
    }
    assert listed("transactions/event_date=2026-12/") == {
        "transactions/event_date=2026-12/a-0.parquet": 5
    }
    assert set(listed("transactions")) == {k for k in contents if k.startswith("transactions")}
    assert listed("_manifests/") == {"_manifests/transactions/a.json": 2}
    assert listed("nothing/") == {}


def test_list_of_an_empty_zone(zone: Storage) -> None:
    assert list(zone.list()) == []
    assert list(zone.list("transactions/")) == []


def test_zones_sharing_a_bucket_do_not_see_each_other(new_zone: ZoneFactory) -> None:
    curated = new_zone("s3-prefix", "curated")
    # "zones/curated-old/" starts with the text "zones/curated": only the "/" keeps it apart
    older = new_zone("s3-prefix", "curated-old")
    curated.put_bytes("t/a.json", b"1")
    older.put_bytes("t/b.json", b"2")

    assert [i.key for i in curated.list()] == ["t/a.json"]
    assert [i.key for i in older.list("t/")] == ["t/b.json"]
    assert curated.get_bytes("t/b.json") is None
    assert isinstance(curated, S3Storage)
    raw = curated.client.list_objects_v2(Bucket=SHARED_BUCKET)["Contents"]
    assert sorted(o["Key"] for o in raw) == ["zones/curated-old/t/b.json", "zones/curated/t/a.json"]


def test_local_list_skips_writes_in_progress(tmp_path: Path) -> None:
    zone = LocalStorage(tmp_path / "zone")
    zone.put_bytes("t/a.parquet", b"1")
    (tmp_path / "zone" / "t" / ".tmp-abc123.parquet").write_bytes(b"half a file")

    assert [i.key for i in zone.list()] == ["t/a.parquet"]


# --- delete --------------------------------------------------------------------------------


def test_delete_removes_the_keys_and_ignores_missing_ones(zone: Storage) -> None:
    for key in ("t/p=1/a.parquet", "t/p=1/b.parquet", "t/p=2/c.parquet", "keep.json"):
        zone.put_bytes(key, key.encode())

    zone.delete(["t/p=1/a.parquet", "t/p=2/c.parquet", "t/p=3/never-there.parquet"])
    zone.delete([])

    assert stored(zone) == {"t/p=1/b.parquet": b"t/p=1/b.parquet", "keep.json": b"keep.json"}
    assert zone.head("t/p=1/a.parquet") is None


def test_delete_many_keys(zone: Storage) -> None:
    # more keys than one S3 DeleteObjects request takes (1,000); most of them are already gone
    # (as stale outputs may be), and objects in both the first and the second batch exist
    keys = [f"t/p={i % 7}/{i:04d}.parquet" for i in range(1_003)]
    present = [keys[i] for i in (0, 1, 500, 998, 999, 1_000, 1_002)]
    for key in present:
        zone.put_bytes(key, b"x")
    zone.put_bytes("survivor.json", b"{}")
    zone.put_bytes("t/p=0/survivor.parquet", b"{}")

    zone.delete(keys)

    assert [i.key for i in zone.list()] == ["survivor.json", "t/p=0/survivor.parquet"]


def test_local_delete_tidies_empty_partition_folders_never_the_root(tmp_path: Path) -> None:
    root = tmp_path / "curated"
    zone = LocalStorage(root)
    zone.put_bytes("transactions/event_date=2026-11/a-0.parquet", b"1")
    zone.put_bytes("transactions/event_date=2026-11/a-1.parquet", b"2")
    zone.put_bytes("transactions/event_date=2026-12/a-0.parquet", b"3")

    zone.delete(["transactions/event_date=2026-11/a-0.parquet"])
    assert (root / "transactions/event_date=2026-11").is_dir()  # still holds a-1

    zone.delete(["transactions/event_date=2026-11/a-1.parquet"])
    assert not (root / "transactions/event_date=2026-11").exists()
    assert (root / "transactions/event_date=2026-12").is_dir()

    zone.delete(["transactions/event_date=2026-12/a-0.parquet"])
    assert not (root / "transactions").exists()
    assert root.is_dir()
    assert list(root.iterdir()) == []

    zone.put_bytes("top.json", b"{}")
    zone.delete(["top.json", "gone/deeper/x.json"])
    assert root.is_dir()


# --- copy between zones --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source_kind", "target_kind"),
    [
        ("s3", "s3"),
        ("s3-prefix", "s3-prefix"),
        ("s3", "s3-prefix"),
        ("local", "s3"),
        ("s3-prefix", "local"),
        ("local", "local"),
    ],
)
def test_copy_from_another_zone(
    new_zone: ZoneFactory, tmp_path: Path, source_kind: str, target_kind: str
) -> None:
    landing = new_zone(source_kind, "landing")
    quarantine = new_zone(target_kind, "quarantine")
    data = random_file(tmp_path / "source.csv", BIG)
    landing.upload(tmp_path / "source.csv", "transactions/거래 내역.csv")

    quarantine.copy_from(landing, "transactions/거래 내역.csv", "transactions/거래 내역.csv")

    assert stored(quarantine) == {"transactions/거래 내역.csv": data}
    assert stored(landing) == {"transactions/거래 내역.csv": data}  # the source stays


def test_s3_to_s3_copy_is_server_side(new_zone: ZoneFactory, tmp_path: Path) -> None:
    landing = new_zone("s3", "landing")
    quarantine = new_zone("s3-prefix", "quarantine")
    assert isinstance(quarantine, S3Storage)
    data = random_file(tmp_path / "source.csv", BIG)
    landing.upload(tmp_path / "source.csv", "t/x.csv")
    operations: list[str] = []

    def record(model: Any, **_: Any) -> None:
        operations.append(model.name)

    quarantine.client.meta.events.register("before-call.s3", record)
    try:
        quarantine.copy_from(landing, "t/x.csv", "t/x.csv")
    finally:
        quarantine.client.meta.events.unregister("before-call.s3", record)

    assert "GetObject" not in operations  # no byte went through the function
    assert {"UploadPartCopy", "CopyObject"} & set(operations)
    assert quarantine.get_bytes("t/x.csv") == data


@pytest.mark.parametrize(
    ("source_kind", "target_kind"),
    [("s3", "s3"), ("local", "s3"), ("s3", "local"), ("local", "local")],
)
def test_copy_of_a_missing_object_raises_file_not_found(
    new_zone: ZoneFactory, source_kind: str, target_kind: str
) -> None:
    landing = new_zone(source_kind, "landing")
    quarantine = new_zone(target_kind, "quarantine")

    with pytest.raises(FileNotFoundError):
        quarantine.copy_from(landing, "t/gone.csv", "t/gone.csv")
    assert stored(quarantine) == {}


# --- locations and keys --------------------------------------------------------------------


def test_location(new_zone: ZoneFactory, tmp_path: Path) -> None:
    local = new_zone("local", "curated")
    bucket = new_zone("s3", "curated")
    prefixed = new_zone("s3-prefix", "curated")

    assert local.location("t/a.parquet") == str((tmp_path / "lake/curated/t/a.parquet").resolve())
    assert local.uri == str((tmp_path / "lake/curated").resolve())
    assert bucket.location("t/a.parquet") == "s3://lakedrop-curated/t/a.parquet"
    assert bucket.uri == "s3://lakedrop-curated"
    assert prefixed.location("t/a.parquet") == f"s3://{SHARED_BUCKET}/zones/curated/t/a.parquet"
    assert prefixed.uri == f"s3://{SHARED_BUCKET}/zones/curated"


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd", "", ".", "a/.."])
def test_local_key_escaping_the_root_is_rejected(tmp_path: Path, key: str) -> None:
    zone = LocalStorage(tmp_path / "zone")
    source = tmp_path / "source"
    source.write_bytes(b"data")
    attempts: list[Callable[[], object]] = [
        lambda: zone.put_bytes(key, b"data"),
        lambda: zone.upload(source, key),
        lambda: zone.get_bytes(key),
        lambda: zone.head(key),
        lambda: zone.download(key, tmp_path / "out"),
        lambda: zone.delete([key]),
        lambda: zone.location(key),
    ]
    for attempt in attempts:
        with pytest.raises(ValueError, match="escapes zone"):
            attempt()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source"]


# --- open_storage --------------------------------------------------------------------------


def test_open_storage_s3_bucket(s3: Any) -> None:
    zone = open_storage("s3://lakedrop-curated", s3)
    assert isinstance(zone, S3Storage)
    assert (zone.bucket, zone.prefix, zone.uri) == ("lakedrop-curated", "", "s3://lakedrop-curated")
    assert zone.client is s3


@pytest.mark.parametrize(
    "uri", ["s3://lakedrop-lake/zones/curated", "s3://lakedrop-lake/zones/curated/"]
)
def test_open_storage_s3_prefix(s3: Any, uri: str) -> None:
    zone = open_storage(uri, s3)
    assert isinstance(zone, S3Storage)
    assert (zone.bucket, zone.prefix) == ("lakedrop-lake", "zones/curated/")
    assert zone.uri == "s3://lakedrop-lake/zones/curated"


def test_open_storage_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = open_storage(str(tmp_path / "lake" / "curated"))
    as_uri = open_storage((tmp_path / "lake" / "curated").as_uri())
    monkeypatch.chdir(tmp_path)
    relative = open_storage("lake/curated")

    for zone in (plain, as_uri, relative):
        assert isinstance(zone, LocalStorage)
        assert zone.root == (tmp_path / "lake" / "curated").resolve()
    assert not (tmp_path / "lake").exists()  # opening a zone creates nothing


def test_open_storage_file_uri_is_percent_decoded(tmp_path: Path) -> None:
    folder = tmp_path / "내 lake" / "curated zone"
    zone = open_storage(folder.as_uri())  # file:///.../%EB%82%B4%20lake/curated%20zone

    assert isinstance(zone, LocalStorage)
    assert zone.root == folder.resolve()


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("gs://lakedrop-curated", "unsupported zone URI scheme 'gs'"),
        ("https://lakedrop-curated.s3.amazonaws.com/", "unsupported zone URI scheme 'https'"),
        ("s3://", "names no bucket"),
        ("s3:///zones/curated", "names no bucket"),
        ("file://fileserver/lake", "not on this machine"),
    ],
)
def test_open_storage_rejects_bad_uris(uri: str, message: str) -> None:
    client: Any = object()  # never used: the URI is refused first
    with pytest.raises(ValueError, match=message):
        open_storage(uri, client)


def test_open_storage_s3_needs_a_client() -> None:
    with pytest.raises(ValueError, match="needs an S3 client"):
        open_storage("s3://lakedrop-curated")


# --- atomic local writes -------------------------------------------------------------------


def test_local_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    zone = LocalStorage(tmp_path / "zone")
    source = tmp_path / "source.parquet"
    data = random_file(source, 100_000)

    zone.put_bytes("t/p=1/m.json", b"{}")
    zone.upload(source, "t/p=1/a.parquet")
    zone.upload(source, "t/p=1/a.parquet")  # replacing too

    assert tmp_leftovers(tmp_path / "zone") == []
    assert stored(zone) == {"t/p=1/m.json": b"{}", "t/p=1/a.parquet": data}


def test_a_failing_local_write_leaves_the_old_object_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zone = LocalStorage(tmp_path / "zone")
    zone.put_bytes("t/p=1/a.parquet", b"the previous version")
    source = tmp_path / "source.parquet"
    random_file(source, 3 * 1024 * 1024)

    with pytest.raises(FileNotFoundError):
        zone.upload(tmp_path / "no-such-file", "t/p=1/a.parquet")

    def disk_full(src: Any, dst: Any, length: int = 0) -> None:
        dst.write(src.read(1024 * 1024))  # part of the file reaches the disk, then:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(shutil, "copyfileobj", disk_full)
        with pytest.raises(OSError, match="No space left"):
            zone.upload(source, "t/p=1/a.parquet")
        with pytest.raises(OSError, match="No space left"):
            zone.upload(source, "t/p=2/new.parquet")

    assert tmp_leftovers(tmp_path / "zone") == []
    assert stored(zone) == {"t/p=1/a.parquet": b"the previous version"}
    assert zone.head("t/p=2/new.parquet") is None
