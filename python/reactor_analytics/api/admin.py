"""Admin API: projects and their public keys; minting tokens with the admin token."""

from __future__ import annotations

import psycopg
from flask import Blueprint, Response, jsonify

from .. import fields
from ..auth import access, keys
from ..errors import AppError, forbidden
from ..schemas import admin as schemas
from ..store import queries
from . import http

blueprint = Blueprint("admin", __name__)


def _project_json(row: dict) -> dict:
    return schemas.Project.of(row).model_dump(mode="json")


def _key_json(row: dict) -> dict:
    return schemas.Key.of(row).model_dump(mode="json")


@blueprint.post("/analytics/v1/projects")
def create_project():
    principal = http.bearer_principal()
    if not principal.can_create_projects():
        raise forbidden("analytics:project:create is required")
    body = http.body(schemas.ProjectRequest)
    config = http.services().config
    slug, name = body.slug, body.name or body.slug
    retention = body.retention_days or config.analytics.retention_days_default
    org = principal.org_id or (body.org_id if principal.admin else None) or config.auth.default_org
    with http.services().db.connection() as conn:
        row = queries.insert_project(conn, keys.new_id("p"), org, slug, name, retention)
        if row is None:
            raise AppError(409, "analytics.project.exists", f"a project with slug {slug!r} exists")
        queries.audit(conn, row["id"], "project.create", {"by": principal.subject})
        conn.commit()
    return jsonify(data=_project_json(row)), 201


@blueprint.get("/analytics/v1/projects")
def list_projects():
    principal = http.bearer_principal()
    if not principal.can_create_projects():
        raise forbidden("analytics:project:create is required")
    with http.services().db.connection() as conn:
        rows = queries.list_projects(conn, None if principal.admin else principal.org_id or
                                     http.services().config.auth.default_org)
    return jsonify(data=[_project_json(r) for r in rows])


@blueprint.patch("/analytics/v1/projects/<project_ref>")
def update_project(project_ref: str):
    """Change a project's retention (the next retention sweep applies it) and whether it registers
    sources as they report."""
    principal = http.bearer_principal()
    body = http.body(schemas.ProjectUpdate)
    with http.services().db.connection() as conn:
        project = access.project_to_manage(conn, principal, project_ref)
        row = None
        if body.retention_days is not None:
            row = queries.set_retention(conn, project["id"], body.retention_days)
            queries.audit(conn, project["id"], "project.retention",
                          {"retention_days": body.retention_days, "by": principal.subject})
        if body.auto_register_sources is not None:
            row = queries.set_auto_register_sources(conn, project["id"], body.auto_register_sources)
            queries.audit(conn, project["id"], "project.auto_register_sources",
                          {"auto_register_sources": body.auto_register_sources, "by": principal.subject})
        conn.commit()
    return jsonify(data=_project_json(row))


@blueprint.post("/analytics/v1/projects/<project_ref>/keys")
def create_key(project_ref: str):
    principal = http.bearer_principal()
    name = http.body(schemas.KeyRequest).name
    key = keys.generate()
    with http.services().db.connection() as conn:
        project = access.project_or_404(conn, principal, project_ref)
        try:
            row = queries.insert_key(conn, keys.new_id("k"), project["id"], name, key[:keys.SHOWN_PREFIX],
                                     keys.key_hash(key))
        except psycopg.errors.UniqueViolation:  # pragma: no cover - 238 bits of entropy
            raise AppError(409, "analytics.key.exists", "key collision; try again") from None
        queries.audit(conn, project["id"], "key.create", {"key_id": row["id"], "by": principal.subject})
        conn.commit()
    return jsonify(data=schemas.NewKey.of({**row, "key": key}).model_dump(mode="json")), 201


@blueprint.get("/analytics/v1/projects/<project_ref>/keys")
def list_keys(project_ref: str):
    principal = http.bearer_principal()
    with http.services().db.connection() as conn:
        project = access.project_or_404(conn, principal, project_ref)
        rows = queries.list_keys(conn, project["id"])
    return jsonify(data=[_key_json(r) for r in rows])


@blueprint.delete("/analytics/v1/projects/<project_ref>/keys/<key_id>")
def revoke_key(project_ref: str, key_id: str):
    principal = http.bearer_principal()
    with http.services().db.connection() as conn:
        project = access.project_or_404(conn, principal, project_ref)
        if not fields.storable(key_id) or not queries.revoke_key(conn, project["id"], key_id):
            raise AppError(404, "analytics.not_found", "no such key in this project")
        queries.audit(conn, project["id"], "key.revoke", {"key_id": key_id, "by": principal.subject})
        conn.commit()
    return Response(status=204)


@blueprint.post("/_admin/tokens")
def mint_token():
    """Mint an HS256 JWT (admin token only), so a local install needs no identity provider."""
    http.admin_principal()
    body = http.body(schemas.TokenRequest)
    token = http.services().verifier.mint(body.sub, list(body.permissions), body.ttl_seconds, body.org_id)
    return jsonify(data=schemas.Token(token=token, expires_in=body.ttl_seconds).model_dump()), 201
