"""Dashboard sessions and shared links: sign-in with the admin token or a JWT, the session cookie
as a credential of every API route, CSRF on writes, expiry, sign-out, shared read-only links, and
the single-page app's serving. Real PostgreSQL; the app in process, and `reactor serve` under
gunicorn for what the cookie's flags and the proxy's TLS depend on."""

from __future__ import annotations

import time

import jwt
import psycopg
import pytest
import requests

from conftest import ADMIN, ADMIN_TOKEN, JWT_SECRET, LiveServer, Project
from reactor_analytics.api import spa

COOKIE = "reactor_session"
SIGN_IN = "/dashboard/api/session"
AGGREGATE = {"kind": "aggregate", "time_range": {"last": "7d"}, "measure": "count"}


def jwt_token(permissions, ttl: int = 600, **claims) -> str:
    payload = {"sub": "dash-user", "permissions": permissions, "exp": int(time.time()) + ttl, **claims}
    return jwt.encode(payload, JWT_SECRET, algorithm="HS256")


def sign_in(client, token: str = ADMIN_TOKEN) -> dict:
    answer = client.post(SIGN_IN, json={"token": token})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["data"]


def set_cookie_header(answer) -> str:
    cookies = [v for v in answer.headers.getlist("Set-Cookie") if v.startswith(COOKIE + "=")]
    assert len(cookies) == 1, answer.headers
    return cookies[0]


def rows(postgres, sql: str, *args) -> list[tuple]:
    with psycopg.connect(postgres.url) as conn:
        return conn.execute(sql, args).fetchall()


@pytest.fixture()
def browser(app):
    """A test client of its own (its own cookie jar): one browser."""
    return app.test_client()


# --- signing in and out ------------------------------------------------------------------------

def test_admin_sign_in_sets_an_opaque_httponly_lax_cookie_and_keeps_no_token(browser, postgres):
    answer = browser.post(SIGN_IN, json={"token": ADMIN_TOKEN})
    assert answer.status_code == 200
    data = answer.get_json()["data"]
    assert data["principal"]["kind"] == "admin" and len(data["csrf_token"]) >= 32
    header = set_cookie_header(answer)
    flags = [part.strip() for part in header.split(";")]
    assert "HttpOnly" in flags and "SameSite=Lax" in flags and "Path=/" in flags
    assert "Secure" not in flags  # plain HTTP, no proxy
    session_id = browser.get_cookie(COOKIE).value
    assert ADMIN_TOKEN not in header and len(session_id) >= 40 and session_id != data["csrf_token"]
    assert answer.headers["Cache-Control"] == "no-store"
    # The database holds the principal, the session id only as a hash, and no token.
    stored = rows(postgres, "SELECT s::text FROM dashboard_sessions s WHERE kind = 'admin'")
    assert stored and not any(ADMIN_TOKEN in r[0] or session_id in r[0] for r in stored)
    # The session is the credential of the API routes.
    assert browser.get("/analytics/v1/projects").status_code == 200
    again = browser.get(SIGN_IN)
    assert again.status_code == 200 and again.get_json()["data"]["csrf_token"] == data["csrf_token"]


def test_jwt_sign_in_is_kept_as_its_verified_claims_and_ends_with_the_jwt(browser, postgres):
    token = jwt_token(["analytics:*:query"], ttl=300, org_id="org_dash")
    data = sign_in(browser, token)
    assert data["principal"] == {"kind": "jwt", "subject": "dash-user", "org_id": "org_dash",
                                 "permissions": ["analytics:*:query"]}
    ends = rows(postgres, "SELECT extract(epoch FROM expires_at), s::text FROM dashboard_sessions s "
                          "WHERE subject = 'dash-user' AND org_id = 'org_dash'")
    assert len(ends) == 1 and abs(float(ends[0][0]) - (time.time() + 300)) < 5  # the JWT's exp, not 12 h
    assert token not in ends[0][1]


def test_a_wrong_token_or_another_media_type_signs_nobody_in(browser):
    for token in ("nope", jwt_token(["analytics:*:query"], ttl=-10), ADMIN_TOKEN + "x"):
        answer = browser.post(SIGN_IN, json={"token": token})
        assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "analytics.auth.invalid_token"
        assert not answer.headers.getlist("Set-Cookie")
    # A cross-site form can post text/plain or a form: never a sign-in.
    answer = browser.post(SIGN_IN, data=f'{{"token": "{ADMIN_TOKEN}"}}', content_type="text/plain")
    assert answer.status_code == 415 and not answer.headers.getlist("Set-Cookie")
    answer = browser.post(SIGN_IN, data={"token": ADMIN_TOKEN})
    assert answer.status_code == 415
    assert browser.post(SIGN_IN, json={"token": ""}).status_code == 400
    assert browser.post(SIGN_IN, json={"token": ADMIN_TOKEN, "extra": 1}).status_code == 400
    assert browser.get(SIGN_IN).get_json()["error"]["code"] == "analytics.auth.session_expired"


