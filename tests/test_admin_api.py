"""Admin API of SPEC "Interfaces pinned": projects and their public keys."""

from __future__ import annotations

import time
import uuid

import jwt

from conftest import ADMIN, JWT_SECRET, Project, unique_slug


def creator(org="org_a"):
    tok = jwt.encode({"sub": "ops", "permissions": ["analytics:project:create"], "org_id": org,
                      "exp": int(time.time()) + 600}, JWT_SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {tok}"}


def test_create_project_answers_the_pinned_shape(client):
    slug = unique_slug("web-prod")
    answer = client.post("/analytics/v1/projects", json={"slug": slug, "name": "Production Web"}, headers=ADMIN)
    assert answer.status_code == 201
    data = answer.get_json()["data"]
    assert data["id"].startswith("p_") and data["slug"] == slug and data["name"] == "Production Web"
    assert any(p["id"] == data["id"] for p in client.get("/analytics/v1/projects", headers=ADMIN).get_json()["data"])


def test_duplicate_slug_is_409(client, project):
    answer = client.post("/analytics/v1/projects", json={"slug": project.slug, "name": "x"}, headers=ADMIN)
    assert answer.status_code == 409


def test_bad_project_bodies_are_400(client):
    for body in ({}, {"slug": "Has Spaces"}, {"slug": 5}, {"slug": "ok-slug", "colour": "red"},
                 {"slug": "ok-slug-2", "retention_days": "90"}):
        answer = client.post("/analytics/v1/projects", json=body, headers=ADMIN)
        assert answer.status_code == 400, body
        assert answer.get_json()["error"]["code"] == "analytics.invalid_request"


def test_project_creation_needs_permission(client):
    assert client.post("/analytics/v1/projects", json={"slug": unique_slug()}).status_code == 401
    tok = jwt.encode({"sub": "x", "permissions": ["analytics:*:ingest"], "exp": int(time.time()) + 60}, JWT_SECRET,
                     algorithm="HS256")
    answer = client.post("/analytics/v1/projects", json={"slug": unique_slug()},
                         headers={"Authorization": f"Bearer {tok}"})
    assert answer.status_code == 403


def test_orgs_see_only_their_projects(client):
    mine = client.post("/analytics/v1/projects", json={"slug": unique_slug()}, headers=creator("org_a"))
    theirs = client.post("/analytics/v1/projects", json={"slug": unique_slug()}, headers=creator("org_b"))
    assert mine.status_code == theirs.status_code == 201
    listed = {p["id"] for p in client.get("/analytics/v1/projects", headers=creator("org_a")).get_json()["data"]}
    assert mine.get_json()["data"]["id"] in listed and theirs.get_json()["data"]["id"] not in listed
    other_id = theirs.get_json()["data"]["id"]
    assert client.get(f"/analytics/v1/projects/{other_id}/keys", headers=creator("org_a")).status_code == 404
    assert client.post(f"/analytics/v1/projects/{other_id}/keys", json={"name": "k"},
                       headers=creator("org_a")).status_code == 404


def test_key_is_shown_once_listed_by_prefix_and_revocable(client, project):
    key = project.key_data
    assert key["key"].startswith("rapk_") and len(key["key"]) > 40
    assert key["key"].startswith(key["prefix"])
    listed = client.get(f"/analytics/v1/projects/{project.slug}/keys", headers=ADMIN).get_json()["data"]
    assert listed == [{"id": key["id"], "name": "browser", "prefix": key["prefix"],
                       "created_at": listed[0]["created_at"], "revoked_at": None}]
    assert "key" not in listed[0]
    event = {"event": "e", "anonymous_id": "a", "message_id": str(uuid.uuid4())}
    assert client.post("/analytics/v1/track", json=event, headers=project.key_headers).status_code == 200
    assert client.delete(f"/analytics/v1/projects/{project.id}/keys/{key['id']}", headers=ADMIN).status_code == 204
    answer = client.post("/analytics/v1/track", json=event, headers=project.key_headers)
    assert answer.status_code == 401
    listed = client.get(f"/analytics/v1/projects/{project.id}/keys", headers=ADMIN).get_json()["data"]
    assert listed[0]["revoked_at"] is not None


def test_revoking_another_projects_key_is_404(client, project):
    other = Project(client)
    answer = client.delete(f"/analytics/v1/projects/{other.id}/keys/{project.key_data['id']}", headers=ADMIN)
    assert answer.status_code == 404
    assert client.post("/analytics/v1/track", json={"event": "e", "anonymous_id": "a"},
                       headers=project.key_headers).status_code == 200


def test_unknown_project_is_404_json(client):
    answer = client.get("/analytics/v1/projects/p_nope/keys", headers=ADMIN)
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "analytics.not_found"


def test_unknown_route_and_wrong_method_are_json(client):
    assert client.get("/nope").get_json()["error"]["code"] == "analytics.not_found"
    answer = client.get("/analytics/v1/track")
    assert answer.status_code == 405
    assert answer.get_json()["error"]["code"] == "analytics.method_not_allowed"


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/health", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    assert len(client.get("/health").headers["X-Request-Id"]) == 32


