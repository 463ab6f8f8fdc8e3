"""The manifest index: every ingest manifest in one object, for readers that need them all.

The report's pipeline-health page shows every landed object. Reading 10,000 manifests means
10,000 GETs; the index (``layout.MANIFEST_INDEX_KEY``) holds them in one gzipped JSON-lines
object, so a reader makes one GET, lists ``_manifests/`` and reads only the manifests
written since the index was built.

Format (docs/lake.md, "Manifest index"): the first line is ``{"watermark": <epoch s>,
"built_at": <ISO time>, "count": n}``; each further line is ``{"key", "last_modified",
"manifest"}``. Every manifest whose listing time (``LastModified``) is before ``watermark``
is in the index as it was then; a reader takes the index's copy of those and reads any other
manifest itself. The watermark is the builder's clock at the start of its listing minus
``CLOCK_SLACK_S``: a listing is strongly consistent, so nothing written before it is missed,
and the slack covers the difference between the builder's clock and S3's.

The ingest function refreshes the index after the objects it handles, incrementally (the
old index, one listing, and a GET per manifest newer than the old watermark), unless it was
refreshed less than ``REFRESH_EVERY_S`` ago: when 1,000 files land together, one refresh a
minute serves readers as well as 1,000 would (they read what is newer themselves). Concurrent
refreshes each write a complete index as of their own listing; whichever lands last is as
correct as the other.
"""

from __future__ import annotations

import gzip
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from ingest import layout
from ingest.storage import Storage

CLOCK_SLACK_S = 300.0
REFRESH_EVERY_S = 60.0
READ_THREADS = 16


def _manifest(curated: Storage, key: str) -> dict[str, Any] | None:
    raw = curated.get_bytes(key)
    try:
        manifest = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return manifest if isinstance(manifest, dict) else None


def read(curated: Storage) -> tuple[float, dict[str, tuple[float, dict[str, Any]]]]:
    """(watermark, manifest key → (last modified, manifest)); (0, {}) when there is none."""
    raw = curated.get_bytes(layout.MANIFEST_INDEX_KEY)
    if raw is None:
        return 0.0, {}
    try:
        lines = gzip.decompress(raw).decode("utf-8").splitlines()
        header = json.loads(lines[0])
        entries = {}
        for line in lines[1:]:
            entry = json.loads(line)
            entries[str(entry["key"])] = (float(entry["last_modified"]), entry["manifest"])
        return float(header["watermark"]), entries
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return 0.0, {}  # unreadable: rebuilt from the manifests themselves


def is_recent(curated: Storage, max_age_s: float, now: float | None = None) -> bool:
    """The index was written less than ``max_age_s`` ago (one HEAD request)."""
    info = curated.head(layout.MANIFEST_INDEX_KEY)
    if info is None or info.last_modified is None:
        return False
    return (time.time() if now is None else now) - info.last_modified < max_age_s


def refresh(curated: Storage, now: float | None = None) -> int:
    """Rebuild the index from the previous one and the manifests written since; returns how
    many manifests had to be read."""
    started = time.time() if now is None else now
    watermark, previous = read(curated)
    entries: dict[str, tuple[float, dict[str, Any]]] = {}
    unread: list[tuple[str, float]] = []
    for item in curated.list(layout.MANIFEST_PREFIX + "/"):
        if not item.key.endswith(".json"):
            continue
        modified = item.last_modified or started
        known = previous.get(item.key)
        if known is not None and modified < watermark and known[0] == modified:
            entries[item.key] = known
        else:
            unread.append((item.key, modified))
    # the first build reads every manifest: in parallel (S3 GETs are latency-bound)
    with ThreadPoolExecutor(min(READ_THREADS, max(len(unread), 1))) as pool:
        docs = list(pool.map(lambda item: _manifest(curated, item[0]), unread))
    for (key, modified), manifest in zip(unread, docs, strict=True):
        if manifest is not None:
            entries[key] = (modified, manifest)
    fetched = len(unread)
    header = {
        "watermark": started - CLOCK_SLACK_S,
        "built_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "count": len(entries),
    }
    lines = [json.dumps(header)]
    lines += [
        json.dumps({"key": k, "last_modified": m, "manifest": doc}, ensure_ascii=False)
        for k, (m, doc) in sorted(entries.items())
    ]
    body = gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0)
    curated.put_bytes(layout.MANIFEST_INDEX_KEY, body, "application/gzip")
    return fetched
