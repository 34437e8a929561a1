"""A query, whichever transport brought it: authorise, build the plan, run it on the engine, shape
the answer's `data` (HTTP's `/analytics/v1/query` and gRPC's `Query` both return it)."""

from __future__ import annotations

import time

from ..auth import access
from ..auth.tokens import Principal
from ..observability import metrics
from ..store import queries
from . import plan as query_plan

_HOT = ("session_id", "url", "path", "referrer_host", "utm_source", "utm_medium", "utm_campaign", "utm_term",
        "utm_content", "browser", "os", "device_type", "country", "language", "timezone", "library")


def _event_json(row: dict) -> dict:
    out = {"event": row["event"], "timestamp": row["ts"].isoformat().replace("+00:00", "Z"),
           "distinct_id": row["distinct_id"], "user_id": row["user_id"], "anonymous_id": row["anonymous_id"],
           "message_id": row["message_id"], "properties": row["properties"], "context": row["context"]}
    out.update({name: row[name] for name in _HOT if row[name] is not None})
    return out


def run(services, principal: Principal, body: dict, header_project: str | None,
        timeout_s: float | None = None) -> dict:
    """Authorise, validate, execute; the `data` of the answer. `header_project` is the project the
    transport named beside the body (HTTP's X-Reactor-Project, gRPC's x-reactor-project)."""
    started = time.perf_counter()
    with services.db.connection() as conn:
        project = access.project_for(conn, principal, "query", header_project, body.get("project_id"))
    plan = query_plan.build(body, project["id"], services.config.analytics)
    result = services.engine.query(plan, timeout_s)
    rows = result["rows"]
    if plan["kind"] == "events" and rows:
        with services.db.connection() as conn:
            found = {r["seq"]: r for r in queries.events_by_seq(conn, project["id"], rows)}
        rows = [_event_json(found[seq]) for seq in rows if seq in found]
    took = time.perf_counter() - started
    metrics.QUERY_DURATION.labels(plan["kind"]).observe(took)
    return {"kind": plan["kind"], "rows": rows,
            "meta": {"took_ms": round(took * 1000, 2), "rows_scanned": result["rows_scanned"]}}
