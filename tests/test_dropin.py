"""Drop-in capture: PostHog's and Segment's own Python clients, unchanged, against the live
service under gunicorn; their events land in PostgreSQL, persons merge, retries are stored once,
and bad input gets each SDK's error shape (never a 500)."""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid

import psycopg
import pytest
import requests
from posthog import Posthog
from segment.analytics.client import Client as SegmentClient

from conftest import ADMIN, LiveServer, events_of, wait_for


@pytest.fixture(scope="module")
def live(postgres, tmp_path_factory):
    server = LiveServer(postgres, tmp_path_factory.mktemp("dropin")).start()
    yield server
    server.stop()


@pytest.fixture()
def proj(live):
    slug = f"dropin-{uuid.uuid4().hex[:8]}"
    made = requests.post(f"{live.url}/analytics/v1/projects", json={"slug": slug}, headers=ADMIN, timeout=10)
    assert made.status_code == 201, made.text
    project_id = made.json()["data"]["id"]
    key = requests.post(f"{live.url}/analytics/v1/projects/{project_id}/keys", json={"name": "sdk"},
                        headers=ADMIN, timeout=10).json()["data"]["key"]
    return project_id, key


def links_of(postgres, project_id: str) -> set[tuple[str, str]]:
    with psycopg.connect(postgres.url) as conn:
        rows = conn.execute("SELECT anonymous_id, user_id FROM identity_links WHERE project_id = %s",
                            (project_id,)).fetchall()
    return {(a, u) for a, u in rows if a != u}


def traits_of(postgres, project_id: str, user_id: str) -> dict:
    with psycopg.connect(postgres.url) as conn:
        row = conn.execute("SELECT traits FROM person_traits WHERE project_id = %s AND user_id = %s",
                           (project_id, user_id)).fetchone()
    return row[0] if row else {}


# --- PostHog ---------------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True], ids=["json", "gzip"])
def test_posthog_python_client_events_traits_and_alias_arrive(live, postgres, proj, compress):
    project_id, key = proj
    errors = []
    client = Posthog(key, host=live.url, sync_mode=True, gzip=compress, on_error=lambda e, _: errors.append(e))
    client.capture("anon page", distinct_id="anon-1", properties={"$current_url": "https://shop.example/a"})
    client.capture("order_paid", distinct_id="user-1", properties={"cents": 1999})
    client.set(distinct_id="user-1", properties={"plan": "pro"})
    client.alias(previous_id="anon-1", distinct_id="user-1")
    assert client.get_feature_flag("beta", "user-1") is None  # /flags/ answers "no flags"
    client.flush()
    client.shutdown()
    assert errors == []

    rows = events_of(postgres, project_id, "event, anonymous_id, user_id, path, library, properties")
    assert [r["event"] for r in rows] == ["anon page", "order_paid", "$identify", "$alias"]
    assert rows[0]["path"] == "/a" and rows[0]["library"].startswith("posthog-python/")
    assert rows[1]["properties"]["cents"] == 1999 and "token" not in rows[1]["properties"]
    assert ("anon-1", "user-1") in links_of(postgres, project_id)
    assert traits_of(postgres, project_id, "user-1") == {"plan": "pro"}


def test_posthog_retried_batch_is_stored_once_and_answers_status_1(live, postgres, proj):
    project_id, key = proj
    body = {"api_key": key, "sent_at": "2026-01-01T00:00:10Z", "batch": [
        {"event": "x", "distinct_id": "d", "uuid": str(uuid.uuid4()), "timestamp": "2026-01-01T00:00:00Z",
         "properties": {"i": i}} for i in range(3)]}
    for _ in range(2):
        answer = requests.post(f"{live.url}/batch/", json=body, timeout=10)
        assert (answer.status_code, answer.json()) == (200, {"status": 1})
    assert len(events_of(postgres, project_id)) == 3


