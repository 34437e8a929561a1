"""The query limits the README promises: `too_many_buckets`, the filter-condition limit, and
504 `analytics.query.timeout` once a query outlives `query_timeout_ms`."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from conftest import ADMIN, Project


def _query(client, project: Project, body: dict):
    return client.post("/analytics/v1/query", json={"project_id": project.id, **body}, headers=ADMIN)


def _send(client, project: Project, *events: dict) -> None:
    batch = [{"message_id": str(uuid.uuid4()), "anonymous_id": "a", **e} for e in events]
    answer = client.post("/analytics/v1/batch", json={"batch": batch}, headers=project.key_headers)
    assert answer.get_json()["data"]["accepted"] == len(batch), answer.get_json()


def _hours_ago(hours: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(hours=hours)).isoformat()


@pytest.mark.parametrize("time_range", [
    {"last": "32d"},
    {"last": "745h"},  # 31 days and an hour
    {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:01Z"},
    {"from": "2025-01-01T00:00:00Z", "to": "2026-12-31T00:00:00Z"},
])
def test_hourly_buckets_over_too_long_a_range_are_refused(client, project, time_range):
    answer = _query(client, project, {"kind": "aggregate", "time_bucket": "1h", "time_range": time_range})
    assert answer.status_code == 400, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "analytics.query.too_many_buckets"
    assert error["field"] == "time_bucket"


def test_hourly_buckets_up_to_31_days_and_daily_buckets_over_long_ranges_are_answered(client, project):
    _send(client, project, {"event": "e", "timestamp": _hours_ago(2)})
    hourly = _query(client, project, {"kind": "aggregate", "time_bucket": "1h",
                                      "time_range": {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}})
    assert hourly.status_code == 200, hourly.get_json()
    assert len(hourly.get_json()["data"]["rows"]) == 31 * 24  # every bucket listed, empty ones as 0
    recent = _query(client, project, {"kind": "aggregate", "time_bucket": "1h", "time_range": {"last": "31d"}})
    assert recent.status_code == 200, recent.get_json()
    assert sum(r["value"] for r in recent.get_json()["data"]["rows"]) == 1
    daily = _query(client, project, {"kind": "aggregate", "time_bucket": "1d", "time_range": {"last": "400d"}})
    assert daily.status_code == 200, daily.get_json()
    assert sum(r["value"] for r in daily.get_json()["data"]["rows"]) == 1


def _any_of(n: int, first: int = 0) -> dict:
    return {"any": [{"event": {"eq": f"e{i}"}} for i in range(first, first + n)]}


@pytest.mark.parametrize("body", [
    {"kind": "aggregate", "filter": _any_of(201)},
    {"kind": "aggregate", "filter": {"all": [_any_of(120), _any_of(120)]}},
    {"kind": "aggregate", "filter": {"all": [{"prop": {f"p{i}": {"exists": True}}} for i in range(250)]}},
    {"kind": "events", "filter": {"not": _any_of(300)}},
    {"kind": "funnel", "steps": [{"event": "a"}, {"event": "b", "filter": _any_of(201)}]},
])
def test_a_filter_with_too_many_conditions_is_refused(client, project, body):
    answer = _query(client, project, {"time_range": {"last": "1d"}, **body})
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["code"] == "analytics.query.filter_too_complex"


def test_a_filter_of_200_conditions_is_answered(client, project):
    """200 conditions is the limit, however many all/any/not hold them."""
    _send(client, project, *[{"event": f"e{i}", "timestamp": _hours_ago(1)} for i in (0, 150, 199, 200, 500)])
    body = {"kind": "aggregate", "time_range": {"last": "1d"}, "filter": _any_of(200)}
    answer = _query(client, project, body)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["data"]["rows"] == [{"value": 3}]  # e0, e150, e199; e200 and e500 are not listed
    nested = {"all": [{"any": [_any_of(100), {"not": {"not": _any_of(99, first=100)}}]},
                      {"not": {"event": {"eq": "e0"}}}]}
    answer = _query(client, project, {**body, "filter": nested})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["data"]["rows"] == [{"value": 1}]  # e0 .. e198 but not e0: e150
    steps = [{"event": "e0"}, {"event": "e150", "filter": _any_of(200)}, {"event": "e199", "filter": _any_of(200)}]
    funnel = _query(client, project, {"kind": "funnel", "time_range": {"last": "1d"}, "steps": steps})
    assert funnel.status_code == 200, funnel.get_json()


@pytest.fixture()
def short_budget(config):
    """An app of the same service whose queries may take 300 ms (`query_timeout_ms`)."""
    from reactor_analytics.app import create_app

    application = create_app(replace(config, analytics=replace(config.analytics, query_timeout_ms=300)))
    yield application
    application.extensions["reactor"].db.close()


def test_a_query_that_outlives_query_timeout_ms_answers_504(client, project, postgres, short_budget):
    """The engine reads what was committed before it runs a query; while another transaction holds
    `identity_links` locked, that read waits, so the query cannot finish within its budget, however
    fast the machine. The service answers 504 at the budget instead of waiting for it."""
    _send(client, project, *[{"event": "e", "timestamp": _hours_ago(1)} for _ in range(3)])
    body = {"kind": "aggregate", "time_range": {"last": "1d"}}
    fast = short_budget.test_client()
    assert _query(fast, project, body).get_json()["data"]["rows"] == [{"value": 3}]

    answers: list = []
    with psycopg.connect(postgres.url) as blocker:
        blocker.execute("LOCK TABLE identity_links IN ACCESS EXCLUSIVE MODE")
        asker = threading.Thread(target=lambda: answers.append(_query(short_budget.test_client(), project, body)))
        asker.start()
        asker.join(20)  # a generous deadline; the budget is 300 ms
        finished = not asker.is_alive()
        blocker.rollback()  # let the engine go on, whatever happened
    asker.join(60)
    assert finished, "the query was not answered within 20 s: query_timeout_ms was not applied"
    answer = answers[0]
    assert answer.status_code == 504, answer.get_json()
    assert answer.get_json()["error"]["code"] == "analytics.query.timeout"
    # Once the engine can read again, the same query is answered within the same budget.
    assert _query(fast, project, body).get_json()["data"]["rows"] == [{"value": 3}]
