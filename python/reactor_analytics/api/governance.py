"""POST /analytics/v1/erase: GDPR erasure of one person (`analytics:{project}:erase`)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..governance import erase as erasure
from . import context

blueprint = Blueprint("governance", __name__, url_prefix="/analytics/v1")


@blueprint.post("/erase")
def erase():
    principal = context.bearer_principal()
    body = context.json_body()
    context.reject_unknown(body, {"user_id", "anonymous_id", "project_id"})
    user_id = context.string_field(body, "user_id", required=False)
    anonymous_id = context.string_field(body, "anonymous_id", required=False)
    project_id = context.string_field(body, "project_id", required=False)
    services = context.services()
    with services.db.connection() as conn:
        project = context.project_for(conn, principal, "erase", request.headers.get("X-Reactor-Project"), project_id)
    erased = erasure.erase(services.db, services.engine, project, principal.subject, user_id, anonymous_id)
    return jsonify(data=erased.as_dict())
