"""Helpers shared by the test suite (import them as ``from tests.helpers import ...``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = REPO_ROOT / "events"


def event_path(name: str) -> Path:
    """Path of ``events/<name>`` (the ``.json`` suffix may be left out)."""
    file_name = name if name.endswith(".json") else f"{name}.json"
    path = EVENTS_DIR / file_name
    if not path.is_file():
        raise FileNotFoundError(f"no sample event {file_name!r} in {EVENTS_DIR}")
    return path


def load_event(name: str) -> dict[str, Any]:
    """One of the canonical sample events in ``events/``, as the handler would receive it.

    These are the very files users pass to ``sam local invoke IngestFunction -e events/...``:
    tests load them instead of inlining copies. Each call returns a fresh dict, so a test may
    modify what it gets.
    """
    event: Any = json.loads(event_path(name).read_text(encoding="utf-8"))
    if not isinstance(event, dict):
        raise TypeError(f"{name}: a Lambda event is a JSON object, got {type(event).__name__}")
    return event