def test_writes_with_the_cookie_need_the_csrf_token(browser):
    csrf = sign_in(browser)["csrf_token"]
    slug = f"csrf-{int(time.time() * 1000)}"
    missing = browser.post("/analytics/v1/projects", json={"slug": slug})
    assert missing.status_code == 403 and missing.get_json()["error"]["code"] == "analytics.auth.csrf"
    forged = browser.post("/analytics/v1/projects", json={"slug": slug}, headers={"X-CSRF-Token": "forged" * 8})
    assert forged.status_code == 403 and forged.get_json()["error"]["code"] == "analytics.auth.csrf"
    assert slug not in [p["slug"] for p in browser.get("/analytics/v1/projects").get_json()["data"]]  # GET: no CSRF
    made = browser.post("/analytics/v1/projects", json={"slug": slug}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    project_id = made.get_json()["data"]["id"]
    # POST /query is a write for CSRF; DELETE and PATCH too.
    query = {"project_id": project_id, **AGGREGATE}
    assert browser.post("/analytics/v1/query", json=query).get_json()["error"]["code"] == "analytics.auth.csrf"
    assert browser.post("/analytics/v1/query", json=query, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert browser.patch(f"/analytics/v1/projects/{project_id}", json={"retention_days": 5}).status_code == 403
    assert browser.patch(f"/analytics/v1/projects/{project_id}", json={"retention_days": 5},
                         headers={"X-CSRF-Token": csrf}).status_code == 200
    # The admin-only routes take an admin session too, with its CSRF token on writes.
    mint = {"sub": "x", "permissions": [], "ttl_seconds": 60}
    assert browser.post("/_admin/tokens", json=mint).status_code == 403
    assert browser.post("/_admin/tokens", json=mint, headers={"X-CSRF-Token": csrf}).status_code == 201
    # A bearer token wins over the cookie and needs no CSRF token.
    assert browser.post("/analytics/v1/query", json=query, headers=ADMIN).status_code == 200


def test_sign_out_needs_the_csrf_token_and_ends_the_session(browser, postgres):
    csrf = sign_in(browser)["csrf_token"]
    session_id = browser.get_cookie(COOKIE).value
    refused = browser.delete(SIGN_IN)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "analytics.auth.csrf"
    assert browser.get(SIGN_IN).status_code == 200  # still signed in
    answer = browser.delete(SIGN_IN, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 204
    cleared = set_cookie_header(answer)
    assert "Max-Age=0" in cleared or "Expires=Thu, 01 Jan 1970" in cleared
    assert browser.get_cookie(COOKIE) is None
    # The old id is dead everywhere, even if a copy of the cookie is replayed.
    browser.set_cookie(COOKIE, session_id)
    for answer in (browser.get(SIGN_IN), browser.get("/analytics/v1/projects")):
        assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "analytics.auth.session_expired"
    assert browser.delete(SIGN_IN).status_code == 204  # nothing to end: the same answer


def test_an_expired_session_answers_401_session_expired(browser, postgres):
    sign_in(browser)
    session_id = browser.get_cookie(COOKIE).value
    import hashlib
    rows(postgres, "UPDATE dashboard_sessions SET expires_at = now() - interval '1 second' WHERE id_hash = %s "
                   "RETURNING 1", hashlib.sha256(session_id.encode()).digest())
    for answer in (browser.get(SIGN_IN), browser.get("/analytics/v1/projects"), browser.get("/dashboard/api/projects")):
        assert answer.status_code == 401
        assert answer.get_json()["error"]["code"] == "analytics.auth.session_expired"
    browser.set_cookie(COOKIE, "made-up")
    assert browser.get("/analytics/v1/projects").get_json()["error"]["code"] == "analytics.auth.session_expired"
    browser.set_cookie(COOKIE, "x" * 300)
    assert browser.get("/analytics/v1/projects").status_code == 401


def test_a_jwt_limited_session_reaches_only_its_projects(client, browser):
    mine, other = Project(client), Project(client)
    token = jwt_token([f"analytics:{mine.id}:query"])
    csrf = sign_in(browser, token)["csrf_token"]
    headers = {"X-CSRF-Token": csrf}
    ok = browser.post("/analytics/v1/query", json={"project_id": mine.id, **AGGREGATE}, headers=headers)
    assert ok.status_code == 200
    # Exactly what the same JWT as a bearer gets for the other project.
    by_cookie = browser.post("/analytics/v1/query", json={"project_id": other.id, **AGGREGATE}, headers=headers)
    by_bearer = client.post("/analytics/v1/query", json={"project_id": other.id, **AGGREGATE},
                            headers={"Authorization": f"Bearer {token}"})
    assert by_cookie.status_code == by_bearer.status_code == 403
    assert by_cookie.get_json() == by_bearer.get_json()
    assert browser.get(f"/analytics/v1/errors?project_id={other.id}").status_code == 403
    assert browser.get(f"/analytics/v1/projects/{other.id}/keys").status_code == 404
    assert browser.get(f"/analytics/v1/projects/{other.id}/shares").status_code == 404
    assert browser.get("/analytics/v1/projects").status_code == 403  # needs analytics:project:create
    assert browser.get("/_admin/doctor").status_code == 401  # the admin token's alone
    assert [p["id"] for p in browser.get("/dashboard/api/projects").get_json()["data"]] == [mine.id]
    # Ingest never takes the cookie: it is for SDKs.
    ingest = browser.post("/analytics/v1/track", json={"event": "x", "anonymous_id": "a"}, headers=headers)
    assert ingest.status_code == 401


# --- shared links ------------------------------------------------------------------------------

def share(client, project, **body) -> dict:
    answer = client.post(f"/analytics/v1/projects/{project.id}/shares", json=body, headers=ADMIN)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["data"]


def open_share(browser, url: str, **body):
    return browser.post(f"/dashboard/api/share/{url.removeprefix('/share/')}/session", json=body)


def test_a_shared_link_may_only_query_its_project(client, browser, postgres):
    project, other = Project(client), Project(client)
    link = share(client, project, name="board")
    assert link["url"].startswith("/share/") and link["has_password"] is False and link["name"] == "board"
    secret = link["url"].removeprefix("/share/")
    listed = client.get(f"/analytics/v1/projects/{project.id}/shares", headers=ADMIN)
    assert listed.status_code == 200
    assert [s["id"] for s in listed.get_json()["data"]] == [link["id"]]
    assert secret not in listed.get_data(as_text=True) and "url" not in listed.get_json()["data"][0]
    assert not any(secret in r[0] for r in rows(postgres, "SELECT h::text FROM dashboard_shares h"))

    opened = open_share(browser, link["url"])
    assert opened.status_code == 200
    data = opened.get_json()["data"]
    assert data["principal"] == {"kind": "share", "subject": f"share:{link['id']}", "project_id": project.id}
    headers = {"X-CSRF-Token": data["csrf_token"]}
    assert browser.post("/analytics/v1/query", json={"project_id": project.id, **AGGREGATE},
                        headers=headers).status_code == 200
    assert browser.post("/analytics/v1/query", json={"project_id": project.slug, **AGGREGATE},
                        headers=headers).status_code == 200
    for named in ({"json": {"project_id": other.id, **AGGREGATE}},
                  {"json": {"project_id": other.slug, **AGGREGATE}},
                  {"json": AGGREGATE, "headers": {**headers, "X-Reactor-Project": other.id}},
                  {"json": {"project_id": project.id, **AGGREGATE},
                   "headers": {**headers, "X-Reactor-Project": other.id}}):
        answer = browser.post("/analytics/v1/query", **{"headers": headers, **named})
        assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "analytics.share.not_found"
    # Nothing but queries: not the errors, not the settings, not the admin routes, not other shares.
    for method, path, body in (("get", f"/analytics/v1/errors?project_id={project.id}", None),
                               ("get", "/analytics/v1/projects", None),
                               ("get", "/dashboard/api/projects", None),
                               ("get", f"/analytics/v1/projects/{project.id}/keys", None),
                               ("get", f"/analytics/v1/projects/{project.id}/shares", None),
                               ("post", f"/analytics/v1/projects/{project.id}/shares", {}),
                               ("patch", f"/analytics/v1/projects/{project.id}", {"retention_days": 1}),
                               ("post", "/analytics/v1/erase", {"project_id": project.id, "user_id": "u"}),
                               ("get", "/_admin/doctor", None)):
        answer = getattr(browser, method)(path, json=body, headers=headers)
        assert answer.status_code in (401, 403), (path, answer.status_code)
    assert browser.get(SIGN_IN).get_json()["data"]["principal"]["kind"] == "share"


def test_a_revoked_link_and_its_sessions_end_at_once(client, browser):
    project, other = Project(client), Project(client)
    link = share(client, project)
    csrf = open_share(browser, link["url"]).get_json()["data"]["csrf_token"]
    # Another project's id in the path: not found, the link lives on.
    wrong = client.delete(f"/analytics/v1/projects/{other.id}/shares/{link['id']}", headers=ADMIN)
    assert wrong.status_code == 404 and wrong.get_json()["error"]["code"] == "analytics.share.not_found"
    assert client.delete(f"/analytics/v1/projects/{project.id}/shares/sh_nothing", headers=ADMIN).status_code == 404
    assert browser.post("/analytics/v1/query", json={"project_id": project.id, **AGGREGATE},
                        headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.delete(f"/analytics/v1/projects/{project.id}/shares/{link['id']}", headers=ADMIN).status_code == 204
    assert client.delete(f"/analytics/v1/projects/{project.id}/shares/{link['id']}", headers=ADMIN).status_code == 204
    after = browser.post("/analytics/v1/query", json={"project_id": project.id, **AGGREGATE},
                         headers={"X-CSRF-Token": csrf})
    assert after.status_code == 401 and after.get_json()["error"]["code"] == "analytics.auth.session_expired"
    reopened = open_share(browser, link["url"])
    assert reopened.status_code == 404 and reopened.get_json()["error"]["code"] == "analytics.share.not_found"
    assert client.get(f"/analytics/v1/projects/{project.id}/shares", headers=ADMIN).get_json()["data"] == []
    for token in ("unknown", "x" * 500, "%00"):
        assert open_share(browser, f"/share/{token}").status_code == 404


def test_a_password_is_asked_for_and_kept_only_as_a_salted_hash(client, browser, postgres):
    project = Project(client)
    link = share(client, project, password="correct horse")
    same = share(client, project, password="correct horse")
    assert link["has_password"] is True
    stored = rows(postgres, "SELECT h::text, length(password_salt), length(password_hash), password_hash "
                            "FROM dashboard_shares h WHERE id IN (%s, %s) ORDER BY id", link["id"], same["id"])
    assert all("correct horse" not in r[0] for r in stored) and {(r[1], r[2]) for r in stored} == {(16, 32)}
    assert stored[0][3] != stored[1][3]  # salted: one password, two hashes
    missing = open_share(browser, link["url"])
    assert missing.status_code == 401 and missing.get_json()["error"]["code"] == "analytics.share.password_required"
    wrong = open_share(browser, link["url"], password="wrong horse")
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "analytics.share.wrong_password"
    assert browser.get_cookie(COOKIE) is None
    right = open_share(browser, link["url"], password="correct horse")
    assert right.status_code == 200 and browser.get_cookie(COOKIE) is not None


def test_shares_need_a_manager_of_the_project(client, browser):
    project, other = Project(client), Project(client)
    manager = jwt_token([f"analytics:{other.id}:manage"])
    refused = client.post(f"/analytics/v1/projects/{project.id}/shares", json={},
                          headers={"Authorization": f"Bearer {manager}"})
    assert refused.status_code == 404
    csrf = sign_in(browser, manager)["csrf_token"]
    assert browser.post(f"/analytics/v1/projects/{other.id}/shares", json={}).status_code == 403  # no CSRF
    made = browser.post(f"/analytics/v1/projects/{other.id}/shares", json={"name": "n"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    assert client.post(f"/analytics/v1/projects/{project.id}/shares", json={"password": ""},
                       headers=ADMIN).status_code == 400


# --- the single-page app -----------------------------------------------------------------------

def test_the_app_is_served_with_its_headers_or_a_clear_503(client, tmp_path, monkeypatch):
    monkeypatch.setattr(spa, "BUILD_DIR", tmp_path / "missing")
    for path in ("/", "/share/anything"):
        answer = client.get(path)
        assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "analytics.unavailable"
    build = tmp_path / "dashboard"
    (build / "assets").mkdir(parents=True)
    (build / "index.html").write_text("<!doctype html><title>Reactor</title>")
    (build / "assets" / "app-ABC123.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not served")
    monkeypatch.setattr(spa, "BUILD_DIR", build)
    project = Project(client)
    link = share(client, project)
    for path, status in (("/", 200), (link["url"], 200), ("/share/unknown-secret", 404)):
        answer = client.get(path)
        assert answer.status_code == status and b"<title>Reactor</title>" in answer.data, path
        assert answer.headers["Cache-Control"] == "no-cache"
        assert answer.headers["Content-Type"].startswith("text/html")
        csp = answer.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert answer.headers["Referrer-Policy"] == "no-referrer"
    # A revoked link's page says so with its status too (the page itself shows the error).
    assert client.delete(f"/analytics/v1/projects/{project.id}/shares/{link['id']}", headers=ADMIN).status_code == 204
    assert client.get(link["url"]).status_code == 404
    asset = client.get("/dashboard/assets/app-ABC123.js")
    assert asset.status_code == 200 and asset.data == b"console.log(1)"
    assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    for path in ("/dashboard/assets/nope.js", "/dashboard/assets/../index.html", "/dashboard/assets/%2e%2e/index.html",
                 "/dashboard/assets/../../secret.txt"):
        answer = client.get(path)
        assert answer.status_code == 404 and answer.is_json, path


# --- through gunicorn --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def proxied(postgres, tmp_path_factory):
    """`reactor serve` behind a (pretend) TLS-terminating proxy: trust_proxy on."""
    server = LiveServer(postgres, tmp_path_factory.mktemp("dash-proxied"), workers=2,
                        REACTOR_ANALYTICS_TRUST_PROXY="1").start()
    yield server
    server.stop()


def test_through_gunicorn_cookie_flags_follow_tls_and_csrf_holds(live_server, proxied):
    plain = requests.post(live_server.url + SIGN_IN, json={"token": ADMIN_TOKEN}, timeout=10)
    assert plain.status_code == 200
    header = plain.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header
    assert ADMIN_TOKEN not in header
    # X-Forwarded-Proto is ignored unless the proxy is trusted.
    spoofed = requests.post(live_server.url + SIGN_IN, json={"token": ADMIN_TOKEN}, timeout=10,
                            headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in spoofed.headers["Set-Cookie"]
    behind_tls = requests.post(proxied.url + SIGN_IN, json={"token": ADMIN_TOKEN}, timeout=10,
                               headers={"X-Forwarded-Proto": "https"})
    flags = [part.strip() for part in behind_tls.headers["Set-Cookie"].split(";")]
    assert "Secure" in flags and "HttpOnly" in flags and "SameSite=Lax" in flags
    behind_http = requests.post(proxied.url + SIGN_IN, json={"token": ADMIN_TOKEN}, timeout=10,
                                headers={"X-Forwarded-Proto": "http"})
    assert "Secure" not in behind_http.headers["Set-Cookie"]

    browser = requests.Session()
    csrf = browser.post(live_server.url + SIGN_IN, json={"token": ADMIN_TOKEN}, timeout=10).json()["data"]["csrf_token"]
    assert browser.get(live_server.url + "/analytics/v1/projects", timeout=10).status_code == 200
    slug = f"live-{int(time.time() * 1000)}"
    forged = browser.post(live_server.url + "/analytics/v1/projects", json={"slug": slug}, timeout=10,
                          headers={"X-CSRF-Token": "f" * 43})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "analytics.auth.csrf"
    made = browser.post(live_server.url + "/analytics/v1/projects", json={"slug": slug}, timeout=10,
                        headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    # A shared link's secret reaches no log line.
    link = browser.post(f"{live_server.url}/analytics/v1/projects/{made.json()['data']['id']}/shares", json={},
                        headers={"X-CSRF-Token": csrf}, timeout=10).json()["data"]["url"]
    assert requests.get(live_server.url + link, timeout=10).status_code in (200, 503)
    assert requests.post(f"{live_server.url}/dashboard/api{link}/session", json={}, timeout=10).status_code == 200
    assert browser.delete(live_server.url + SIGN_IN, headers={"X-CSRF-Token": csrf}, timeout=10).status_code == 204
    after = browser.get(live_server.url + "/analytics/v1/projects", timeout=10)
    assert after.status_code == 401 and after.json()["error"]["code"] in ("analytics.auth.unauthenticated",
                                                                          "analytics.auth.session_expired")
    secret = link.removeprefix("/share/")
    logged = live_server.log.read_text()
    assert "/share/<token>" in logged and secret not in logged
    assert ADMIN_TOKEN not in logged and csrf not in logged
