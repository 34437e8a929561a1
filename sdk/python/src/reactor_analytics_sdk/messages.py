"""One call's record, built in the caller's thread, and the wire values senders derive from it.

`track()` must cost the caller next to nothing, so a record keeps raw values: the capture time
as `time.time()` and, unless the caller chose one, the message_id as 128 random bits (an int).
Sender threads turn them into text (UUID, ISO-8601, JSON) when they encode a batch. Every
destination derives the same text from the same record, so one event carries one message_id
to every destination and on every retry, which is what lets each of them deduplicate.

A record is a plain dict shared by all destinations; they read it and never change it:

    {"type": "track" | "identify" | "alias", "event": str, "properties": dict | None,
     "user_id": str | None, "anonymous_id": str | None, "timestamp": float (epoch seconds),
     "message_id": int | str, "context": dict | None}

An alias record also has "previous_id"; an identify record keeps its traits in "properties".
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
import random
import re
import sys
import uuid

from . import __version__

TRACK = "track"
IDENTIFY = "identify"
ALIAS = "alias"

LIBRARY = {"name": "reactor-analytics-python", "version": __version__}

# 128 random bits per call, about 0.1 µs (uuid4() costs microseconds). The random module
# reseeds itself in a forked child, so two processes never share a sequence.
random_bits = random.getrandbits

_UTC = _dt.timezone.utc
# Caller-chosen message_ids that are not UUIDs map to a stable UUID in this namespace.
_NAMESPACE = uuid.UUID("5b1f6b5e-4c1e-4f6a-9a55-7a0c2f3d9e21")
# Mixpanel's `$insert_id`: at most 36 bytes of letters, digits and '-'.
_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}\Z")


def message_id(record: dict) -> str:
    """The record's message_id as text: a UUID v4 when generated, else the caller's own."""
    value = record["message_id"]
    if value.__class__ is int:
        return str(uuid.UUID(int=value, version=4))
    return value


def message_uuid(record: dict) -> str:
    """The message_id as a UUID, for destinations that require one (PostHog's `uuid`)."""
    value = message_id(record)
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return str(uuid.uuid5(_NAMESPACE, value))


def insert_id(record: dict) -> str:
    """The message_id within Mixpanel's `$insert_id` rules (a stable UUID when it is not)."""
    value = message_id(record)
    return value if _INSERT_ID.match(value) else message_uuid(record)


def distinct_id(record: dict) -> str:
    return record["user_id"] or record["anonymous_id"]


# --- time ---------------------------------------------------------------------------------

def epoch_seconds(value) -> float:
    """A caller's `timestamp=`: a datetime (naive means UTC), a date, ISO-8601 text or epoch
    seconds. Raises ValueError/TypeError for anything else."""
    if isinstance(value, _dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=_UTC)).timestamp()
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_UTC).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"timestamp {value!r} is not a time")
        return float(value)
    if isinstance(value, str):
        parsed = _parse_iso(value)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=_UTC)).timestamp()
    raise TypeError(f"timestamp must be a datetime, ISO-8601 text or epoch seconds, not {type(value).__name__}")


if sys.version_info >= (3, 11):
    _parse_iso = _dt.datetime.fromisoformat
else:
    _ISO_TIME = re.compile(r"(?P<time>[T ]\d\d:\d\d(?::\d\d)?)(?P<fraction>\.\d+)?(?P<zone>[Zz]|[+-]\d\d:?\d\d)?\Z")

    def _parse_iso(text: str) -> _dt.datetime:
        """Before 3.11 `fromisoformat` reads only what `isoformat()` writes: a `Z`, a zone without
        its colon and 1-9 fraction digits are rewritten into that form first, as 3.11 reads them."""
        found = _ISO_TIME.search(text)
        if found:
            fraction, zone = found["fraction"], found["zone"]
            if fraction:
                fraction = (fraction + "000000")[:7]
            if zone in ("Z", "z"):
                zone = "+00:00"
            elif zone and ":" not in zone:
                zone = f"{zone[:3]}:{zone[3:]}"
            text = text[:found.start()] + found["time"] + (fraction or "") + (zone or "")
        return _dt.datetime.fromisoformat(text)


def iso(seconds: float) -> str:
    """`2026-11-22T11:56:49.123Z`."""
    text = _dt.datetime.fromtimestamp(seconds, _UTC).isoformat(timespec="milliseconds")
    return text[:-6] + "Z"


def millis(seconds: float) -> int:
    return int(round(seconds * 1000))


# --- JSON -----------------------------------------------------------------------------------

def _plain(value):
    """What JSON cannot hold natively, as the nearest thing it can (never fails)."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


try:
    import orjson

    def dumps(value) -> bytes:
        return orjson.dumps(value, default=_plain, option=orjson.OPT_NON_STR_KEYS)

    def loads(data: bytes):
        return orjson.loads(data)

except ImportError:  # the SDK also runs without the service's dependencies
    def dumps(value) -> bytes:
        return json.dumps(value, default=_plain, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode()

    def loads(data: bytes):
        return json.loads(data)
