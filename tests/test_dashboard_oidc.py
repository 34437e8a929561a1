"""Dashboard sign-in with OpenID Connect, through `reactor serve` under gunicorn and a small OIDC
provider this test runs itself (discovery, JWKS, /authorize answering with a code, /token giving
an RS256 ID token, checking the client's secret, the redirect URI and the PKCE verifier).

A browser is a `requests.Session` following redirects by hand, so every hop is looked at."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from conftest import ADMIN, LiveServer, unique_slug

CLIENT_ID, CLIENT_SECRET = "reactor-dashboard", "oidc-client-secret-0123456789"
ACL = '"admin" in groups || (email_verified && email.endswith("@example.com"))'


class Provider:
    """A minimal OIDC provider: one signing key, codes kept in memory, and knobs for the tests."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "k1"
        self.user: dict = {}
        self.tamper: dict = {}  # claims to put in (or, with None, take out of) the next ID tokens
        self.codes: dict[str, dict] = {}
        self.token_requests: list[dict] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status: int, body: dict) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/.well-known/openid-configuration":
                    self._json(200, provider.discovery())
                elif url.path == "/jwks":
                    jwk = json.loads(RSAAlgorithm.to_jwk(provider.key.public_key()))
                    self._json(200, {"keys": [{**jwk, "kid": provider.kid, "use": "sig", "alg": "RS256"}]})
                elif url.path == "/authorize":
                    asked = dict(urllib.parse.parse_qsl(url.query))
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = asked
                    target = asked["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": asked["state"]})
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self):
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                provider.token_requests.append(form)
                expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._json(401, {"error": "invalid_client"})
                asked = provider.codes.pop(form.get("code"), None)
                challenge = base64.urlsafe_b64encode(
                    hashlib.sha256(form.get("code_verifier", "").encode()).digest()).rstrip(b"=").decode()
                if asked is None or form.get("grant_type") != "authorization_code" \
                        or form.get("redirect_uri") != asked["redirect_uri"] or challenge != asked["code_challenge"]:
                    return self._json(400, {"error": "invalid_grant"})
                self._json(200, {"access_token": "at", "token_type": "Bearer", "expires_in": 300,
                                 "id_token": provider.id_token(asked["nonce"])})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def discovery(self) -> dict:
        return {"issuer": self.issuer, "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token", "jwks_uri": self.issuer + "/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"]}

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": "user-1", "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                  "nonce": nonce, **self.user}
        for name, value in self.tamper.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = self.tamper_key if getattr(self, "tamper_key", None) is not None else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
def provider():
    idp = Provider()
    idp.thread.start()
    yield idp
    idp.server.shutdown()


@pytest.fixture(scope="module")
def server(postgres, provider, tmp_path_factory):
    live = LiveServer(postgres, tmp_path_factory.mktemp("oidc"), workers=2,
                      REACTOR_AUTH_OIDC_ISSUER=provider.issuer, REACTOR_AUTH_OIDC_CLIENT_ID=CLIENT_ID,
                      REACTOR_AUTH_OIDC_CLIENT_SECRET=CLIENT_SECRET, REACTOR_AUTH_OIDC_ACL=ACL,
                      REACTOR_AUTH_OIDC_PERMISSIONS="analytics:*:query").start()
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def fresh_user(provider):
    provider.user = {"email": "ada@example.com", "email_verified": True, "groups": ["staff"]}
    provider.tamper = {}
    provider.tamper_key = None


