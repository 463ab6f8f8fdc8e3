"""Announce each ingested object on EventBridge: one ``PutEvents`` entry per outcome.

The pipeline's debounce trigger (template.yaml ``PipelineTriggerStateMachine``) listens for
``source: lakedrop.ingest`` events whose ``detail.status`` is ``curated``. The detail is the
manifest's summary: dataset, source id, status, code, row counts, the event months written, the
manifest's key and when it was processed. No row values and no landing key (a file name may
carry a person's name): nothing a reader of the event bus could learn PII from.

``detail`` is pure; ``EventBridgePublisher`` is the edge (a boto3 ``events`` client, made only
when ``EVENT_BUS_NAME`` is set — locally it is not, and nothing is sent).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

SOURCE: Final = "lakedrop.ingest"
DETAIL_TYPE: Final = "Object Ingested"
ANNOUNCED: Final = frozenset({"curated", "duplicate", "quarantined"})
_ROW_COUNTS: Final = ("read", "written", "rejected", "duplicates")


def detail(manifest: Mapping[str, Any], manifest_key: str | None) -> dict[str, Any]:
    """The event detail for one manifest: counts and places, never values or the landing key."""
    rows = manifest.get("rows") or {}
    months = sorted(
        {str(o["partition"]) for o in manifest.get("outputs") or [] if o.get("partition")}
    )
    return {
        "dataset": manifest.get("dataset"),
        "source_id": manifest.get("source_id"),
        "status": manifest.get("status"),
        "code": manifest.get("code"),
        "rows": {name: rows[name] for name in _ROW_COUNTS if name in rows},
        "partitions": months,
        "outputs": len(manifest.get("outputs") or []),
        "manifest_key": manifest_key,
        "processed_at": manifest.get("processed_at"),
    }


@dataclass(frozen=True)
class EventBridgePublisher:
    """Sends one event per announced outcome to one bus."""

    client: Any  # boto3 "events" client
    bus_name: str

    def entry(self, event_detail: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(event_detail, separators=(",", ":"), default=str),
            "EventBusName": self.bus_name,
        }

    def publish(self, event_detail: Mapping[str, Any]) -> None:
        if event_detail.get("status") not in ANNOUNCED:
            return
        response = self.client.put_events(Entries=[self.entry(event_detail)])
        if response.get("FailedEntryCount"):
            failed = response["Entries"][0]
            raise RuntimeError(
                f"EventBridge refused the event: {failed.get('ErrorCode')} "
                f"{failed.get('ErrorMessage')}"
            )


def publisher(bus_name: str | None) -> EventBridgePublisher | None:
    """A publisher for the bus, or None when no bus is configured (local runs)."""
    if not bus_name:
        return None
    import boto3  # noqa: PLC0415 (only when a bus is configured)

    return EventBridgePublisher(boto3.client("events"), bus_name)
