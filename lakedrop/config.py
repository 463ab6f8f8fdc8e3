"""The embedded local lake: one folder per zone under a root (default ``.lakedrop/``).

The one place the local runtime's configuration lives. ``LAKEDROP_HOME`` moves the root.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path(".lakedrop")
LOCAL_BUCKET = "lakedrop-landing"  # the bucket name locally made events carry


@dataclass(frozen=True)
class LocalLake:
    root: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> LocalLake:
        return cls(Path(environ.get("LAKEDROP_HOME") or DEFAULT_ROOT).resolve())

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def curated(self) -> Path:
        return self.root / "curated"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def analytics(self) -> Path:
        return self.root / "analytics"

    @property
    def key_file(self) -> Path:
        return self.root / "keys" / "hmac.key"

    @property
    def work_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    def ensure(self) -> None:
        for folder in (self.landing, self.curated, self.quarantine, self.analytics, self.work_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def report_environment(self) -> dict[str, str]:
        """The zone URIs the report (frontend/data.py) reads, pointed at this lake's folders."""
        return {
            "LAKEDROP_HOME": str(self.root),
            "LAKEDROP_ANALYTICS_URI": str(self.analytics),
            "LAKEDROP_CURATED_URI": str(self.curated),
            "LAKEDROP_QUARANTINE_URI": str(self.quarantine),
        }

    def ingest_environment(self, verbose: bool = False) -> dict[str, str]:
        """The environment the ingest Lambda would have, pointed at this lake's folders."""
        return {
            "LANDING_URI": str(self.landing),
            "CURATED_URI": str(self.curated),
            "QUARANTINE_URI": str(self.quarantine),
            "HMAC_KEY_FILE": str(self.key_file),
            "WORK_DIR": str(self.work_dir),
            "DUCKDB_MEMORY_LIMIT": "700MB",
            "POWERTOOLS_SERVICE_NAME": "lakedrop-ingest",
            "POWERTOOLS_LOG_LEVEL": "INFO" if verbose else "ERROR",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