def test_posthog_js_bodies_gzip_by_magic_base64_form_and_offset(live, postgres, proj):
    project_id, key = proj
    identify = {"uuid": str(uuid.uuid4()), "event": "$identify", "offset": 5,
                "properties": {"token": key, "distinct_id": "u-js", "$anon_distinct_id": "dev-js",
                               "$device_id": "dev-js", "$is_identified": True,
                               "$raw_user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0 Safari/537.36"},
                "$set": {"email": "a@example.com"}}
    view = {"uuid": str(uuid.uuid4()), "event": "$pageview", "offset": 10,
            "properties": {"token": key, "distinct_id": "dev-js", "$device_id": "dev-js", "$is_identified": False,
                           "$current_url": "https://site.example/pricing"}}
    gz = requests.post(f"{live.url}/e/?ip=0&ver=1.449.2", timeout=10, headers={"Content-Type": "text/plain"},
                       data=gzip.compress(json.dumps({"api_key": key, "batch": [view], "sent_at": "x"}).encode()))
    assert (gz.status_code, gz.json()) == (200, {"status": 1})
    encoded = base64.b64encode(json.dumps([identify]).encode()).decode()
    form = requests.post(f"{live.url}/i/v0/e/?compression=base64", data={"data": encoded}, timeout=10)
    assert (form.status_code, form.json()) == (200, {"status": 1})

    rows = events_of(postgres, project_id, "event, anonymous_id, user_id, path, browser, properties, context, ts, received_at")
    assert [(r["event"], r["anonymous_id"], r["user_id"]) for r in rows] == [
        ("$pageview", "dev-js", None), ("$identify", "dev-js", "u-js")]
    assert rows[0]["path"] == "/pricing"
    assert rows[1]["browser"] == "Chrome"
    assert "Mozilla" not in json.dumps([r["properties"] for r in rows] + [r["context"] for r in rows])
    assert abs((rows[0]["received_at"] - rows[0]["ts"]).total_seconds() - 0.010) < 0.005
    assert ("dev-js", "u-js") in links_of(postgres, project_id)
    assert traits_of(postgres, project_id, "u-js") == {"email": "a@example.com"}


