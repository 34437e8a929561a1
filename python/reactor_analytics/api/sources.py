"""A project's sources: the page hostnames it accepts (README "Sources"). Admin token,
`analytics:project:create` in the project's org, or `analytics:{project}:manage`."""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify

from ..auth import access
from ..errors import not_found
from ..schemas import sites as schemas
from ..store import queries
from . import http

blueprint = Blueprint("sources", __name__, url_prefix="/analytics/v1")


@blueprint.post("/projects/<project_ref>/sources")
def add_source(project_ref: str):
    principal = http.bearer_principal()
    hostname = schemas.hostname(http.body(schemas.SourceRequest).hostname)
    with http.services().db.connection() as conn:
        project = access.project_to_manage(conn, principal, project_ref)
        row = queries.insert_source(conn, project["id"], hostname)
        queries.audit(conn, project["id"], "source.add", {"hostname": hostname, "by": principal.subject})
        conn.commit()
    return jsonify(data=schemas.Source(**row).model_dump(mode="json")), 201


@blueprint.get("/projects/<project_ref>/sources")
def list_sources(project_ref: str):
    principal = http.bearer_principal()
    with http.services().db.connection() as conn:
        project = access.project_to_manage(conn, principal, project_ref)
        rows = queries.list_sources(conn, project["id"])
    return jsonify(data=[schemas.Source(**row).model_dump(mode="json") for row in rows])


@blueprint.delete("/projects/<project_ref>/sources/<hostname>")
def remove_source(project_ref: str, hostname: str):
    """Remove a source; removing one the project does not list is no error (204 either way)."""
    principal = http.bearer_principal()
    with http.services().db.connection() as conn:
        project = access.project_to_manage(conn, principal, project_ref)
        if not re.fullmatch(schemas.HOSTNAME, hostname) or len(hostname) > 253:
            raise not_found("no such source in this project")
        if queries.delete_source(conn, project["id"], schemas.hostname(hostname)):
            queries.audit(conn, project["id"], "source.remove", {"hostname": hostname, "by": principal.subject})
        conn.commit()
    return Response(status=204)
