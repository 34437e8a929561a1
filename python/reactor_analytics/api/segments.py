"""A project's saved segments (README "Dashboard"): named filters the web overview applies.
Create and delete as for shared links (admin token, `analytics:project:create` in the project's
org, or `analytics:{project}:manage`); list with `analytics:{project}:query` as well."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from .. import fields, segments
from ..auth import access
from ..errors import not_found
from ..schemas import dashboard as schemas
from ..store import queries
from . import http

blueprint = Blueprint("segments", __name__, url_prefix="/analytics/v1")


def _project_to_read(conn, principal, project_ref: str) -> dict:
    """The project, if the principal may query or manage it; else the answer of one that does not exist."""
    project = queries.find_project(conn, project_ref) if fields.storable(project_ref) else None
    if project is None or not (principal.can("query", project) or principal.can("manage", project)
                               or principal.can_administer(project)):
        raise not_found("no such project")
    return project


@blueprint.post("/projects/<project_ref>/segments")
def create_segment(project_ref: str):
    principal = http.bearer_principal()
    body = http.body(schemas.SegmentRequest)
    with http.services().db.connection() as conn:
        project = access.project_to_manage(conn, principal, project_ref)
        row = segments.create(conn, project["id"], body.name, body.filter, principal.subject)
        queries.audit(conn, project["id"], "segment.create", {"segment_id": row["id"], "by": principal.subject})
        conn.commit()
    return jsonify(data=schemas.Segment.of(row).model_dump(mode="json")), 201


@blueprint.get("/projects/<project_ref>/segments")
def list_segments(project_ref: str):
    principal = http.bearer_principal()
    with http.services().db.connection() as conn:
        project = _project_to_read(conn, principal, project_ref)
        rows = queries.list_segments(conn, project["id"])
    return jsonify(data=[schemas.Segment.of(row).model_dump(mode="json") for row in rows])


@blueprint.delete("/projects/<project_ref>/segments/<segment_id>")
def delete_segment(project_ref: str, segment_id: str):
    principal = http.bearer_principal()
    with http.services().db.connection() as conn:
        project = access.project_to_manage(conn, principal, project_ref)
        if not fields.storable(segment_id) or not queries.delete_segment(conn, project["id"], segment_id):
            raise segments.not_found()
        queries.audit(conn, project["id"], "segment.delete", {"segment_id": segment_id, "by": principal.subject})
        conn.commit()
    return Response(status=204)
