"""Property-based: random event streams (identifies, aliases, ties, window edges, time zones) go
through the real ingest API and the real engine, and every query kind must answer exactly what
the plain-Python reference (reference_engine.py) answers."""

from __future__ import annotations

import math
import time
import uuid
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import reference_engine as ref
from conftest import Project
from reactor_analytics.config import AnalyticsConfig
from reactor_analytics.query import plan as query_plan

ANONS = [f"a{i}" for i in range(4)]
USERS = [f"u{i}" for i in range(2)]
NAMES = ["A", "B", "C", "$pageview"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
DAY = 86400
BASE = (int(time.time()) // DAY - 30) * DAY  # a day boundary 30 days ago (UTC)

prop_values = st.one_of(st.none(), st.sampled_from(["free", "pro", "7", "x"]), st.integers(-5, 50),
                        st.sampled_from([0.5, 2.5, 12.25]), st.booleans())
event_st = st.fixed_dictionaries({
    "event": st.sampled_from(NAMES),
    # Coarse offsets (10-minute steps over 4 days) make ties and window edges common.
    "offset": st.one_of(st.integers(0, 4 * 144).map(lambda n: n * 600), st.integers(0, 30).map(lambda n: n * 600)),
    "who": st.sampled_from(ANONS + USERS),
    "plan": prop_values,
    "amount": prop_values,
    "path": st.sampled_from(["/", "/a", "/b"]),
})
GAPS = [0, 600, 1200, 1800, 3600, DAY]  # equal to the windows the funnels use: edges on purpose


@st.composite
def journey(draw) -> tuple[list[dict], tuple[str, str] | None]:
    """One person's events in sequence at chosen gaps, switching from an anonymous id to a user
    id part-way (and linking them), as a visitor who signs up does."""
    anon, user = draw(st.sampled_from(ANONS)), draw(st.sampled_from(USERS))
    switch = draw(st.integers(0, 6))
    at = draw(st.integers(0, 2 * 144)) * 600
    events = []
    for i, name in enumerate(draw(st.lists(st.sampled_from(["A", "B", "A", "B", "C", "$pageview"]), min_size=2,
                                           max_size=6))):
        at += draw(st.sampled_from(GAPS)) if i else 0
        events.append({"event": name, "offset": at, "who": anon if i < switch else user, "plan": draw(prop_values),
                       "amount": draw(prop_values), "path": draw(st.sampled_from(["/", "/a", "/b"]))})
    return events, ((anon, user) if 0 < switch < len(events) else None)


@st.composite
def stream(draw) -> dict:
    events = draw(st.lists(event_st, max_size=20))
    # Links from an anonymous id, and from one user id to the other (never a merge of two users).
    links = draw(st.lists(st.tuples(st.sampled_from(ANONS + USERS), st.sampled_from(USERS)).filter(
        lambda link: link[0] != link[1]), max_size=2))
    for extra, link in draw(st.lists(journey(), min_size=2, max_size=6)):
        events += extra
        if link:
            links.append(link)
    traits = draw(st.lists(st.tuples(st.sampled_from(USERS), st.sampled_from(["free", "pro"])), max_size=3))
    # The links arrive after the events, or before them (a user id linked before it sends an event).
    return {"events": events, "links": links, "traits": traits, "links_first": draw(st.booleans())}


stream_st = stream()
window_st = st.fixed_dictionaries({
    "from_day": st.integers(0, 2), "days": st.integers(1, 4), "timezone": st.sampled_from(ZONES),
})
filter_st = st.one_of(
    st.none(),
    st.just({"prop": {"plan": {"eq": "pro"}}}),
    st.just({"not": {"prop": {"plan": {"eq": "pro"}}}}),
    st.just({"prop": {"amount": {"gte": 3}}}),
    st.just({"any": [{"event": {"eq": "A"}}, {"prop": {"path": {"in": ["/a"]}}}]}),
    st.just({"trait": {"tier": {"eq": "pro"}}}),
    st.just({"prop": {"plan": {"exists": True}}}),
    st.just({"prop": {"plan": {"contains": "r"}}}),
)
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def load(client, stream) -> tuple[Project, ref.Data]:
    """Send the stream through the product and build the reference's view of the same data."""
    project = Project(client)
    batch, rows = [], []
    for i, e in enumerate(stream["events"]):
        props = {k: e[k] for k in ("plan", "amount") if e[k] is not None}
        who = {"user_id": e["who"]} if e["who"].startswith("u") else {"anonymous_id": e["who"]}
        ts = BASE + e["offset"]
        message_id = str(uuid.uuid4())
        body = {"event": e["event"], **who, "properties": props, "message_id": message_id,
                "timestamp": datetime.fromtimestamp(ts, timezone.utc).isoformat()}
        hot = {}
        if e["event"] == "$pageview":
            body["context"] = {"page": {"path": e["path"]}}
            hot["path"] = e["path"] if e["path"] == "/" else e["path"].rstrip("/")
        batch.append(body)
        rows.append(ref.Row(seq=i, event=e["event"], ts=ts * 1_000_000, distinct_id=e["who"], props=props, hot=hot,
                            message_id=message_id))
    def send_links():
        for anon, user in stream["links"]:
            assert client.post("/analytics/v1/alias", json={"previous_id": anon, "user_id": user},
                               headers=project.key_headers).status_code == 200

    if stream.get("links_first"):
        send_links()
    for start in range(0, len(batch), 100):
        answer = client.post("/analytics/v1/batch", json={"batch": batch[start:start + 100]},
                             headers=project.key_headers)
        assert answer.get_json()["data"]["accepted"] == len(batch[start:start + 100]), answer.get_json()
    if not stream.get("links_first"):
        send_links()
    traits: dict[str, dict] = {}
    for user, tier in stream["traits"]:
        assert client.post("/analytics/v1/identify", json={"user_id": user, "traits": {"tier": tier}},
                           headers=project.key_headers).status_code == 200
        traits.setdefault(user, {})["tier"] = tier
    users = {e["who"] for e in stream["events"] if e["who"].startswith("u")} | set(traits)
    return project, ref.Data(rows=rows, links=ref.effective_links(stream["links"], users), traits=traits)


def ask(client, project, body: dict):
    from conftest import ADMIN

    answer = client.post("/analytics/v1/query", json={**body, "project_id": project.id}, headers=ADMIN)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["data"]


def range_of(window) -> dict:
    start = BASE + window["from_day"] * DAY
    return {"from": datetime.fromtimestamp(start, timezone.utc).isoformat(),
            "to": datetime.fromtimestamp(start + window["days"] * DAY, timezone.utc).isoformat()}


def normal(value):
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, list):
        return [normal(v) for v in value]
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    return value


def check(client, stream, body: dict) -> list:
    """The product's answer to `body` over `stream`, after asserting it equals the reference's."""
    project, data = load(client, stream)
    plan = query_plan.build({**body, "project_id": project.id}, project.id, AnalyticsConfig())
    got = ask(client, project, body)
    expected = ref.KINDS[body["kind"]](with_system_rows(client, project, data), plan)
    if body["kind"] == "events":
        assert [r["message_id"] for r in got["rows"]] == expected
    else:
        assert normal(got["rows"]) == normal(expected), (body, got["rows"], expected)
    return got["rows"]


def with_system_rows(client, project, data: ref.Data) -> ref.Data:
    """$identify/$alias events the API stored also count as events; fetch and add them."""
    import psycopg

    url = client.application.extensions["reactor"].db.url
    with psycopg.connect(url) as conn:
        extra = conn.execute(
            "SELECT seq, event, (extract(epoch FROM ts) * 1000000)::bigint, distinct_id, properties, message_id "
            "FROM events WHERE project_id = %s AND event IN ('$identify', '$alias') ORDER BY seq",
            (project.id,)).fetchall()
    rows = list(data.rows) + [ref.Row(seq=10_000 + i, event=e, ts=ts, distinct_id=d, props=p, message_id=m)
                              for i, (_, e, ts, d, p, m) in enumerate(extra)]
    return ref.Data(rows=rows, links=data.links, traits=data.traits)


@SETTINGS
@given(stream=stream_st, window=window_st, filt=filter_st,
       measure=st.sampled_from(["count", "unique_users", {"sum": "amount"}, {"avg": "amount"}, {"min": "amount"},
                                {"max": "amount"}, {"percentile": {"prop": "amount", "p": 0.9}}]),
       bucket=st.sampled_from([None, "1h", "1d", "1w", "1mo"]),
       group_by=st.sampled_from([None, [{"prop": "plan"}], [{"trait": "tier"}], [{"prop": "path"}, {"prop": "plan"}]]))
def test_aggregate_matches_the_reference(client, stream, window, filt, measure, bucket, group_by):
    body = {"kind": "aggregate", "time_range": range_of(window), "timezone": window["timezone"], "measure": measure}
    if filt:
        body["filter"] = filt
    if bucket:
        body["time_bucket"] = bucket
    if group_by:
        body["group_by"] = group_by
    check(client, stream, body)


@settings(SETTINGS, max_examples=150)
@given(stream=stream_st, window=window_st, filt=filter_st,
       steps=st.one_of(st.lists(st.sampled_from(["A", "B", "C", "$pageview"]), min_size=1, max_size=4),
                       st.lists(st.sampled_from(["A", "B"]), min_size=2, max_size=3)),
       step_filter=st.sampled_from([None, None, {"prop": {"plan": {"eq": "pro"}}}]),
       conversion_window=st.sampled_from(["10m", "20m", "30m", "1h", "1d"]),
       order=st.sampled_from(["sequential", "strict"]),
       group_by=st.sampled_from([None, [{"prop": "plan"}]]))
def test_funnel_matches_the_reference(client, stream, window, filt, steps, step_filter, conversion_window, order,
                                      group_by):
    body = {"kind": "funnel", "time_range": range_of(window), "timezone": window["timezone"],
            "steps": [{"event": s} for s in steps], "conversion_window": conversion_window, "order": order}
    if step_filter:
        body["steps"][-1]["filter"] = step_filter
    if filt:
        body["filter"] = filt
    if group_by:
        body["group_by"] = group_by
    check(client, stream, body)


def test_rows_at_one_instant_fill_steps_in_step_order(client):
    """At t=0 one A matches both steps (plan=pro) and others only step 1: an A that can only be
    step 1 fills it and the pro A fills step 2, though the pro A arrived first."""
    def a(offset, plan=None):
        return {"event": "A", "offset": offset, "who": "u0", "plan": plan, "amount": None, "path": "/"}
    stream = {"events": [a(600), a(600), a(0, "pro"), a(0), a(0)], "links": [], "traits": []}
    body = {"kind": "funnel", "time_range": range_of({"from_day": 0, "days": 1}), "timezone": "UTC",
            "steps": [{"event": "A"}, {"event": "A", "filter": {"prop": {"plan": {"eq": "pro"}}}}],
            "conversion_window": "10m", "order": "sequential"}
    rows = check(client, stream, body)
    assert [s["count"] for s in rows[0]["steps"]] == [1, 1]


@pytest.mark.parametrize("links_first", [False, True])
def test_two_user_ids_linked_stay_two_persons(client, links_first):
    """u0 and u1 both sent events as user_id; an alias of u1 to u0 (before or after those events)
    leaves them two persons in unique users and in a funnel."""
    def e(name, offset, who):
        return {"event": name, "offset": offset, "who": who, "plan": None, "amount": None, "path": "/"}
    stream = {"events": [e("A", 0, "u0"), e("A", 600, "u1"), e("B", 1200, "u1")], "links": [("u1", "u0")],
              "traits": [], "links_first": links_first}
    window = {"from_day": 0, "days": 1, "timezone": "UTC"}
    rows = check(client, stream, {"kind": "aggregate", "time_range": range_of(window), "measure": "unique_users"})
    assert rows == [{"value": 2}]
    rows = check(client, stream, {"kind": "funnel", "time_range": range_of(window), "conversion_window": "1h",
                                  "steps": [{"event": "A"}, {"event": "B"}]})
    assert [s["count"] for s in rows[0]["steps"]] == [2, 1]


@SETTINGS
@given(stream=stream_st, window=window_st, filt=filter_st, cohort=st.sampled_from(NAMES),
       ret=st.sampled_from(NAMES), period=st.sampled_from(["day", "week"]), periods=st.integers(1, 6))
def test_retention_matches_the_reference(client, stream, window, filt, cohort, ret, period, periods):
    body = {"kind": "retention", "time_range": range_of(window), "timezone": window["timezone"],
            "cohort_event": cohort, "return_event": ret, "period": period, "periods": periods}
    if filt:
        body["filter"] = filt
    check(client, stream, body)


@SETTINGS
@given(stream=stream_st, window=window_st, filt=filter_st, anchor=st.sampled_from(NAMES),
       after=st.booleans(), depth=st.integers(1, 5), limit=st.integers(1, 20))
def test_path_matches_the_reference(client, stream, window, filt, anchor, after, depth, limit):
    body = {"kind": "path", "time_range": range_of(window), "timezone": window["timezone"],
            ("start_event" if after else "end_event"): anchor, "depth": depth, "limit": limit}
    if filt:
        body["filter"] = filt
    check(client, stream, body)


@SETTINGS
@given(stream=stream_st, window=window_st, filt=filter_st,
       prop=st.sampled_from(["plan", "path", "amount"]),
       measure=st.sampled_from(["count", "unique_users", {"sum": "amount"}, {"max": "amount"}]),
       limit=st.integers(1, 5))
def test_breakdown_matches_the_reference(client, stream, window, filt, prop, measure, limit):
    body = {"kind": "breakdown", "time_range": range_of(window), "timezone": window["timezone"], "prop": prop,
            "measure": measure, "limit": limit}
    if filt:
        body["filter"] = filt
    check(client, stream, body)


@SETTINGS
@given(stream=stream_st, window=window_st, filt=filter_st, limit=st.integers(1, 50))
def test_events_match_the_reference(client, stream, window, filt, limit):
    body = {"kind": "events", "time_range": range_of(window), "timezone": window["timezone"], "limit": limit}
    if filt:
        body["filter"] = filt
    check(client, stream, body)
