"""The forwarder's process (`reactor forward`): with `[events] store = "clickhouse"`, `reactor
serve` runs it where the native engine would run. It delivers what PostgreSQL commits to ClickHouse
as it commits (woken by the tails' notifications, store/tail_wake.py), so ClickHouse holds the
events whether or not anyone queries, and it sweeps retention on its schedule (one sweeper per
install). A web or gRPC worker still delivers what is left before each query it runs, so an
acknowledged event is counted by the next query whatever this process is doing."""

from __future__ import annotations

import time

import structlog

from ..errors import AppError
from ..governance.retention import Retention
from ..store.tail_wake import TailWake
from .store import ClickHouseStore

log = structlog.get_logger(target="reactor_analytics.clickhouse")

# While rows keep coming, they are delivered at most this often: each delivery is one insert per
# tail into ClickHouse, which prefers fewer, larger inserts.
FORWARD_EVERY_S = 0.5


class ForwardProcess:
    def __init__(self, store: ClickHouseStore, retention_interval_s: float) -> None:
        self.store = store
        self.retention_interval_s = retention_interval_s
        self.last_sync = 0.0

    def sync(self) -> int:
        """Deliver what was committed; returns the rows sent. Raises AppError 503 while ClickHouse
        or PostgreSQL is away (the waker then tries again, waiting longer each time)."""
        try:
            sent = self.store.sync()
        except AppError:
            log.warning("forwarding paused: the event store or the database is unavailable")
            raise
        self.last_sync = time.monotonic()
        if sent:
            log.info("forwarded", rows=sent)
        return sent

    def serve_forever(self, min_gap_s: float = FORWARD_EVERY_S) -> None:
        Retention(self.store.db_url, self.store, self.retention_interval_s).start()
        TailWake(self.store.db_url, self.sync, lambda: self.last_sync).run_forever(min_gap_s)
