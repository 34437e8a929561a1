"""POST /analytics/v1/query: shapes, semantics on known data, bad queries, permissions."""

from __future__ import annotations

import json
import time
import uuid
from datetime import date, datetime, timedelta, timezone

import jwt
import pytest

from conftest import ADMIN, JWT_SECRET, Project


def token(*permissions):
    return {"Authorization": "Bearer " + jwt.encode(
        {"sub": "analyst", "permissions": list(permissions), "exp": int(time.time()) + 600}, JWT_SECRET,
        algorithm="HS256")}


def at(minutes_ago: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).isoformat()


def past_noon(minutes: float) -> str:
    """`minutes` after yesterday's noon (UTC): times in one day bucket whatever the hour the test
    runs, where `at` crosses midnight shortly after it."""
    noon = (datetime.now(timezone.utc) - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    return (noon + timedelta(minutes=minutes)).isoformat()


def send(client, project, *events):
    batch = []
    for e in events:
        batch.append({"message_id": str(uuid.uuid4()), **e})
    answer = client.post("/analytics/v1/batch", json={"batch": batch}, headers=project.key_headers)
    assert answer.get_json()["data"]["accepted"] == len(batch), answer.get_json()


def query(client, project, body, headers=ADMIN):
    return client.post("/analytics/v1/query", json={"project_id": project.id, **body}, headers=headers)


def test_aggregate_example_of_the_reference_works_as_written(client, project):
    send(client, project,
         # One day bucket holds them all, so u1 counts once.
         {"event": "checkout_completed", "user_id": "u1", "properties": {"plan": "pro"}, "timestamp": past_noon(0)},
         {"event": "checkout_completed", "user_id": "u1", "properties": {"plan": "pro"}, "timestamp": past_noon(10)},
         {"event": "checkout_completed", "user_id": "u2", "properties": {"plan": "free"}, "timestamp": past_noon(20)},
         {"event": "page_viewed", "user_id": "u3", "properties": {"plan": "pro"}, "timestamp": past_noon(30)})
    body = {"kind": "aggregate", "time_range": {"last": "30d"},
            "filter": {"all": [{"event": {"eq": "checkout_completed"}}]}, "measure": "unique_users",
            "group_by": [{"prop": "plan"}], "time_bucket": "1d"}
    answer = query(client, project, body)
    assert answer.status_code == 200, answer.get_json()
    data = answer.get_json()["data"]
    assert data["kind"] == "aggregate" and set(data["meta"]) == {"took_ms", "rows_scanned"}
    totals = {}
    for row in data["rows"]:
        assert set(row) == {"bucket", "group", "value"}
        totals[row["group"]["plan"]] = totals.get(row["group"]["plan"], 0) + row["value"]
    assert totals == {"pro": 1, "free": 1}
    assert len({r["bucket"] for r in data["rows"]}) in (30, 31)


def test_funnel_example_with_step_filter_window_and_group_by(client, project):
    def visit(who, minutes, source):
        return {"event": "page_viewed", "anonymous_id": who, "timestamp": at(minutes),
                "context": {"page": {"url": f"https://app.example.com/?utm_source={source}", "path": "/"}}}

    send(client, project,
         visit("v1", 300, "news"), {"event": "signup_started", "anonymous_id": "v1", "timestamp": at(290)},
         {"event": "signup_completed", "anonymous_id": "v1", "timestamp": at(280)},
         {"event": "first_deploy", "anonymous_id": "v1", "timestamp": at(270)},
         visit("v2", 300, "news"), {"event": "signup_started", "anonymous_id": "v2", "timestamp": at(200)},
         visit("v3", 300, "ads"),
         {"event": "page_viewed", "anonymous_id": "v4", "timestamp": at(300),
          "context": {"page": {"path": "/pricing"}}},
         {"event": "signup_started", "anonymous_id": "v4", "timestamp": at(290)})
    body = {"kind": "funnel", "time_range": {"last": "30d"},
            "steps": [{"event": "page_viewed", "filter": {"prop": {"path": {"eq": "/"}}}},
                      {"event": "signup_started"}, {"event": "signup_completed"}, {"event": "first_deploy"}],
            "conversion_window": "7d", "group_by": [{"prop": "utm_source"}]}
    answer = query(client, project, body)
    assert answer.status_code == 200, answer.get_json()
    rows = {r["group"]["utm_source"]: [s["count"] for s in r["steps"]] for r in answer.get_json()["data"]["rows"]}
    assert rows == {"news": [2, 2, 1, 1], "ads": [1, 0, 0, 0]}
    news = next(r for r in answer.get_json()["data"]["rows"] if r["group"]["utm_source"] == "news")
    assert [s["conversion"] for s in news["steps"]] == [1.0, 1.0, 0.5, 0.5]
    assert [s["event"] for s in news["steps"]] == ["page_viewed", "signup_started", "signup_completed",
                                                   "first_deploy"]


def test_a_funnel_begun_anonymous_and_finished_signed_in_converts_once(client, project):
    send(client, project, {"event": "visit", "anonymous_id": "anon-7", "timestamp": at(100)},
         {"event": "signup", "anonymous_id": "anon-7", "timestamp": at(90)})
    client.post("/analytics/v1/identify", json={"user_id": "u_7", "anonymous_id": "anon-7"},
                headers=project.key_headers)
    send(client, project, {"event": "purchase", "user_id": "u_7", "timestamp": at(10)})
    body = {"kind": "funnel", "time_range": {"last": "1d"}, "conversion_window": "1d",
            "steps": [{"event": "visit"}, {"event": "signup"}, {"event": "purchase"}]}
    steps = query(client, project, body).get_json()["data"]["rows"][0]["steps"]
    assert [s["count"] for s in steps] == [1, 1, 1]
    unique = query(client, project, {"kind": "aggregate", "time_range": {"last": "1d"},
                                     "measure": "unique_users"}).get_json()["data"]["rows"]
    assert unique == [{"value": 1}]


def test_an_event_is_queryable_right_after_it_is_acknowledged(client, project):
    for n in range(1, 4):
        send(client, project, {"event": "tick", "anonymous_id": "a", "timestamp": at(1)})
        rows = query(client, project, {"kind": "aggregate", "time_range": {"last": "1h"}}).get_json()["data"]["rows"]
        assert rows == [{"value": n}]


def test_the_engine_reads_a_backlog_larger_than_one_tail_read(client, project, postgres):
    """Rows that reach the table faster than the engine reads (here one bulk COPY, more than two
    of the engine's tail reads) are all counted, each once."""
    from reactor_analytics import _native
    from reactor_analytics.query.engine import TAIL_BATCH
    from reactor_analytics.store import queries

    import psycopg

    count = 2 * TAIL_BATCH + 17
    now_ms = int(time.time() * 1000)
    rows = []
    for start in range(0, count, 100):
        batch = [{"event": "bulk", "anonymous_id": f"a{i % 500}", "message_id": str(uuid.uuid4()),
                  "timestamp": at(5)} for i in range(start, min(start + 100, count))]
        parsed = _native.parse_request(json.dumps({"batch": batch}).encode(), "batch", received_at_ms=now_ms,
                                       ip=None, user_agent=None, accept_language=None)
        rows.append(parsed.encode(project.id, project.slug, []).copy_rows)
    with psycopg.connect(postgres.url) as conn:
        with conn.cursor().copy(f"COPY events ({queries.EVENT_COLUMNS}) FROM STDIN") as copy:
            copy.write(b"".join(rows))
    answer = query(client, project, {"kind": "aggregate", "time_range": {"last": "1h"},
                                     "filter": {"all": [{"event": {"eq": "bulk"}}]}})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["data"]["rows"] == [{"value": count}]


@pytest.mark.parametrize("tail", ["events", "links", "traits"])
def test_tail_reads_take_the_seq_index_whatever_the_statistics(postgres, tail):
    """On a table with no statistics the planner would seq-scan and sort for a tail read; the
    engine's connection options keep both of its reads on the seq index."""
    import psycopg

    from reactor_analytics.query.engine import TAIL_CONNECTION_OPTIONS
    from reactor_analytics.store import queries

    missing_sql, after_sql = queries.ENGINE_TAILS[tail]
    reads = [(missing_sql, ([5, 9, 12],)), (after_sql, (0, 20_000))]
    with psycopg.connect(postgres.url, autocommit=True, options=TAIL_CONNECTION_OPTIONS) as conn:
        for sql, params in reads:
            select = psycopg.ClientCursor(conn).mogrify(sql, params).removeprefix("COPY (").removesuffix(") TO STDOUT")
            plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + select))
            assert "Index Scan using" in plan and "_seq" in plan, plan
            assert "Seq Scan" not in plan and "Sort" not in plan, plan


