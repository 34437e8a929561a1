"""Cookieless persons through the real service (`reactor serve` under gunicorn, real PostgreSQL):
a browser that keeps no id sends `context.cookieless: true`, and the server derives its person
from a salted hash of IP + User-Agent + project. Same IP and User-Agent on the same day: one
visitor; the next day's salt: a new one; salts older than yesterday are deleted; the raw IP and
User-Agent reach neither the database nor the logs."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest
import requests

from conftest import ADMIN, LiveServer, unique_slug, wait_for

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0 cookieless-marker-7731"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
IP_A, IP_B = "198.51.100.171", "203.0.113.222"


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory):
    live = LiveServer(postgres, tmp_path_factory.mktemp("cookieless"), workers=2,
                      REACTOR_ANALYTICS_TRUST_PROXY="true")
    live.start()
    yield live
    live.stop()


@pytest.fixture()
def site(server):
    project = requests.post(f"{server.url}/analytics/v1/projects", json={"slug": unique_slug("ck")}, headers=ADMIN,
                            timeout=10).json()["data"]
    key = requests.post(f"{server.url}/analytics/v1/projects/{project['id']}/keys", json={"name": "web"},
                        headers=ADMIN, timeout=10).json()["data"]["key"]
    return project["id"], key


def beacon(server, key, ip, ua, *events, cookieless=True):
    """What the tracker's cookieless mode sends: no ids, text/plain, the key in the query string."""
    batch = [{"event": name, "context": {"page": {"url": "https://site.example/"}},
              **({"context": {"cookieless": True, "page": {"url": "https://site.example/"}}} if cookieless else {})}
             for name in events]
    return requests.post(f"{server.url}/analytics/v1/batch?key={key}", data=json.dumps({"batch": batch}),
                         headers={"Content-Type": "text/plain", "User-Agent": ua, "X-Forwarded-For": ip}, timeout=10)


def ids(postgres, project_id):
    with psycopg.connect(postgres.url) as conn:
        return [row[0] for row in conn.execute(
            "SELECT anonymous_id FROM events WHERE project_id = %s ORDER BY seq", (project_id,))]


def test_same_ip_and_user_agent_on_one_day_is_one_visitor(server, site, postgres):
    project_id, key = site
    for ip, ua in ((IP_A, FIREFOX), (IP_A, FIREFOX), (IP_A, CHROME), (IP_B, FIREFOX)):
        answer = beacon(server, key, ip, ua, "$pageview")
        assert answer.status_code == 200 and answer.json()["data"]["accepted"] == 1, answer.text
    first, second, other_browser, other_address = ids(postgres, project_id)
    assert first == second and first.startswith("ck_") and len(first) == 35
    assert len({first, other_browser, other_address}) == 3

    # The web overview counts them as visitors.
    jwt_token = requests.post(f"{server.url}/_admin/tokens", headers=ADMIN, timeout=10, json={
        "sub": "t", "permissions": [f"analytics:{project_id}:query"]}).json()["data"]["token"]

    def visitors():
        answer = requests.post(f"{server.url}/analytics/v1/query", timeout=10, json={
            "kind": "web", "metrics": ["visitors"], "time_range": {"last": "1d"}},
            headers={"Authorization": f"Bearer {jwt_token}", "X-Reactor-Project": project_id})
        assert answer.status_code == 200, answer.text
        rows = answer.json()["data"]["rows"]
        return rows[0]["visitors"] if rows and rows[0]["visitors"] == 3 else None

    assert wait_for(visitors, what="3 visitors") == 3


def test_the_next_days_salt_is_a_new_visitor_and_old_salts_go(server, site, postgres):
    project_id, key = site
    beacon(server, key, IP_A, FIREFOX, "$pageview")
    today = dt.datetime.now(dt.timezone.utc).date()
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        # Today's salt becomes yesterday's, and one from three days ago is still there.
        conn.execute("DELETE FROM cookieless_salts WHERE day <> %s", (today,))
        conn.execute("UPDATE cookieless_salts SET day = day - 1")
        conn.execute("INSERT INTO cookieless_salts (day, salt) VALUES (%s, %s)", (today - dt.timedelta(days=3),
                                                                                 b"\x01" * 16))
    beacon(server, key, IP_A, FIREFOX, "$pageview", "$pageview")
    before, after, again = ids(postgres, project_id)
    assert before != after and after == again
    with psycopg.connect(postgres.url) as conn:
        days = sorted(row[0] for row in conn.execute("SELECT day FROM cookieless_salts"))
    assert days == [today - dt.timedelta(days=1), today]


def test_no_raw_address_or_user_agent_is_kept(server, site, postgres):
    project_id, key = site
    assert beacon(server, key, IP_B, FIREFOX, "$pageview").status_code == 200
    with psycopg.connect(postgres.url) as conn:
        rows = conn.execute("SELECT e::text FROM events e WHERE project_id = %s", (project_id,)).fetchall()
        salts = conn.execute("SELECT s::text FROM cookieless_salts s").fetchall()
    stored = " ".join(r[0] for r in rows + salts)
    assert "203.0.113.0" in stored  # the truncated prefix only
    assert IP_B not in stored and "cookieless-marker-7731" not in stored and "Firefox/121" not in stored
    log = server.log.read_text()
    assert IP_B not in log and "cookieless-marker-7731" not in log


def test_without_the_flag_an_event_needs_an_id(server, site, postgres):
    project_id, key = site
    answer = beacon(server, key, IP_A, FIREFOX, "$pageview", cookieless=False)
    assert answer.status_code == 200
    assert [r["reason"] for r in answer.json()["data"]["rejected"]] == ["missing_field"]
    assert ids(postgres, project_id) == []
