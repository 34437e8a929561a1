"""camelCase context (Segment's analytics.js and many servers send `context.userAgent`) is read
like its snake_case twin: classified from the event's own User-Agent, and no raw User-Agent or
IP is stored or answered by the `events` query, whichever spelling arrives."""

from __future__ import annotations

import json

import pytest

from conftest import ADMIN, events_of

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")
RAW_IP = "203.0.113.77"


@pytest.mark.parametrize("spelling", ["camelCase", "snake_case"])
def test_context_user_agent_and_ip_are_classified_and_never_stored_raw(client, project, postgres, spelling):
    ua_key, session_key = ("userAgent", "sessionId") if spelling == "camelCase" else ("user_agent", "session_id")
    context = {ua_key: IPHONE, "ip": RAW_IP, session_key: "s-1", "locale": "de-DE", "timezone": "Europe/Berlin",
               "page": {"url": "https://app.example.com/pricing/?utm_source=news", "referrer": "https://www.google.com/"},
               "campaign": {"medium": "email"}, "library": {"name": "analytics.js", "version": "next-1.53.0"}}
    # A server relaying its visitor's event: the HTTP client is python-requests, the visitor an iPhone.
    answer = client.post("/analytics/v1/track", json={"event": "page_viewed", "anonymous_id": "anon-ctx",
                                                      "context": context},
                         headers={**project.key_headers, "User-Agent": "python-requests/2.31.0"},
                         environ_base={"REMOTE_ADDR": "198.51.100.23"})
    assert answer.status_code == 200, answer.get_json()

    row = events_of(postgres, project.id)[0]
    assert (row["browser"], row["os"], row["device_type"]) == ("Safari", "iOS", "mobile")
    assert row["ip_prefix"] == "203.0.113.0"
    assert (row["session_id"], row["language"], row["country"]) == ("s-1", "de", "DE")
    assert (row["path"], row["referrer_host"], row["utm_source"], row["utm_medium"]) == (
        "/pricing", "google.com", "news", "email")
    assert row["library"] == "analytics.js/next-1.53.0"
    assert set(row["context"]) == {session_key, "locale", "timezone", "page", "campaign", "library"}
    stored = json.dumps({k: str(v) for k, v in row.items()})
    assert "iPhone OS" not in stored and RAW_IP not in stored and "198.51.100.23" not in stored

    answered = client.post("/analytics/v1/query", json={"project_id": project.id, "kind": "events",
                                                        "time_range": {"last": "1h"}}, headers=ADMIN)
    assert answered.status_code == 200, answered.get_json()
    [event] = answered.get_json()["data"]["rows"]
    assert (event["browser"], event["os"], event["device_type"]) == ("Safari", "iOS", "mobile")
    assert not {"userAgent", "user_agent", "ip"} & set(event["context"])
    assert "iPhone OS" not in json.dumps(event) and RAW_IP not in json.dumps(event)