def test_events_kind_answers_raw_rows_newest_first(client, project):
    send(client, project, {"event": "old", "anonymous_id": "a", "timestamp": at(20), "properties": {"n": 1}},
         {"event": "new", "user_id": "u", "timestamp": at(10), "properties": {"n": 2},
          "context": {"page": {"path": "/x"}}})
    rows = query(client, project, {"kind": "events", "time_range": {"last": "1h"}, "limit": 10}).get_json()[
        "data"]["rows"]
    assert [r["event"] for r in rows] == ["new", "old"]
    assert rows[0]["user_id"] == "u" and rows[0]["distinct_id"] == "u" and rows[0]["path"] == "/x"
    assert rows[1]["anonymous_id"] == "a" and rows[1]["properties"] == {"n": 1}
    assert {"timestamp", "message_id"} <= set(rows[0])


def test_breakdown_retention_and_path_answer_their_shapes(client, project):
    send(client, project,
         {"event": "$pageview", "anonymous_id": "p1", "timestamp": at(60), "context": {"page": {"path": "/"}}},
         {"event": "$pageview", "anonymous_id": "p1", "timestamp": at(59), "context": {"page": {"path": "/docs"}}},
         {"event": "signup", "anonymous_id": "p1", "timestamp": at(58), "properties": {"plan": "pro"}},
         {"event": "$pageview", "anonymous_id": "p2", "timestamp": at(60), "context": {"page": {"path": "/"}}},
         {"event": "signup", "anonymous_id": "p2", "timestamp": at(57), "properties": {"plan": "free"}},
         {"event": "signup", "anonymous_id": "p3", "timestamp": at(57)})
    top = query(client, project, {"kind": "breakdown", "time_range": {"last": "1d"}, "prop": "plan",
                                  "filter": {"event": {"eq": "signup"}}}).get_json()["data"]["rows"]
    assert top == [{"key": "(none)", "value": 1}, {"key": "free", "value": 1}, {"key": "pro", "value": 1}]
    paths = query(client, project, {"kind": "path", "time_range": {"last": "1d"}, "start_event": "$pageview",
                                    "depth": 3}).get_json()["data"]["rows"]
    assert paths == [{"path": ["/", "/docs", "signup"], "count": 1}, {"path": ["/", "signup"], "count": 1}]
    cohorts = query(client, project, {"kind": "retention", "time_range": {"last": "7d"}, "cohort_event": "signup",
                                      "return_event": "$pageview", "period": "day", "periods": 3}).get_json()[
        "data"]["rows"]
    assert len(cohorts) in (1, 2) and sum(c["size"] for c in cohorts) == 3
    assert all(c["returned"][0] == c["size"] and len(c["returned"]) == 3 for c in cohorts)


