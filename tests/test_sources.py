"""Sources: a project that lists page hostnames refuses events of other hostnames event by event
(`invalid_source`), and registers new ones as they report when told to. Real PostgreSQL, the
real app."""

from __future__ import annotations

import time

import jwt
import pytest

from conftest import ADMIN, JWT_SECRET, Project, events_of


def token(permissions, **claims):
    payload = {"sub": "svc", "permissions": permissions, "exp": int(time.time()) + 600, **claims}
    return {"Authorization": f"Bearer {jwt.encode(payload, JWT_SECRET, algorithm='HS256')}"}


def add(client, project, hostname, headers=None):
    return client.post(f"/analytics/v1/projects/{project.id}/sources", json={"hostname": hostname},
                       headers=ADMIN if headers is None else headers)


def sources(client, project):
    answer = client.get(f"/analytics/v1/projects/{project.id}/sources", headers=ADMIN)
    assert answer.status_code == 200
    return [s["hostname"] for s in answer.get_json()["data"]]


def page(url: str, **extra) -> dict:
    return {"event": "$pageview", "anonymous_id": "a1", "context": {"page": {"url": url}}, **extra}


def test_other_hostnames_are_refused_event_by_event(client, project, postgres):
    answer = add(client, project, "Shop.Example.com.")
    assert answer.status_code == 201 and answer.get_json()["data"]["hostname"] == "shop.example.com"
    assert add(client, project, "shop.example.com").status_code == 201  # adding it again is no error
    assert sources(client, project) == ["shop.example.com"]
    batch = [page("https://SHOP.example.com:8443/a"), page("https://evil.example.net/"),
             page("https://www.shop.example.com/"), {"event": "signup", "anonymous_id": "a1"},
             {"event": "x", "anonymous_id": "a1", "properties": {"$current_url": "https://other.io/"}},
             page("https://shop.example.com/b")]
    answer = client.post("/analytics/v1/batch", json={"batch": batch}, headers=project.key_headers)
    data = answer.get_json()["data"]
    assert data["accepted"] == 3
    assert [(r["index"], r["reason"], r["hostname"]) for r in data["rejected"]] == [
        (1, "invalid_source", "evil.example.net"), (2, "invalid_source", "www.shop.example.com"),
        (4, "invalid_source", "other.io")]
    assert [r["path"] for r in events_of(postgres, project.id)] == ["/a", None, "/b"]
    # A single event is the request's error.
    answer = client.post("/analytics/v1/track", json=page("https://evil.example.net/"), headers=project.key_headers)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "analytics.event.invalid_source"
    # Without sources, any hostname again.
    assert client.delete(f"/analytics/v1/projects/{project.id}/sources/SHOP.example.com",
                         headers=ADMIN).status_code == 204
    assert sources(client, project) == []
    answer = client.post("/analytics/v1/track", json=page("https://evil.example.net/"), headers=project.key_headers)
    assert answer.status_code == 200


def test_auto_register_adds_hostnames_as_they_report(client, project):
    add(client, project, "a.example")
    answer = client.patch(f"/analytics/v1/projects/{project.id}", json={"auto_register_sources": True}, headers=ADMIN)
    assert answer.status_code == 200 and answer.get_json()["data"]["auto_register_sources"] is True
    batch = [page("https://b.example/"), page("https://B.example/x"), page("https://a.example/")]
    data = client.post("/analytics/v1/batch", json={"batch": batch}, headers=project.key_headers).get_json()["data"]
    assert (data["accepted"], data["rejected"]) == (3, [])
    assert sources(client, project) == ["a.example", "b.example"]
    # Turned off, what was registered stays a source and the rest is refused.
    client.patch(f"/analytics/v1/projects/{project.id}", json={"auto_register_sources": False}, headers=ADMIN)
    data = client.post("/analytics/v1/batch", json={"batch": [page("https://b.example/"), page("https://c.example/")]},
                       headers=project.key_headers).get_json()["data"]
    assert data["accepted"] == 1 and data["rejected"][0]["reason"] == "invalid_source"


@pytest.mark.parametrize("hostname", ["", " ", "exa mple.com", "https://x.com", "x.com/path", "x.com:80", "-x.com",
                                      "x-.com", "x..com", ".x.com", "a" * 64 + ".com", ("a" * 60 + ".") * 5,
                                      "bücher.de", "x.com\u0000", "<script>", "*.x.com", 5, None, ["x.com"]])
def test_hostile_hostnames_are_400(client, project, hostname):
    answer = add(client, project, hostname)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["code"] == "analytics.invalid_request"
    assert sources(client, project) == []


@pytest.mark.parametrize("hostname", ["exa mple.com", "%00", "x" * 300, "..", "x.com%2Fa"])
def test_removing_a_hostile_hostname_is_404(client, project, hostname):
    answer = client.delete(f"/analytics/v1/projects/{project.id}/sources/{hostname}", headers=ADMIN)
    assert answer.status_code == 404


def test_who_may_manage_sources(client, project):
    other = Project(client)
    add(client, other, "other.example")
    assert add(client, project, "m.example", token([f"analytics:{project.id}:manage"])).status_code == 201
    for headers in (token([f"analytics:{project.id}:query"]), token([f"analytics:{project.id}:manage"], org_id="x"),
                    token([f"analytics:{other.id}:manage"])):
        assert add(client, project, "n.example", headers).status_code == 404
        assert client.patch(f"/analytics/v1/projects/{project.id}", json={"auto_register_sources": True},
                            headers=headers).status_code == 404
    for headers in ({}, {"Authorization": "Bearer nope"}, project.key_headers):
        assert add(client, project, "n.example", headers).status_code == 401
    # Removing through another project leaves the source where it is.
    assert client.delete(f"/analytics/v1/projects/{project.id}/sources/other.example", headers=ADMIN).status_code == 204
    assert sources(client, other) == ["other.example"] and sources(client, project) == ["m.example"]


@pytest.mark.parametrize("body", [{}, {"auto_register_sources": None}, {"auto_register_sources": "yes"},
                                  {"auto_register_sources": 1}])
def test_a_bad_project_update_is_400(client, project, body):
    answer = client.patch(f"/analytics/v1/projects/{project.id}", json=body, headers=ADMIN)
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "analytics.invalid_request"
