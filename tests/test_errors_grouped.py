"""Errors, grouped: `$error` events get a fingerprint at ingest (the native core), the errors answer
counts groups over a range, and triage state follows the rules (resolved reopens, ignored stays).
Real PostgreSQL, the real app."""

from __future__ import annotations

import time
import uuid

import jwt
import psycopg
import pytest

from conftest import ADMIN, JWT_SECRET, Project, events_of


def token(permissions, **claims):
    payload = {"sub": "svc", "permissions": permissions, "exp": int(time.time()) + 600, **claims}
    return {"Authorization": f"Bearer {jwt.encode(payload, JWT_SECRET, algorithm='HS256')}"}


def stack(origin: str, bundle: str, line: int, function: str = "renderUser") -> str:
    return (f"TypeError: Cannot read properties of undefined (reading 'id')\n"
            f"    at {function} ({origin}/assets/app.{bundle}.js?v={line}:{line}:15)\n"
            f"    at {origin}/assets/app.{bundle}.js:{line + 70}:3\n"
            f"    at main ({origin}/assets/vendor.js:1:{line * 7})")


def error(person: str, stack_text: str, message: str = "Cannot read properties of undefined (reading 'id')",
          kind: str = "TypeError", **extra) -> dict:
    return {"event": "$error", "anonymous_id": person, "message_id": str(uuid.uuid4()),
            "properties": {"type": kind, "message": message, "stack": stack_text, **extra}}


