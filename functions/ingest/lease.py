"""A lease on one landed object: at most one ingest of it runs at a time.

S3 delivers events at least once, and a re-upload sends a second event while the first may
still be processing: two invocations on one key must not both publish. The lease is a small
JSON object in the curated zone (``layout.lock_key``) created with a conditional write — S3's
``If-None-Match: *``, a local ``O_EXCL`` create — so of two concurrent ingests exactly one gets
it; the other is told to come back later (the SQS message is retried).

A crashed holder (a timed-out function) cannot release its lease: it expires after ``ttl``
seconds (longer than the function's timeout), and the next ingest takes it over with
``If-Match`` on the expired lease's ETag, so two late-comers cannot both take it over.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ingest.storage import Storage


@dataclass(frozen=True)
class Lease:
    storage: Storage
    key: str
    token: str

    def release(self) -> None:
        """Remove the lease if it is still this holder's (an expired one may have moved on)."""
        current = self.storage.get_with_etag(self.key)
        if current is not None and _holder(current[0]).get("token") == self.token:
            self.storage.delete([self.key])


def _holder(data: bytes) -> dict[str, object]:
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def acquire(
    storage: Storage, key: str, ttl_seconds: float, now: Callable[[], float] | None = None
) -> Lease | None:
    """The lease on ``key``, or None while another ingest holds an unexpired one.

    ``now`` is the clock (seconds since the epoch; ``time.time`` unless given). Expiry compares
    wall clocks of different invocations, so the ttl has minutes of margin over the timeout.
    """
    token = uuid.uuid4().hex
    started = (now or time.time)()
    body = json.dumps(
        {"token": token, "acquired_at": started, "expires_at": started + ttl_seconds}
    ).encode("utf-8")
    if storage.put_if_absent(key, body):
        return Lease(storage, key, token)
    current = storage.get_with_etag(key)
    if current is None:  # released between the two calls
        return Lease(storage, key, token) if storage.put_if_absent(key, body) else None
    data, etag = current
    expires = _holder(data).get("expires_at")
    if isinstance(expires, int | float) and expires > started:
        return None
    # expired (or unreadable): take it over, unless someone else just did
    return Lease(storage, key, token) if storage.replace_if_match(key, body, etag) else None