@pytest.mark.parametrize("body,code", [
    ({"kind": "histogram"}, "analytics.query.unknown_kind"),
    ({"kind": "aggregate", "time_range": {"last": "forever"}}, "analytics.query.invalid_duration"),
    ({"kind": "aggregate", "time_range": {"last": "800d"}}, "analytics.query.range_too_large"),
    ({"kind": "events", "time_range": {"last": "91d"}}, "analytics.query.range_too_large"),
    ({"kind": "aggregate", "time_range": {"from": "yesterday"}}, "analytics.query.invalid_time_range"),
    ({"kind": "aggregate", "timezone": "Mars/Olympus"}, "analytics.query.invalid_timezone"),
    ({"kind": "aggregate", "filter": {"prop": {"plan": {"like": "p%"}}}}, "analytics.query.unknown_operator"),
    ({"kind": "aggregate", "filter": {"event": {"gt": 3}}}, "analytics.query.unknown_operator"),
    ({"kind": "aggregate", "filter": {"xor": []}}, "analytics.query.invalid_filter"),
    ({"kind": "aggregate", "filter": {"prop": {"n": {"gt": "three"}}}}, "analytics.query.invalid_filter"),
    ({"kind": "aggregate", "measure": "median"}, "analytics.query.invalid_measure"),
    ({"kind": "aggregate", "time_bucket": "5m"}, "analytics.query.invalid_field"),
    ({"kind": "funnel", "steps": [{"event": "a"}] * 21}, "analytics.query.invalid_steps"),
    ({"kind": "funnel", "steps": "a,b"}, "analytics.query.invalid_steps"),
    ({"kind": "funnel", "steps": [{"event": "a"}], "conversion_window": "7 days"}, "analytics.query.invalid_duration"),
    ({"kind": "retention"}, "analytics.query.invalid_field"),
    ({"kind": "path", "start_event": "a", "end_event": "b"}, "analytics.query.invalid_field"),
    ({"kind": "events", "limit": 1001}, "analytics.query.invalid_field"),
    ({"kind": "events", "limit": "10"}, "analytics.query.invalid_field"),
    ({"kind": "aggregate", "steps": []}, "analytics.query.unknown_field"),
])
def test_bad_queries_are_400_with_a_code(client, project, body, code):
    answer = query(client, project, body)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["code"] == code


