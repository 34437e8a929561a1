"""The database handle: one psycopg connection pool per process, failures mapped to 503."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout
from psycopg_pool.base import AttemptWithBackoff

from ..config import Config
from ..errors import unavailable

_DB_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)

# After the database comes back, the pool must reconnect within a moment, not after psycopg_pool's
# doubling backoff (1, 2, 4, 8 s ...) has run out: retry every quarter second instead. A refused
# connection costs the pool one failed connect() per slot and attempt.
AttemptWithBackoff.INITIAL_DELAY = 0.25
AttemptWithBackoff.DELAY_BACKOFF = 1.0


def database_url(config: Config) -> str:
    if config.database.url:
        return config.database.url
    from .embedded import EmbeddedPostgres

    return EmbeddedPostgres(Path(config.data_dir), config.database.embedded_port).url


class Database:
    def __init__(self, url: str, min_size: int = 1, max_size: int = 8, timeout: float = 3.0,
                 on_acquire: Callable[[float], None] | None = None) -> None:
        self.url = url
        self._on_acquire = on_acquire
        self._pool = ConnectionPool(
            url, min_size=min_size, max_size=max_size, timeout=timeout, open=False,
            kwargs={"connect_timeout": 3},
            name="reactor")
        self._opened = False
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config, on_acquire: Callable[[float], None] | None = None) -> "Database":
        db = config.database
        return cls(database_url(config), db.pool_min, db.pool_max, db.pool_timeout_s, on_acquire)

    def _ensure_open(self) -> None:
        if not self._opened:
            with self._lock:
                if not self._opened:
                    self._pool.open(wait=False)
                    self._opened = True

    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection]:
        """A pooled connection in a transaction; database failures become 503 analytics.unavailable.

        `timeout` bounds the wait for a connection (the pool's own timeout when None)."""
        self._ensure_open()
        started = time.perf_counter()
        try:
            with self._pool.connection(timeout=timeout) as conn:
                if self._on_acquire is not None:
                    self._on_acquire(time.perf_counter() - started)
                yield conn
        except _DB_ERRORS:
            # Connections made stale by a server restart are dropped now, not one failed request each.
            self._pool.check()
            raise unavailable() from None

    def stats(self) -> dict[str, int]:
        stats = self._pool.get_stats()
        return {"size": stats.get("pool_size", 0), "idle": stats.get("pool_available", 0)}

    def close(self) -> None:
        if self._opened:
            self._pool.close()
