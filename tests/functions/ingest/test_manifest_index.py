"""The manifest index ingest keeps for readers (docs/lake.md, "Manifest index")."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from ingest import layout, manifest_index
from ingest.storage import LocalStorage


def test_the_index_holds_every_manifest_and_its_watermark(tmp_path: Path) -> None:
    curated = LocalStorage(tmp_path)
    for n in range(3):
        curated.put_bytes(layout.manifest_key("transactions", f"s{n}"), b'{"n": %d}' % n)
    curated.put_bytes(layout.manifest_key("transactions", "bad"), b"not json")

    assert manifest_index.refresh(curated, now=2_000_000_000.0) == 4  # all read, none known

    raw = (tmp_path / layout.MANIFEST_INDEX_KEY).read_bytes()
    header, *entries = (json.loads(x) for x in gzip.decompress(raw).decode().splitlines())
    assert header["watermark"] == 2_000_000_000.0 - manifest_index.CLOCK_SLACK_S
    assert header["count"] == 3  # the unreadable manifest is left to readers
    assert [e["manifest"] for e in entries] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_only_manifests_changed_since_the_watermark_are_read_again(tmp_path: Path) -> None:
    curated = LocalStorage(tmp_path)
    keys = [layout.manifest_key("transactions", f"s{n}") for n in range(4)]
    for key in keys:
        curated.put_bytes(key, b"{}")
        os.utime(curated.location(key), (1_000_000_000, 1_000_000_000))
    manifest_index.refresh(curated, now=1_500_000_000.0)
    curated.put_bytes(keys[1], b'{"changed": true}')  # now: after the watermark
    assert manifest_index.refresh(curated) == 1
    _, entries = manifest_index.read(curated)
    assert entries[keys[1]][1] == {"changed": True}


def test_a_recent_index_is_not_rebuilt(tmp_path: Path) -> None:
    curated = LocalStorage(tmp_path)
    assert not manifest_index.is_recent(curated, 60)  # none yet
    manifest_index.refresh(curated)
    written = (tmp_path / layout.MANIFEST_INDEX_KEY).stat().st_mtime
    assert manifest_index.is_recent(curated, 60, now=written + 59)
    assert not manifest_index.is_recent(curated, 60, now=written + 61)
