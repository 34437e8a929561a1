"""Saved segments (README "Dashboard"): named filters of a project, checked by the engine's own
query reader when saved, stored in PostgreSQL, scoped and authorised like shared links (listing
also with query permission)."""

from __future__ import annotations

import time

import jwt
import psycopg

from conftest import ADMIN, ADMIN_TOKEN, JWT_SECRET, Project

FILTER = {"all": [{"prop": {"source": {"eq": "google.com"}}}, {"prop": {"plan": {"exists": True}}},
                  {"event": {"neq": "signup"}}]}


def bearer(permissions) -> dict:
    token = jwt.encode({"sub": "seg-user", "permissions": permissions, "exp": int(time.time()) + 600}, JWT_SECRET,
                       algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def url(project, *rest: str) -> str:
    return "/".join([f"/analytics/v1/projects/{project.id}/segments", *rest])


def test_create_list_delete_round_trip_through_postgres(client, postgres):
    project = Project(client)
    made = client.post(url(project), json={"name": "Google, paying", "filter": FILTER}, headers=ADMIN)
    assert made.status_code == 201, made.get_json()
    segment = made.get_json()["data"]
    assert segment["id"].startswith("sg_") and segment["name"] == "Google, paying" and segment["filter"] == FILTER
    second = client.post(url(project), json={"name": "Pricing", "filter": {"prop": {"page": {"eq": "/pricing"}}}},
                         headers=ADMIN).get_json()["data"]
    listed = client.get(url(project), headers=ADMIN).get_json()["data"]
    assert [s["id"] for s in listed] == [segment["id"], second["id"]]  # oldest first
    assert listed[0] == segment
    with psycopg.connect(postgres.url) as conn:
        stored = conn.execute("SELECT project_id, name, filter FROM dashboard_segments WHERE id = %s",
                              (segment["id"],)).fetchone()
    assert stored == (project.id, "Google, paying", FILTER)
    # By slug too; a deleted segment is gone, deleting it again is 404.
    assert client.delete(f"/analytics/v1/projects/{project.slug}/segments/{segment['id']}", headers=ADMIN).status_code == 204
    assert [s["id"] for s in client.get(url(project), headers=ADMIN).get_json()["data"]] == [second["id"]]
    again = client.delete(url(project, segment["id"]), headers=ADMIN)
    assert again.status_code == 404 and again.get_json()["error"]["code"] == "analytics.segment.not_found"


def test_a_filter_the_engine_refuses_is_400_with_the_engine_code(client):
    project = Project(client)
    cases = [({"prop": {"page": {"bogus": "/"}}}, "analytics.query.unknown_operator", "filter.prop.page"),
             ({"nope": 1}, "analytics.query.invalid_filter", "filter"),
             ({"all": [{"prop": {"x": {"eq": 1}}}] * 201}, "analytics.query.filter_too_complex", None)]
    for bad, code, field in cases:
        refused = client.post(url(project), json={"name": "bad", "filter": bad}, headers=ADMIN)
        assert refused.status_code == 400, refused.get_json()
        error = refused.get_json()["error"]
        assert error["code"] == code, error
        if field:
            assert error["field"] == field
        # The same code as the query route gives the same filter.
        query = client.post("/analytics/v1/query", json={"project_id": project.id, "kind": "web", "filter": bad},
                            headers=ADMIN)
        assert query.status_code == 400 and query.get_json()["error"]["code"] == code
    for body in ({"name": "no filter"}, {"name": "", "filter": {}}, {"name": "list", "filter": []},
                 {"name": "x", "filter": {"prop": {"a": {"eq": 1}}}, "extra": 1}):
        answer = client.post(url(project), json=body, headers=ADMIN)
        assert answer.status_code == 400, (body, answer.get_json())
    assert client.get(url(project), headers=ADMIN).get_json()["data"] == []


def test_segments_never_cross_projects(client):
    project, other = Project(client), Project(client)
    segment = client.post(url(project), json={"name": "mine", "filter": FILTER}, headers=ADMIN).get_json()["data"]
    assert client.delete(url(other, segment["id"]), headers=ADMIN).status_code == 404
    assert client.get(url(other), headers=ADMIN).get_json()["data"] == []
    manager = bearer([f"analytics:{other.id}:manage"])
    for answer in (client.get(url(project), headers=manager),
                   client.post(url(project), json={"name": "x", "filter": FILTER}, headers=manager),
                   client.delete(url(project, segment["id"]), headers=manager)):
        assert answer.status_code == 404, answer.get_json()
        assert answer.get_json()["error"]["code"] == "analytics.not_found"
    assert client.get("/analytics/v1/projects/p_doesnotexist/segments", headers=ADMIN).status_code == 404
    assert [s["id"] for s in client.get(url(project), headers=ADMIN).get_json()["data"]] == [segment["id"]]


def test_a_query_only_token_lists_but_does_not_save_or_delete(client):
    project = Project(client)
    segment = client.post(url(project), json={"name": "mine", "filter": FILTER}, headers=ADMIN).get_json()["data"]
    reader = bearer([f"analytics:{project.id}:query"])
    assert [s["id"] for s in client.get(url(project), headers=reader).get_json()["data"]] == [segment["id"]]
    assert client.post(url(project), json={"name": "x", "filter": FILTER}, headers=reader).status_code == 404
    assert client.delete(url(project, segment["id"]), headers=reader).status_code == 404
    manager = bearer([f"analytics:{project.id}:manage"])
    assert client.post(url(project), json={"name": "x", "filter": FILTER}, headers=manager).status_code == 201
    assert client.delete(url(project, segment["id"]), headers=manager).status_code == 204
    assert client.get(url(project)).status_code == 401


def test_a_session_saves_with_its_csrf_token_only(app, client):
    project = Project(client)
    browser = app.test_client()
    signed = browser.post("/dashboard/api/session", json={"token": ADMIN_TOKEN})
    csrf = signed.get_json()["data"]["csrf_token"]
    forged = browser.post(url(project), json={"name": "x", "filter": FILTER}, headers={"X-CSRF-Token": "forged"})
    assert forged.status_code == 403 and forged.get_json()["error"]["code"] == "analytics.auth.csrf"
    assert browser.post(url(project), json={"name": "x", "filter": FILTER}).status_code == 403
    made = browser.post(url(project), json={"name": "x", "filter": FILTER}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    assert browser.delete(url(project, made.get_json()["data"]["id"])).status_code == 403
    assert [s["name"] for s in browser.get(url(project)).get_json()["data"]] == ["x"]
