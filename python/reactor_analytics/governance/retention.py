"""Retention: events older than their project's `retention_days` are removed on a schedule.

The query engine process runs the sweep (there is one per install): it deletes expired events
from PostgreSQL in small batches, each its own short transaction, so ingest never waits behind
it, then forgets the same rows in memory.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg
import structlog

from ..errors import AppError
from ..store import queries

log = structlog.get_logger(target="reactor_analytics.retention")
BATCH = 10_000


class Retention:
    def __init__(self, db_url: str, engine, interval_s: float) -> None:
        self.db_url = db_url
        self.engine = engine
        self.interval_s = interval_s
        self._lock = threading.Lock()

    def sweep(self, now: dt.datetime | None = None) -> int:
        """Remove every expired event now; returns how many."""
        now = now or dt.datetime.now(dt.timezone.utc)
        total = 0
        with self._lock, psycopg.connect(self.db_url, autocommit=True, connect_timeout=5) as conn:
            for project_id, days in queries.retention_policies(conn):
                cutoff = now - dt.timedelta(days=days)
                removed = 0
                while True:
                    batch = queries.delete_expired(conn, project_id, cutoff, BATCH)
                    removed += batch
                    if batch < BATCH:
                        break
                self.engine.drop_before(project_id, int(cutoff.timestamp() * 1_000_000))
                if removed:
                    queries.audit(conn, project_id, "retention", {"events": removed, "retention_days": days})
                    log.info("retention removed events", project_id=project_id, events=removed)
                total += removed
            queries.forget_old_salts(conn, now.date())
        return total

    def run_forever(self) -> None:
        while True:
            try:
                self.sweep()
            except (psycopg.Error, AppError) as exc:  # the database or the event store is away
                log.warning("retention sweep failed; will retry", error_type=type(exc).__name__)
            time.sleep(self.interval_s)

    def start(self) -> None:
        if self.interval_s > 0:
            threading.Thread(target=self.run_forever, daemon=True, name="retention").start()
