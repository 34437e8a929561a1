"""Tracking pixels: created by an admin for one project; each load of the GIF records a
`$pixel_open` event through the ingest pipeline; unknown, deleted and foreign ids are 404; DNT
stores nothing. Real PostgreSQL, the real app."""

from __future__ import annotations

import time

import jwt
import pytest

from conftest import ADMIN, JWT_SECRET, Project, events_of

UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15"


def token(permissions, **claims):
    payload = {"sub": "svc", "permissions": permissions, "exp": int(time.time()) + 600, **claims}
    return {"Authorization": f"Bearer {jwt.encode(payload, JWT_SECRET, algorithm='HS256')}"}


def create(client, project, headers=None, **body):
    return client.post(f"/analytics/v1/projects/{project.id}/pixels", json={"name": "newsletter", **body},
                       headers=ADMIN if headers is None else headers)


def load(client, url, **headers):
    return client.get(url, headers={"User-Agent": UA, **headers}, environ_base={"REMOTE_ADDR": "198.51.100.23"})


def test_a_pixel_is_created_listed_and_served(client, project, postgres):
    answer = create(client, project, metadata={"campaign": "may", "issue": 12})
    assert answer.status_code == 201, answer.get_json()
    pixel = answer.get_json()["data"]
    assert pixel["id"].startswith("px_") and pixel["name"] == "newsletter"
    assert pixel["url"] == f"/analytics/v1/pixel/{pixel['id']}.gif"
    listed = client.get(f"/analytics/v1/projects/{project.slug}/pixels", headers=ADMIN).get_json()["data"]
    assert [p["id"] for p in listed] == [pixel["id"]]

    gif = load(client, pixel["url"] + "?utm_source=mail&subscriber=s-42&key=rapk_secret&pixel_id=forged",
               Referer="https://mail.example.org/inbox")
    assert gif.status_code == 200
    assert gif.mimetype == "image/gif" and gif.data.startswith(b"GIF89a") and len(gif.data) == 43
    assert gif.headers["Cache-Control"] == "no-store"
    (row,) = events_of(postgres, project.id)
    assert row["event"] == "$pixel_open"
    assert row["properties"] == {"utm_source": "mail", "subscriber": "s-42", "pixel_id": pixel["id"],
                                 "pixel_name": "newsletter", "metadata": {"campaign": "may", "issue": 12}}
    assert row["anonymous_id"].startswith("ck_")
    assert (row["ip_prefix"], row["browser"], row["os"]) == ("198.51.100.0", "Safari", "macOS")
    assert row["url"] == "https://mail.example.org/inbox"
    stored = str(row)
    assert "198.51.100.23" not in stored and "Version/17.2" not in stored and "rapk_secret" not in stored


def test_a_reload_with_the_same_message_id_counts_once(client, project, postgres):
    url = create(client, project).get_json()["data"]["url"]
    for _ in range(3):
        assert load(client, url + "?message_id=open-1").status_code == 200
    assert load(client, url).status_code == 200
    assert len(events_of(postgres, project.id)) == 2


@pytest.mark.parametrize("message_id", ["", "a\u009bb", "x" * 201, "tab\there"])
def test_a_bad_message_id_is_400(client, project, postgres, message_id):
    url = create(client, project).get_json()["data"]["url"]
    answer = client.get(url, query_string={"message_id": message_id}, headers={"User-Agent": UA})
    assert answer.status_code == 400
    assert answer.get_json()["error"] == {"code": "analytics.invalid_request", "field": "message_id",
                                          "message": "message_id: 1 to 200 characters, no control characters"}
    assert events_of(postgres, project.id) == []


@pytest.mark.parametrize("header", [{"DNT": "1"}, {"Sec-GPC": "1"}])
def test_do_not_track_gets_the_gif_and_nothing_is_stored(client, project, postgres, header):
    url = create(client, project).get_json()["data"]["url"]
    gif = load(client, url, **header)
    assert gif.status_code == 200 and gif.mimetype == "image/gif" and len(gif.data) == 43
    assert events_of(postgres, project.id) == []


