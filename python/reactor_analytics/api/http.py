"""What the views read from the HTTP request: the app's services, the credentials, the client's
address, and the JSON body and query string, validated by their models (`schemas/`). Deciding
what the credentials allow is `auth/access.py`'s job."""

from __future__ import annotations

import json
import re
from typing import TypeVar

from flask import current_app, g, request
from pydantic import BaseModel

from .. import schemas
from ..auth import access, sessions, shares
from ..auth.tokens import Principal
from ..errors import AppError, forbidden, invalid
from ..services import Services

M = TypeVar("M", bound=BaseModel)


def services() -> Services:
    return current_app.extensions["reactor"]


def bearer() -> str | None:
    return access.bearer_of(request.headers.get("Authorization", ""))


def bearer_principal() -> Principal:
    """Who the request is: its bearer token, else the dashboard session of its cookie (a write
    with the cookie needs the session's CSRF token; a shared link's session only queries its
    project). A bearer token wins over a cookie."""
    token = bearer()
    if token is None and request.cookies.get(sessions.COOKIE):
        return cookie_session().principal
    return access.bearer_principal(services().verifier, token)


def admin_principal() -> Principal:
    """The admin token, or a dashboard session signed in with it."""
    token = bearer()
    if token is None and request.cookies.get(sessions.COOKIE):
        principal = cookie_session().principal
        if principal.admin:
            return principal
    return access.admin_principal(services().verifier, token)


_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_SHARE_ENDPOINTS = ("query.query",)


def current_session() -> sessions.Session | None:
    """The live session the cookie names (looked up once per request), without further checks."""
    if "reactor_session" not in g:
        session_id = request.cookies.get(sessions.COOKIE)
        found = None
        if session_id:
            with services().db.connection() as conn:
                found = sessions.find(conn, session_id)
        g.reactor_session = found
    return g.reactor_session


def cookie_session() -> sessions.Session:
    """The cookie's session as a credential of an API call: live, with the CSRF token on a
    write, and for a shared link only `POST /analytics/v1/query` of the link's project."""
    session = current_session()
    if session is None:
        raise sessions.session_expired()
    if request.method not in _SAFE_METHODS:
        sessions.check_csrf(session, request.headers.get(sessions.CSRF_HEADER))
    if session.kind == "share":
        if request.endpoint not in _SHARE_ENDPOINTS:
            raise forbidden("a shared link's session may only query its project")
        body = json_body()
        for named in (project_header(), body.get("project_id")):
            if named is not None and named not in (session.project_id, session.project_slug):
                raise shares.not_found()
    return session


def is_https() -> bool:
    """Whether the client reached the service over TLS: the request's own scheme, or with
    `trust_proxy` the last proxy's X-Forwarded-Proto."""
    if request.scheme == "https":
        return True
    if services().config.analytics.trust_proxy:
        hops = [hop.strip().lower() for hop in request.headers.get("X-Forwarded-Proto", "").split(",") if hop.strip()]
        return bool(hops) and hops[-1] == "https"
    return False


def request_key() -> str | None:
    """A project key sent in the header, or in the query string where a browser cannot set headers
    (`navigator.sendBeacon`, pixels)."""
    return request.headers.get("X-Reactor-Project-Key") or request.args.get("key") or request.args.get("api_key")


def project_header() -> str | None:
    return request.headers.get("X-Reactor-Project")


def client_ip() -> str | None:
    """The client's address, used only transiently (the native core truncates it before storage)."""
    if services().config.analytics.trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.remote_addr


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")  # Python's parser would take NaN and Infinity


def json_body(required: bool = True) -> dict:
    """The request body as a JSON object (admin endpoints; ingest parses in the native core)."""
    content_type = request.mimetype
    if content_type not in ("application/json", "text/plain", ""):
        raise AppError(415, "analytics.unsupported_media_type", "send application/json")
    raw = request.get_data(cache=True)
    if not raw:
        if required:
            raise invalid("analytics.invalid_json", "the body must be a JSON object")
        return {}
    try:
        value = json.loads(raw, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise invalid("analytics.invalid_json", "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise invalid("analytics.invalid_request", "the body must be a JSON object")
    if _SURROGATE_ESCAPE.search(raw):
        try:  # an escaped lone UTF-16 surrogate parses, but no text can hold it
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise invalid("analytics.invalid_json", "the body holds a lone UTF-16 surrogate") from None
    return value


def body(model: type[M]) -> M:
    """The JSON body, validated by its model (`schemas/`)."""
    return schemas.parse(model, json_body())


def query(model: type[M]) -> M:
    """The query string, validated by its model (the first value of each parameter)."""
    return schemas.parse(model, request.args.to_dict())
