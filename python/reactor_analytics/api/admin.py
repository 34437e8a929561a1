"""Admin API: projects and their public keys; minting tokens with the admin token."""

from __future__ import annotations

import re

import psycopg
from flask import Blueprint, Response, jsonify

from .. import fields
from ..auth import access, keys
from ..errors import AppError, forbidden, invalid
from ..store import queries
from . import http

blueprint = Blueprint("admin", __name__)

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_MAX_TTL = 365 * 86400


def _project_json(row: dict) -> dict:
    return {"id": row["id"], "slug": row["slug"], "name": row["name"], "org_id": row["org_id"],
            "retention_days": row["retention_days"], "created_at": row["created_at"].isoformat()}


def _key_json(row: dict) -> dict:
    return {"id": row["id"], "name": row["name"], "prefix": row["prefix"],
            "created_at": row["created_at"].isoformat(),
            "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None}


def _retention_days(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 3650:
        raise invalid("analytics.invalid_request", "retention_days must be an integer from 1 to 3650",
                      field="retention_days")
    return value


@blueprint.post("/analytics/v1/projects")
def create_project():
    principal = http.bearer_principal()
    if not principal.can_create_projects():
        raise forbidden("analytics:project:create is required")
    body = http.json_body()
    fields.reject_unknown(body, {"slug", "name", "retention_days", "org_id"})
    slug = fields.string_field(body, "slug", max_len=63)
    if not _SLUG.match(slug):
        raise invalid("analytics.invalid_request", "slug must be lowercase letters, digits and '-'", field="slug")
    name = fields.string_field(body, "name", required=False) or slug
    retention = _retention_days(body.get("retention_days", http.services().config.analytics.retention_days_default))
    org = principal.org_id or (body.get("org_id") if principal.admin else None) \
        or http.services().config.auth.default_org
    if not isinstance(org, str) or len(org) > 100 or not fields.storable(org):
        raise invalid("analytics.invalid_request", "org_id must be a string", field="org_id")
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
    """Change a project's retention; the next retention sweep applies it."""
    principal = http.bearer_principal()
    body = http.json_body()
    fields.reject_unknown(body, {"retention_days"})
    if "retention_days" not in body:
        raise invalid("analytics.invalid_request", "retention_days is required", field="retention_days")
    days = _retention_days(body["retention_days"])
    with http.services().db.connection() as conn:
        project = access.project_or_404(conn, principal, project_ref)
        row = queries.set_retention(conn, project["id"], days)
        queries.audit(conn, project["id"], "project.retention", {"retention_days": days, "by": principal.subject})
        conn.commit()
    return jsonify(data=_project_json(row))


@blueprint.post("/analytics/v1/projects/<project_ref>/keys")
def create_key(project_ref: str):
    principal = http.bearer_principal()
    body = http.json_body()
    fields.reject_unknown(body, {"name"})
    name = fields.string_field(body, "name", max_len=100)
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
    return jsonify(data={**_key_json(row), "key": key}), 201


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
    body = http.json_body()
    fields.reject_unknown(body, {"sub", "permissions", "ttl_seconds", "org_id"})
    sub = fields.string_field(body, "sub")
    permissions = body.get("permissions", [])
    if not isinstance(permissions, list) or not all(isinstance(p, str) and p for p in permissions):
        raise invalid("analytics.invalid_request", "permissions must be a list of strings", field="permissions")
    ttl = body.get("ttl_seconds", 3600)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= _MAX_TTL:
        raise invalid("analytics.invalid_request", f"ttl_seconds must be 1..{_MAX_TTL}", field="ttl_seconds")
    org = fields.string_field(body, "org_id", required=False)
    token = http.services().verifier.mint(sub, permissions, ttl, org)
    return jsonify(data={"token": token, "expires_in": ttl}), 201
