"""What a destination is, how custom ones are adapted, and helpers the built-in ones share.

A destination is an object with a `name` and `send(batch)`: it delivers a list of records
(see `messages`) or raises `RetryableError` / `PermanentError` (any other exception counts as
retryable). It may return how many records the far side refused one by one. It runs only
in its own sender thread, so it needs no locking.
"""

from __future__ import annotations

import logging
import time

from ..messages import ALIAS, IDENTIFY, dumps, iso, message_id

log = logging.getLogger("reactor_analytics_sdk")


class Destination:
    name = "destination"
    # Most records one request may carry; None means the sender's `flush_at` decides alone.
    max_batch_events: int | None = None

    def send(self, batch: list[dict]) -> int | None:
        raise NotImplementedError

    def close(self) -> None:
        """Called once, after the last batch."""


# --- what custom destinations and the webhook receive ---------------------------------------

def public_event(record: dict) -> dict:
    """A record in the webhook's JSON shape, the names of the tracking reference
    (`event`, `properties`, `userId`, `timestamp`; `traits` for identify) plus `type`,
    `anonymousId`, `previousId`, `messageId` and `context`."""
    kind = record["type"]
    event = {"type": kind, "event": record["event"], "messageId": message_id(record),
             "timestamp": iso(record["timestamp"])}
    if record["user_id"] is not None:
        event["userId"] = record["user_id"]
    if record["anonymous_id"] is not None:
        event["anonymousId"] = record["anonymous_id"]
    if kind == IDENTIFY:
        event["traits"] = record["properties"] or {}
    elif kind == ALIAS:
        event["previousId"] = record["previous_id"]
    else:
        event["properties"] = record["properties"] or {}
    if record["context"]:
        event["context"] = record["context"]
    return event


class BatchCallable(Destination):
    """A callable, or an object with `send(batch)`, receiving lists of `public_event` dicts."""

    def __init__(self, target, name: str):
        self.name = name
        self._send = target.send if callable(getattr(target, "send", None)) else target
        self._target = target

    def send(self, batch):
        refused = self._send([public_event(r) for r in batch])
        return refused if type(refused) is int else None

    def close(self):
        _call_optional(self._target, "close")


class TrackingProvider(Destination):
    """An object shaped like the reference's TrackingProvider: `track(event)` with
    `{name, properties, timestamp, userId}`, optional `identify(user_id, traits)` and
    `flush()`. Called once per record, in order; `flush()` after each batch."""

    def __init__(self, provider, name: str):
        self.name = name
        self._provider = provider

    def send(self, batch):
        for record in batch:
            kind = record["type"]
            if kind == IDENTIFY:
                identify = getattr(self._provider, "identify", None)
                if identify is not None:
                    identify(record["user_id"], record["properties"] or {})
            elif kind != ALIAS:
                event = {"name": record["event"], "properties": record["properties"] or {},
                         "timestamp": iso(record["timestamp"]), "messageId": message_id(record)}
                if record["user_id"] is not None:
                    event["userId"] = record["user_id"]
                if record["anonymous_id"] is not None:
                    event["anonymousId"] = record["anonymous_id"]
                self._provider.track(event)
        _call_optional(self._provider, "flush")

    def close(self):
        _call_optional(self._provider, "close")


def adapt(target, name: str | None = None) -> Destination:
    """Any supported custom destination as a Destination."""
    if isinstance(target, Destination):
        if name:
            target.name = name
        return target
    name = name or getattr(target, "name", None) or getattr(target, "__name__", None) or type(target).__name__
    if callable(getattr(target, "send", None)):
        return BatchCallable(target, str(name))
    if callable(getattr(target, "track", None)):
        return TrackingProvider(target, str(name))
    if callable(target):
        return BatchCallable(target, str(name))
    raise TypeError("a destination is a callable, or an object with send(batch) or track(event)")


def _call_optional(target, method: str) -> None:
    fn = getattr(target, method, None)
    if callable(fn):
        fn()


# --- encoding -------------------------------------------------------------------------------

def encode_each(items: list, destination: str) -> list[bytes]:
    """Each item as JSON, so one that cannot be encoded (a cycle, a huge int) is dropped with
    a log line instead of failing its whole batch forever."""
    encoded = []
    for item in items:
        try:
            encoded.append(dumps(item))
        except Exception as exc:
            log.warning("analytics destination %s: dropped an event that is not JSON-encodable: %s",
                        destination, exc)
    return encoded


def json_array(parts: list[bytes]) -> bytes:
    return b"[" + b",".join(parts) + b"]"


def pack(parts: list[bytes], max_bytes: int, max_count: int | None = None) -> list[list[bytes]]:
    """Consecutive groups of encoded items whose joined size stays under `max_bytes`."""
    groups: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for part in parts:
        if current and (size + len(part) + 1 > max_bytes or (max_count and len(current) >= max_count)):
            groups.append(current)
            current, size = [], 0
        current.append(part)
        size += len(part) + 1
    if current:
        groups.append(current)
    return groups


def now_iso() -> str:
    return iso(time.time())
