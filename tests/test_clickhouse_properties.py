"""Property-based: the same random raw ingest calls (events, links arriving before or after the
events they join, traits; tests/test_query_properties.py's streams) go through the real ingest
API once, and every query kind the ClickHouse store translates must answer exactly what the
native engine answers to the same random body at the same instant."""

from __future__ import annotations

import json
import os
import time

from hypothesis import given, settings, strategies as st

from clickhouse_fixtures import LIMITS, ch_app, ch_config, ch_store, clickhouse  # noqa: F401
from test_query_properties import (BASE, DAY, FILTERS, NAMES, PAGES, SETTINGS, body_st, load, maybe, normal, stamp,
                                   stream_st)
from test_web_properties import web_body, web_stream

# Few examples (each loads a project through the API and asks three bodies of both stores), so
# the suite stays fast; the native engine is held to the reference by the query property suites,
# this holds ClickHouse to the native engine. REACTOR_CLICKHOUSE_EXAMPLES=60 runs more.
EXAMPLES = settings(SETTINGS, max_examples=int(os.environ.get("REACTOR_CLICKHOUSE_EXAMPLES", "5")))


def both(engine, ch_store, project_id: str, body: dict) -> tuple[list, list]:
    raw = json.dumps(body).encode()
    now_us = time.time_ns() // 1000
    native = engine.query(raw, project_id, now_us, LIMITS)
    clickhouse = ch_store.query(raw, project_id, now_us, LIMITS)
    assert native[0] == clickhouse[0]
    return normal(json.loads(native[1])), normal(json.loads(clickhouse[1]))


def check(client, engine, ch_store, stream, bodies) -> None:
    """Load the stream once, then ask every body of the example of both stores."""
    project, _ = load(client, stream)
    for body in bodies:
        native, clickhouse = both(engine, ch_store, project.id, body)
        assert clickhouse == native, body


def several(strategy):
    return st.lists(strategy, min_size=3, max_size=3)


@EXAMPLES
@given(stream=stream_st, body=several(body_st(
    "aggregate",
    measure=maybe(st.sampled_from(["count", "unique_users", "unique_users", {"sum": "amount"}, {"avg": "amount"},
                                   {"min": "amount"}, {"max": "plan"}, {"percentile": {"prop": "amount", "p": 0.9}}])),
    time_bucket=maybe(st.sampled_from(["1h", "1d", "1w", "1mo"])),
    group_by=maybe(st.sampled_from([[{"prop": "plan"}], [{"trait": "tier"}], [{"prop": "path"}, {"prop": "plan"}]])))))
def test_aggregate_matches_the_native_engine(client, engine, ch_store, stream, body):
    check(client, engine, ch_store, stream, body)


@EXAMPLES
@given(stream=stream_st, body=several(body_st(
    "breakdown", prop=st.sampled_from(["plan", "path", "amount"]),
    measure=maybe(st.sampled_from(["count", "unique_users", {"sum": "amount"}, {"max": "amount"}])),
    limit=maybe(st.integers(1, 12)))))
def test_breakdown_matches_the_native_engine(client, engine, ch_store, stream, body):
    check(client, engine, ch_store, stream, body)


@EXAMPLES
@given(stream=stream_st, body=several(body_st("events", limit=maybe(st.integers(1, 50)))))
def test_events_match_the_native_engine(client, engine, ch_store, stream, body):
    check(client, engine, ch_store, stream, body)


