"""Ingest endpoints under /analytics/v1: track, batch, identify, alias, consent."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..errors import unauthenticated
from ..ingest import pipeline
from ..observability import metrics
from ..store import queries
from . import context

blueprint = Blueprint("ingest", __name__, url_prefix="/analytics/v1")

_CORS_HEADERS = "Content-Type, X-Reactor-Project-Key, X-Reactor-Project, Authorization, X-Request-Id"


@blueprint.after_request
def allow_browsers(response: Response) -> Response:
    origins = context.services().config.analytics.cors_origins
    response.headers["Access-Control-Allow-Origin"] = origins
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = _CORS_HEADERS
    response.headers["Access-Control-Max-Age"] = "86400"
    if origins != "*":
        response.headers["Vary"] = "Origin"
    return response


def _answer(kind: str):
    if request.method == "OPTIONS":
        return Response(status=204)
    try:
        services = context.services()
        result = pipeline.ingest(services, pipeline.from_http(request, kind, services.config))
    except pipeline.DoNotTrack:
        metrics.EVENTS_DROPPED.labels("do_not_track").inc()
        return Response(status=204)
    return jsonify(data={"accepted": result.accepted, "rejected": result.rejected})


@blueprint.route("/track", methods=["POST", "OPTIONS"])
def track():
    return _answer("track")


@blueprint.route("/batch", methods=["POST", "OPTIONS"])
def batch():
    return _answer("batch")


@blueprint.route("/identify", methods=["POST", "OPTIONS"])
def identify():
    return _answer("identify")


@blueprint.route("/alias", methods=["POST", "OPTIONS"])
def alias():
    return _answer("alias")


def _consent_project(conn, body_key: str | None, body_project: str | None) -> dict:
    key = context.request_key() or body_key
    if key:
        _, project = context.key_principal(conn, key)
        context.check_key_project(project, request.headers.get("X-Reactor-Project"), body_project)
        return project
    if context.bearer() is None:
        raise unauthenticated("send X-Reactor-Project-Key")
    principal = context.bearer_principal()
    return context.project_for(conn, principal, "ingest", request.headers.get("X-Reactor-Project"), body_project)


@blueprint.route("/consent/opt-out", methods=["POST", "OPTIONS"])
def opt_out():
    if request.method == "OPTIONS":
        return Response(status=204)
    pipeline.check_content_type(request)
    body = context.json_body()
    context.reject_unknown(body, {"anonymous_id", "key", "api_key", "project_id"})
    anonymous_id = context.string_field(body, "anonymous_id")
    with context.services().db.connection() as conn:
        project = _consent_project(conn, body.get("key") or body.get("api_key"), body.get("project_id"))
        queries.insert_opt_out(conn, project["id"], anonymous_id)
        conn.commit()
    return jsonify(data={"anonymous_id": anonymous_id, "opted_out": True})


@blueprint.route("/consent/status", methods=["GET", "OPTIONS"])
def consent_status():
    if request.method == "OPTIONS":
        return Response(status=204)
    anonymous_id = context.string_field(dict(request.args), "anonymous_id")
    with context.services().db.connection() as conn:
        project = _consent_project(conn, None, request.args.get("project_id"))
        opted = queries.is_opted_out(conn, project["id"], anonymous_id)
    return jsonify(data={"anonymous_id": anonymous_id, "opted_out": opted})
