"""The ingest endpoints of SPEC "Ingest", against the real app and a real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from conftest import ADMIN, Project, events_of


def event(name="signup_completed", **fields):
    body = {"event": name, "anonymous_id": "anon-1", "properties": {"plan": "pro"},
            "message_id": str(uuid.uuid4())}
    body.update(fields)
    return body


def test_track_stores_one_event_and_answers_the_pinned_shape(client, project, postgres):
    answer = client.post("/analytics/v1/track", json=event(), headers=project.key_headers)
    assert answer.status_code == 200
    assert answer.get_json() == {"data": {"accepted": 1, "rejected": []}}
    rows = events_of(postgres, project.id)
    assert [(r["event"], r["distinct_id"], r["properties"]) for r in rows] == [
        ("signup_completed", "anon-1", {"plan": "pro"})]


def test_track_fills_hot_columns_and_keeps_no_raw_user_agent_or_ip(client, project, postgres):
    ua = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
    body = event("$pageview", context={
        "page": {"url": "https://app.example.com/pricing/?utm_source=news&utm_medium=email",
                 "referrer": "https://www.Google.com/search?q=x"},
        "user_agent": ua, "locale": "de-DE", "timezone": "Europe/Berlin", "ip": "203.0.113.77"})
    answer = client.post("/analytics/v1/track", json=body, headers=project.key_headers,
                         environ_base={"REMOTE_ADDR": "198.51.100.23"})
    assert answer.status_code == 200, answer.get_json()
    row = events_of(postgres, project.id)[0]
    assert row["path"] == "/pricing"
    assert row["utm_source"] == "news" and row["utm_medium"] == "email"
    assert row["referrer_host"] == "google.com"
    assert (row["browser"], row["os"], row["device_type"]) == ("Safari", "iOS", "mobile")
    assert row["language"] == "de" and row["country"] == "DE"
    assert row["ip_prefix"] == "203.0.113.0"
    stored = json.dumps(row["context"])
    assert ua not in stored and "203.0.113.77" not in stored and "198.51.100.23" not in json.dumps(
        {k: str(v) for k, v in row.items()})


def test_request_ip_is_truncated_to_24_bits(client, project, postgres):
    client.post("/analytics/v1/track", json=event(), headers=project.key_headers,
                environ_base={"REMOTE_ADDR": "198.51.100.23"})
    assert events_of(postgres, project.id)[0]["ip_prefix"] == "198.51.100.0"


def test_batch_keeps_accepted_events_and_names_rejections_by_index(client, project, postgres):
    batch = [event("ok_1"), event("$checkout"), event("ok_2", properties={"blob": "x" * 40_000}),
             {"event": "no_identity"}, event("ok_3", surprise=1), event("ok_4")]
    answer = client.post("/analytics/v1/batch", json={"batch": batch}, headers=project.key_headers)
    assert answer.status_code == 200
    data = answer.get_json()["data"]
    assert data["accepted"] == 2
    reasons = {r["index"]: r for r in data["rejected"]}
    assert reasons[1]["reason"] == "system_reserved"
    assert reasons[2]["reason"] == "properties_too_large" and reasons[2]["limit_bytes"] == 32768
    assert reasons[3]["reason"] == "missing_field"
    assert reasons[4]["reason"] == "unknown_field" and reasons[4]["field"] == "surprise"
    assert sorted(r["event"] for r in events_of(postgres, project.id)) == ["ok_1", "ok_4"]


def test_track_refuses_reserved_names_with_the_documented_code(client, project):
    answer = client.post("/analytics/v1/track", json=event("$checkout_completed"), headers=project.key_headers)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "analytics.event.system_reserved"


def test_track_refuses_oversize_properties_with_the_limit(client, project):
    answer = client.post("/analytics/v1/track", json=event(properties={"x": "y" * 33_000}),
                         headers=project.key_headers)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "analytics.event.properties_too_large" and error["limit_bytes"] == 32768


def test_system_events_are_accepted(client, project):
    for name in ("$pageview", "$session_start", "$error", "$autocapture", "$pageleave", "$screen", "$pixel_open"):
        answer = client.post("/analytics/v1/track", json=event(name), headers=project.key_headers)
        assert answer.status_code == 200, (name, answer.get_json())


def test_batch_of_more_than_100_events_is_refused(client, project, postgres):
    answer = client.post("/analytics/v1/batch", json={"batch": [event() for _ in range(101)]},
                         headers=project.key_headers)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "analytics.batch.too_many_events"
    assert events_of(postgres, project.id) == []


def test_body_over_one_mebibyte_is_413(client, project):
    body = json.dumps({"batch": [event(properties={"x": "y" * 20_000}) for _ in range(60)]})
    assert len(body) > 1_048_576
    answer = client.post("/analytics/v1/batch", data=body, content_type="application/json",
                         headers=project.key_headers)
    assert answer.status_code == 413
    assert answer.get_json()["error"]["code"] == "analytics.payload_too_large"


@pytest.mark.parametrize("body", [b"{", b"not json", b"\xff\xfe", b"[" * 100_000, b'{"event": "a", }'])
def test_malformed_json_is_400_invalid_json(client, project, body):
    answer = client.post("/analytics/v1/track", data=body, content_type="application/json",
                         headers=project.key_headers)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "analytics.invalid_json"


@pytest.mark.parametrize("body", [[], "text", 5, None])
def test_non_object_body_is_400(client, project, body):
    answer = client.post("/analytics/v1/track", data=json.dumps(body), content_type="application/json",
                         headers=project.key_headers)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "analytics.invalid_request"


@pytest.mark.parametrize("field,value", [("event", 5), ("anonymous_id", ["a"]), ("properties", "x"),
                                         ("context", 3), ("timestamp", "yesterday"), ("message_id", {})])
def test_wrong_types_are_400_naming_the_field(client, project, field, value):
    answer = client.post("/analytics/v1/track", json=event(**{field: value}), headers=project.key_headers)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"].startswith("analytics.event.")
    if error["code"] != "analytics.event.invalid_name":
        assert error["field"] == field


def test_unknown_field_is_400(client, project):
    answer = client.post("/analytics/v1/track", json=event(colour="blue"), headers=project.key_headers)
    assert answer.status_code == 400
    assert answer.get_json()["error"] == {"code": "analytics.event.unknown_field", "field": "colour",
                                          "message": answer.get_json()["error"]["message"]}


def test_content_type_must_be_json_or_text_plain(client, project):
    answer = client.post("/analytics/v1/track", data=json.dumps(event()), content_type="application/xml",
                         headers=project.key_headers)
    assert answer.status_code == 415
    assert answer.get_json()["error"]["code"] == "analytics.unsupported_media_type"


def test_send_beacon_text_plain_with_key_in_body_or_query(client, project, postgres):
    body = event("beacon_body")
    body["key"] = project.key
    assert client.post("/analytics/v1/track", data=json.dumps(body), content_type="text/plain").status_code == 200
    answer = client.post(f"/analytics/v1/track?key={project.key}", data=json.dumps(event("beacon_query")),
                         content_type="text/plain;charset=UTF-8")
    assert answer.status_code == 200
    assert sorted(r["event"] for r in events_of(postgres, project.id)) == ["beacon_body", "beacon_query"]


@pytest.mark.parametrize("header", ["DNT", "Sec-GPC"])
def test_do_not_track_answers_204_and_stores_nothing(client, project, postgres, header):
    answer = client.post("/analytics/v1/track", json=event(), headers={**project.key_headers, header: "1"})
    assert answer.status_code == 204 and answer.data == b""
    assert events_of(postgres, project.id) == []


def test_retried_message_id_is_stored_once(client, project, postgres):
    body = event()
    for _ in range(3):
        assert client.post("/analytics/v1/track", json=body, headers=project.key_headers).status_code == 200
    batch = {"batch": [body, body, event()]}
    assert client.post("/analytics/v1/batch", json=batch, headers=project.key_headers).get_json()["data"][
        "accepted"] == 3
    assert len(events_of(postgres, project.id)) == 2


def test_sent_at_corrects_client_clock_skew(client, project, postgres):
    now = datetime.now(timezone.utc)
    skew = timedelta(hours=3)  # the client's clock runs three hours fast
    body = event(timestamp=(now + skew - timedelta(minutes=5)).isoformat(), sent_at=(now + skew).isoformat())
    client.post("/analytics/v1/track", json=body, headers=project.key_headers)
    stored = events_of(postgres, project.id)[0]["ts"]
    assert abs((stored - (now - timedelta(minutes=5))).total_seconds()) < 5


def test_identify_links_anonymous_id_and_merges_traits(client, project, postgres):
    import psycopg

    for traits in ({"plan": "free", "email": "a@example.com"}, {"plan": "pro"}):
        answer = client.post("/analytics/v1/identify", json={"user_id": "u_42", "anonymous_id": "anon-9",
                                                             "traits": traits}, headers=project.key_headers)
        assert answer.get_json() == {"data": {"accepted": 1, "rejected": []}}
    with psycopg.connect(postgres.url) as conn:
        links = conn.execute("SELECT anonymous_id, user_id FROM identity_links WHERE project_id = %s "
                             "AND anonymous_id <> user_id", (project.id,)).fetchall()
        traits = conn.execute("SELECT traits FROM person_traits WHERE project_id = %s", (project.id,)).fetchall()
    assert links == [("anon-9", "u_42")]
    assert traits == [({"plan": "pro", "email": "a@example.com"},)]
    assert [r["event"] for r in events_of(postgres, project.id)] == ["$identify", "$identify"]


def test_alias_links_previous_id_but_never_merges_two_users(client, project, postgres):
    import psycopg

    h = project.key_headers
    assert client.post("/analytics/v1/alias", json={"previous_id": "anon-5", "user_id": "u_1"}, headers=h).status_code == 200
    # anon-5 is already linked: the first link wins.
    client.post("/analytics/v1/alias", json={"previous_id": "anon-5", "user_id": "u_2"}, headers=h)
    # u_1 is a user: it is never merged into u_3.
    client.post("/analytics/v1/alias", json={"previous_id": "u_1", "user_id": "u_3"}, headers=h)
    with psycopg.connect(postgres.url) as conn:
        links = conn.execute("SELECT anonymous_id, user_id FROM identity_links WHERE project_id = %s "
                             "AND anonymous_id <> user_id ORDER BY anonymous_id", (project.id,)).fetchall()
    assert links == [("anon-5", "u_1")]


def test_alias_requires_both_ids(client, project):
    answer = client.post("/analytics/v1/alias", json={"user_id": "u_1"}, headers=project.key_headers)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["field"] == "previous_id"


def test_opted_out_anonymous_id_is_dropped(client, project, postgres):
    h = project.key_headers
    assert client.get("/analytics/v1/consent/status?anonymous_id=anon-x", headers=h).get_json()["data"][
        "opted_out"] is False
    assert client.post("/analytics/v1/consent/opt-out", json={"anonymous_id": "anon-x"}, headers=h).status_code == 200
    assert client.get("/analytics/v1/consent/status?anonymous_id=anon-x", headers=h).get_json()["data"][
        "opted_out"] is True
    answer = client.post("/analytics/v1/batch", json={"batch": [event(anonymous_id="anon-x"), event("kept")]},
                         headers=h)
    assert answer.get_json()["data"]["accepted"] == 1
    assert answer.get_json()["data"]["rejected"][0]["reason"] == "opted_out"
    assert [r["event"] for r in events_of(postgres, project.id)] == ["kept"]


@pytest.mark.parametrize("credential", ["key", "jwt"])
def test_opt_out_holds_for_ids_with_array_syntax_in_them(client, project, postgres, credential):
    """The opt-out lookup hands PostgreSQL the batch's ids as one text[] literal: quotes,
    backslashes, commas, braces and the word NULL must stay part of an id."""
    hostile = ['a"b', "c\\d", "e,f", "{g}", "NULL", " h ", 'i\\"}, "j']
    for anonymous_id in hostile:
        client.post("/analytics/v1/consent/opt-out", json={"anonymous_id": anonymous_id}, headers=project.key_headers)
    if credential == "key":
        headers = project.key_headers
    else:
        token = client.post("/_admin/tokens", json={"sub": "ci", "permissions": [f"analytics:{project.id}:ingest"]},
                            headers=ADMIN).get_json()["data"]["token"]
        headers = {"Authorization": f"Bearer {token}", "X-Reactor-Project": project.slug}
    near_misses = ["ab", "c\\\\d", "e", "g", "null", "h", "j"]
    batch = [event(anonymous_id=a) for a in hostile + near_misses]
    answer = client.post("/analytics/v1/batch", json={"batch": batch}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    data = answer.get_json()["data"]
    assert data["accepted"] == len(near_misses)
    assert [r["index"] for r in data["rejected"] if r["reason"] == "opted_out"] == list(range(len(hostile)))
    assert sorted(r["anonymous_id"] for r in events_of(postgres, project.id)) == sorted(near_misses)


def test_consent_of_one_project_does_not_touch_another(client, project, postgres):
    other = Project(client)
    client.post("/analytics/v1/consent/opt-out", json={"anonymous_id": "anon-y"}, headers=project.key_headers)
    assert client.get("/analytics/v1/consent/status?anonymous_id=anon-y", headers=other.key_headers).get_json()[
        "data"]["opted_out"] is False


def test_cors_preflight_and_headers(client):
    answer = client.open("/analytics/v1/track", method="OPTIONS",
                         headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"})
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Reactor-Project-Key" in answer.headers["Access-Control-Allow-Headers"]


@pytest.mark.parametrize("value", ["a\u0000b", "\u202e\u0007", "'; DROP TABLE events; --", "😀" * 50,
                                   "<script>alert(1)</script>"])
def test_hostile_strings_are_stored_verbatim_or_refused_never_500(client, project, postgres, value):
    answer = client.post("/analytics/v1/track", json=event(properties={"v": value}), headers=project.key_headers)
    assert answer.status_code in (200, 400), answer.data
    if answer.status_code == 200:
        assert events_of(postgres, project.id)[0]["properties"] == {"v": value}
    else:
        assert answer.get_json()["error"]["code"].startswith("analytics.event.")


def test_deeply_nested_properties_are_refused_cleanly(client, project):
    nested = "{\"a\":" * 5000 + "1" + "}" * 5000
    body = '{"event": "deep", "anonymous_id": "a", "properties": ' + nested + "}"
    answer = client.post("/analytics/v1/track", data=body, content_type="application/json",
                         headers=project.key_headers)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "analytics.invalid_json"


def test_events_are_scoped_to_the_keys_project(client, project, postgres):
    other = Project(client)
    answer = client.post("/analytics/v1/track", json=event(project_id=other.id), headers=project.key_headers)
    assert answer.status_code == 403
    answer = client.post("/analytics/v1/track", json=event(), headers={**project.key_headers,
                                                                     "X-Reactor-Project": other.slug})
    assert answer.status_code == 403
    assert events_of(postgres, other.id) == [] and events_of(postgres, project.id) == []