def test_every_filter_measure_and_group_matches_the_native_engine(client, engine, ch_store):
    """Each filter the properties draw from, alone and composed, with each measure and grouping,
    over one stream holding every value they bound and persons joined by links (a filter or
    measure drawn at random is met in few examples)."""
    plans, amounts = ["pro", "free", True, "7", None], [3, 2.5, 0.5, 12.25, 0, 7, "7", "x", None, -5]
    items = [("identify", {"user_id": "u0", "anonymous_id": "a0", "traits": {"tier": "pro"}, "timestamp": stamp(BASE, 0)}),
             ("identify", {"user_id": "u1", "traits": {"tier": "free"}, "timestamp": stamp(BASE, 0)}),
             ("alias", {"previous_id": "a1", "user_id": "u1", "timestamp": stamp(BASE, 0)})]
    for i, (plan, amount) in enumerate((p, a) for p in plans for a in amounts):
        props = {k: v for k, v in (("plan", plan), ("amount", amount)) if v is not None}
        who = {"anonymous_id": f"a{i % 4}"} if i % 3 else {"user_id": f"u{i % 2}"}
        body = {"event": NAMES[i % 4], **who, "properties": props, "timestamp": stamp(BASE + i * 1500, 0)}
        if i % 5 == 0:
            body["properties"]["path"] = "/c"
        if body["event"] == "$pageview":
            body["context"] = {"page": {"path": PAGES[i % len(PAGES)]}}
        items.append(("batch", body))
    project, _ = load(client, items)
    window = {"from": stamp(BASE, 0), "to": stamp(BASE + DAY, 0)}
    composed = [{"all": FILTERS[1:4]}, {"any": FILTERS[3:6]}, {"not": {"any": FILTERS[6:9]}},
                {"all": [{"not": FILTERS[-1]}, {"any": [FILTERS[0], FILTERS[4]]}]}]
    for filt in FILTERS + composed:
        for extra in ({"measure": "unique_users", "time_bucket": "1h"},):
            body = {"kind": "aggregate", "time_range": window, "filter": filt, **extra}
            native, clickhouse = both(engine, ch_store, project.id, body)
            assert clickhouse == native, body
    for extra in ({"measure": "unique_users"}, {"measure": {"sum": "amount"}}, {"measure": {"min": "amount"}},
                  {"measure": {"max": "plan"}}, {"measure": {"percentile": {"prop": "amount", "p": 0.25}}},
                  {"group_by": [{"trait": "tier"}]}, {"group_by": [{"prop": "path"}, {"prop": "plan"}]},
                  {"group_by": [{"prop": "amount"}], "measure": "unique_users", "time_bucket": "1h"},
                  {"time_bucket": "1d", "timezone": "America/New_York"}, {"time_bucket": "1w", "timezone": "Asia/Kolkata"},
                  {"time_bucket": "1mo", "timezone": "Europe/Berlin"}):
        body = {"kind": "aggregate", "time_range": window, **extra}
        native, clickhouse = both(engine, ch_store, project.id, body)
        assert clickhouse == native, body
    for prop in ("plan", "amount", "path"):
        for measure in ("count", "unique_users", {"sum": "amount"}, {"max": "amount"}):
            body = {"kind": "breakdown", "time_range": window, "prop": prop, "measure": measure, "limit": 5}
            native, clickhouse = both(engine, ch_store, project.id, body)
            assert clickhouse == native, body


@EXAMPLES
@given(stream=stream_st, body=several(body_st(
    "funnel",
    steps=st.one_of(st.lists(st.sampled_from(["A", "B", "C", "$pageview"]), min_size=1, max_size=4),
                    st.lists(st.sampled_from(["A", "B"]), min_size=2, max_size=3)).map(
        lambda names: [{"event": name} for name in names]),
    conversion_window=maybe(st.sampled_from(["10m", "20m", "30m", "1h", "1d", "24h", "8d", "1w", "2w", "86400s"])),
    order=maybe(st.sampled_from(["sequential", "strict"])),
    group_by=maybe(st.just([{"prop": "plan"}])))),
    step_filter=st.sampled_from([None, None, {"prop": {"plan": {"eq": "pro"}}}]))
def test_funnels_match_the_native_engine(client, engine, ch_store, stream, body, step_filter):
    if step_filter:
        for b in body:
            b["steps"][-1]["filter"] = step_filter
    check(client, engine, ch_store, stream, body)


@EXAMPLES
@given(stream=stream_st, body=several(body_st(
    "retention", cohort_event=st.sampled_from(NAMES + ["$identify"]), return_event=maybe(st.sampled_from(NAMES)),
    period=maybe(st.sampled_from(["day", "week"])), periods=maybe(st.integers(1, 6)))))
def test_retention_matches_the_native_engine(client, engine, ch_store, stream, body):
    check(client, engine, ch_store, stream, body)


def test_funnel_edges_match_the_native_engine(client, engine, ch_store):
    """Where a translation to windowFunnel could part from the engine: rows at one instant (one
    matching two steps, taken in step order), two identical steps (one event fills one step), the
    window's inclusive edge, a later step-1 event restarting an attempt, and strict's reset."""
    def ev(name, offset, who, plan=None):
        body = {"event": name, "anonymous_id": who, "timestamp": stamp(BASE + offset, 0)}
        if plan is not None:
            body["properties"] = {"plan": plan}
        return "batch", body

    items = [ev("A", 600, "p1"), ev("A", 600, "p1"), ev("A", 0, "p1", "pro"), ev("A", 0, "p1"), ev("A", 0, "p1"),
             ev("A", 0, "p2", "pro"), ev("A", 0, "p3"), ev("B", 600, "p3"), ev("A", 0, "p4"), ev("B", 601, "p4"),
             ev("A", 0, "p5"), ev("C", 100, "p5"), ev("A", 200, "p5"), ev("B", 300, "p5"), ev("C", 400, "p5"),
             ev("B", 0, "p6"), ev("A", 0, "p6"), ev("A", 0, "p6"), ev("B", 0, "p6")]
    project, _ = load(client, items)
    window = {"from": stamp(BASE, 0), "to": stamp(BASE + DAY, 0)}
    for steps in ([{"event": "A"}, {"event": "A", "filter": {"prop": {"plan": {"eq": "pro"}}}}],
                  [{"event": "A"}, {"event": "A"}], [{"event": "A"}, {"event": "B"}, {"event": "C"}],
                  [{"event": "A"}, {"event": "B"}], [{"event": "B"}, {"event": "A"}, {"event": "A"}]):
        for order in ("sequential", "strict"):
            for extra in ({"conversion_window": "10m"}, {"group_by": [{"prop": "plan"}]}):
                body = {"kind": "funnel", "time_range": window, "steps": steps, "order": order, **extra}
                native, clickhouse = both(engine, ch_store, project.id, body)
                assert clickhouse == native, body


