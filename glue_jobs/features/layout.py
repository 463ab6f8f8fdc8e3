"""The keys the features job reads and writes: the one place their patterns are defined.

    curated     _manifests/transactions/<source-id>.json               what to read: the files
                transactions/<partition>=<value>/<file>.parquet        a ``curated`` manifest names
    analytics   features/<kind>/run=<run_id>/part-*.parquet            one snapshot, zstd Parquet
                features/<kind>/_LATEST.json                           pointer to the current run
                features/_runs/<run_id>.json                           run report

``<kind>`` is ``train`` (features at the training cutoff, with the ``churned`` label) or
``score`` (features at the last event date, no label). Readers open ``_LATEST.json`` and read
the folder its ``path`` names: never the ``features/<kind>/`` folder as a whole, which holds
several runs. docs/lake.md ("Analytics zone") describes the same layout for readers.
"""

from __future__ import annotations

import re
from typing import Final, Literal

Kind = Literal["train", "score"]
KINDS: Final[tuple[Kind, ...]] = ("train", "score")

CURATED_DATASET: Final = "transactions"
MANIFESTS_PREFIX: Final = "_manifests"
FEATURES_PREFIX: Final = "features"
RUN_PREFIX: Final = "run="
LATEST_NAME: Final = "_LATEST.json"
RUNS_PREFIX: Final = f"{FEATURES_PREFIX}/_runs"

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_run_id(run_id: str) -> str:
    """A run id becomes part of a key: letters, digits, ``.``, ``_`` and ``-`` only."""
    if not _RUN_ID.fullmatch(run_id):
        raise ValueError(
            f"run id {run_id!r}: use letters, digits, '.', '_' and '-' (at most 128, "
            "starting with a letter or digit)"
        )
    return run_id


def join(uri: str, key: str) -> str:
    """``uri`` (a folder or ``s3://bucket[/prefix]``) and a key below it."""
    return f"{uri.rstrip('/')}/{key.lstrip('/')}"


def resolve(zone_uri: str, path: str) -> str:
    """Where a pointer's ``path`` (or ``report``) is. Pointers name a key relative to their
    zone, so a local lake can be copied or moved; pointers written before that held a full
    location (a folder or ``s3://`` URI), which is used as it is."""
    if "://" in path or path.startswith("/"):
        return path
    return join(zone_uri, path)


def manifest_prefix() -> str:
    """The manifests of the curated transactions (ingest's ``layout.manifest_key``)."""
    return f"{MANIFESTS_PREFIX}/{CURATED_DATASET}/"


def curated_transactions_glob(curated_uri: str) -> str:
    """Every curated transaction file, whatever the partition grain, named by a manifest or
    not (the benchmark reads a lake no one writes to; the job reads ``io.curated_files``)."""
    return join(curated_uri, f"{CURATED_DATASET}/*=*/*.parquet")


def snapshot_prefix(kind: Kind) -> str:
    return f"{FEATURES_PREFIX}/{kind}/"


def run_key(kind: Kind, run_id: str) -> str:
    """The folder of one snapshot (no trailing slash: Spark writes its part files inside)."""
    return f"{FEATURES_PREFIX}/{kind}/{RUN_PREFIX}{check_run_id(run_id)}"


def run_id_of(folder_name: str) -> str | None:
    """``run=<id>`` → ``<id>``; None for anything else in a snapshot folder."""
    if not folder_name.startswith(RUN_PREFIX):
        return None
    run_id = folder_name[len(RUN_PREFIX) :]
    return run_id if _RUN_ID.fullmatch(run_id) else None


def latest_key(kind: Kind) -> str:
    return f"{FEATURES_PREFIX}/{kind}/{LATEST_NAME}"


def report_key(run_id: str) -> str:
    return f"{RUNS_PREFIX}/{check_run_id(run_id)}.json"
