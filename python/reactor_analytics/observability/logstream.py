"""The log stream behind GET /_admin/logs.

Every process appends its JSON log lines to one file in the data directory (appends of a line
are atomic on a local filesystem), so a stream served by any gunicorn worker sees the lines of
all of them. Readers filter by time, capability and level, and follow the file as it grows.

A following stream holds a sync worker, so streams are bounded: at most `slots` at once
(file locks shared by all workers) and each for at most `max_seconds`, after which the client
reconnects from the last event id (`reactor logs --follow` does).
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import orjson

LEVELS = {"TRACE": 0, "DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50}
_RELATIVE = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class StreamError(ValueError):
    pass


class LogFile:
    """Append-only JSON lines, rotated once past max_bytes (one previous file is kept)."""

    def __init__(self, path: Path, max_bytes: int = 50 * 1024 * 1024) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._fd: int | None = None
        self._ino: int | None = None
        self._writes = 0

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._fd, self._ino = fd, os.fstat(fd).st_ino
        return fd

    def write(self, line: bytes) -> None:
        try:
            fd = self._fd if self._fd is not None else self._open()
            self._writes += 1
            if self._writes % 256 == 0:
                fd = self._maybe_rotate(fd)
            os.write(fd, line + b"\n")
        except OSError:
            pass  # logging must never break a request

    def _maybe_rotate(self, fd: int) -> int:
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return self._reopen(fd)
        if current.st_ino != self._ino:
            return self._reopen(fd)
        if current.st_size > self.max_bytes:
            with open(self.path.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if os.stat(self.path).st_ino == self._ino:
                    os.replace(self.path, self.path.with_suffix(".1.jsonl"))
            return self._reopen(fd)
        return fd

    def _reopen(self, fd: int) -> int:
        os.close(fd)
        return self._open()


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    if not value:
        return None
    now = now or datetime.now(timezone.utc)
    match = _RELATIVE.match(value.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise StreamError("since must be an ISO-8601 time or a duration such as 15m, 1h, 2d") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def capability_of(target: str) -> str:
    """Reactor capabilities name their log targets `reactor_<capability>…`."""
    name = target.split(".", 1)[0]
    return name[len("reactor_"):] if name.startswith("reactor_") else name


class Filter:
    def __init__(self, since: datetime | None, capability: str | None, level: str | None) -> None:
        self.since = since
        self.capability = capability
        if level and level.upper() not in LEVELS:
            raise StreamError(f"level must be one of {', '.join(k.lower() for k in LEVELS)}")
        self.min_level = LEVELS[level.upper()] if level else 0

    def accepts(self, record: dict) -> bool:
        if LEVELS.get(str(record.get("level", "")).upper(), 0) < self.min_level:
            return False
        if self.capability and capability_of(str(record.get("target", ""))) != self.capability:
            return False
        if self.since:
            try:
                stamp = datetime.fromisoformat(str(record.get("timestamp", "")).replace("Z", "+00:00"))
            except ValueError:
                return False
            if stamp < self.since:
                return False
        return True


def stream(path: Path, where: Filter, follow: bool, offset: int = 0, max_seconds: float = 300.0,
           poll: float = 0.2, keepalive: float = 15.0) -> Iterator[bytes]:
    """Server-sent events: one `data:` frame per matching line, `id:` = the file offset after it."""
    deadline = time.monotonic() + max_seconds
    last_sent = time.monotonic()
    yield b"retry: 1000\n\n"
    while True:
        handle, offset = _open_at(path, offset)
        if handle is not None:
            with handle:
                for raw in handle:
                    if not raw.endswith(b"\n"):
                        break  # a line still being written: read it next time
                    offset += len(raw)
                    try:
                        record = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(record, dict) and where.accepts(record):
                        last_sent = time.monotonic()
                        yield b"id: %d\ndata: %s\n\n" % (offset, raw.rstrip(b"\n"))
        if not follow or time.monotonic() > deadline:
            return
        if time.monotonic() - last_sent > keepalive:
            last_sent = time.monotonic()
            yield b": keep-alive\n\n"
        if _rotated(path, offset):
            offset = 0
        time.sleep(poll)


def _open_at(path: Path, offset: int):
    """The file opened at `offset`, and that offset. An offset past the end names a place in a file
    rotated away since (or none at all: `Last-Event-ID` comes from the client), so reading starts
    over at the beginning, as a follower does after a rotation; past the largest file the
    filesystem allows, seek() itself would fail."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return None, offset
    if offset > os.fstat(handle.fileno()).st_size:
        offset = 0
    handle.seek(offset)
    return handle, offset


def _rotated(path: Path, offset: int) -> bool:
    try:
        return os.stat(path).st_size < offset
    except FileNotFoundError:
        return False


def acquire_slot(directory: Path, slots: int):
    """One of `slots` stream slots shared by all workers (a held file lock), or None when all are taken."""
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(slots):
        handle = open(directory / f"stream-{index}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            handle.close()
    return None


def release_slot(handle) -> None:
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()
