"""Group commit: the concurrent ingest requests of one process share one PostgreSQL transaction.

Every ingest request prepares its rows on its own (parse, credentials, project, quota check,
encoding), queues them and blocks until the transaction holding them has committed; only then is
it answered. There is no thread of its own: when no transaction of the process is being
committed, the request that queued becomes the leader and commits, on its own connection,
whatever is queued (itself first), as PostgreSQL's own group commit does; the others wait, and
the requests that arrive while one transaction commits form the next one, led by one of them. A
lone request is committed at once, in its own thread and transaction.

Two settings bound a group (`[analytics]`):

* `batch_max_rows`: a group holds at most this many rows (a larger request goes alone).
* `batch_interval_ms`: the longest a request waits for company. Besides what is queued, the
  leader waits for the requests of this process that were already being prepared when it
  started gathering (their rows are milliseconds away), never longer than this interval after
  the first queued request arrived; 0 gathers only what is queued.

A group is written as one COPY of every request's rows, then the identity links, traits, error
groups, new sources and each org's usage in one pipelined round trip, and one COMMIT. When that
fails for a reason of one request (a message_id already stored or repeated within the group, a
quota passed, a deadline passed, a constraint) the transaction is rolled back and the group's
requests are written one by one, each in its own transaction exactly as a lone request is, so one
request's failure is its own answer and never another's. When the connection itself fails, the
requests not yet answered get that failure (503 `analytics.unavailable`): nothing is acknowledged
unless it committed, and a client's retry with the same message_ids is stored once.

Nothing here knows HTTP or gRPC.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import psycopg

from ..errors import AppError
from ..governance import quota
from ..store import queries


@dataclass(eq=False)
class Job:
    """One request's rows, waiting for the transaction that will hold them."""
    project: dict
    encoded: Any  # the native EncodedBatch
    deadline: float | None
    rows: int
    arrived: float = field(default_factory=time.monotonic)
    stored: int = 0
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def succeed(self, stored: int) -> None:
        self.stored = stored
        self.done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()


def count_rows(copy_rows: bytes) -> int:
    """Rows in COPY text format end with a newline; a newline inside a value is escaped."""
    return copy_rows.count(b"\n")


def deadline_exceeded() -> AppError:
    return AppError(504, "analytics.deadline_exceeded", "the call's deadline passed; nothing was stored")


class GroupCommitter:
    """The group commit of one process. `write_one(conn, job) -> stored` writes a lone request
    in its own transaction (also the fallback of a group that failed)."""

    def __init__(self, write_one: Callable, interval_ms: int, max_rows: int, quota_per_org: int) -> None:
        self._write_one = write_one
        self.interval_s = max(0, interval_ms) / 1000
        self.max_rows = max(1, max_rows)
        self.quota_per_org = quota_per_org
        self._cond = threading.Condition()
        self._queue: deque[Job] = deque()
        self._preparing: set[int] = set()
        self._tickets = itertools.count()
        self._committing = False
        self.groups = 0  # transactions committed for groups of requests (observability and tests)
        self.largest_group = 0  # rows in the largest of them

    def arrive(self) -> int:
        """A request starts preparing rows: a leader may wait for it (see the module doc)."""
        ticket = next(self._tickets)
        with self._cond:
            self._preparing.add(ticket)
        return ticket

    def leave(self, ticket: int) -> None:
        """The request will not hand rows over (it failed before)."""
        with self._cond:
            self._preparing.discard(ticket)
            self._cond.notify_all()

    def write(self, ticket: int, conn, project: dict, encoded, deadline: float | None = None) -> int:
        """Queue the request's rows and block until they are committed; the stored count, or the
        request's own error raised. `conn` is the request's connection, used when it leads."""
        job = Job(project, encoded, deadline, count_rows(encoded.copy_rows) if encoded.accepted else 0)
        with self._cond:
            self._preparing.discard(ticket)
            self._queue.append(job)
            self._cond.notify_all()
        while not job.done.is_set():
            with self._cond:
                while self._committing and not job.done.is_set():
                    self._cond.wait()
                if job.done.is_set():
                    break
                self._committing = True
                group = self._gather()
            try:
                self.commit(conn, group)
            except BaseException as exc:  # never leave a request waiting
                for other in group:
                    if not other.done.is_set():
                        other.fail(exc)
                if not job.done.is_set():  # a leader whose connection failed leads no more
                    job.fail(exc)
            finally:
                with self._cond:
                    self._committing = False
                    self._cond.notify_all()
        if job.error is not None:
            raise job.error
        return job.stored

    def _gather(self) -> list[Job]:
        """The next group, taken from the queue's head (called holding the lock, by a leader
        whose own rows are queued)."""
        waiting_for = set(self._preparing)
        until = self._queue[0].arrived + self.interval_s
        while True:
            queued_rows = sum(j.rows for j in self._queue)
            waiting_for &= self._preparing
            remaining = until - time.monotonic()
            if not waiting_for or queued_rows >= self.max_rows or remaining <= 0:
                break
            self._cond.wait(remaining)
        group, rows = [], 0
        while self._queue and (not group or rows + self._queue[0].rows <= self.max_rows):
            job = self._queue.popleft()
            group.append(job)
            rows += job.rows
        return group

    def commit(self, conn, group: list[Job]) -> None:
        """Write `group` in one transaction, or one by one when that fails for one of them."""
        now = time.monotonic()
        live = []
        for job in group:
            if job.deadline is not None and now >= job.deadline:
                job.fail(deadline_exceeded())
            else:
                live.append(job)
        if live and (len(live) == 1 or not self._together(conn, live)):
            self._one_by_one(conn, live)

    def _together(self, conn, jobs: list[Job]) -> bool:
        """One COPY, one pipelined round trip, one COMMIT; False (rolled back) when one request's
        rows or counts made it fail."""
        try:
            rows = b"".join(job.encoded.copy_rows for job in jobs if job.encoded.accepted)
            if rows:
                queries.copy_events(conn, rows)
            if any(job.deadline is not None and time.monotonic() >= job.deadline for job in jobs):
                conn.rollback()
                return False
            usage: dict[str, int] = {}
            for job in jobs:
                org = job.project["org_id"]
                usage[org] = usage.get(org, 0) + job.rows
            # Row locks are taken in one order (project, then org) in every group.
            with conn.pipeline():
                for job in sorted(jobs, key=lambda j: str(j.project["id"])):
                    encoded, project_id = job.encoded, job.project["id"]
                    queries.store_links(conn, project_id, encoded.links, encoded.users)
                    queries.store_traits(conn, project_id, encoded.traits)
                    queries.store_errors(conn, project_id, encoded.errors)
                    queries.store_sources(conn, project_id, encoded.new_sources)
                for org in sorted(usage, key=str):
                    quota.count(conn, org, usage[org], self.quota_per_org)
                conn.commit()
        except psycopg.Error:
            if conn.broken or conn.closed:
                raise
            conn.rollback()
            return False
        self.groups += 1
        self.largest_group = max(self.largest_group, sum(job.rows for job in jobs))
        for job in jobs:
            job.succeed(job.rows)
        return True

    def _one_by_one(self, conn, jobs: list[Job]) -> None:
        for job in jobs:
            if job.deadline is not None and time.monotonic() >= job.deadline:
                job.fail(deadline_exceeded())
                continue
            try:
                job.succeed(self._write_one(conn, job))
            except AppError as exc:
                if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.rollback()
                job.fail(exc)
            except psycopg.Error as exc:
                if conn.broken or conn.closed:
                    raise
                conn.rollback()
                job.fail(exc)
