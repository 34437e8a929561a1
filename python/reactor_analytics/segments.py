"""Saved segments of the dashboard: a project's named filters. A filter is kept only when the
engine's own query reader accepts it (as the `filter` of a `web` query), so applying a segment
never yields a query the engine refuses; its refusal is answered with the engine's code."""

from __future__ import annotations

import time

import orjson

from . import _native
from .auth import keys
from .errors import AppError
from .store import queries

# Only the filter is read: the range and limits cannot fail for a bare `web` body.
_LIMITS = {"events_max_days": 90, "max_days": 730, "max_rows_scanned": 0}


def check_filter(filter_value: dict, project_id: str) -> str:
    """The filter as JSON, once the engine has read it; else the engine's 400 (its code, `field`)."""
    body = orjson.dumps({"kind": "web", "filter": filter_value})
    try:
        _native.plan_query(body, project_id, now_us=time.time_ns() // 1000, **_LIMITS)
    except _native.QueryError as exc:
        raise AppError(400, exc.code, exc.message, **exc.extra) from None
    return orjson.dumps(filter_value).decode()


def create(conn, project_id: str, name: str, filter_value: dict, created_by: str) -> dict:
    return queries.insert_segment(conn, keys.new_id("sg"), project_id, name, check_filter(filter_value, project_id),
                                  created_by)


def not_found() -> AppError:
    return AppError(404, "analytics.segment.not_found", "no such segment")
