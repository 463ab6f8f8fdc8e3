"""Ingest configuration: read once per runtime from the environment, then passed down as values."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class SettingsError(ValueError):
    """The environment does not configure ingest completely; the message names the variable."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    landing_uri: str = Field(min_length=1)
    curated_uri: str = Field(min_length=1)
    quarantine_uri: str = Field(min_length=1)
    hmac_key_secret_id: str | None = None
    hmac_key_file: Path | None = None
    duckdb_memory_limit: str = Field(default="700MB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")
    duckdb_threads: int | None = Field(default=None, ge=1)
    work_dir: Path = Path(tempfile.gettempdir())
    contracts_dir: Path | None = None
    # How long an ingest's lease on a landed object lasts if its holder dies without releasing
    # it: longer than the function's timeout (template.yaml: 900 s), so a live run never loses
    # it; a crashed run's object waits this long before a retry can take it over.
    lease_seconds: int = Field(default=960, ge=60)
    # The function's limits (docs/reliability.md). A landed object larger than this is
    # quarantined unread: /tmp (template.yaml: 10 GB) must hold it, its decoded copy and
    # DuckDB's spill. The queue's maxReceiveCount (template.yaml passes it): on the last
    # delivery, a file that ran out of memory, disk or time is quarantined, not dead-lettered.
    # The deadline leaves this much of the invocation's time for quarantining or reporting.
    max_object_bytes: int = Field(default=3_000_000_000, ge=1)
    max_receive_count: int = Field(default=5, ge=1)
    deadline_margin_seconds: int = Field(default=60, ge=0)
    # EventBridge bus that hears about every curated, duplicate or quarantined object (the
    # pipeline's debounce trigger listens); unset locally: no event is sent.
    event_bus_name: str | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> Settings:
        if (self.hmac_key_secret_id is None) == (self.hmac_key_file is None):
            raise ValueError(
                "set exactly one of HMAC_KEY_SECRET_ID (AWS) and HMAC_KEY_FILE (local)"
            )
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Settings from environment variables named after the fields in upper case."""
        values = {
            name: environ[name.upper()]
            for name in cls.model_fields
            if environ.get(name.upper(), "").strip()
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                where = ".".join(str(p).upper() for p in error["loc"]) or "environment"
                problems.append(f"{where}: {error['msg']}")
            raise SettingsError("ingest is not configured: " + "; ".join(problems)) from exc
