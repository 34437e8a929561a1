"""Ingest endpoints under /analytics/v1: track, batch, identify, alias, consent.

An ingest request becomes an `IngestCall` here (media type, Do Not Track, credentials, and the
browser's address, User-Agent and language) and runs `ingest.pipeline`.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..auth import access
from ..config import Config
from ..errors import AppError, unauthenticated
from ..ingest import pipeline
from ..observability import metrics
from ..schemas.ingest import ConsentStatus, ConsentQuery, OptOutRequest
from ..store import queries
from . import http

blueprint = Blueprint("ingest", __name__, url_prefix="/analytics/v1")

_CORS_HEADERS = "Content-Type, X-Reactor-Project-Key, X-Reactor-Project, Authorization, X-Request-Id"
_MEDIA_TYPES = {"application/json", "text/plain"}


class DoNotTrack(Exception):
    """The client asked not to be tracked: answer 204 and store nothing."""


@blueprint.after_request
def allow_browsers(response: Response) -> Response:
    origins = http.services().config.analytics.cors_origins
    response.headers["Access-Control-Allow-Origin"] = origins
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = _CORS_HEADERS
    response.headers["Access-Control-Max-Age"] = "86400"
    if origins != "*":
        response.headers["Vary"] = "Origin"
    return response


def check_content_type() -> None:
    if request.mimetype not in _MEDIA_TYPES:
        raise AppError(415, "analytics.unsupported_media_type",
                       "send application/json (or text/plain, as navigator.sendBeacon does)")


def honour_do_not_track(config: Config) -> None:
    if config.analytics.honor_dnt and (request.headers.get("DNT") == "1" or request.headers.get("Sec-GPC") == "1"):
        raise DoNotTrack()


def ingest_call(kind: str, config: Config) -> pipeline.IngestCall:
    check_content_type()
    honour_do_not_track(config)
    # MAX_CONTENT_LENGTH makes an oversize body raise 413 here, before anything is parsed.
    body = request.get_data(cache=False)
    key = http.request_key()
    bearer = http.bearer() if not key else None
    browser = bool(key) or bearer is None  # a browser's UA and language describe its visitor
    return pipeline.IngestCall(
        kind=kind, body=body, key=key, bearer=bearer, project_header=http.project_header(), ip=http.client_ip(),
        user_agent=request.headers.get("User-Agent") if browser else None,
        accept_language=request.headers.get("Accept-Language") if browser else None)


def _answer(kind: str):
    if request.method == "OPTIONS":
        return Response(status=204)
    try:
        services = http.services()
        result = pipeline.ingest(services, ingest_call(kind, services.config))
    except DoNotTrack:
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
    key = http.request_key() or body_key
    if key:
        _, project = access.key_principal(conn, key)
        access.check_key_project(project, http.project_header(), body_project)
        return project
    if http.bearer() is None:
        raise unauthenticated("send X-Reactor-Project-Key")
    principal = http.bearer_principal()
    return access.project_for(conn, principal, "ingest", http.project_header(), body_project)


@blueprint.route("/consent/opt-out", methods=["POST", "OPTIONS"])
def opt_out():
    if request.method == "OPTIONS":
        return Response(status=204)
    check_content_type()
    body = http.body(OptOutRequest)
    with http.services().db.connection() as conn:
        project = _consent_project(conn, body.key or body.api_key, body.project_id)
        queries.insert_opt_out(conn, project["id"], body.anonymous_id)
        conn.commit()
    return jsonify(data=ConsentStatus(anonymous_id=body.anonymous_id, opted_out=True).model_dump())


@blueprint.route("/consent/status", methods=["GET", "OPTIONS"])
def consent_status():
    if request.method == "OPTIONS":
        return Response(status=204)
    asked = http.query(ConsentQuery)
    with http.services().db.connection() as conn:
        project = _consent_project(conn, None, asked.project_id)
        opted = queries.is_opted_out(conn, project["id"], asked.anonymous_id)
    return jsonify(data=ConsentStatus(anonymous_id=asked.anonymous_id, opted_out=opted).model_dump())