def test_a_refused_query_names_the_field_and_the_limit(client, project):
    """The native core is the one validator; its field paths and limits reach the client."""
    answer = query(client, project, {"kind": "funnel", "steps": [{"event": "a", "filter": {"prop": {"plan": {"like": 1}}}}]})
    error = answer.get_json()["error"]
    assert (answer.status_code, error["code"]) == (400, "analytics.query.unknown_operator")
    assert error["field"] == "steps[0].filter.prop.plan"
    error = query(client, project, {"kind": "funnel", "steps": [{"event": "a"}] * 21}).get_json()["error"]
    assert (error["code"], error["field"], error["limit"]) == ("analytics.query.invalid_steps", "steps", 20)
    error = query(client, project, {"kind": "events", "time_range": {"last": "91d"}}).get_json()["error"]
    assert (error["code"], error["field"], error["limit_days"]) == ("analytics.query.range_too_large", "time_range", 90)
    assert query(client, project, {"kind": "funnel", "steps": [{"event": "a"}] * 20}).status_code == 200


def test_deeply_nested_filters_are_refused(client, project):
    deep = {"prop": {"a": {"eq": 1}}}
    for _ in range(50):
        deep = {"not": deep}
    answer = query(client, project, {"kind": "aggregate", "filter": deep})
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "analytics.query.filter_too_complex"


def test_query_needs_the_query_permission_for_that_project(client, project):
    other = Project(client)
    body = {"kind": "aggregate"}
    assert client.post("/analytics/v1/query", json={"project_id": project.id, **body}).status_code == 401
    assert client.post("/analytics/v1/query", json={"project_id": project.id, **body},
                       headers=project.key_headers).status_code == 401
    assert query(client, project, body, token(f"analytics:{project.id}:ingest")).status_code == 403
    assert query(client, project, body, token(f"analytics:{other.id}:query")).status_code == 403
    assert query(client, project, body, token(f"analytics:{project.id}:query")).status_code == 200
    mismatch = client.post("/analytics/v1/query", json={"project_id": project.id, **body},
                           headers={**token("analytics:*:query"), "X-Reactor-Project": other.id})
    assert mismatch.status_code == 403


