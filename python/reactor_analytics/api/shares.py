"""A project's shared read-only links (README "Dashboard"): create (the link is shown once), list
(no secret), revoke (the link and its sessions end at once). Admin token, `analytics:project:create`
in the project's org, or `analytics:{project}:manage`."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from .. import fields
from ..auth import access, shares
from ..schemas import dashboard as schemas
from ..store import queries
from . import http

blueprint = Blueprint("shares", __name__, url_prefix="/analytics/v1")


@blueprint.post("/projects/<project_ref>/shares")
def create_share(project_ref: str):
    principal = http.bearer_principal()
    body = http.body(schemas.ShareRequest)
    with http.services().db.connection() as conn:
        project = access.project_to_manage(conn, principal, project_ref)
        row, token = shares.create(conn, project["id"], body.name, body.password, principal.subject)
        queries.audit(conn, project["id"], "share.create", {"share_id": row["id"], "by": principal.subject})
        conn.commit()
    answer = schemas.NewShare(id=row["id"], name=row["name"], has_password=row["has_password"],
                              created_at=row["created_at"], url=shares.URL_PREFIX + token)
    return jsonify(data=answer.model_dump(mode="json")), 201


@blueprint.get("/projects/<project_ref>/shares")
def list_shares(project_ref: str):
    principal = http.bearer_principal()
    with http.services().db.connection() as conn:
        project = access.project_to_manage(conn, principal, project_ref)
        rows = queries.list_shares(conn, project["id"])
    return jsonify(data=[schemas.Share.of(row).model_dump(mode="json") for row in rows])


@blueprint.delete("/projects/<project_ref>/shares/<share_id>")
def revoke_share(project_ref: str, share_id: str):
    """Revoke a link; revoking it again is no error (204), a link of another project is not found."""
    principal = http.bearer_principal()
    with http.services().db.connection() as conn:
        project = access.project_to_manage(conn, principal, project_ref)
        if not fields.storable(share_id) or not queries.revoke_share(conn, project["id"], share_id):
            raise shares.not_found()
        queries.audit(conn, project["id"], "share.revoke", {"share_id": share_id, "by": principal.subject})
        conn.commit()
    return Response(status=204)