@EXAMPLES
@given(stream=stream_st, body=several(st.one_of(
    body_st("aggregate", measure=st.sampled_from(["dau", "wau", "mau"]), time_bucket=st.just("1d"),
            group_by=maybe(st.sampled_from([[{"prop": "plan"}], [{"trait": "tier"}]]))),
    body_st("summary"))))
def test_actives_and_summary_match_the_native_engine(client, engine, ch_store, stream, body):
    check(client, engine, ch_store, stream, body)


def test_realtime_matches_the_native_engine(client, engine, ch_store):
    now = time.time()
    recent = [("batch", {"event": name, **who, "timestamp": stamp(int(now) - ago, 0),
                         **({"context": {"page": {"path": page}}} if page else {})})
              for name, who, ago, page in [("$pageview", {"anonymous_id": "a0"}, 10, "/a"),
                                           ("$pageview", {"anonymous_id": "a1"}, 20, "/a/"),
                                           ("$pageview", {"user_id": "u0"}, 30, "/b"),
                                           ("$pageview", {"anonymous_id": "a2"}, 40, None),
                                           ("A", {"anonymous_id": "a3"}, 50, None),
                                           ("$pageview", {"anonymous_id": "a4"}, 400, "/c")]]
    recent.append(("identify", {"user_id": "u0", "anonymous_id": "a0", "timestamp": stamp(int(now) - 60, 0)}))
    project, _ = load(client, recent)
    for body in ({"kind": "realtime"}, {"kind": "realtime", "filter": {"event": {"eq": "$pageview"}}}):
        native, clickhouse = both(engine, ch_store, project.id, body)
        assert clickhouse == native and native[0]["visitors"] >= 3, body


@EXAMPLES
@given(stream=stream_st, anchor=st.sampled_from(NAMES + ["$alias"]), after=st.booleans(),
       body=several(body_st("path", depth=maybe(st.integers(1, 7)), limit=maybe(st.integers(1, 20)))))
def test_paths_match_the_native_engine(client, engine, ch_store, stream, anchor, after, body):
    for b in body:
        b["start_event" if after else "end_event"] = anchor
    check(client, engine, ch_store, stream, body)


@EXAMPLES
@given(stream=web_stream, body=several(web_body()))
def test_web_matches_the_native_engine(client, engine, ch_store, stream, body):
    project, _ = load(client, stream)
    for b in body:
        raw = json.dumps(b).encode()
        now_us = time.time_ns() // 1000
        native = engine.query(raw, project.id, now_us, LIMITS)
        clickhouse = ch_store.query(raw, project.id, now_us, LIMITS)
        assert normal(json.loads(clickhouse[1])) == normal(json.loads(native[1])), b
        assert normal(clickhouse[3]) == normal(native[3]), b


def test_values_read_as_the_native_engine_reads_them(client, engine, ch_store):
    """A property's value is its stored text: numbers as PostgreSQL writes them (`2.0`, `100.0`,
    `0.00000015`), objects and arrays as JSON text, in keys, groups, filters and measures."""
    values = [2.0, 100.0, 1e20, -0.0, 0.1, 3, "x", True, None, {"a": 1}, [1, 2], 1.5e-7, 12345678901234567890, "2.0",
              " 7 ", "1e3", "nan", "-inf"]
    items = [("batch", {"event": "A", "anonymous_id": f"a{i}", "properties": {"v": v, "w": {"v": 9}},
                        "timestamp": stamp(BASE + 60 * i, 0)}) for i, v in enumerate(values)]
    items.append(("identify", {"user_id": "u", "anonymous_id": "a0", "traits": {"v": 2.0}, "timestamp": stamp(BASE, 0)}))
    project, _ = load(client, items)
    window = {"from": stamp(BASE, 0), "to": stamp(BASE + DAY, 0)}
    for body in ({"kind": "breakdown", "prop": "v", "limit": 30}, {"kind": "aggregate", "group_by": [{"prop": "v"}]},
                 {"kind": "aggregate", "group_by": [{"trait": "v"}]}, {"kind": "aggregate", "measure": {"sum": "v"}},
                 {"kind": "aggregate", "measure": {"max": "v"}}, {"kind": "aggregate", "filter": {"prop": {"v": {"eq": 2}}}},
                 {"kind": "aggregate", "filter": {"prop": {"v": {"eq": "2.0"}}}},
                 {"kind": "aggregate", "filter": {"prop": {"v": {"gt": 1}}}},
                 {"kind": "aggregate", "filter": {"prop": {"v": {"contains": ", "}}}},
                 {"kind": "aggregate", "filter": {"trait": {"v": {"eq": "2.0"}}}}):
        body["time_range"] = window
        native, clickhouse = both(engine, ch_store, project.id, body)
        assert clickhouse == native, body
