"""Waking a reader of PostgreSQL's tails (events, links, traits) when rows arrive, instead of
polling: the native engine's process (query/engine.py) and the ClickHouse forwarder's
(clickhouse/forwarding.py) both sleep here.

The reader reads what was committed since its last read when PostgreSQL notifies it (migration
0015's triggers), then every `min_gap_s` for as long as rows keep coming: under heavy ingest the
reads come as a steady trickle instead of a burst that makes ingest requests queue behind it, and
an idle install does no work at all. Ingest notifies only while the reader sleeps (migration
0016): going to sleep it takes the tails' lock and reads what was committed before; waking it
gives the lock back."""

from __future__ import annotations

import select
import time
from typing import Callable

import psycopg
import structlog

from . import queries

log = structlog.get_logger(target="reactor_analytics.tail_wake")

# Without a notification (one lost with its connection) the tails are still read this often, and
# the listening connection is checked.
FALLBACK_SYNC_S = 30.0
# Going to sleep, the reader takes the tails' lock (queries.arm_tails), granted once the
# transactions that added rows without notifying have ended; it waits at most this long for one
# that runs on, reads, and asks again.
ARM_WAIT_S = 1.0
# While the database is away the listening connection is tried again after RECONNECT_FIRST_S,
# then twice as long each time, up to RECONNECT_MAX_S.
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 10.0


class TailWake:
    """Calls `sync()` (read what was committed; returns the rows read) whenever there may be
    something to read. `last_sync()` is when the reader last read (time.monotonic()), whoever
    asked it to: a query that read just now spares the next read."""

    def __init__(self, db_url: str, sync: Callable[[], int], last_sync: Callable[[], float]) -> None:
        self.db_url = db_url
        self.sync = sync
        self.last_sync = last_sync

    def run_forever(self, min_gap_s: float) -> None:
        """When the listening connection or a read fails (the database is away), the notification
        that asked for the read may be spent: open the connection again and read, waiting longer
        each time the database is still away."""
        delay = RECONNECT_FIRST_S
        while True:
            opened = time.monotonic()
            try:
                with psycopg.connect(self.db_url, autocommit=True, connect_timeout=5) as conn:
                    queries.listen_tails(conn, ARM_WAIT_S)
                    self._wake_on_notify(conn, min_gap_s)
            except Exception as exc:  # noqa: BLE001 - the tail must keep waking: log, read again
                log.warning("tail notifications lost; reconnecting", error=type(exc).__name__)
            if time.monotonic() - opened >= RECONNECT_MAX_S:
                delay = RECONNECT_FIRST_S
            time.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    def _wake_on_notify(self, conn: psycopg.Connection, min_gap_s: float) -> None:
        """Sleep until a notification (or FALLBACK_SYNC_S), then read every `min_gap_s` for as
        long as rows keep coming, then sleep again. Returns only by raising, when the connection
        or a read fails."""
        while True:
            if queries.arm_tails(conn):
                if not self.sync():  # what was committed before the lock: nothing, so sleep
                    self._sleep_until_notified(conn)
                queries.disarm_tails(conn)
            for _ in conn.notifies(timeout=0):  # what came meanwhile: the reads below cover it
                pass
            while True:
                wait = self.last_sync() + min_gap_s - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not self.sync():
                    break

    @staticmethod
    def _sleep_until_notified(conn: psycopg.Connection) -> None:
        # Notifications that came during a statement on the connection (taking the lock, the ping)
        # wait in psycopg's backlog, where select() does not see them.
        if list(conn.notifies(timeout=0)):
            return
        # Asleep in the kernel until the connection has something to read: psycopg's own
        # `notifies(timeout=…)` wakes every 0.1 s to look for signals, which an idle install would
        # pay for.
        if not select.select([conn.fileno()], [], [], FALLBACK_SYNC_S)[0]:
            queries.ping(conn)  # a connection lost without a word raises here
