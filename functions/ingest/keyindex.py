"""The key index: which contract keys (``transaction_id``) each source has published.

Each curated source has its key file, ``_index/<dataset>/keys/<source-id>.parquet`` (written
by its ingest). To find rows already curated, an ingest needs the keys of every *other*
source; reading one file per source would cost a GET per source for every landed object —
quadratic when 1,000 files land together. So the files are also merged, now and then, into
``_index/<dataset>/keys-compacted.parquet``: the key columns plus ``sid``, and in the Parquet
key-value metadata ``sources`` the size and listing time of each source's key file as it was
merged (``sid=size@modified,...``).

A reader lists the key files, takes from the compacted file the sources whose key file is
still listed with the same size and time (a source re-ingested or quarantined since has
another file, or none), and reads only the other key files itself. An ingest that had to read
``COMPACT_AFTER`` or more such files writes a new compacted file. Two ingests compacting at
once each write a file that is correct as of its own listing; the last one stays.

Pure with respect to the lake: local files in, local files out (the service moves them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

COMPACT_AFTER = 16  # key files read one by one before an ingest compacts them

Listed = tuple[int, float]  # a key file's (size, last modified) in a listing


@dataclass(frozen=True)
class KnownKeys:
    """The keys earlier sources published, as local files."""

    files: Mapping[str, Path] = field(default_factory=dict)  # source id → its key file
    compacted: Path | None = None  # the compacted file (key columns + sid) ...
    compacted_sids: frozenset[str] = frozenset()  # ... of which these sources are current

    @property
    def sources(self) -> int:
        return len(self.files) + len(self.compacted_sids)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _encode(sources: Mapping[str, Listed]) -> str:
    items = sorted(sources.items())
    return ",".join(f"{sid}={size}@{modified!r}" for sid, (size, modified) in items)


def _decode(text: str) -> dict[str, Listed]:
    sources: dict[str, Listed] = {}
    for item in filter(None, text.split(",")):
        sid, _, rest = item.partition("=")
        size, _, modified = rest.partition("@")
        sources[sid] = (int(size), float(modified))
    return sources


def compacted_sources(path: Path) -> dict[str, Listed]:
    """The sources a compacted file holds, with their key files' (size, modified) then."""
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT decode(key), decode(value) FROM parquet_kv_metadata(?)", [str(path)]
        ).fetchall()
    for key, value in rows:
        if key == "sources":
            return _decode(str(value))
    return {}


def current(compacted: Mapping[str, Listed], listing: Mapping[str, Listed]) -> frozenset[str]:
    """The compacted sources whose key file is still listed as it was merged."""
    return frozenset(sid for sid, seen in compacted.items() if listing.get(sid) == seen)


def select_sql(known: KnownKeys, columns: Iterable[str]) -> str | None:
    """SQL of every known key with its source id (``sid``), or None when there is none."""
    names = ", ".join(_q(c) for c in columns)
    parts = []
    if known.compacted is not None and known.compacted_sids:
        sids = ", ".join(_lit(s) for s in sorted(known.compacted_sids))
        parts.append(
            f"SELECT {names}, sid FROM read_parquet({_lit(str(known.compacted))}) "
            f"WHERE sid IN ({sids})"
        )
    for sid, path in sorted(known.files.items()):
        parts.append(f"SELECT {names}, {_lit(sid)} AS sid FROM read_parquet({_lit(str(path))})")
    return " UNION ALL ".join(parts) if parts else None


def compact(
    known: KnownKeys,
    own: tuple[str, Path] | None,
    listing: Mapping[str, Listed],
    columns: Iterable[str],
    target: Path,
) -> int:
    """Write a compacted file of ``known`` and ``own`` (this source's new key file), keeping
    only sources ``listing`` (a listing made after publishing) shows as they were read.
    Returns how many sources it holds."""
    files = dict(known.files)
    if own is not None:
        files[own[0]] = own[1]
    merged = KnownKeys(
        files={s: p for s, p in files.items() if s in listing},
        compacted=known.compacted,
        compacted_sids=frozenset(s for s in known.compacted_sids if s in listing),
    )
    columns = list(columns)
    sql = select_sql(merged, columns)
    sources = {s: listing[s] for s in (*merged.files, *merged.compacted_sids)}
    if sql is None:
        return 0
    with duckdb.connect() as con:
        con.execute(
            f"COPY ({sql}) TO {_lit(str(target))} (FORMAT parquet, COMPRESSION zstd, "
            f"KV_METADATA {{sources: {_lit(_encode(sources))}}})"
        )
    return len(sources)