def test_queries_never_see_another_projects_events(client, project):
    other = Project(client)
    send(client, other, {"event": "secret", "anonymous_id": "x", "timestamp": at(5)})
    rows = query(client, project, {"kind": "events", "time_range": {"last": "1h"}}).get_json()["data"]["rows"]
    assert rows == []


def test_row_budget_answers_504(client, project, app):
    from dataclasses import replace

    send(client, project, *[{"event": "e", "anonymous_id": "a", "timestamp": at(1)} for _ in range(5)])
    services = app.extensions["reactor"]
    original = services.config
    services.config = replace(original, analytics=replace(original.analytics, query_max_rows_scanned=3))
    try:
        answer = query(client, project, {"kind": "aggregate", "time_range": {"last": "1h"}})
    finally:
        services.config = original
    assert answer.status_code == 504
    assert answer.get_json()["error"]["code"] == "analytics.query.timeout"


def test_nan_and_infinity_are_not_json(client, project):
    for constant in ("NaN", "Infinity", "-Infinity"):
        answer = client.post("/analytics/v1/query", data='{"kind": "aggregate", "limit": %s}' % constant,
                             headers={**ADMIN, "Content-Type": "application/json", "X-Reactor-Project": project.id})
        assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "analytics.invalid_json"


def test_a_lone_surrogate_in_a_query_is_invalid_json(client, project):
    body = '{"kind": "breakdown", "prop": "\\ud800x", "time_range": {"last": "1d"}}'
    answer = client.post("/analytics/v1/query", data=body,
                         headers={**ADMIN, "Content-Type": "application/json", "X-Reactor-Project": project.id})
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "analytics.invalid_json"
    paired = '{"kind": "breakdown", "prop": "\\ud83d\\ude00", "time_range": {"last": "1d"}}'  # an emoji
    assert client.post("/analytics/v1/query", data=paired, headers={
        **ADMIN, "Content-Type": "application/json", "X-Reactor-Project": project.id}).status_code == 200


@pytest.mark.parametrize("day, hours", [(date(2025, 10, 26), 25), (date(2026, 3, 29), 23)])
def test_daily_buckets_follow_local_midnights_across_a_dst_change(client, project, day, hours):
    """Pinned days (not the most recent change, which made the case depend on today's date):
    Berlin's fall-back day of 2025 (25 hours) and its spring-forward day of 2026 (23 hours)."""
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    midnight = datetime(day.year, day.month, day.day, tzinfo=berlin)
    next_midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), berlin)
    assert next_midnight.astimezone(timezone.utc) - midnight.astimezone(timezone.utc) == timedelta(hours=hours)
    last_minutes = next_midnight.astimezone(timezone.utc) - timedelta(minutes=30)
    send(client, project,
         {"event": "e", "anonymous_id": "a", "timestamp": (midnight + timedelta(minutes=30)).isoformat()},
         {"event": "e", "anonymous_id": "a", "timestamp": last_minutes.isoformat()},
         {"event": "e", "anonymous_id": "a", "timestamp": (next_midnight + timedelta(minutes=30)).isoformat()})
    rows = query(client, project, {"kind": "aggregate", "time_bucket": "1d", "timezone": "Europe/Berlin",
                                   "time_range": {"from": midnight.isoformat(),
                                                  "to": (next_midnight + timedelta(days=1)).isoformat()}}
                 ).get_json()["data"]["rows"]
    assert rows == [{"bucket": midnight.isoformat(), "value": 2}, {"bucket": next_midnight.isoformat(), "value": 1}]
