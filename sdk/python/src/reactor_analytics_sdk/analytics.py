"""The public client: `track`, `identify` and `alias` from any thread, never blocking, never
raising. A call builds one small record (see `messages`) and appends it to every destination's
own bounded queue; each destination's sender thread batches, sends and retries on its own.

    analytics = Analytics(url="https://reactor.example.com", token=jwt, project="web-prod")
    analytics.track("order.completed", {"total": 49.99}, user_id="u_42")
    analytics.close()   # also runs at interpreter exit

Destinations: this service (`url`/`token`/`project`, or REACTOR_URL + REACTOR_TOKEN
[+ REACTOR_PROJECT]), the third-party ones whose environment variables are set
(POSTHOG_API_KEY, MIXPANEL_TOKEN, AMPLITUDE_API_KEY, TRACKING_WEBHOOK_URL; see
`destinations`), and any passed in `destinations=` or `register_destination()`.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from functools import partial

from . import destinations as _destinations
from .messages import ALIAS, IDENTIFY, TRACK, epoch_seconds, random_bits
from .sender import Sender

log = logging.getLogger("reactor_analytics_sdk")

_now = time.time


class Analytics:
    def __init__(self, url: str | None = None, token: str | None = None, *, project: str | None = None,
                 transport: str | None = None, destinations=(), env: Mapping[str, str] | None = None,
                 flush_at: int = 50, flush_interval: float = 10.0, max_queue_size: int = 10_000,
                 max_retries: int = 10, retry_base: float = 0.5, retry_max_delay: float = 30.0,
                 timeout: float = 10.0, shutdown_timeout: float = 10.0):
        """`env` is where destinations are looked up (default `os.environ`; `{}` for none).
        `flush_at` events or `flush_interval` seconds, whichever first, send a batch;
        `max_queue_size` records wait per destination before the oldest is dropped;
        a failed batch is retried `max_retries` times, waiting `retry_base`·2^n seconds
        (with jitter, at most `retry_max_delay`); `timeout` bounds one request;
        `close()` (and interpreter exit) waits at most `shutdown_timeout` seconds."""
        env = os.environ if env is None else env
        self._sender_settings = dict(flush_at=flush_at, flush_interval=flush_interval,
                                     max_queue_size=max_queue_size, max_retries=max_retries,
                                     retry_base=retry_base, retry_max_delay=retry_max_delay)
        self.timeout = timeout
        self.shutdown_timeout = shutdown_timeout
        self._lock = threading.Lock()
        self._senders: dict[str, Sender] = {}
        self._lanes: tuple = ()       # what track() appends to; replaced whole, never mutated
        self._invalid = 0
        self._closed = False

        token = token or env.get("REACTOR_TOKEN")
        if url or (env.get("REACTOR_URL") and token):
            self.register_destination(_destinations.ReactorDestination(
                url or env["REACTOR_URL"], token, project=project or env.get("REACTOR_PROJECT"),
                transport=transport, timeout=timeout))
        for destination in _destinations.from_env(env, timeout=timeout):
            self.register_destination(destination)
        for destination in destinations:
            self.register_destination(destination)

        atexit.register(self._close_at_exit)
        if hasattr(os, "register_at_fork"):  # POSIX only
            os.register_at_fork(after_in_child=partial(_restart_after_fork, weakref.ref(self)))

    # --- the calls ---------------------------------------------------------------------------

    def track(self, event=None, properties=None, *, distinct_id=None, user_id=None, anonymous_id=None,
              timestamp=None, message_id=None, context=None, **unknown) -> None:
        """Records `event` for `user_id` (or `distinct_id`) and/or `anonymous_id`.
        `timestamp`: a datetime, ISO-8601 text or epoch seconds (default: now).
        `message_id`: the idempotency key (default: a fresh UUID)."""
        try:
            if unknown:
                raise TypeError(f"unexpected argument(s) {', '.join(sorted(unknown))}")
            if event.__class__ is not str or not event:
                raise ValueError(f"event must be a non-empty string, not {event!r:.80}")
            if user_id is None:
                user_id = distinct_id
            if user_id is not None and user_id.__class__ is not str:
                user_id = _as_id(user_id, "user_id")
            if anonymous_id is not None and anonymous_id.__class__ is not str:
                anonymous_id = _as_id(anonymous_id, "anonymous_id")
            if not user_id and not anonymous_id:
                raise ValueError("track needs a user_id, distinct_id or anonymous_id")
            if properties is not None:
                # A copy, so the caller may reuse or change its dict once the call returns.
                properties = properties.copy() if properties.__class__ is dict else _as_dict(properties, "properties")
            record = {
                "type": TRACK,
                "event": event,
                "properties": properties,
                "user_id": user_id or None,
                "anonymous_id": anonymous_id or None,
                "timestamp": _now() if timestamp is None else epoch_seconds(timestamp),
                "message_id": random_bits(128) if message_id is None else _as_message_id(message_id),
                "context": None if context is None else _as_dict(context, "context"),
            }
            for lane in self._lanes:  # Lane.put, inlined: this loop is the hot path
                records = lane.records
                if len(records) >= lane.max_size:
                    lane.drop_oldest()
                records.append(record)
                if len(records) >= lane.flush_at and not lane.wake.is_set():
                    lane.wake.set()
        except Exception as exc:
            self._refuse("track", exc)

    def identify(self, user_id=None, traits=None, *, anonymous_id=None, distinct_id=None, timestamp=None,
                 message_id=None, context=None, **unknown) -> None:
        """Sets traits on `user_id` and, with `anonymous_id`, links that id to the user."""
        try:
            if unknown:
                raise TypeError(f"unexpected argument(s) {', '.join(sorted(unknown))}")
            user_id = _as_id(user_id if user_id is not None else distinct_id, "user_id")
            if not user_id:
                raise ValueError("identify needs a user_id")
            anonymous_id = _as_id(anonymous_id, "anonymous_id") if anonymous_id is not None else None
            self._enqueue({
                "type": IDENTIFY, "event": "$identify",
                "properties": None if traits is None else _as_dict(traits, "traits"),
                "user_id": user_id, "anonymous_id": anonymous_id or None,
                "timestamp": _now() if timestamp is None else epoch_seconds(timestamp),
                "message_id": random_bits(128) if message_id is None else _as_message_id(message_id),
                "context": None if context is None else _as_dict(context, "context"),
            })
        except Exception as exc:
            self._refuse("identify", exc)

    def alias(self, previous_id=None, user_id=None, *, timestamp=None, message_id=None, context=None,
              **unknown) -> None:
        """Tells every destination that `previous_id` (e.g. an anonymous id) is `user_id`."""
        try:
            if unknown:
                raise TypeError(f"unexpected argument(s) {', '.join(sorted(unknown))}")
            previous_id, user_id = _as_id(previous_id, "previous_id"), _as_id(user_id, "user_id")
            if not previous_id or not user_id:
                raise ValueError("alias needs a previous_id and a user_id")
            if previous_id == user_id:
                raise ValueError("alias needs two different ids")
            self._enqueue({
                "type": ALIAS, "event": "$alias", "properties": None,
                "user_id": user_id, "anonymous_id": None, "previous_id": previous_id,
                "timestamp": _now() if timestamp is None else epoch_seconds(timestamp),
                "message_id": random_bits(128) if message_id is None else _as_message_id(message_id),
                "context": None if context is None else _as_dict(context, "context"),
            })
        except Exception as exc:
            self._refuse("alias", exc)

    def _enqueue(self, record: dict) -> None:
        for lane in self._lanes:
            lane.put(record)

    def _refuse(self, call: str, exc: Exception) -> None:
        """Bad arguments are counted and logged (the first ten, then every thousandth)."""
        with self._lock:
            self._invalid += 1
            count = self._invalid
        if count <= 10 or count % 1000 == 0:
            log.warning("analytics %s ignored (%d so far): %s", call, count, exc)

    # --- delivery ------------------------------------------------------------------------------

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Sends everything queued and waits for every destination to settle it (delivered,
        refused or given up), at most `timeout` seconds. True when all did in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        senders = list(self._senders.values())
        for sender in senders:
            sender.request_flush()
        try:
            settled = [sender.wait_idle(deadline) for sender in senders]
        finally:
            for sender in senders:
                sender.release_flush()
        return all(settled)

    def close(self, timeout: float | None = None) -> bool:
        """Flushes, then stops the sender threads; what is still unsent after `timeout`
        (default `shutdown_timeout`) is given up. Later calls are ignored."""
        with self._lock:
            if self._closed:
                return True
            self._closed = True
            self._lanes = ()
            senders = list(self._senders.values())
        atexit.unregister(self._close_at_exit)
        timeout = self.shutdown_timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        for sender in senders:
            sender.request_stop()
        settled = [sender.wait_idle(deadline) for sender in senders]
        for sender in senders:
            sender.finish(deadline)
        return all(settled)

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except Exception:
            log.warning("analytics: flushing at exit failed", exc_info=True)

    def __enter__(self) -> "Analytics":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- destinations --------------------------------------------------------------------------

    def register_destination(self, target, name: str | None = None, **options) -> str:
        """Adds a destination and returns its name. `target` is a built-in's name
        (`"posthog"`, `"mixpanel"`, `"amplitude"`, `"webhook"`, `"reactor"`) with its options,
        a Destination, an object with `send(batch)` or `track(event)` (the tracking
        reference's provider shape), or a callable receiving batches. A destination of the
        same name is replaced."""
        if isinstance(target, str):
            options.setdefault("timeout", self.timeout)
            destination = _destinations.create(target, **options)
            if name:
                destination.name = name
        elif options:
            raise TypeError("options are only for built-in destinations")
        else:
            destination = _destinations.adapt(target, name)
        sender = Sender(destination, **self._sender_settings).start()
        with self._lock:
            if self._closed:
                sender.request_stop()
                raise RuntimeError("this Analytics is closed")
            replaced = self._senders.pop(destination.name, None)
            self._senders[destination.name] = sender
            self._lanes = tuple(s.lane for s in self._senders.values())
        if replaced is not None:
            self._retire(replaced)
        return destination.name

    def unregister_destination(self, name: str) -> bool:
        """Removes a destination after sending what it has queued. True if it was there."""
        with self._lock:
            sender = self._senders.pop(name, None)
            self._lanes = tuple(s.lane for s in self._senders.values())
        if sender is None:
            return False
        self._retire(sender)
        return True

    def _retire(self, sender: Sender) -> None:
        deadline = None if self.shutdown_timeout is None else time.monotonic() + self.shutdown_timeout
        sender.request_stop()
        sender.finish(deadline)

    def list_destinations(self) -> list[str]:
        return list(self._senders)

    # --- counters ------------------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Records dropped because a destination's queue was full (oldest first), all destinations."""
        return sum(sender.lane.dropped for sender in self._senders.values())

    @property
    def invalid(self) -> int:
        """Calls ignored for bad arguments."""
        return self._invalid

    def stats(self) -> dict:
        """{"invalid", "dropped", "destinations": {name: {"queued", "sent", "rejected",
        "failed", "retries", "dropped"}}}"""
        return {"invalid": self._invalid, "dropped": self.dropped,
                "destinations": {name: s.snapshot() for name, s in self._senders.items()}}


def _as_id(value, field: str) -> str | None:
    if value is None or value.__class__ is str:
        return value
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    raise TypeError(f"{field} must be a string, not {type(value).__name__}")


def _as_message_id(value) -> str:
    text = str(value) if isinstance(value, uuid.UUID) else _as_id(value, "message_id")
    if not text:
        raise ValueError("message_id must not be empty")
    return text


def _as_dict(value, field: str) -> dict:
    if value.__class__ is dict:
        return value.copy()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{field} must be a dict, not {type(value).__name__}")


def _restart_after_fork(ref) -> None:
    """In a forked child (e.g. a gunicorn worker) the sender threads are gone: start new ones."""
    analytics = ref()
    if analytics is None or analytics._closed:
        return
    analytics._lock = threading.Lock()
    for sender in analytics._senders.values():
        sender.restart_in_child()
    analytics._lanes = tuple(s.lane for s in analytics._senders.values())