def test_unknown_deleted_and_foreign_pixels(client, project, postgres):
    other = Project(client)
    pixel = create(client, project).get_json()["data"]
    # Another project cannot see or delete it.
    assert client.delete(f"/analytics/v1/projects/{other.id}/pixels/{pixel['id']}", headers=ADMIN).status_code == 404
    assert client.get(f"/analytics/v1/projects/{other.id}/pixels", headers=ADMIN).get_json()["data"] == []
    assert load(client, pixel["url"]).status_code == 200
    assert client.delete(f"/analytics/v1/projects/{project.id}/pixels/{pixel['id']}", headers=ADMIN).status_code == 204
    assert client.delete(f"/analytics/v1/projects/{project.id}/pixels/{pixel['id']}", headers=ADMIN).status_code == 204
    for url in (pixel["url"], "/analytics/v1/pixel/px_nope.gif", "/analytics/v1/pixel/%00.gif",
                f"/analytics/v1/pixel/{'x' * 3000}.gif", "/analytics/v1/pixel/px_%F0%9F%92%A9.gif"):
        answer = load(client, url)
        assert answer.status_code == 404, url
        assert answer.get_json()["error"]["code"] == "analytics.not_found"
    assert client.get(f"/analytics/v1/projects/{project.id}/pixels", headers=ADMIN).get_json()["data"] == []
    assert len(events_of(postgres, project.id)) == 1
    assert events_of(postgres, other.id) == []


def test_who_may_manage_pixels(client, project):
    assert create(client, project, token([f"analytics:{project.id}:manage"])).status_code == 201
    assert create(client, project, token(["analytics:project:create"])).status_code == 201
    for headers in (token([f"analytics:{project.id}:query"]), token(["analytics:project:create"], org_id="other"),
                    token([f"analytics:{project.id}:manage"], org_id="other")):
        answer = create(client, project, headers)
        assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "analytics.not_found"
    for headers in ({}, {"Authorization": "Bearer nope"}, project.key_headers):
        assert create(client, project, headers).status_code == 401
    assert len(client.get(f"/analytics/v1/projects/{project.id}/pixels", headers=ADMIN).get_json()["data"]) == 2


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "  "}, {"name": "x" * 201}, {"name": 5}, {},
                                  {"name": "a", "metadata": [1]}, {"name": "a", "metadata": {"k": "\u0000"}},
                                  {"name": "a", "metadata": {"k": "x" * 501}}, {"name": "a", "metadata": {"k": {"nested": 1}}}, {"name": "a", "extra": 1}])
def test_bad_pixel_bodies_are_400(client, project, body):
    answer = client.post(f"/analytics/v1/projects/{project.id}/pixels", json=body, headers=ADMIN)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["code"] == "analytics.invalid_request"


def test_a_pixel_open_from_a_page_of_another_source_is_dropped(client, project, postgres):
    url = create(client, project).get_json()["data"]["url"]
    assert client.post(f"/analytics/v1/projects/{project.id}/sources", json={"hostname": "shop.example.com"},
                       headers=ADMIN).status_code == 201
    assert load(client, url, Referer="https://evil.example.net/").status_code == 200
    assert load(client, url, Referer="https://shop.example.com/thanks").status_code == 200
    assert load(client, url).status_code == 200  # an e-mail client sends no page
    assert [r["url"] for r in events_of(postgres, project.id)] == ["https://shop.example.com/thanks", None]


def test_pixel_loads_are_rate_limited_per_address(postgres, tmp_path):
    """The GIF is a public endpoint: each load spends a token of the address's bucket."""
    import requests

    from conftest import LiveServer, unique_slug

    server = LiveServer(postgres, tmp_path, workers=2, REACTOR_ANALYTICS_RATE_LIMIT_PER_SECOND="0.01",
                        REACTOR_ANALYTICS_RATE_LIMIT_BURST="3").start()
    try:
        project = requests.post(f"{server.url}/analytics/v1/projects", json={"slug": unique_slug("px")},
                                headers=ADMIN, timeout=10).json()["data"]
        pixel = requests.post(f"{server.url}/analytics/v1/projects/{project['id']}/pixels", json={"name": "p"},
                              headers=ADMIN, timeout=10).json()["data"]
        statuses = [requests.get(server.url + pixel["url"], headers={"Connection": "close"}, timeout=10).status_code
                    for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        assert len(events_of(postgres, project["id"])) == 3
    finally:
        server.stop()
