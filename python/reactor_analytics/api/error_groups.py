"""Error groups: GET /analytics/v1/errors (query permission) and their triage, PATCH
/analytics/v1/errors/{fingerprint} (`analytics:{project}:manage` or the admin token).

Ingest fingerprints every `$error` event in the native core and keeps its group in `error_groups`
(README "Errors, grouped"); the counts of a range are read from the events' partial index.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import Blueprint, jsonify

from ..auth import access
from ..errors import invalid, not_found
from ..schemas import errors as schemas
from ..store import queries
from . import http

blueprint = Blueprint("error_groups", __name__, url_prefix="/analytics/v1")


@blueprint.get("/errors")
def list_errors():
    principal = http.bearer_principal()
    asked = http.query(schemas.ErrorsQuery)
    services = http.services()
    start, end = asked.range(datetime.now(timezone.utc))
    if end <= start:
        raise invalid("analytics.query.invalid_time_range", "the range must end after it starts")
    max_days = services.config.analytics.query_max_days
    if end - start > timedelta(days=max_days):
        raise invalid("analytics.query.range_too_large", f"the range may be at most {max_days} days",
                      limit_days=max_days)
    with services.db.connection() as conn:
        project = access.project_for(conn, principal, "query", http.project_header(), asked.project_id)
        rows = queries.error_groups(conn, project["id"], start, end, asked.limit)
    return jsonify(data=[schemas.ErrorGroup.of(row).model_dump(mode="json") for row in rows])


@blueprint.patch("/errors/<fingerprint>")
def triage(fingerprint: str):
    principal = http.bearer_principal()
    body = http.body(schemas.ErrorStateRequest)
    with http.services().db.connection() as conn:
        project = access.project_for(conn, principal, "manage", http.project_header(), body.project_id)
        row = queries.set_error_state(conn, project["id"], fingerprint, body.state) \
            if _is_fingerprint(fingerprint) else None
        if row is None:
            raise not_found("no such error group in this project")
        queries.audit(conn, project["id"], "error.triage", {"fingerprint": fingerprint, "state": body.state,
                                                             "by": principal.subject})
        conn.commit()
    return jsonify(data=schemas.ErrorGroupState.of(row).model_dump(mode="json"))


def _is_fingerprint(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)
