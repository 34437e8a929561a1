"""Credentials: project keys, JWT bearers (HS256, RS256, ES256 via JWKS), the admin token."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import ADMIN, JWT_SECRET, Project, events_of
from reactor_analytics.app import create_app


def token(permissions, secret=JWT_SECRET, alg="HS256", exp_in=600, **claims):
    payload = {"sub": "svc", "permissions": permissions, "exp": int(time.time()) + exp_in, **claims}
    return jwt.encode(payload, secret, algorithm=alg)


def bearer(tok, project=None):
    headers = {"Authorization": f"Bearer {tok}"}
    if project:
        headers["X-Reactor-Project"] = project
    return headers


def ev(name="server_event"):
    return {"event": name, "user_id": "u_1", "message_id": str(uuid.uuid4())}


def test_jwt_with_ingest_permission_can_track(client, project, postgres):
    tok = token([f"analytics:{project.id}:ingest"])
    answer = client.post("/analytics/v1/track", json=ev(), headers=bearer(tok, project.id))
    assert answer.status_code == 200, answer.get_json()
    assert len(events_of(postgres, project.id)) == 1


def test_project_named_in_body_or_by_slug_or_wildcard(client, project):
    for perm, name in ((f"analytics:{project.id}:ingest", None), (f"analytics:{project.slug}:ingest", project.slug),
                       ("analytics:*:ingest", project.slug)):
        body = {**ev(), "project_id": project.id}
        answer = client.post("/analytics/v1/track", json=body, headers=bearer(token([perm]), name))
        assert answer.status_code == 200, (perm, answer.get_json())


def test_header_and_body_must_agree(client, project):
    other = Project(client)
    tok = token(["analytics:*:ingest"])
    answer = client.post("/analytics/v1/track", json={**ev(), "project_id": other.id}, headers=bearer(tok, project.id))
    assert answer.status_code == 403


def test_missing_project_is_400(client):
    answer = client.post("/analytics/v1/track", json=ev(), headers=bearer(token(["analytics:*:ingest"])))
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "analytics.project.missing"


def test_another_projects_jwt_is_403_and_nothing_is_stored(client, project, postgres):
    other = Project(client)
    tok = token([f"analytics:{other.id}:ingest"])
    answer = client.post("/analytics/v1/track", json=ev(), headers=bearer(tok, project.id))
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "analytics.auth.forbidden"
    assert events_of(postgres, project.id) == []


def test_unknown_project_looks_the_same_as_a_forbidden_one(client, project):
    tok = token([f"analytics:{project.id}:ingest"])
    missing = client.post("/analytics/v1/track", json=ev(), headers=bearer(tok, "p_doesnotexist"))
    other = Project(client)
    forbidden = client.post("/analytics/v1/track", json=ev(), headers=bearer(tok, other.id))
    assert missing.status_code == forbidden.status_code == 403
    assert missing.get_json() == forbidden.get_json()


def test_query_permission_does_not_grant_ingest(client, project):
    answer = client.post("/analytics/v1/track", json=ev(),
                         headers=bearer(token([f"analytics:{project.id}:query"]), project.id))
    assert answer.status_code == 403


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer not.a.jwt"},
                                     {"X-Reactor-Project-Key": "rapk_doesnotexist"},
                                     {"X-Reactor-Project-Key": "nope"}])
def test_missing_or_bad_credentials_are_401(client, headers):
    answer = client.post("/analytics/v1/track", json=ev(), headers=headers)
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "analytics.auth.unauthenticated"


def test_expired_token_is_401(client, project):
    answer = client.post("/analytics/v1/track", json=ev(),
                         headers=bearer(token(["analytics:*:ingest"], exp_in=-10), project.id))
    assert answer.status_code == 401
    assert "expired" in answer.get_json()["error"]["message"]


def test_token_without_exp_is_401(client, project):
    tok = jwt.encode({"sub": "svc", "permissions": ["analytics:*:ingest"]}, JWT_SECRET, algorithm="HS256")
    assert client.post("/analytics/v1/track", json=ev(), headers=bearer(tok, project.id)).status_code == 401


@pytest.mark.parametrize("claims", [{"exp": str(int(time.time()) + 600)}, {"exp": True},
                                    {"exp": [int(time.time()) + 600]}, {"exp": None},
                                    {"nbf": str(int(time.time()) - 10)}, {"iat": str(int(time.time()))}],
                         ids=["exp_string", "exp_bool", "exp_list", "exp_null", "nbf_string", "iat_string"])
def test_time_claims_that_are_not_numbers_are_401(client, project, postgres, claims):
    """RFC 7519 dates are JSON numbers: a string `exp` ("9999999999") must not pass as one."""
    payload = {"sub": "svc", "permissions": ["analytics:*:ingest"], "exp": int(time.time()) + 600, **claims}
    tok = jwt.encode(payload, JWT_SECRET, algorithm="HS256")
    answer = client.post("/analytics/v1/track", json=ev(), headers=bearer(tok, project.id))
    assert answer.status_code == 401, answer.get_json()
    assert answer.get_json()["error"]["code"] == "analytics.auth.unauthenticated"
    assert events_of(postgres, project.id) == []


def test_wrong_secret_is_401(client, project):
    tok = token(["analytics:*:ingest"], secret="another-secret-of-enough-length!")
    assert client.post("/analytics/v1/track", json=ev(), headers=bearer(tok, project.id)).status_code == 401


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_alg_none_is_refused(client, project):
    tok = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': 's', 'permissions': ['analytics:*:ingest'], 'exp': int(time.time()) + 60})}."
    assert client.post("/analytics/v1/track", json=ev(), headers=bearer(tok, project.id)).status_code == 401


@pytest.fixture(scope="module")
def jwks_keys(tmp_path_factory):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    rsa_jwk.update(kid="rsa-1", use="sig", alg="RS256")
    ec_jwk.update(kid="ec-1", use="sig", alg="ES256")
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [rsa_jwk, ec_jwk]}))
    return {"path": str(path), "rsa": rsa_key, "ec": ec_key}


@pytest.fixture(scope="module")
def jwks_client(config, jwks_keys):
    from dataclasses import replace

    app = create_app(replace(config, auth=replace(config.auth, jwks_file=jwks_keys["path"], jwt_secret="")))
    yield app.test_client()
    app.extensions["reactor"].db.close()


def test_rs256_and_es256_tokens_from_the_jwks_file(jwks_client, jwks_keys):
    project = Project(jwks_client)
    claims = {"sub": "svc", "permissions": [f"analytics:{project.id}:ingest"], "exp": int(time.time()) + 60}
    rs = jwt.encode(claims, jwks_keys["rsa"], algorithm="RS256", headers={"kid": "rsa-1"})
    es = jwt.encode(claims, jwks_keys["ec"], algorithm="ES256", headers={"kid": "ec-1"})
    for tok in (rs, es):
        answer = jwks_client.post("/analytics/v1/track", json=ev(), headers=bearer(tok, project.id))
        assert answer.status_code == 200, answer.get_json()


def test_hs256_signed_with_the_public_key_is_refused(jwks_client, jwks_keys):
    """Algorithm confusion: an HS256 token whose 'secret' is the RSA public key."""
    project = Project(jwks_client)
    pem = jwks_keys["rsa"].public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"})
    payload = _b64({"sub": "x", "permissions": ["analytics:*:ingest"], "exp": int(time.time()) + 60})
    import hashlib
    import hmac

    signature = base64.urlsafe_b64encode(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    tok = f"{header}.{payload}.{signature.rstrip(b'=').decode()}"
    assert jwks_client.post("/analytics/v1/track", json=ev(), headers=bearer(tok, project.id)).status_code == 401


def test_token_signed_by_an_unknown_rsa_key_is_refused(jwks_client):
    project = Project(jwks_client)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tok = jwt.encode({"sub": "s", "permissions": ["analytics:*:ingest"], "exp": int(time.time()) + 60}, stranger,
                     algorithm="RS256", headers={"kid": "rsa-1"})
    assert jwks_client.post("/analytics/v1/track", json=ev(), headers=bearer(tok, project.id)).status_code == 401


def test_admin_token_mints_tokens_that_work(client, project):
    answer = client.post("/_admin/tokens", json={"sub": "ci", "permissions": [f"analytics:{project.id}:ingest"],
                                                 "ttl_seconds": 120}, headers=ADMIN)
    assert answer.status_code == 201
    tok = answer.get_json()["data"]["token"]
    assert client.post("/analytics/v1/track", json=ev(), headers=bearer(tok, project.id)).status_code == 200


def test_minting_needs_the_admin_token(client, project):
    tok = token(["analytics:project:create", "analytics:*:ingest"])
    answer = client.post("/_admin/tokens", json={"sub": "x", "permissions": []}, headers=bearer(tok))
    assert answer.status_code == 401


def test_a_remembered_token_still_expires(client, project, monkeypatch):
    """Verified tokens are remembered until their exp, never past it. The token lives a minute,
    however slow the two requests; then the service's clock (its own and PyJWT's) is moved past exp."""
    import datetime as dt
    import types

    import jwt.api_jwt

    from reactor_analytics.auth import tokens

    tok = token([f"analytics:{project.id}:ingest"], exp_in=60)
    assert client.post("/analytics/v1/track", json=ev(), headers=bearer(tok, project.id)).status_code == 200
    assert client.post("/analytics/v1/track", json=ev(), headers=bearer(tok, project.id)).status_code == 200
    later = dt.timedelta(seconds=61)

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime.now(tz) + later

    monkeypatch.setattr(tokens, "time", types.SimpleNamespace(time=lambda: time.time() + later.total_seconds()))
    monkeypatch.setattr(jwt.api_jwt, "datetime", Later)
    answer = client.post("/analytics/v1/track", json=ev(), headers=bearer(tok, project.id))
    assert answer.status_code == 401 and "expired" in answer.get_json()["error"]["message"]