def start(server, browser: requests.Session) -> requests.Response:
    """Sign-in up to the provider's redirect back: the answer naming the callback URL."""
    login = browser.get(server.url + "/dashboard/api/oidc/login", allow_redirects=False, timeout=10)
    assert login.status_code == 302, login.text
    back = browser.get(login.headers["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"].startswith(server.url + "/dashboard/api/oidc/callback?")
    return back


def finish(browser: requests.Session, back: requests.Response) -> requests.Response:
    return browser.get(back.headers["Location"], allow_redirects=False, timeout=10)


def test_config_announces_sso_and_the_login_redirect_carries_state_nonce_and_pkce(server, provider):
    assert requests.get(server.url + "/dashboard/api/config", timeout=10).json() == {"data": {"oidc": True}}
    browser = requests.Session()
    login = browser.get(server.url + "/dashboard/api/oidc/login", allow_redirects=False, timeout=10)
    assert login.status_code == 302
    target = urllib.parse.urlsplit(login.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == provider.issuer + "/authorize"
    asked = dict(urllib.parse.parse_qsl(target.query))
    assert asked["response_type"] == "code" and asked["client_id"] == CLIENT_ID
    assert asked["redirect_uri"] == server.url + "/dashboard/api/oidc/callback"
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert len(asked["state"]) >= 32 and len(asked["nonce"]) >= 32 and asked["state"] != asked["nonce"]
    assert asked["scope"].split() == ["openid", "email", "profile"]
    state_cookie = login.headers["Set-Cookie"]
    assert "reactor_oidc_state=" in state_cookie and "HttpOnly" in state_cookie and "SameSite=Lax" in state_cookie
    assert CLIENT_SECRET not in login.headers["Location"]


def test_an_account_the_acl_allows_gets_a_session(server, provider):
    admin_project = requests.post(server.url + "/analytics/v1/projects", json={"slug": unique_slug("oidc")},
                                  headers=ADMIN, timeout=10).json()["data"]
    browser = requests.Session()
    done = finish(browser, start(server, browser))
    assert done.status_code == 302 and done.headers["Location"] in ("/", server.url + "/"), done.text
    cookie = done.headers["Set-Cookie"]
    assert "reactor_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    session = browser.get(server.url + "/dashboard/api/session", timeout=10)
    assert session.status_code == 200
    data = session.json()["data"]
    assert data["principal"] == {"kind": "oidc", "subject": "oidc:ada@example.com", "org_id": "org_default",
                                 "permissions": ["analytics:*:query"]}
    # The PKCE verifier went to the token endpoint (the provider checked it against the challenge).
    assert len(provider.token_requests[-1]["code_verifier"]) >= 43
    query = {"project_id": admin_project["id"], "kind": "aggregate", "time_range": {"last": "7d"}, "measure": "count"}
    assert browser.post(server.url + "/analytics/v1/query", json=query, timeout=10,
                        headers={"X-CSRF-Token": data["csrf_token"]}).status_code == 200
    assert browser.post(server.url + "/analytics/v1/query", json=query, timeout=10).status_code == 403  # no CSRF
    # What the configured permissions leave out stays out.
    assert browser.post(server.url + "/analytics/v1/projects", json={"slug": unique_slug("no")}, timeout=10,
                        headers={"X-CSRF-Token": data["csrf_token"]}).status_code == 403
    # The other branch of the acl: a group instead of the domain.
    provider.user = {"email": "bob@elsewhere.org", "groups": ["admin"]}
    other = requests.Session()
    assert finish(other, start(server, other)).status_code == 302
    assert other.get(server.url + "/dashboard/api/session", timeout=10).json()["data"]["principal"]["subject"] == \
        "oidc:bob@elsewhere.org"


@pytest.mark.parametrize("user", [
    {"email": "eve@elsewhere.org", "email_verified": True, "groups": ["staff"]},
    {"email": "eve@example.com", "email_verified": False, "groups": []},   # the domain, unverified
    {"email": "eve@example.com.evil.org", "email_verified": True},
    {"groups": "admin-not-a-list"},
])
def test_an_account_the_acl_refuses_gets_403_and_no_session(server, provider, user):
    provider.user = user
    browser = requests.Session()
    done = finish(browser, start(server, browser))
    assert done.status_code == 403 and done.json()["error"]["code"] == "analytics.auth.oidc_refused"
    assert "reactor_session" not in browser.cookies
    assert browser.get(server.url + "/dashboard/api/session", timeout=10).status_code == 401


def test_a_bad_state_is_refused_with_400(server, provider):
    browser = requests.Session()
    back = start(server, browser)
    url = urllib.parse.urlsplit(back.headers["Location"])
    params = dict(urllib.parse.parse_qsl(url.query))
    callback = server.url + "/dashboard/api/oidc/callback"
    for state in ("forged-state", "", params["state"][:-1]):
        answer = browser.get(callback, params={**params, "state": state}, allow_redirects=False, timeout=10)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "analytics.oidc.bad_state"
    missing = browser.get(callback, params={"code": params["code"]}, allow_redirects=False, timeout=10)
    assert missing.status_code == 400
    # Another browser (without this sign-in's state cookie) cannot finish it.
    stranger = requests.Session()
    answer = stranger.get(back.headers["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "analytics.oidc.bad_state"
    # The right browser can, once; a replay of the callback is refused.
    assert finish(browser, back).status_code == 302
    replay = finish(browser, back)
    assert replay.status_code == 400 and replay.json()["error"]["code"] == "analytics.oidc.bad_state"


@pytest.mark.parametrize("tamper, reason", [
    ({"nonce": "not-this-sign-ins-nonce"}, "nonce"),
    ({"nonce": None}, "nonce"),
    ({"aud": "another-client"}, "another client"),
    ({"aud": [CLIENT_ID, "another-client"], "azp": "another-client"}, "authorized party"),
    ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
    ({"iss": "https://impostor.example.com"}, "issuer"),
    ({"exp": None}, "invalid"),
])
def test_an_id_token_that_does_not_hold_is_refused(server, provider, tamper, reason):
    provider.tamper = tamper
    browser = requests.Session()
    done = finish(browser, start(server, browser))
    assert done.status_code == 401, done.text
    error = done.json()["error"]
    assert error["code"] == "analytics.auth.oidc_invalid_token" and reason in error["message"]
    assert "reactor_session" not in browser.cookies


def test_an_id_token_signed_by_another_key_is_refused(server, provider):
    provider.tamper_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    browser = requests.Session()
    done = finish(browser, start(server, browser))
    assert done.status_code == 401 and done.json()["error"]["code"] == "analytics.auth.oidc_invalid_token"


def test_without_oidc_configured_the_routes_say_so(live_server):
    assert requests.get(live_server.url + "/dashboard/api/config", timeout=10).json() == {"data": {"oidc": False}}
    for path in ("/dashboard/api/oidc/login", "/dashboard/api/oidc/callback?code=x&state=y"):
        answer = requests.get(live_server.url + path, allow_redirects=False, timeout=10)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "analytics.oidc.not_configured"