def test_posthog_remote_config_flags_and_cors_preflight(live):
    pre = requests.options(f"{live.url}/e/", timeout=10, headers={
        "Origin": "https://site.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    assert "content-type" in pre.headers["Access-Control-Allow-Headers"].lower()
    flags = requests.post(f"{live.url}/flags/?v=2&config=true", json={"token": "t", "distinct_id": "d"}, timeout=10)
    assert flags.status_code == 200 and flags.json()["flags"] == {} and flags.json()["featureFlags"] == {}
    assert requests.post(f"{live.url}/decide/?v=3", data="x", timeout=10).json()["supportedCompression"] == ["gzip-js", "base64"]
    config = requests.get(f"{live.url}/array/phc_t/config", timeout=10).json()
    assert config["hasFeatureFlags"] is False and config["token"] == "phc_t"
    script = requests.get(f"{live.url}/array/phc_t/config.js", timeout=10)
    assert script.status_code == 200 and '_POSTHOG_REMOTE_CONFIG["phc_t"]' in script.text


# --- Segment ---------------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True], ids=["json", "gzip"])
def test_segment_python_client_every_call_arrives(live, postgres, proj, compress):
    project_id, key = proj
    errors = []
    client = SegmentClient(key, host=live.url, sync_mode=True, gzip=compress, on_error=lambda e, _: errors.append(e))
    client.track(anonymous_id="anon-s", event="Viewed Pricing", properties={"plan": "pro"},
                 context={"ip": "198.51.100.23", "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"})
    client.identify(user_id="user-s", traits={"email": "s@example.com"}, anonymous_id="anon-s")
    client.alias(previous_id="anon-t", user_id="user-s")
    client.page(user_id="user-s", category="Docs", name="Start", properties={"url": "https://docs.example/start"})
    client.screen(user_id="user-s", name="Home")
    client.track(user_id="user-s", event="Signed Up")
    client.flush()
    assert errors == []

    rows = events_of(postgres, project_id, "event, anonymous_id, user_id, path, ip_prefix, device_type, library, context")
    assert [r["event"] for r in rows] == ["Viewed Pricing", "$identify", "$alias", "$pageview", "$screen", "Signed Up"]
    assert rows[0]["ip_prefix"] == "198.51.100.0" and rows[0]["device_type"] == "mobile"
    assert "198.51.100.23" not in json.dumps(rows[0]["context"]) and "iPhone" not in json.dumps(rows[0]["context"])
    assert rows[3]["path"] == "/start" and rows[0]["library"].startswith("analytics-python/")
    assert links_of(postgres, project_id) == {("anon-s", "user-s"), ("anon-t", "user-s")}
    assert traits_of(postgres, project_id, "user-s") == {"email": "s@example.com"}


def test_segment_single_calls_basic_auth_one_letter_paths_and_retries(live, postgres, proj):
    project_id, key = proj
    message = {"type": "track", "event": "Clicked", "anonymousId": "a-1", "messageId": f"ajs-next-1-{uuid.uuid4()}"}
    for _ in range(2):  # analytics.js retrying the same message
        answer = requests.post(f"{live.url}/v1/t", data=json.dumps(message), auth=(key, ""), timeout=10,
                               headers={"Content-Type": "text/plain", "X-Retry-Count": "1"})
        assert (answer.status_code, answer.json()) == (200, {"success": True})
    body_key = requests.post(f"{live.url}/v1/identify", timeout=10,
                             json={"userId": "u-1", "anonymousId": "a-1", "writeKey": key, "traits": {"n": 1}})
    assert body_key.json() == {"success": True}
    assert [r["event"] for r in events_of(postgres, project_id, "event")] == ["Clicked", "$identify"]
    settings = requests.get(f"{live.url}/v1/projects/{key}/settings", timeout=10).json()
    assert settings["integrations"]["Segment.io"] == {
        "apiKey": key, "apiHost": live.url.removeprefix("http://") + "/v1", "protocol": "http"}


# --- bad input -------------------------------------------------------------------------------

def test_bad_input_gets_each_sdks_error_and_nothing_accepted_is_lost(live, postgres, proj):
    project_id, key = proj
    kept = requests.post(f"{live.url}/batch/", json={"api_key": key, "batch": [{"event": "kept", "distinct_id": "d"}]},
                         timeout=10)
    assert kept.status_code == 200

    wrong = requests.post(f"{live.url}/batch/", json={"api_key": "rapk_wrong", "batch": [{"event": "e", "distinct_id": "d"}]},
                          timeout=10)
    assert wrong.status_code == 401 and wrong.json()["type"] == "authentication_error" and wrong.json()["detail"]
    no_key = requests.post(f"{live.url}/e/", json=[{"event": "e", "properties": {"distinct_id": "d"}}], timeout=10)
    assert no_key.status_code == 401
    seg_wrong = requests.post(f"{live.url}/v1/batch", auth=("rapk_wrong", ""), timeout=10,
                              json={"batch": [{"type": "track", "event": "e", "userId": "u"}]})
    assert seg_wrong.status_code == 401 and set(seg_wrong.json()) == {"code", "message"}

    broken = requests.post(f"{live.url}/batch/", data=b"\x1f\x8b\x08\x00garbage", timeout=10,
                           headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["type"] == "validation_error"
    truncated = gzip.compress(json.dumps({"api_key": key, "batch": []}).encode())[:-6]
    assert requests.post(f"{live.url}/batch/", data=truncated, timeout=10).status_code == 400

    # 10 MB once inflated, 10 KB on the wire: refused before it is inflated past the limit.
    bomb = gzip.compress(b'{"api_key":"' + key.encode() + b'","batch":[' + b" " * 10_000_000 + b"]}")
    for path, shape in (("/batch/", "detail"), ("/v1/batch", "message")):
        started = time.monotonic()
        answer = requests.post(f"{live.url}{path}", data=bomb, headers={"Content-Encoding": "gzip"}, timeout=10)
        assert answer.status_code == 413 and shape in answer.json(), answer.text
        assert time.monotonic() - started < 5

    for path in ("/batch/", "/e/", "/v1/batch", "/v1/t", "/v1/p"):
        for data in (b"{", b"[1,2]", b'"text"', b'{"batch": 3}', b"\xff\xfe", b'{"batch":[{"event":"$rageclick"}]}'):
            answer = requests.post(f"{live.url}{path}", data=data, timeout=10,
                                   params={"api_key": key}, auth=(key, "") if path.startswith("/v1") else None)
            assert 400 <= answer.status_code < 500, (path, data, answer.status_code, answer.text)
            body = answer.json()
            assert ("message" in body) if path.startswith("/v1") else ("detail" in body), body

    assert [r["event"] for r in events_of(postgres, project_id, "event")] == ["kept"]


def test_do_not_track_answers_success_and_stores_nothing(live, postgres, proj):
    project_id, key = proj
    answer = requests.post(f"{live.url}/e/", headers={"DNT": "1"}, timeout=10,
                           json={"api_key": key, "batch": [{"event": "e", "properties": {"distinct_id": "d"}}]})
    assert (answer.status_code, answer.json()) == (200, {"status": 1})
    wait_for(lambda: True)
    assert events_of(postgres, project_id) == []
