"""The forwarder: PostgreSQL's committed events, identity links and traits, copied into ClickHouse
by `seq`, each exactly once as the queries see it.

Ingest acknowledges an event once it is committed in PostgreSQL (the durability promise is
PostgreSQL's, unchanged); the forwarder then delivers it. Delivery is at least once, and the
tables make it exactly once for every query:
* Each tail is read in `seq` order from a position. A `seq` is taken at insert but visible at
  commit, so a read can see a higher one before a lower one: the seqs skipped are remembered and
  asked for again at every read for MISSING_FOR_S (after that they belonged to a rolled-back
  transaction).
* Each batch is inserted first, then the position is written to `forward_positions`: the lowest
  seq not known delivered (the oldest missing one, else the position). A forwarder that stops
  between the two (kill -9, a lost connection) starts again from the written position and sends
  the batch again.
* Those copies are absorbed by the tables: `events` is a ReplacingMergeTree whose sorting key
  holds `(project_id, message_id)` (and the columns a copy has equal), `person_map` and
  `person_traits` keep the newest `seq` per key, and queries read `FINAL` / `argMax`.
  Insert deduplication tokens were the other way: a token must name the same block every time,
  but the block a range of seqs makes changes as missing seqs commit, so a token either drops new
  rows (same token, other rows) or lets copies through (other token); a replacing key has neither
  fault.
* A row read just before an erasure (or retention) forgot it in PostgreSQL and inserted just
  after ClickHouse forgot it too would come back. So the forwarder reads the newest forgetting
  (the audit log's mark) before it reads a batch and again after it inserted it; when it moved,
  the rows just sent that PostgreSQL no longer holds are deleted from ClickHouse before the
  position moves past them.
* A retention sweep (whoever runs it: the audit log records each) removed a project's expired
  events from PostgreSQL; the next sync deletes from ClickHouse the project's rows from before the
  sweep's cutoff that PostgreSQL no longer holds. (ClickHouse's TTL drops rows past the retention
  they were forwarded with on its own; this applies a retention made shorter since.)
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Callable

import psycopg

from ..store import queries
from .schema import TABLE

# Rows per read and insert.
BATCH = 20_000
MISSING_FOR_S = 60.0
# A gap wider than this is rows deleted (retention, erasure) or a first read, not transactions
# still open: it is not waited for.
MAX_GAP = 10_000
# Where each tail goes.
TARGETS = {"events": "events", "links": "person_map", "traits": "person_traits"}
# The forwarder's reads run on PostgreSQL's seq indexes whatever the statistics (query/engine.py).
CONNECTION_OPTIONS = ("-c jit=off -c max_parallel_workers_per_gather=0 "
                      "-c enable_seqscan=off -c enable_bitmapscan=off -c enable_sort=off")


class Tail:
    def __init__(self, position: int) -> None:
        self.position = position
        self.missing: dict[int, float] = {}  # seq -> when first missed

    def low_water(self) -> int:
        """Every seq up to this one is delivered (or never will be)."""
        return min(self.missing) - 1 if self.missing else self.position

    def skip_to(self, delivered: int) -> None:
        """Every seq up to `delivered` is delivered (or never will be)."""
        if delivered > self.position:
            self.position = delivered
        self.missing = {seq: since for seq, since in self.missing.items() if seq > delivered}

    def take(self, seqs: list[int], now: float) -> None:
        for seq in seqs:
            self.missing.pop(seq, None)
        above = sorted(s for s in seqs if s > self.position)
        previous = self.position
        for seq in above:
            if seq - previous <= MAX_GAP:
                for gap in range(previous + 1, seq):
                    self.missing.setdefault(gap, now)
            previous = seq
        self.position = max(self.position, previous)
        for seq, since in list(self.missing.items()):
            if now - since > MISSING_FOR_S:
                del self.missing[seq]


class Forwarder:
    """Copies what PostgreSQL committed into ClickHouse (`client`: a clickhouse-connect client)."""

    def __init__(self, client, db_url: str, delete: Callable[[str, list[int]], None],
                 tables: dict[str, str] | None = None, cluster: bool = False) -> None:
        """`delete(table, seqs)` forgets rows of a table by seq (the store's mutation). On a
        cluster an insert into the Distributed table returns once every shard holds its rows
        (`distributed_foreground_insert`), so the next query counts them."""
        self.client = client
        self.db_url = db_url
        self.delete = delete
        self.tables = tables or {name: name for name in TABLE}
        self.settings = {"distributed_foreground_insert": 1} if cluster else {}
        self.lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self._tails: dict[str, Tail] | None = None
        self._sweeps_seen = 0  # the newest retention sweep applied (an audit record's id)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.db_url, autocommit=True, connect_timeout=5, options=CONNECTION_OPTIONS)
        return self._conn

    def _positions(self) -> dict[str, Tail]:
        """The tails, moved up to the positions written in ClickHouse: another process's forwarder
        (the service's forwarder process, another worker) may have delivered past this one's, and
        what it delivered is not sent again."""
        result = self.client.query(f"SELECT tail, argMax(position, at) FROM {self.tables['forward_positions']} "
                                   "GROUP BY tail")
        written = {tail: int(position) for tail, position in result.result_rows}
        if self._tails is None:
            self._tails = {name: Tail(0) for name in TARGETS}
        for name, tail in self._tails.items():
            tail.skip_to(written.get(name, 0))
        return self._tails

    def sync(self) -> int:
        """Deliver everything committed so far; returns the rows sent. Raises psycopg.Error or the
        client's errors (the caller answers 503)."""
        with self.lock:
            try:
                return self._sync()
            except psycopg.Error:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                raise

    def _sync(self) -> int:
        tails = self._positions()
        conn = self._connection()
        sent = 0
        for name, target in TARGETS.items():
            tail = tails[name]
            while True:
                before = tail.low_water()
                mark = queries.forget_mark(conn)
                names, found = queries.forward_rows(conn, name, tail.position, sorted(tail.missing), BATCH)
                seqs = [row[0] for row in found]
                if found:
                    self.client.insert(self.tables[target], found, column_names=list(names), settings=self.settings)
                    sent += len(found)
                    if queries.forget_mark(conn) != mark:
                        gone = sorted(set(seqs) - queries.present_seqs(conn, name, seqs))
                        if gone:
                            self.delete(target, gone)
                tail.take(seqs, time.monotonic())
                if tail.low_water() != before:  # written once the batch is whole in ClickHouse
                    self.client.insert(self.tables["forward_positions"],
                                       [(name, tail.low_water(), datetime.now(timezone.utc))],
                                       column_names=["tail", "position", "at"])
                if len(found) < BATCH:
                    break
        for record, project_id, expired_before in queries.retention_sweeps_since(conn, self._sweeps_seen):
            self._apply_retention(conn, project_id, expired_before)
            self._sweeps_seen = max(self._sweeps_seen, record)
        return sent

    def _apply_retention(self, conn, project_id: str, expired_before: datetime) -> None:
        old = self.client.query(f"SELECT DISTINCT seq FROM {self.tables['events']} WHERE project_id = {{p:String}} "
                                "AND ts < {t:DateTime64(6, 'UTC')}",
                                parameters={"p": project_id, "t": expired_before}).result_rows
        seqs = [row[0] for row in old]
        for start in range(0, len(seqs), BATCH):
            chunk = seqs[start:start + BATCH]
            gone = sorted(set(chunk) - queries.present_seqs(conn, "events", chunk))
            if gone:
                self.delete("events", gone)

    def forget_positions(self) -> None:
        """Read the positions from ClickHouse again at the next sync (as after a restart)."""
        with self.lock:
            self._tails = None
