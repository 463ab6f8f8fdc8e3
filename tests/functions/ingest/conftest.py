"""Fixtures for the ingest tests: a local lake in tmp_path and a fixed key."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.contracts import ContractRegistry
from ingest.pseudonymise import HmacKey
from ingest.service import LandedObject, Options, Outcome, Zones, ingest_object
from ingest.storage import LocalStorage

KEY_MATERIAL = b"test-key-0123456789abcdef0123456789abcdef0123456789abcdef01234567"


def expected_pseudonym(normalised: str) -> str:
    """HMAC-SHA256 with Python's own hmac, truncated to 128 bits: the reference."""
    return hmac.new(KEY_MATERIAL, normalised.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


@pytest.fixture
def key() -> HmacKey:
    return HmacKey(KEY_MATERIAL)


@pytest.fixture
def zones(tmp_path: Path) -> Zones:
    return Zones(
        LocalStorage(tmp_path / "landing"),
        LocalStorage(tmp_path / "curated"),
        LocalStorage(tmp_path / "quarantine"),
    )


Ingest = Callable[[str, bytes], Outcome]


@pytest.fixture
def ingest(zones: Zones, key: HmacKey, tmp_path: Path) -> Ingest:
    """Land ``data`` under ``key_name`` and ingest it; returns the outcome."""
    work = tmp_path / "work"
    work.mkdir()
    contracts = ContractRegistry()

    def run(key_name: str, data: bytes) -> Outcome:
        zones.landing.put_bytes(key_name, data)
        return ingest_object(
            LandedObject(key_name), zones, key, contracts, Options(work, "500MB", threads=2)
        )

    return run
