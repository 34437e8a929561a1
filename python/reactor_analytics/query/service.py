"""A query, whichever transport brought it: authorise, run it on the engine, shape the answer
(HTTP's `/analytics/v1/query` and gRPC's `Query` both return it).

The body goes to the engine as the client sent it: the native core reads and validates it (the
only validator, `_native.plan_query`), and answers rows as JSON that pass through here untouched.
This module keeps what needs the service: the credential, the project, the clock, the configured
limits, and the stored rows of an `events` answer.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import orjson

from .. import _native
from ..auth import access
from ..auth.tokens import Principal
from ..observability import metrics
from ..store import queries

# Columns an `events` answer row carries only when they hold a value.
_OPTIONAL = (*_native.HOT_COLUMNS, "library")


@dataclass(frozen=True)
class Answer:
    kind: str
    #: The rows, a JSON array.
    rows: bytes
    took_ms: float
    rows_scanned: int
    #: The same rows over the earlier range (`web` with `compare`).
    comparison: list | None = None

    def json(self) -> bytes:
        """`{"data": {"kind", "rows", "comparison"?, "meta": {"took_ms", "rows_scanned"}}}`, the rows
        embedded as they are."""
        data = {"kind": self.kind, "rows": orjson.Fragment(self.rows)}
        if self.comparison is not None:
            data["comparison"] = self.comparison
        data["meta"] = {"took_ms": self.took_ms, "rows_scanned": self.rows_scanned}
        return orjson.dumps({"data": data})


def _event_json(row: dict) -> dict:
    out = {"event": row["event"], "timestamp": row["ts"].isoformat().replace("+00:00", "Z"),
           "distinct_id": row["distinct_id"], "user_id": row["user_id"], "anonymous_id": row["anonymous_id"],
           "message_id": row["message_id"], "properties": row["properties"], "context": row["context"]}
    out.update({name: row[name] for name in _OPTIONAL if row[name] is not None})
    return out


def run(services, principal: Principal, body: bytes, *named: str | None, timeout_s: float | None = None) -> Answer:
    """Authorise, run, shape. `body` is the query's JSON as the client sent it; `named` are the
    project names the transport gave (HTTP's X-Reactor-Project and the body's project_id, gRPC's
    metadata and request), which must agree."""
    started = time.perf_counter()
    with services.db.connection() as conn:
        project = access.project_for(conn, principal, "query", *named)
    analytics = services.config.analytics
    limits = {"events_max_days": analytics.raw_query_max_days, "max_days": analytics.query_max_days,
              "max_rows_scanned": analytics.query_max_rows_scanned}
    kind, rows, scanned, comparison = services.engine.query(body, project["id"], time.time_ns() // 1000, limits, timeout_s)
    if kind == "events" and rows != b"[]":
        seqs = orjson.loads(rows)
        with services.db.connection() as conn:
            found = {r["seq"]: r for r in queries.events_by_seq(conn, project["id"], seqs)}
        # The standard encoder: stored properties may hold integers past 64 bits, which orjson refuses.
        events = [_event_json(found[seq]) for seq in seqs if seq in found]
        rows = json.dumps(events, ensure_ascii=False, separators=(",", ":")).encode()
    took = time.perf_counter() - started
    metrics.QUERY_DURATION.labels(kind).observe(took)
    return Answer(kind=kind, rows=rows, took_ms=round(took * 1000, 2), rows_scanned=scanned,
                  comparison=comparison)
