"""Exactly once under faults: a reader following the manifests (the features job's own
``curated_files``) sees the old version of a source or the new one, never a mix, whatever
step of the publication fails; a retry repairs what a failed or crashed run left."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from glue_jobs.features import io as features_io
from ingest import layout
from ingest.contracts import ContractRegistry
from ingest.pseudonymise import HmacKey
from ingest.service import LandedObject, Options, Outcome, SourceBusy, Zones, ingest_object
from ingest.storage import LocalStorage
from tests.functions.ingest.test_service import csv_bytes, row

KEY = "transactions/week.csv"
OLD = csv_bytes([row(1, month=6), row(2, month=7)])  # two partitions
NEW = csv_bytes([row(1, month=6), row(3, month=8), row(4, month=9)])  # other partitions


def view(zones: Zones) -> list[str]:
    """What the features job would read now."""
    return features_io.curated_files(features_io.open_zone(zones.curated.uri))


def on_disk(zones: Zones) -> list[str]:
    root = Path(zones.curated.uri)
    return sorted(
        p.relative_to(root).as_posix() for p in (root / "transactions").rglob("*.parquet")
    )


class FailingUploads(LocalStorage):
    """A curated zone whose Parquet uploads fail from the ``fail_at``-th on (an S3 outage)."""

    def __init__(self, root: Path, fail_at: int) -> None:
        super().__init__(root)
        self.fail_at = fail_at
        self.uploads = 0
        self.views: list[list[str]] = []

    def upload(self, path: Path, key: str, content_type: str | None = None) -> None:
        if key.endswith(".parquet") and not key.startswith("_"):
            self.uploads += 1
            # what a reader sees at this moment, before the file lands
            self.views.append(features_io.curated_files(features_io.open_zone(self.uri)))
            if self.uploads >= self.fail_at:
                raise OSError("simulated S3 outage")
        super().upload(path, key, content_type)


@pytest.fixture
def run(key: HmacKey, tmp_path: Path) -> Any:
    work = tmp_path / "work"
    work.mkdir()
    contracts = ContractRegistry()

    def ingest(zones: Zones, data: bytes, lease_seconds: float = 960) -> Outcome:
        zones.landing.put_bytes(KEY, data)
        return ingest_object(
            LandedObject(KEY),
            zones,
            key,
            contracts,
            Options(work, "300MB", threads=1, lease_seconds=lease_seconds),
        )

    return ingest


def test_a_republish_is_never_seen_half_done(run: Any, tmp_path: Path) -> None:
    curated = FailingUploads(tmp_path / "curated", fail_at=99)
    zones = Zones(LocalStorage(tmp_path / "landing"), curated, LocalStorage(tmp_path / "q"))
    run(zones, OLD)
    old = view(zones)
    assert len(old) == 2
    curated.views.clear()

    run(zones, NEW)

    # during the three uploads of the new version a reader saw the old version, whole
    assert curated.views == [old, old, old]
    new = view(zones)
    assert len(new) == 3 and not set(new) & set(old)  # a new version: new names
    assert on_disk(zones) == new  # the old version's files are gone, nothing stale


def test_an_upload_failing_mid_publish_leaves_the_old_version_and_a_retry_repairs(
    run: Any, tmp_path: Path
) -> None:
    curated = FailingUploads(tmp_path / "curated", fail_at=99)
    zones = Zones(LocalStorage(tmp_path / "landing"), curated, LocalStorage(tmp_path / "q"))
    run(zones, OLD)
    old = view(zones)
    curated.uploads, curated.fail_at = 0, 2  # the second file of the new version fails

    with pytest.raises(OSError, match="simulated S3 outage"):
        run(zones, NEW)

    assert view(zones) == old  # readers still see the old version, whole
    assert len(on_disk(zones)) == 3  # the old two and the one new file that landed
    lock = layout.lock_key("transactions", layout.source_id(KEY))
    assert zones.curated.get_bytes(lock) is None  # the lease was released: retry at once

    curated.fail_at = 99
    outcome = run(zones, NEW)  # the redelivered message

    assert outcome.status == "curated"
    assert len(view(zones)) == 3
    assert on_disk(zones) == view(zones)  # the half-published file was replaced, none left


def test_a_run_that_died_mid_publish_holds_the_object_until_its_lease_expires(
    run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    curated = FailingUploads(tmp_path / "curated", fail_at=99)
    zones = Zones(LocalStorage(tmp_path / "landing"), curated, LocalStorage(tmp_path / "q"))
    run(zones, OLD)
    old = view(zones)
    # the function times out mid-publish: no exception handler, no lease release
    curated.uploads, curated.fail_at = 0, 2
    monkeypatch.setattr("ingest.lease.Lease.release", lambda self: None)
    with pytest.raises(OSError):
        run(zones, NEW, lease_seconds=60)
    monkeypatch.undo()
    curated.fail_at = 99

    with pytest.raises(SourceBusy):  # redelivered before the lease expired: try again later
        run(zones, NEW)
    assert view(zones) == old

    import ingest.lease

    later = ingest.lease.time.time() + 61
    monkeypatch.setattr(ingest.lease.time, "time", lambda: later)
    assert run(zones, NEW).status == "curated"  # the expired lease is taken over
    assert on_disk(zones) == view(zones) and len(view(zones)) == 3