def send(client, project, *events):
    answer = client.post("/analytics/v1/batch", json={"batch": list(events)}, headers=project.key_headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["data"]


def groups(client, project, headers=None, **params):
    answer = client.get("/analytics/v1/errors", query_string={"project_id": project.id, "last": "7d", **params},
                        headers=ADMIN if headers is None else headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["data"]


def patch(client, project, fingerprint, state, headers=None):
    return client.patch(f"/analytics/v1/errors/{fingerprint}", json={"state": state},
                        headers={**(ADMIN if headers is None else headers), "X-Reactor-Project": project.id})


def test_one_bug_from_two_deploys_and_two_users_is_one_group(client, project, postgres):
    send(client, project,
         error("anon-1", stack("https://shop.example.com", "3f9a2b1c", 10)),
         error("anon-2", stack("http://localhost:3000", "77ee01aa", 12), message="Cannot read 'id' of user 42"),
         {"event": "$pageview", "anonymous_id": "anon-1"})
    send(client, project, error("anon-1", stack("https://shop.example.com", "3f9a2b1c", 10, "renderCart"),
                                kind="RangeError", message="bad"))
    rows = events_of(postgres, project.id, "event, fingerprint")
    prints = [r["fingerprint"] for r in rows]
    assert prints[0] == prints[1] and prints[2] is None and prints[3] not in (None, prints[0])
    assert all(len(p) == 32 for p in (prints[0], prints[3]))

    found = groups(client, project)
    assert [g["fingerprint"] for g in found] == [prints[3], prints[0]]  # the most recently seen first
    second, first = found
    assert first["type"] == "TypeError" and first["message"] == "Cannot read 'id' of user 42"
    assert (first["count"], first["users"], first["state"]) == (2, 2, "unresolved")
    assert first["first_seen"] <= first["last_seen"]
    assert (second["type"], second["count"], second["users"]) == ("RangeError", 1, 1)
    assert set(first) == {"fingerprint", "type", "message", "count", "users", "first_seen", "last_seen", "state"}


def test_counts_follow_the_range(client, project):
    old = error("anon-1", stack("https://a.io", "aaaa1111", 1))
    old["timestamp"] = "2026-01-10T12:00:00Z"
    new = error("anon-2", stack("https://a.io", "aaaa1111", 1))
    new["timestamp"] = "2026-01-20T12:00:00Z"
    send(client, project, old, new)
    (group,) = groups(client, project, last=None, **{"from": "2026-01-15", "to": "2026-01-25T00:00:00Z"})
    assert (group["count"], group["users"]) == (1, 1)
    assert group["first_seen"].startswith("2026-01-10") and group["last_seen"].startswith("2026-01-20")
    (group,) = groups(client, project, last=None, **{"from": "2026-01-01"})
    assert group["count"] == 2
    assert groups(client, project, last=None, **{"from": "2026-01-11", "to": "2026-01-12"}) == []


def test_resolved_reopens_on_a_new_occurrence_and_ignored_stays(client, project):
    bug, other = stack("https://a.io", "bbbb2222", 5), stack("https://a.io", "bbbb2222", 5, "other")
    send(client, project, error("p1", bug), error("p1", other))
    by_stack = {g["count"]: g for g in groups(client, project)}
    fingerprints = [g["fingerprint"] for g in groups(client, project)]
    resolved, ignored = fingerprints

    answer = patch(client, project, resolved, "resolved")
    assert answer.status_code == 200 and answer.get_json()["data"]["state"] == "resolved"
    assert patch(client, project, ignored, "ignored").get_json()["data"]["state"] == "ignored"
    states = {g["fingerprint"]: g["state"] for g in groups(client, project)}
    assert states == {resolved: "resolved", ignored: "ignored"}

    send(client, project, *(error("p2", s) for g in by_stack.values()
                            for s in ([bug] if g["fingerprint"] == resolved else [other])))
    send(client, project, error("p2", bug), error("p3", other))
    states = {g["fingerprint"]: g["state"] for g in groups(client, project)}
    assert states == {resolved: "unresolved", ignored: "ignored"}
    assert patch(client, project, ignored, "unresolved").get_json()["data"]["state"] == "unresolved"


def test_the_manage_permission_triages_and_the_query_permission_lists(client, project):
    send(client, project, error("p1", stack("https://a.io", "cccc3333", 7)))
    (group,) = groups(client, project, headers=token([f"analytics:{project.id}:query"]))
    manage = token([f"analytics:{project.slug}:manage"])
    assert patch(client, project, group["fingerprint"], "resolved", manage).status_code == 200
    for headers in (token([f"analytics:{project.id}:query"]), token([f"analytics:{project.id}:ingest"]),
                    token(["analytics:project:create"]), token([f"analytics:{project.id}:manage"], org_id="other")):
        answer = patch(client, project, group["fingerprint"], "ignored", headers)
        assert answer.status_code == 403, answer.get_json()
        assert answer.get_json()["error"]["code"] == "analytics.auth.forbidden"
    ingest_only = token([f"analytics:{project.id}:ingest"])
    answer = client.get("/analytics/v1/errors", query_string={"project_id": project.id}, headers=ingest_only)
    assert answer.status_code == 403
    for headers in ({}, {"Authorization": "Bearer nope"}, project.key_headers):
        assert client.get("/analytics/v1/errors", query_string={"project_id": project.id},
                          headers=headers).status_code == 401
        assert patch(client, project, group["fingerprint"], "resolved", headers).status_code == 401


def test_nothing_crosses_projects(client, project):
    other = Project(client)
    send(client, project, error("p1", stack("https://a.io", "dddd4444", 9)))
    (group,) = groups(client, project)
    assert groups(client, other) == []
    answer = patch(client, other, group["fingerprint"], "resolved")
    assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "analytics.not_found"
    # Another project's query token sees nothing of this one.
    answer = client.get("/analytics/v1/errors", query_string={"project_id": project.id},
                        headers=token([f"analytics:{other.id}:query"]))
    assert answer.status_code == 403
    assert groups(client, project)[0]["state"] == "unresolved"


@pytest.mark.parametrize("fingerprint", ["0" * 32, "nothex" * 6, "A" * 32, "%00", "x" * 5000])
def test_an_unknown_fingerprint_is_404(client, project, fingerprint):
    answer = patch(client, project, fingerprint, "resolved")
    assert answer.status_code == 404, answer.get_json()
    assert answer.get_json()["error"]["code"] == "analytics.not_found"


@pytest.mark.parametrize("body", [{"state": "closed"}, {"state": None}, {}, {"state": "resolved", "x": 1},
                                  {"state": 1}, {"state": "RESOLVED"}])
def test_a_bad_state_is_400(client, project, body):
    answer = client.patch(f"/analytics/v1/errors/{'0' * 32}", json=body,
                          headers={**ADMIN, "X-Reactor-Project": project.id})
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "analytics.invalid_request"


@pytest.mark.parametrize("params, code", [
    ({"last": "7x"}, "analytics.invalid_request"), ({"last": "0d"}, "analytics.invalid_request"),
    ({"from": "2026-02-30"}, "analytics.invalid_request"), ({"to": "2026-01-01"}, "analytics.invalid_request"),
    ({"last": "7d", "from": "2026-01-01"}, "analytics.invalid_request"), ({"limit": "0"}, "analytics.invalid_request"),
    ({"limit": "many"}, "analytics.invalid_request"), ({"unknown": "1"}, "analytics.invalid_request"),
    ({"from": "2026-01-02", "to": "2026-01-01"}, "analytics.query.invalid_time_range"),
    ({"last": "9999w"}, "analytics.query.range_too_large"),
])
def test_a_bad_range_is_400(client, project, params, code):
    answer = client.get("/analytics/v1/errors", query_string={"project_id": project.id, **params}, headers=ADMIN)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["code"] == code


def test_malformed_and_huge_errors(client, project, postgres):
    # Fields of the wrong type count as absent: still one group, typed Error.
    data = send(client, project,
                {"event": "$error", "anonymous_id": "p", "properties": {"type": 5, "message": ["x"], "stack": {}}},
                {"event": "$error", "anonymous_id": "p"},
                error("p", "    at f (x.js:1:1)\n" * 5000))  # a 100 KB stack: over the per-event limit
    assert data["accepted"] == 2
    assert [(r["index"], r["reason"]) for r in data["rejected"]] == [(2, "properties_too_large")]
    (group,) = groups(client, project)
    assert (group["type"], group["message"], group["count"]) == ("Error", "", 2)
    # A 200 KB stack on /track: the documented error, nothing stored.
    answer = client.post("/analytics/v1/track", json=error("p", "at f (x.js:1:1)\n" * 13_000),
                         headers=project.key_headers)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "analytics.event.properties_too_large"
    assert len(events_of(postgres, project.id)) == 2


def test_the_range_is_counted_from_the_partial_index(client, project, postgres):
    """The count reads the errors index of the project and range, not every event."""
    send(client, project, error("p", stack("https://a.io", "eeee5555", 3)))
    for _ in range(30):  # a project with many other events, as the planner knows once it analysed them
        send(client, project, *({"event": "$pageview", "anonymous_id": f"v{i}"} for i in range(100)))
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("ANALYZE events")
        plan = "\n".join(row[0] for row in conn.execute(
            "EXPLAIN SELECT fingerprint, count(*), count(DISTINCT distinct_id) FROM events WHERE project_id = %s "
            "AND fingerprint IS NOT NULL AND ts >= now() - interval '7 days' AND ts < now() GROUP BY fingerprint",
            (project.id,)))
    assert "events_errors" in plan, plan
