"""The monthly event quota per org (`quota_per_org_monthly`; 0 turns it off).

Usage is counted in the transaction that stores the events, so it is exactly what was stored,
across every worker; a batch that would pass the quota is refused whole and rolled back. Usage
only grows within a month, so a worker that saw an org exhausted remembers it until the month ends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Iterator

import psycopg

from ..errors import AppError
from ..observability import metrics
from ..store import queries

_exhausted: set[tuple[str, dt.date]] = set()


def this_month() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date().replace(day=1)


def exceeded(org_id: str) -> AppError:
    metrics.QUOTA_EXCEEDED.labels(org_id).inc()
    return AppError(429, "analytics.quota.exceeded",
                    "the organisation's monthly event quota is used up; raise quota_per_org_monthly",
                    org_id=org_id)


def check(org_id: str, quota: int) -> None:
    """Refuse early, without touching the database, once this worker has seen the org exhausted."""
    if quota and (org_id, this_month()) in _exhausted:
        raise exceeded(org_id)


def count(conn, org_id: str, stored: int, quota: int) -> None:
    """Count `stored` events against the org in the caller's transaction. A quota passed shows
    as a database error when the transaction is synced; `enforced` turns it into 429."""
    if quota and stored:
        queries.count_usage(conn, org_id, this_month(), stored, quota)


@contextlib.contextmanager
def enforced(conn, org_id: str, quota: int) -> Iterator[None]:
    """Around the statements that count and commit: a batch that would pass the quota is rolled
    back whole and answered 429, and an org found used up is remembered."""
    try:
        yield
    except psycopg.Error as exc:
        if not quota or exc.sqlstate != queries.QUOTA_EXCEEDED:
            raise
        conn.rollback()
        month = this_month()
        if queries.usage(conn, org_id, month) >= quota:
            _exhausted.add((org_id, month))
        raise exceeded(org_id) from None
