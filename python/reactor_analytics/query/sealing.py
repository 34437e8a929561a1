"""The engine's segments: its columns kept on disk, so a restart maps them and reads only what
was committed since, instead of every row from PostgreSQL (the native `segment` module writes and
maps them; this decides when).

- On start, the segments are opened before the first tail read. They are thrown away, and every
  row read from PostgreSQL again, when they cannot be used (a checksum, a missing piece, another
  layout) or when rows were forgotten after they were sealed: the erasures and retention sweeps
  the audit log records after the segments' mark.
- Rows are sealed every `BACKLOG_SEAL_ROWS` during a long read (the first, or after a long
  stop), after it, then whenever `SEAL_ROWS` rows wait in memory only, or any have waited
  `SEAL_AFTER_S`.
- The property columns queries extract are saved by the next seal (checked every
  `SEAL_CHECK_S`), so a restart reads them back instead of parsing every row's JSON again.
- Forgetting rows (erasure, retention) removes the manifest at once (the native core does it
  with the rows), and the rows are sealed again before the erasure answers.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import structlog

from .. import _native
from .opening import Opening
from ..store import queries

log = structlog.get_logger(target="reactor_analytics.engine")

#: Rows waiting in memory that make a seal.
SEAL_ROWS = 64 * 1024
#: Rows in memory that make a seal in the middle of a long read.
BACKLOG_SEAL_ROWS = 1 << 20
#: How long rows wait in memory at most (checked every SEAL_CHECK_S).
SEAL_AFTER_S = 60.0
SEAL_CHECK_S = 5.0


class Sealer:
    def __init__(self, engine: _native.Engine, db_url: str, directory: Path) -> None:
        self.engine = engine
        self.db_url = db_url
        self.directory = directory
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def _mark(self) -> int:
        with psycopg.connect(self.db_url, autocommit=True, connect_timeout=5) as conn:
            return queries.forget_mark(conn)

    def open(self, opening: Opening | None = None) -> bool:
        """Open the segments into the engine (before anything is read), or take those `opening`
        opened already; True when they were used."""
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            opened = opening.result() if opening is not None else self.engine.open_segments(self.directory)
        except OSError as exc:
            log.warning("engine segments unusable; reading every row again", error=str(exc))
            opened = False
        if opened and (self.engine.segments_mark() or 0) < self._mark():
            log.info("rows were forgotten after the segments were sealed; reading every row again")
            self.engine.reset()
            opened = False
        if not opened:
            _native.Engine.clear_segments(self.directory)
        return opened

    def seal(self) -> tuple[int, int, int]:
        """Write what is in memory only: (pieces, rows, bytes). The mark is read first, so an
        erasure recorded after it makes the next start distrust these segments."""
        with self._lock:
            mark = self._mark()
            started = time.monotonic()
            pieces, rows, size = self.engine.seal(self.directory, mark)
            self._last = time.monotonic()
            if pieces:
                log.info("engine rows sealed", pieces=pieces, rows=rows, bytes=size,
                         seconds=round(self._last - started, 3))
            return pieces, rows, size

    def backlog_due(self) -> bool:
        return self.engine.unsealed_rows() >= BACKLOG_SEAL_ROWS

    def due(self) -> bool:
        waiting = self.engine.unsealed_rows()
        return (waiting >= SEAL_ROWS or (waiting > 0 and time.monotonic() - self._last >= SEAL_AFTER_S)
                or self.engine.unsaved_derived() > 0)

    def run_forever(self) -> None:
        while True:
            time.sleep(SEAL_CHECK_S)
            if not self.due():
                continue
            try:
                self.seal()
            except (OSError, psycopg.Error) as exc:
                log.warning("engine seal failed; will retry", error=type(exc).__name__, detail=str(exc))

    def start(self) -> None:
        threading.Thread(target=self.run_forever, daemon=True, name="engine-seal").start()
