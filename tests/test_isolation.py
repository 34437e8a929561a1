"""Tenant isolation: no key, token or id of project A can read, write, erase or even detect
project B, on any endpoint. The matrix runs against an app that trusts an audience, HS256 and
a JWKS file at once, so every kind of bad credential is meaningful on every endpoint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import replace

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import ADMIN, JWT_SECRET, Project, unique_slug
from test_auth import _b64
from test_cli import reactor

AUDIENCE = "reactor"

# (method, path, body, action): every endpoint that acts on a project's data.
ENDPOINTS = [
    ("POST", "/analytics/v1/track", {"event": "e", "anonymous_id": "iso"}, "ingest"),
    ("POST", "/analytics/v1/batch", {"batch": [{"event": "e", "anonymous_id": "iso"}]}, "ingest"),
    ("POST", "/analytics/v1/identify", {"anonymous_id": "iso", "user_id": "u_b"}, "ingest"),
    ("POST", "/analytics/v1/alias", {"previous_id": "iso", "user_id": "u_b"}, "ingest"),
    ("POST", "/analytics/v1/consent/opt-out", {"anonymous_id": "anon_b"}, "ingest"),
    ("GET", "/analytics/v1/consent/status?anonymous_id=anon_b", None, "ingest"),
    ("POST", "/analytics/v1/query", {"kind": "aggregate", "time_range": {"last": "1d"}}, "query"),
    ("POST", "/analytics/v1/erase", {"user_id": "u_b"}, "erase"),
]
IDS = [f"{method} {path.split('?')[0].rsplit('/', 1)[-1]}" for method, path, _, _ in ENDPOINTS]


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="rsa-1", alg="RS256")
    path = tmp_path_factory.mktemp("iso-jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return key, str(path)


@pytest.fixture(scope="module")
def iso(config, engine, rsa_key):
    from reactor_analytics.app import create_app

    app = create_app(replace(config, auth=replace(config.auth, audience=AUDIENCE, jwks_file=rsa_key[1])))
    client = app.test_client()
    a, b = Project(client), Project(client)
    # B holds one person: what nothing of A may read, change or detect.
    h = b.key_headers
    assert client.post("/analytics/v1/track", json={"event": "secret", "anonymous_id": "anon_b"}, headers=h).status_code == 200
    assert client.post("/analytics/v1/identify", json={"anonymous_id": "anon_b", "user_id": "u_b"},
                       headers=h).status_code == 200
    yield client, a, b
    app.extensions["reactor"].db.close()


def _jwt(permissions, exp_in=600, aud=AUDIENCE, **claims) -> str:
    payload = {"sub": "svc", "permissions": permissions, "exp": int(time.time()) + exp_in, **claims}
    if aud:
        payload["aud"] = aud
    return jwt.encode(payload, JWT_SECRET, algorithm="HS256")


def _all_of(project: Project) -> list[str]:
    return [f"analytics:{project.id}:{action}" for action in ("ingest", "query", "erase")]


def _call(client, method, path, body, headers):
    return client.open(path, method=method, json=body, headers=headers)


def _snapshot(postgres, project: Project) -> tuple:
    with psycopg.connect(postgres.url) as conn:
        return tuple(conn.execute(f"SELECT count(*) FROM {table} WHERE project_id = %s", (project.id,)).fetchone()[0]
                     for table in ("events", "identity_links", "consent_opt_outs", "person_traits"))


def _with_project(method, path, body, named, how):
    """Name project `named` in the header, the body or the query string."""
    if how == "header":
        return path, body, {"X-Reactor-Project": named}
    if body is None:
        return f"{path}&project_id={named}", body, {}
    return path, {**body, "project_id": named}, {}


@pytest.mark.parametrize("how", ["header", "body"])
@pytest.mark.parametrize("method,path,body,action", ENDPOINTS, ids=IDS)
def test_a_token_of_a_cannot_act_on_b(iso, postgres, method, path, body, action, how):
    client, a, b = iso
    before = _snapshot(postgres, b)
    path, body, named = _with_project(method, path, body, b.id, how)
    answer = _call(client, method, path, body, {"Authorization": f"Bearer {_jwt(_all_of(a))}", **named})
    assert answer.status_code == 403, answer.get_json()
    assert answer.get_json()["error"]["code"] == "analytics.auth.forbidden"
    assert _snapshot(postgres, b) == before


@pytest.mark.parametrize("method,path,body,action", ENDPOINTS, ids=IDS)
def test_a_token_naming_a_in_the_header_and_b_in_the_body_is_refused(iso, postgres, method, path, body, action):
    client, a, b = iso
    before = _snapshot(postgres, b)
    path, body, _ = _with_project(method, path, body, b.id, "body")
    headers = {"Authorization": f"Bearer {_jwt(_all_of(a) + _all_of(b))}", "X-Reactor-Project": a.id}
    assert _call(client, method, path, body, headers).status_code == 403
    assert _snapshot(postgres, b) == before


@pytest.mark.parametrize("how", ["header", "body"])
@pytest.mark.parametrize("method,path,body,action", ENDPOINTS, ids=IDS)
def test_a_key_of_a_cannot_act_on_b(iso, postgres, method, path, body, action, how):
    client, a, b = iso
    before = _snapshot(postgres, b)
    path, body, named = _with_project(method, path, body, b.slug, how)
    answer = _call(client, method, path, body, {**a.key_headers, **named})
    # Keys ingest into their own project only; they never query or erase.
    assert answer.status_code == (403 if action == "ingest" else 401), answer.get_json()
    assert _snapshot(postgres, b) == before


@pytest.mark.parametrize("method,path,body,action", ENDPOINTS, ids=IDS)
def test_b_and_a_project_that_does_not_exist_look_alike(iso, method, path, body, action):
    client, a, b = iso
    token = {"Authorization": f"Bearer {_jwt(_all_of(a))}"}
    answers = []
    for named in (b.id, b.slug, "p_doesnotexist00", unique_slug()):
        p, bd, h = _with_project(method, path, body, named, "header")
        answer = _call(client, method, p, bd, {**token, **h})
        answers.append((answer.status_code, answer.get_json()["error"]["code"], answer.get_json()["error"]["message"]))
    assert len(set(answers)) == 1, answers


def _bad_credentials(rsa_key, a: Project, revoked_key: str) -> dict[str, dict]:
    perms = _all_of(a)
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"})
    payload = _b64({"sub": "x", "permissions": perms, "exp": int(time.time()) + 60, "aud": AUDIENCE})
    signature = base64.urlsafe_b64encode(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    none = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': 's', 'permissions': perms, 'aud': AUDIENCE, 'exp': int(time.time()) + 60})}."
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bearers = {
        "expired": _jwt(perms, exp_in=-120),
        "wrong_audience": _jwt(perms, aud="someone-else"),
        "no_audience": _jwt(perms, aud=None),
        "alg_none": none,
        "hs_rs_confusion": f"{header}.{payload}.{signature.rstrip(b'=').decode()}",
        "unknown_rsa_key": jwt.encode({"sub": "s", "permissions": perms, "aud": AUDIENCE,
                                       "exp": int(time.time()) + 60}, stranger, algorithm="RS256",
                                      headers={"kid": "rsa-1"}),
        "wrong_secret": jwt.encode({"sub": "s", "permissions": perms, "aud": AUDIENCE, "exp": int(time.time()) + 60},
                                   "not-the-secret-0123456789abcdef-0", algorithm="HS256"),
        "garbage": "x.y.z",
    }
    headers = {name: {"Authorization": f"Bearer {tok}"} for name, tok in bearers.items()}
    headers["revoked_key"] = {"X-Reactor-Project-Key": revoked_key}
    headers["unknown_key"] = {"X-Reactor-Project-Key": "rapk_" + "A" * 43}
    return headers


def test_bad_credentials_are_401_on_every_endpoint_and_change_nothing(iso, postgres, rsa_key):
    client, a, b = iso
    created = client.post(f"/analytics/v1/projects/{a.id}/keys", json={"name": "old"}, headers=ADMIN).get_json()["data"]
    assert client.delete(f"/analytics/v1/projects/{a.id}/keys/{created['id']}", headers=ADMIN).status_code == 204
    before = (_snapshot(postgres, a), _snapshot(postgres, b))
    cases = 0
    for name, credential in _bad_credentials(rsa_key[0], a, created["key"]).items():
        for method, path, body, _ in ENDPOINTS:
            for named in (a.id, b.id):
                answer = _call(client, method, path, body, {**credential, "X-Reactor-Project": named})
                assert answer.status_code == 401, (name, path, answer.get_json())
                assert answer.get_json()["error"]["code"] == "analytics.auth.unauthenticated"
                cases += 1
    assert cases == 10 * len(ENDPOINTS) * 2
    assert (_snapshot(postgres, a), _snapshot(postgres, b)) == before


def test_project_admin_of_one_org_cannot_see_or_touch_another_orgs_keys(iso):
    client, a, b = iso
    org_a = client.post("/analytics/v1/projects", json={"slug": unique_slug(), "org_id": "org_iso_a"},
                        headers=ADMIN).get_json()["data"]
    token = {"Authorization": f"Bearer {_jwt(['analytics:project:create'], org_id='org_iso_other')}"}
    for method, path, body in [("GET", f"/analytics/v1/projects/{org_a['id']}/keys", None),
                               ("POST", f"/analytics/v1/projects/{org_a['id']}/keys", {"name": "x"}),
                               ("DELETE", f"/analytics/v1/projects/{org_a['id']}/keys/k_whatever", None),
                               ("PATCH", f"/analytics/v1/projects/{org_a['id']}", {"retention_days": 1})]:
        answer = _call(client, method, path, body, token)
        missing = _call(client, method, path.replace(org_a["id"], "p_missing000000"), body, token)
        assert answer.status_code == missing.status_code == 404
        assert answer.get_json() == missing.get_json()
    # Listed after the attempts: the POST above made no key.
    assert client.get(f"/analytics/v1/projects/{org_a['id']}/keys", headers=ADMIN).get_json()["data"] == []
    listed = client.get("/analytics/v1/projects", headers=token).get_json()["data"]
    assert org_a["id"] not in {p["id"] for p in listed}


# --- orgs: every project-scoped call checks the project's org against the caller's ----------

_EVERY = ["analytics:project:create", "analytics:*:ingest", "analytics:*:query", "analytics:*:erase"]


@pytest.fixture(scope="module")
def orgs(iso, config):
    """Three projects: one of org A, one of org B and one of the default org, each with a key and a
    person; and one token per org holding every permission (the no-org token is the default org's)."""
    client, _, _ = iso
    org_a, org_b = f"org_{uuid.uuid4().hex[:8]}", f"org_{uuid.uuid4().hex[:8]}"
    projects = {}
    for name, org in (("org_a", org_a), ("org_b", org_b), ("no_org", None)):
        body = {"slug": unique_slug("org"), **({"org_id": org} if org else {})}
        project = client.post("/analytics/v1/projects", json=body, headers=ADMIN).get_json()["data"]
        assert project["org_id"] == (org or config.auth.default_org)
        key = client.post(f"/analytics/v1/projects/{project['id']}/keys", json={"name": "k"},
                          headers=ADMIN).get_json()["data"]
        h = {"X-Reactor-Project-Key": key["key"]}
        assert client.post("/analytics/v1/track", json={"event": "e", "anonymous_id": "anon_o", "user_id": "u_o"},
                           headers=h).status_code == 200
        projects[name] = {**project, "key_id": key["id"]}
    tokens = {"org_a": _jwt(_EVERY, org_id=org_a), "org_b": _jwt(_EVERY, org_id=org_b), "no_org": _jwt(_EVERY)}
    return client, projects, {name: {"Authorization": f"Bearer {tok}"} for name, tok in tokens.items()}


def _admin_calls(ref: str, key_id: str) -> list[tuple]:
    return [("GET", f"/analytics/v1/projects/{ref}/keys", None, {}),
            ("POST", f"/analytics/v1/projects/{ref}/keys", {"name": "intruder"}, {}),
            ("DELETE", f"/analytics/v1/projects/{ref}/keys/{key_id}", None, {}),
            ("PATCH", f"/analytics/v1/projects/{ref}", {"retention_days": 1}, {})]


def _data_calls(ref: str) -> list[tuple]:
    return [(method, *_with_project(method, path, body, ref, how))
            for method, path, body, _ in ENDPOINTS for how in ("header", "body")]


def _state(client, postgres, project: dict) -> tuple:
    """What an admin sees of a project: its keys, its listing (retention included), its rows and audit."""
    keys = client.get(f"/analytics/v1/projects/{project['id']}/keys", headers=ADMIN).get_json()["data"]
    listed = [p for p in client.get("/analytics/v1/projects", headers=ADMIN).get_json()["data"]
              if p["id"] == project["id"]]
    with psycopg.connect(postgres.url) as conn:
        audit = conn.execute("SELECT count(*) FROM audit_log WHERE project_id = %s", (project["id"],)).fetchone()[0]
    return keys, listed, _snapshot(postgres, type("P", (), {"id": project["id"]})), audit


def _answer(client, call, headers) -> tuple:
    method, path, body, extra = call
    answer = _call(client, method, path, body, {**headers, **extra})
    return answer.status_code, answer.get_json()


@pytest.mark.parametrize("caller", ["org_a", "org_b", "no_org"])
def test_a_project_of_another_org_answers_like_an_unknown_one_and_stays_unchanged(orgs, postgres, caller):
    client, projects, tokens = orgs
    token = tokens[caller]
    foreign = [p for name, p in projects.items() if name != caller]
    before = {p["id"]: _state(client, postgres, p) for p in projects.values()}
    cases = 0
    for project in foreign:
        unknown_id, unknown_slug = "p_doesnotexist00", unique_slug("nothing")
        for ref, unknown in ((project["id"], unknown_id), (project["slug"], unknown_slug)):
            for call, missing in zip(_admin_calls(ref, project["key_id"]), _admin_calls(unknown, project["key_id"])):
                got = _answer(client, call, token)
                assert got == _answer(client, missing, token), (caller, call)
                assert got[0] == 404 and got[1]["error"]["code"] == "analytics.not_found", (caller, call, got)
                cases += 1
            for call, missing in zip(_data_calls(ref), _data_calls(unknown)):
                got = _answer(client, call, token)
                assert got == _answer(client, missing, token), (caller, call)
                assert got[0] == 403, (caller, call, got)
                cases += 1
    assert cases == 2 * 2 * (4 + 2 * len(ENDPOINTS))
    listed = {p["id"] for p in client.get("/analytics/v1/projects", headers=token).get_json()["data"]}
    assert projects[caller]["id"] in listed and not listed & {p["id"] for p in foreign}
    # The same token does act on its own org's project: the refusals above are about the org.
    own = projects[caller]
    assert client.get(f"/analytics/v1/projects/{own['id']}/keys", headers=token).status_code == 200
    assert client.post("/analytics/v1/query", json={"kind": "aggregate", "time_range": {"last": "1d"}},
                       headers={**token, "X-Reactor-Project": own["id"]}).status_code == 200
    # Re-read after the attempts: no key made or revoked, retention and data as they were.
    after = {p["id"]: _state(client, postgres, p) for p in projects.values()}
    assert after == before
    for project in foreign:
        keys = after[project["id"]][0]
        assert [k["id"] for k in keys] == [project["key_id"]] and keys[0]["revoked_at"] is None
        assert after[project["id"]][1][0]["retention_days"] == project["retention_days"]


def test_admin_endpoints_refuse_project_credentials(iso):
    client, a, _ = iso
    for headers in ({"Authorization": f"Bearer {_jwt(_all_of(a) + ['analytics:*:erase'])}"}, a.key_headers):
        for method, path in [("GET", "/_admin/doctor"), ("POST", "/_admin/tokens"), ("GET", "/_admin/logs?follow=0")]:
            assert _call(client, method, path, {"sub": "x"} if method == "POST" else None,
                         headers).status_code == 401


def test_cli_with_a_token_of_a_cannot_query_or_erase_b(live_server, postgres):
    admin = live_server.env["REACTOR_ADMIN_TOKEN"]
    slug_a, slug_b = unique_slug("cli-a"), unique_slug("cli-b")
    for slug in (slug_a, slug_b):
        assert reactor(live_server, "analytics", "projects", "create", slug, token=admin).returncode == 0
    key_b = reactor(live_server, "analytics", "keys", "create", slug_b, "--name", "k", token=admin).stdout.strip()
    assert reactor(live_server, "analytics", "track", "--key", key_b, "--event", "e", "--user-id", "u_b").returncode == 0
    token_a = reactor(live_server, "token", "mint", "--sub", "a", "--permission", f"analytics:{slug_a}:erase",
                      "--permission", f"analytics:{slug_a}:query", token=admin).stdout.strip()
    erased = reactor(live_server, "analytics", "erase", slug_b, "--user-id", "u_b", token=token_a)
    assert erased.returncode == 1 and "analytics.auth.forbidden" in erased.stdout
    listed = reactor(live_server, "analytics", "keys", "list", slug_b, token=token_a)
    assert listed.returncode == 1 and "analytics.not_found" in listed.stdout
    with psycopg.connect(postgres.url) as conn:
        assert conn.execute("SELECT count(*) FROM events e JOIN projects p ON p.id = e.project_id WHERE p.slug = %s",
                            (slug_b,)).fetchone()[0] == 1
