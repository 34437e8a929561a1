"""The dashboard's own API under /dashboard/api: sign-in and sign-out (the session cookie), OIDC
sign-in, opening a shared link, and what the sign-in page needs to know.

The cookie holds an opaque session id only (`HttpOnly; SameSite=Lax; Path=/`, `Secure` when the
request came over TLS); the session itself is kept by `auth/sessions.py`. Every other API route
takes the cookie as a credential through `http.bearer_principal`.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, Response, jsonify, redirect, request

from ..auth import oidc, sessions, shares
from ..errors import AppError, invalid
from ..schemas import admin as admin_schemas
from ..schemas import dashboard as schemas
from ..store import queries
from . import http

blueprint = Blueprint("dashboard", __name__, url_prefix="/dashboard/api")

OIDC_STATE_COOKIE = "reactor_oidc_state"
_OIDC_PATH = "/dashboard/api/oidc/"


@blueprint.after_request
def never_cached(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _json_only() -> None:
    """Sign-in bodies are application/json only: a cross-site form cannot send that, so no other
    site can sign a browser in to a session of its choosing."""
    if request.mimetype != "application/json":
        raise AppError(415, "analytics.unsupported_media_type", "send application/json")


def _session_json(session: sessions.Session) -> dict:
    info = schemas.SessionInfo(csrf_token=session.csrf_token, principal=schemas.SessionPrincipal(**session.describe()),
                               expires_at=session.expires_at)
    return info.model_dump(mode="json", exclude_none=True)


def _cookie_flags() -> dict:
    return {"path": "/", "httponly": True, "samesite": "Lax", "secure": http.is_https()}


def _signed_in(response: Response, session_id: str, session: sessions.Session) -> Response:
    seconds = max(0, int((session.expires_at - datetime.now(timezone.utc)).total_seconds()))
    response.set_cookie(sessions.COOKIE, session_id, max_age=seconds, **_cookie_flags())
    return response


def _replace_session(conn) -> None:
    """A sign-in ends the session the browser had, if any (a new id every time)."""
    sessions.end(conn, request.cookies.get(sessions.COOKIE))


@blueprint.get("/config")
def config():
    return jsonify(data=schemas.DashboardConfig(oidc=http.services().oidc is not None).model_dump())


@blueprint.post("/session")
def sign_in():
    _json_only()
    token = http.body(schemas.SessionRequest).token
    try:
        principal, expires = http.services().verifier.verify_expiring(token)
    except AppError as exc:
        raise AppError(401, "analytics.auth.invalid_token", exc.message) from None
    with http.services().db.connection() as conn:
        _replace_session(conn)
        session_id, session = sessions.start(conn, "admin" if principal.admin else "jwt", principal, ends_by=expires)
        conn.commit()
    return _signed_in(jsonify(data=_session_json(session)), session_id, session)


@blueprint.get("/session")
def current():
    session = http.current_session()
    if session is None:
        raise sessions.session_expired()
    return jsonify(data=_session_json(session))


@blueprint.delete("/session")
def sign_out():
    """End the cookie's session (with its CSRF token) and clear the cookie; with no live session
    there is nothing to end, and the answer is the same."""
    session = http.current_session()
    if session is not None:
        sessions.check_csrf(session, request.headers.get(sessions.CSRF_HEADER))
        with http.services().db.connection() as conn:
            sessions.end(conn, request.cookies.get(sessions.COOKIE))
            conn.commit()
    response = Response(status=204)
    response.delete_cookie(sessions.COOKIE, **_cookie_flags())
    return response


@blueprint.get("/projects")
def projects():
    """The projects the session (or bearer) may query or administer: the dashboard's picker."""
    principal = http.bearer_principal()
    config = http.services().config
    with http.services().db.connection() as conn:
        rows = queries.list_projects(conn, None if principal.admin else principal.org_id or config.auth.default_org)
    visible = [r for r in rows if principal.can("query", r) or principal.can_administer(r) or principal.can("manage", r)]
    return jsonify(data=[admin_schemas.Project.of(r).model_dump(mode="json") for r in visible])


@blueprint.post("/share/<token>/session")
def open_share(token: str):
    """Open a shared link (with its password): a session that may only query the link's project."""
    _json_only()
    password = http.body(schemas.ShareSessionRequest).password if request.get_data(cache=True) else None
    with http.services().db.connection() as conn:
        share = shares.open_link(conn, token, password)
        _replace_session(conn)
        principal = sessions.share_principal(share["id"], share["project_id"], share["org_id"])
        session_id, session = sessions.start(conn, "share", principal, share=share)
        conn.commit()
    return _signed_in(jsonify(data=_session_json(session)), session_id, session)


# --- OIDC -------------------------------------------------------------------------------------

def _oidc() -> oidc.OidcClient:
    client = http.services().oidc
    if client is None:
        raise AppError(404, "analytics.oidc.not_configured", "sign-in with an identity provider is not configured")
    return client


def _redirect_uri(client: oidc.OidcClient) -> str:
    if client.redirect_uri:
        return client.redirect_uri
    scheme = "https" if http.is_https() else "http"
    return f"{scheme}://{request.host}/dashboard/api/oidc/callback"


@blueprint.get("/oidc/login")
def oidc_login():
    """To the provider, with state, nonce and PKCE; the state also goes in a cookie of this
    browser, so only the browser that started a sign-in can finish it."""
    client = _oidc()
    with http.services().db.connection() as conn:
        login, url = client.begin(conn, _redirect_uri(client))
        conn.commit()
    response = redirect(url, 302)
    response.set_cookie(OIDC_STATE_COOKIE, login.state, max_age=int(oidc.LOGIN_LIFETIME.total_seconds()),
                        path=_OIDC_PATH, httponly=True, samesite="Lax", secure=http.is_https())
    return response


@blueprint.get("/oidc/callback")
def oidc_callback():
    client = _oidc()
    with http.services().db.connection() as conn:
        login = client.take_login(conn, request.args.get("state"), request.cookies.get(OIDC_STATE_COOKIE))
        conn.commit()  # used once, whatever follows
    if request.args.get("error"):
        raise AppError(401, "analytics.auth.oidc_denied",
                       f"the identity provider did not sign you in ({request.args.get('error')[:100]})")
    code = request.args.get("code")
    if not code:
        raise invalid("analytics.invalid_request", "the callback carries no code")
    redirect_uri = _redirect_uri(client)
    claims = client.verify(client.exchange(code, redirect_uri, login), login)
    if not client.allows(claims):
        raise AppError(403, "analytics.auth.oidc_refused", "this account may not sign in to the dashboard")
    with http.services().db.connection() as conn:
        _replace_session(conn)
        session_id, session = sessions.start(conn, "oidc", client.principal(claims))
        conn.commit()
    response = _signed_in(redirect("/", 302), session_id, session)
    response.delete_cookie(OIDC_STATE_COOKIE, path=_OIDC_PATH, httponly=True, samesite="Lax", secure=http.is_https())
    return response

