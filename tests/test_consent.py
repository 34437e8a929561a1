"""Consent as the README promises it: `honor_dnt = false` stores what DNT / Sec-GPC would drop,
and an erasure keeps the opt-out tombstone, so the erased visitor's later events stay out."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

import jwt
import pytest

from conftest import JWT_SECRET, Project, events_of


def _bearer(project: Project, *actions: str) -> dict:
    token = jwt.encode({"sub": "ops", "permissions": [f"analytics:{project.id}:{a}" for a in actions],
                        "exp": int(time.time()) + 600}, JWT_SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}", "X-Reactor-Project": project.id}


@pytest.fixture()
def dnt_ignored(config):
    """An app of the same service with `[analytics] honor_dnt = false`."""
    from reactor_analytics.app import create_app

    application = create_app(replace(config, analytics=replace(config.analytics, honor_dnt=False)))
    yield application.test_client()
    application.extensions["reactor"].db.close()


def test_with_honor_dnt_off_dnt_and_gpc_events_are_stored(client, project, postgres, dnt_ignored):
    h = project.key_headers
    # The default (honor_dnt on) drops them: 204 and nothing stored.
    for header in ("DNT", "Sec-GPC"):
        answer = client.post("/analytics/v1/track", json={"event": "dropped", "anonymous_id": "a"},
                             headers={**h, header: "1"})
        assert answer.status_code == 204
    assert events_of(postgres, project.id) == []

    # With honor_dnt = false the same requests are taken like any other, on every ingest endpoint.
    sent = [
        ("/analytics/v1/track", {"event": "dnt_track", "anonymous_id": "a", "message_id": "m1"}, {"DNT": "1"}),
        ("/analytics/v1/track", {"event": "gpc_track", "anonymous_id": "a", "message_id": "m2"}, {"Sec-GPC": "1"}),
        ("/analytics/v1/batch", {"batch": [{"event": "dnt_batch", "anonymous_id": "a", "message_id": "m3"}]},
         {"DNT": "1", "Sec-GPC": "1"}),
        ("/analytics/v1/identify", {"anonymous_id": "a", "user_id": "u", "message_id": "m4"}, {"Sec-GPC": "1"}),
    ]
    for path, body, headers in sent:
        answer = dnt_ignored.post(path, json=body, headers={**h, **headers})
        assert answer.status_code == 200, (path, answer.status_code, answer.get_data(as_text=True))
        assert answer.get_json()["data"] == {"accepted": 1, "rejected": []}
    stored = events_of(postgres, project.id, "event, message_id")
    assert sorted((r["message_id"], r["event"]) for r in stored) == [
        ("m1", "dnt_track"), ("m2", "gpc_track"), ("m3", "dnt_batch"), ("m4", "$identify")]


@pytest.mark.parametrize("named", ["user_id", "anonymous_id"])
def test_an_erasure_keeps_the_opt_out_tombstone(client, project, postgres, named):
    marker = uuid.uuid4().hex[:10]
    anon, user = f"anon_{marker}", f"u_{marker}"
    h = project.key_headers
    assert client.post("/analytics/v1/track", json={"event": "view", "anonymous_id": anon},
                       headers=h).status_code == 200
    assert client.post("/analytics/v1/identify", json={"anonymous_id": anon, "user_id": user,
                                                       "traits": {"plan": "pro"}}, headers=h).status_code == 200
    assert client.post("/analytics/v1/track", json={"event": "purchase", "user_id": user},
                       headers=h).status_code == 200
    opted = client.post("/analytics/v1/consent/opt-out", json={"anonymous_id": anon}, headers=h)
    assert opted.status_code == 200 and opted.get_json()["data"] == {"anonymous_id": anon, "opted_out": True}

    erased = client.post("/analytics/v1/erase", json={named: user if named == "user_id" else anon},
                         headers=_bearer(project, "erase"))
    assert erased.status_code == 200, erased.get_json()
    assert erased.get_json()["data"] == {"events": 3, "identity_links": 1, "traits": 1}
    assert events_of(postgres, project.id) == []

    # The tombstone outlived the erasure: the visitor is still opted out ...
    status = client.get(f"/analytics/v1/consent/status?anonymous_id={anon}", headers=h)
    assert status.get_json()["data"] == {"anonymous_id": anon, "opted_out": True}
    # ... and their later events are dropped, on every ingest path.
    later = client.post("/analytics/v1/track", json={"event": "view", "anonymous_id": anon}, headers=h)
    assert later.status_code == 200
    assert later.get_json()["data"]["accepted"] == 0
    assert [r["reason"] for r in later.get_json()["data"]["rejected"]] == ["opted_out"]
    batch = client.post("/analytics/v1/batch", json={"batch": [
        {"event": "view", "anonymous_id": anon}, {"event": "view", "anonymous_id": f"other_{marker}"}]}, headers=h)
    assert batch.get_json()["data"]["accepted"] == 1
    assert [(r["index"], r["reason"]) for r in batch.get_json()["data"]["rejected"]] == [(0, "opted_out")]
    assert [r["anonymous_id"] for r in events_of(postgres, project.id, "anonymous_id")] == [f"other_{marker}"]
