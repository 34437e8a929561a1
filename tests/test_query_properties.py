"""Property-based: random raw ingest calls (events, `$identify` / `$alias` events, `/identify` and
`/alias` calls, links arriving before or after the events they join) go through the real ingest
API, random raw query bodies (time ranges absolute or relative, time zones, fields left to their
defaults, composed filters) through the real query API, and every query kind must answer exactly
what the plain-Python reference (reference_engine.py) answers from the same raw calls and body.

The reference parses the calls and the body itself: nothing the product built (its plan, its
`now`, its defaults, its stored identity rows or system events) reaches it, so a bug in plan
building or link storage is a difference here. For relative ranges the product reads the clock
while it answers; the reference answers at the clock read just before and just after the request,
and the product must agree with one of the two."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import reference_engine as ref
from conftest import ADMIN, Project

ANONS = [f"a{i}" for i in range(4)]
USERS = [f"u{i}" for i in range(2)]
NAMES = ["A", "B", "C", "$pageview"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
DAY = 86400
BASE = (int(time.time()) // DAY - 30) * DAY  # a day boundary 30 days ago (UTC)
LATEST = 25 * DAY  # events stay 4+ days in the past, whatever the hour (later would be clamped to now)

# --- raw ingest calls ---------------------------------------------------------------------------

OFFSET_ZONES = [timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-4))]


def stamp(ts: int, style: int) -> str:
    """`ts` (epoch seconds) in ISO-8601 with `Z`, `+00:00` or another offset: the same instant."""
    at = datetime.fromtimestamp(ts, timezone.utc)
    if style == 0:
        return at.isoformat().replace("+00:00", "Z")
    if style == 1:
        return at.isoformat()
    return at.astimezone(OFFSET_ZONES[style - 2]).isoformat()


style_st = st.integers(0, 3)
prop_values = st.one_of(st.none(), st.sampled_from(["free", "pro", "7", "x"]), st.integers(-5, 50),
                        st.sampled_from([0, 3, 7]), st.sampled_from([0.5, 2.5, 12.25]), st.booleans())
offset_st = st.one_of(
    st.integers(0, 4 * 144).map(lambda n: n * 600),  # 10-minute steps over 4 days: ties and window edges
    st.integers(0, 30).map(lambda n: n * 600),  # the first five hours, where more ties are
    st.integers(0, LATEST // 3600).map(lambda n: n * 3600),  # three weeks: past the default 14d window
)
# Who sends an event: an anonymous id, a user id, both (which links nothing), or an anonymous-looking
# id as user_id (from then on it is a user, and a link from it stops counting).
IDENTITIES = ([{"anonymous_id": a} for a in ANONS] * 2 + [{"user_id": u} for u in USERS] * 2
              + [{"anonymous_id": "a0", "user_id": "u0"}, {"anonymous_id": "a2", "user_id": "u1"}, {"user_id": "a3"}])
PAGES = ["/", "/a", "/b", "/a/", "/b//"]
SMALL_GAPS = [0, 600, 1200, 1800, 3600, DAY]  # equal to the windows the funnels use: edges on purpose


@st.composite
def event_st(draw, name: str | None = None, who: dict | None = None, offset: int | None = None) -> dict:
    """One event as a client sends it to /batch or /track (message_id added when sent)."""
    name = name or draw(st.sampled_from(NAMES))
    body = {"event": name, **(who or draw(st.sampled_from(IDENTITIES)))}
    # A "path" property (read where the hot column is empty) takes a value no page has: see
    # test_a_hot_column_and_its_property_fallback_group_as_one_value for why.
    props = {k: v for k, v in (("plan", draw(prop_values)), ("amount", draw(prop_values)),
                               ("path", draw(st.sampled_from([None, None, None, "/c"])))) if v is not None}
    if props or draw(st.booleans()):
        body["properties"] = props
    page = draw(st.sampled_from(PAGES if name == "$pageview" else [None, None, None, "/a/"]))
    if page:
        body["context"] = {"page": {"path": page}}
    body["timestamp"] = stamp(BASE + (draw(offset_st) if offset is None else offset), draw(style_st))
    return body


@st.composite
def link_st(draw, anon: str, user: str, offset: int) -> tuple[str, dict]:
    """A link of `anon` to `user`, by any of the four ways a client makes one."""
    at = stamp(BASE + offset, draw(style_st))
    how = draw(st.sampled_from(["identify", "alias", "$identify", "$alias"]))
    if how == "identify":
        body = {"user_id": user, "anonymous_id": anon, "timestamp": at}
        if draw(st.booleans()):
            body["traits"] = {"tier": draw(st.sampled_from(["free", "pro"]))}
        return "identify", body
    if how == "alias":
        return "alias", {"previous_id": anon, "user_id": user, "timestamp": at}
    return "batch", {"event": how, "anonymous_id": anon, "user_id": user, "timestamp": at}


@st.composite
def journey(draw) -> tuple[list[dict], tuple[str, dict] | None]:
    """One person's events in sequence at chosen gaps, switching from an anonymous id to a user
    id part-way, with a link between the two, as a visitor who signs up makes. Some are of people
    seen nowhere else (a4, a5, u2, u3), whose few events make each window and gap count."""
    anon, user = draw(st.sampled_from(ANONS + ["a4", "a5"])), draw(st.sampled_from(USERS + ["u2", "u3"]))
    switch = draw(st.integers(0, 6))
    at = draw(st.integers(0, 2 * 144)) * 600
    events, link_at = [], at
    names = draw(st.lists(st.sampled_from(["A", "B", "A", "B", "C", "$pageview"]), min_size=2, max_size=6))
    for i, name in enumerate(names):
        if i:
            at = min(LATEST, at + draw(st.one_of(st.sampled_from(SMALL_GAPS), st.sampled_from(SMALL_GAPS),
                                                 st.sampled_from([8 * DAY, 14 * DAY]))))
        if i == switch:
            link_at = at
        who = {"anonymous_id": anon} if i < switch else {"user_id": user}
        events.append(draw(event_st(name=name, who=who, offset=at)))
    return events, (draw(link_st(anon, user, link_at)) if 0 < switch < len(events) else None)


@st.composite
def stream(draw) -> list[tuple[str, dict]]:
    """Raw calls in arrival order: ("batch", event) items (consecutive ones share a request),
    ("identify", body) and ("alias", body). Links and traits land anywhere in the order: before
    the events of the ids they join, between them, or after."""
    items: list[tuple[str, dict]] = [("batch", e) for e in draw(st.lists(event_st(), max_size=16))]

    def put(item):
        items.insert(draw(st.integers(0, len(items))), item)

    for events, link in draw(st.lists(journey(), min_size=2, max_size=5)):
        items += [("batch", e) for e in events]
        if link:
            put(link)
    # Other links: from an anonymous or a user id, to a user id or an id that is anonymous so far.
    others = st.tuples(st.sampled_from(ANONS + USERS), st.sampled_from(USERS + ["a1"])).filter(lambda p: p[0] != p[1])
    for anon, user in draw(st.lists(others, max_size=3)):
        put(draw(link_st(anon, user, draw(offset_st))))
    for user, tier in draw(st.lists(st.tuples(st.sampled_from(USERS), st.sampled_from(["free", "pro"])), max_size=3)):
        put(("identify", {"user_id": user, "traits": {"tier": tier}, "timestamp": stamp(BASE + draw(offset_st), 0)}))
    return items


stream_st = stream()

# --- raw query bodies ---------------------------------------------------------------------------

time_range_st = st.one_of(
    *[st.builds(lambda start, hours, s1, s2: {"from": stamp(BASE + start * 3600, s1),
                                              "to": stamp(BASE + (start + hours) * 3600, s2)},
                st.integers(0, 48), st.integers(1, 96), style_st, style_st)] * 3,
    st.builds(lambda day, s: {"from": stamp(BASE + day * DAY, s)}, st.integers(0, 3), style_st),  # to: now
    # Durations have at most five digits (the OpenAPI pattern; "100000s" is refused).
    st.sampled_from(["30d", "29d", "28d", "4w", "1w", "700h", "41000m", "99999s"]).map(lambda d: {"last": d}),
    st.none(),  # the default, the last 30 days
)
FILTERS = [  # bounds on values the streams hold (0, 3, 7, 0.5, 2.5, 12.25), so < and <= differ
    {"prop": {"plan": {"eq": "pro"}}}, {"prop": {"plan": {"neq": "pro"}}}, {"prop": {"plan": {"eq": True}}},
    {"prop": {"amount": {"gte": 3}}}, {"prop": {"amount": {"lt": 2.5}}}, {"prop": {"amount": {"eq": 7}}},
    {"prop": {"amount": {"in": [7, "x", 0.5]}}}, {"prop": {"amount": {"lte": 0}}}, {"prop": {"amount": {"gte": 12.25}}},
    {"prop": {"path": {"in": ["/a"]}}}, {"prop": {"path": {"eq": "/c"}}},
    {"prop": {"plan": {"exists": True}}}, {"prop": {"plan": {"exists": False}}}, {"prop": {"plan": {"contains": "r"}}},
    {"event": {"eq": "A"}}, {"event": {"neq": "$pageview"}}, {"event": {"in": ["B", "$identify", "$alias"]}},
    {"prop": {"amount": {"gt": 3}}}, {"prop": {"amount": {"lte": 2.5}}}, {"prop": {"amount": {"neq": 7}}},
    {"prop": {"plan": {"in": ["free", True]}}}, {"prop": {"plan": {"gte": 7}}},
    {"trait": {"tier": {"eq": "pro"}}}, {"trait": {"tier": {"exists": False}}}, {"trait": {"tier": {"neq": "pro"}}},
]
_leaf = st.sampled_from(FILTERS)
filter_st = st.one_of(st.none(), _leaf, st.recursive(_leaf, lambda inner: st.one_of(
    st.lists(inner, min_size=1, max_size=3).map(lambda fs: {"all": fs}),
    st.lists(inner, min_size=1, max_size=3).map(lambda fs: {"any": fs}),
    inner.map(lambda f: {"not": f})), max_leaves=4))
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def body_st(draw, kind: str, **fields) -> dict:
    """A query body of `kind`: the shared fields, then `fields` (strategies); a None draw leaves
    the field out, to its default."""
    body = {"kind": kind}
    for name, strategy in (("time_range", time_range_st), ("timezone", st.one_of(st.none(), st.sampled_from(ZONES))),
                           ("filter", filter_st), *fields.items()):
        value = draw(strategy)
        if value is not None:
            body[name] = value
    return body


def maybe(strategy):
    return st.one_of(st.none(), strategy)


# --- running both -------------------------------------------------------------------------------

def load(client, items: list[tuple[str, dict]]) -> tuple[Project, list[tuple[str, dict]]]:
    """Send the items through the product, in order, as the calls the reference reads."""
    project = Project(client)
    calls: list[tuple[str, dict]] = []
    batch: list[dict] = []

    def flush():
        if len(batch) == 1:
            calls.append(("track", batch[0]))
        elif batch:
            calls.append(("batch", {"batch": list(batch)}))
        batch.clear()

    for n, (endpoint, body) in enumerate(items):
        body = {**body, "message_id": f"m{n}"}
        if endpoint == "batch":
            batch.append(body)
            if len(batch) == 100:
                flush()
        else:
            flush()
            calls.append((endpoint, body))
    flush()
    for endpoint, body in calls:
        answer = client.post(f"/analytics/v1/{endpoint}", json=body, headers=project.key_headers)
        sent = len(body["batch"]) if endpoint == "batch" else 1
        assert answer.status_code == 200 and answer.get_json()["data"]["accepted"] == sent, (body, answer.get_json())
    return project, calls


def ask(client, project, body: dict) -> dict:
    answer = client.post("/analytics/v1/query", json={**body, "project_id": project.id}, headers=ADMIN)
    assert answer.status_code == 200, (body, answer.get_json())
    return answer.get_json()["data"]


def normal(value):
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, list):
        return [normal(v) for v in value]
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    return value


def event_row(row: dict) -> dict:
    """An `events` answer row in the reference's terms (its time as epoch µs)."""
    return {"message_id": row["message_id"], "event": row["event"], "ts": ref.instant_us(row["timestamp"]),
            "distinct_id": row["distinct_id"], "user_id": row["user_id"], "anonymous_id": row["anonymous_id"],
            "properties": row["properties"]}


def check(client, items: list[tuple[str, dict]], body: dict) -> list:
    """The product's answer to the raw `body` over the raw `items`, after asserting it equals the
    reference's."""
    project, calls = load(client, items)
    return compare(client, project, ref.ingest(calls), body)


def compare(client, project: Project, data: ref.Data, body: dict) -> list:
    """The product's answer to `body`, after asserting it equals the reference's over `data`. The
    product reads its clock once while it answers; the reference answers at the clock before and
    after the request, and the product's answer must be one of the two."""
    before = time.time()
    got = ask(client, project, body)
    after = time.time()
    rows = [event_row(r) for r in got["rows"]] if body["kind"] == "events" else got["rows"]
    first, last = (normal(ref.answer(data, body, now)) for now in (before, after))
    if first == last:
        assert normal(rows) == first, body
    else:
        assert normal(rows) in (first, last), (body, rows, first, last)
    return got["rows"]


# --- the properties -----------------------------------------------------------------------------

@SETTINGS
@given(stream=stream_st, body=body_st(
    "aggregate",
    measure=maybe(st.sampled_from(["count", "unique_users", "unique_users", {"sum": "amount"}, {"avg": "amount"},
                                   {"min": "amount"},
                                   {"max": "plan"}, {"percentile": {"prop": "amount", "p": 0.9}}])),
    time_bucket=maybe(st.sampled_from(["1h", "1d", "1w", "1mo"])),
    group_by=maybe(st.sampled_from([[{"prop": "plan"}], [{"trait": "tier"}], [{"prop": "path"}, {"prop": "plan"}]]))))
def test_aggregate_matches_the_reference(client, stream, body):
    check(client, stream, body)


@settings(SETTINGS, max_examples=150)
@given(stream=stream_st, body=body_st(
    "funnel",
    steps=st.one_of(st.lists(st.sampled_from(["A", "B", "C", "$pageview"]), min_size=1, max_size=4),
                    st.lists(st.sampled_from(["A", "B"]), min_size=2, max_size=3)).map(
        lambda names: [{"event": name} for name in names]),
    conversion_window=maybe(st.sampled_from(["10m", "20m", "30m", "1h", "1d", "24h", "8d", "1w", "2w", "86400s"])),
    order=maybe(st.sampled_from(["sequential", "strict"])),
    group_by=maybe(st.just([{"prop": "plan"}]))),
    step_filter=st.sampled_from([None, None, {"prop": {"plan": {"eq": "pro"}}}]))
def test_funnel_matches_the_reference(client, stream, body, step_filter):
    if step_filter:
        body["steps"][-1]["filter"] = step_filter
    check(client, stream, body)


@SETTINGS
@given(stream=stream_st, body=body_st(
    "retention", cohort_event=st.sampled_from(NAMES + ["$identify"]), return_event=maybe(st.sampled_from(NAMES)),
    period=maybe(st.sampled_from(["day", "week"])), periods=maybe(st.integers(1, 6))))
def test_retention_matches_the_reference(client, stream, body):
    check(client, stream, body)


@SETTINGS
@given(stream=stream_st, anchor=st.sampled_from(NAMES + ["$alias"]), after=st.booleans(),
       body=body_st("path", depth=maybe(st.integers(1, 7)), limit=maybe(st.integers(1, 20))))
def test_path_matches_the_reference(client, stream, anchor, after, body):
    body["start_event" if after else "end_event"] = anchor
    check(client, stream, body)


@SETTINGS
@given(stream=stream_st, body=body_st(
    "breakdown", prop=st.sampled_from(["plan", "path", "amount"]),
    measure=maybe(st.sampled_from(["count", "unique_users", {"sum": "amount"}, {"max": "amount"}])),
    limit=maybe(st.integers(1, 12))))
def test_breakdown_matches_the_reference(client, stream, body):
    check(client, stream, body)


@SETTINGS
@given(stream=stream_st, body=body_st("events", limit=maybe(st.integers(1, 50))))
def test_events_match_the_reference(client, stream, body):
    check(client, stream, body)


# --- fixed examples -----------------------------------------------------------------------------

def test_the_reference_imports_nothing_of_the_product():
    """The reference must hold the product to the contract, not to itself: no module of
    reactor_analytics (plan building, native core, stored rows) may reach it."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(ref.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.split(".")[0] == "reactor_analytics"}, imported


def test_the_reference_reads_the_hot_columns_the_product_declares():
    """The reference writes README's hot columns out (a prop of one of these names reads the
    column, then the property); the product declares them once in its native core. A column added
    or dropped there is a change of the contract: README and the reference change with it."""
    from reactor_analytics import _native

    assert tuple(ref.HOT) == tuple(_native.HOT_COLUMNS)


def event(name: str, offset: int, who: str, plan=None) -> tuple[str, dict]:
    body = {"event": name, ("user_id" if who.startswith("u") else "anonymous_id"): who,
            "timestamp": stamp(BASE + offset, 0)}
    if plan is not None:
        body["properties"] = {"plan": plan}
    return "batch", body


def test_defaults_match_the_reference(client):
    """Bodies that leave every optional field to its documented default, over events placed where
    each default decides the answer: time_range the last 30 days (an event an hour before the
    30 days, one a day into them), timezone UTC (an event at 23:30 UTC), measure count,
    conversion_window 14d (B 10 and 15 days after A), order sequential (A C B), period week,
    periods 4 and return_event the cohort event (R every 7 days), breakdown limit 10 (12 values),
    path depth 5 and limit 10 (12 sessions of 7 items), events limit 100 (131 events)."""
    def ev(name, offset, who, page=None, **props):
        body = {"event": name, "anonymous_id": who, "properties": props, "timestamp": stamp(BASE + offset, 0)}
        if page:
            body["context"] = {"page": {"path": page}}
        return "batch", body

    items = [ev("A", -3600, "x0"), ev("A", DAY, "x0"), ev("A", DAY + 23 * 3600 + 1800, "x1"),
             ev("A", 2 * DAY, "f1"), ev("B", 12 * DAY, "f1"), ev("A", 2 * DAY, "f2"), ev("B", 17 * DAY, "f2"),
             ev("A", 3 * DAY, "f3"), ev("C", 3 * DAY + 600, "f3"), ev("B", 3 * DAY + 1200, "f3"),
             *[ev("R", 2 * DAY + 7 * DAY * k, "r1") for k in range(5)], ev("R", 3 * DAY, "r2"), ev("R", 4 * DAY, "r2"),
             *[ev("K", 5 * DAY + i * 60, "k1", k=f"v{i % 12}") for i in range(30)]]
    for i in range(12):
        start = 6 * DAY + i * 3 * 3600
        items += [ev("S", start, f"p{i}"), *[ev("$pageview", start + j * 60, f"p{i}", f"/p{i}/{j}") for j in range(1, 7)]]
    project, calls = load(client, items)
    data = ref.ingest(calls)
    for body in [{"kind": "aggregate"}, {"kind": "aggregate", "time_bucket": "1d"},
                 {"kind": "funnel", "steps": [{"event": "A"}, {"event": "B"}]}, {"kind": "retention", "cohort_event": "R"},
                 {"kind": "breakdown", "prop": "k"}, {"kind": "path", "start_event": "S"}, {"kind": "events"}]:
        rows = compare(client, project, data, body)
        assert rows, body


def test_every_filter_matches_the_reference(client):
    """Each filter the properties draw from, alone and composed, over one stream holding every
    value they bound (a filter drawn at random is met in few examples)."""
    plans, amounts = ["pro", "free", True, "7", None], [3, 2.5, 0.5, 12.25, 0, 7, "7", "x", None, -5]
    items = [("identify", {"user_id": "u0", "anonymous_id": "a0", "traits": {"tier": "pro"}, "timestamp": stamp(BASE, 0)}),
             ("identify", {"user_id": "u1", "traits": {"tier": "free"}, "timestamp": stamp(BASE, 0)}),
             ("alias", {"previous_id": "a1", "user_id": "u1", "timestamp": stamp(BASE, 0)})]
    for i, (plan, amount) in enumerate((p, a) for p in plans for a in amounts):
        props = {k: v for k, v in (("plan", plan), ("amount", amount)) if v is not None}
        body = {"event": NAMES[i % 4], "anonymous_id": f"a{i % 3}", "properties": props, "timestamp": stamp(BASE + i * 60, 0)}
        if i % 5 == 0:
            body["properties"]["path"] = "/c"
        if body["event"] == "$pageview":
            body["context"] = {"page": {"path": PAGES[i % len(PAGES)]}}
        items.append(("batch", body))
    project, calls = load(client, items)
    data = ref.ingest(calls)
    window = {"from": stamp(BASE, 0), "to": stamp(BASE + DAY, 0)}
    composed = [{"all": FILTERS[1:4]}, {"any": FILTERS[3:6]}, {"not": {"any": FILTERS[6:9]}},
                {"all": [{"not": FILTERS[-1]}, {"any": [FILTERS[0], FILTERS[4]]}]}]
    for filt in FILTERS + composed:
        compare(client, project, data, {"kind": "aggregate", "time_range": window, "filter": filt})


def test_rows_at_one_instant_fill_steps_in_step_order(client):
    """At t=0 one A matches both steps (plan=pro) and others only step 1: an A that can only be
    step 1 fills it and the pro A fills step 2, though the pro A arrived first."""
    items = [event("A", 600, "u0"), event("A", 600, "u0"), event("A", 0, "u0", "pro"), event("A", 0, "u0"),
             event("A", 0, "u0")]
    body = {"kind": "funnel", "time_range": {"from": stamp(BASE, 0), "to": stamp(BASE + DAY, 0)}, "timezone": "UTC",
            "steps": [{"event": "A"}, {"event": "A", "filter": {"prop": {"plan": {"eq": "pro"}}}}],
            "conversion_window": "10m", "order": "sequential"}
    rows = check(client, items, body)
    assert [s["count"] for s in rows[0]["steps"]] == [1, 1]


def test_identity_rules_match_the_reference(client):
    """Each rule of README "Identity" decides one funnel (step 1 by the anonymous side, step 2 by
    the user side, 10 minutes later: it converts only if the two are one person): the first link
    of an anonymous id wins; a user is never linked to another user; an id linked and later seen
    as user_id is a user, its link no longer counts; links are retroactive (a link after the
    events) and may come before the events."""
    def at(minutes: int) -> str:
        return stamp(BASE + minutes * 60, 0)

    def ev(name, minutes, **who):
        return "batch", {"event": name, **who, "timestamp": at(minutes)}

    items = [
        ("alias", {"previous_id": "a0", "user_id": "u0", "timestamp": at(0)}),
        ("identify", {"user_id": "u1", "anonymous_id": "a0", "timestamp": at(1)}),
        ev("F1", 10, anonymous_id="a0"), ev("G1", 20, user_id="u0"), ev("H1", 20, user_id="u1"),
        ev("F2", 30, user_id="u1"), ev("G2", 40, user_id="u0"),
        ("alias", {"previous_id": "u1", "user_id": "u0", "timestamp": at(50)}),
        ("identify", {"user_id": "u0", "anonymous_id": "a1", "timestamp": at(60)}),
        ev("F3", 70, anonymous_id="a1"), ev("G3", 80, user_id="u0"), ev("X", 90, user_id="a1"),
        ev("F4", 100, anonymous_id="a2"), ev("G4", 110, user_id="u1"),
        ev("$alias", 120, anonymous_id="a2", user_id="u1"),
        ev("$identify", 130, anonymous_id="a3", user_id="u0"),
        ev("F5", 140, anonymous_id="a3"), ev("G5", 150, user_id="u0"),
    ]
    project, calls = load(client, items)
    data = ref.ingest(calls)
    window = {"from": stamp(BASE, 0), "to": stamp(BASE + DAY, 0)}
    for first, second, converts in [("F1", "G1", True), ("F1", "H1", False), ("F2", "G2", False),
                                    ("F3", "G3", False), ("F4", "G4", True), ("F5", "G5", True)]:
        [row] = compare(client, project, data, {"kind": "funnel", "time_range": window, "conversion_window": "1h",
                                                "steps": [{"event": first}, {"event": second}]})
        assert [s["count"] for s in row["steps"]] == [1, 1 if converts else 0], (first, second)


@pytest.mark.parametrize("links_first", [False, True])
def test_two_user_ids_linked_stay_two_persons(client, links_first):
    """u0 and u1 both sent events as user_id; an alias of u1 to u0 (before or after those events)
    leaves them two persons in unique users and in a funnel."""
    events = [event("A", 0, "u0"), event("A", 600, "u1"), event("B", 1200, "u1")]
    alias = ("alias", {"previous_id": "u1", "user_id": "u0", "timestamp": stamp(BASE + 1800, 0)})
    items = [alias, *events] if links_first else [*events, alias]
    window = {"from": stamp(BASE, 0), "to": stamp(BASE + DAY, 0)}
    rows = check(client, items, {"kind": "aggregate", "time_range": window, "measure": "unique_users",
                                 "filter": {"event": {"neq": "$alias"}}})
    assert rows == [{"value": 2}]
    rows = check(client, items, {"kind": "funnel", "time_range": window, "conversion_window": "1h",
                                 "steps": [{"event": "A"}, {"event": "B"}]})
    assert [s["count"] for s in rows[0]["steps"]] == [2, 1]


@pytest.mark.parametrize("kind", ["aggregate", "breakdown", "funnel"])
def test_a_hot_column_and_its_property_fallback_group_as_one_value(client, kind):
    """A `prop` naming a hot column reads the column and falls back to the property of that name
    where the column is empty (README "Queries"): one event with page path /b and one with only a
    "path": "/b" property have the same value, one group of two."""
    items = [("batch", {"event": "A", "anonymous_id": "a0", "context": {"page": {"path": "/b"}},
                        "timestamp": stamp(BASE + 600, 0)}),
             ("batch", {"event": "A", "anonymous_id": "a1", "properties": {"path": "/b"},
                        "timestamp": stamp(BASE + 1200, 0)})]
    body = {"kind": kind, "time_range": {"from": stamp(BASE, 0), "to": stamp(BASE + DAY, 0)}}
    body.update({"aggregate": {"group_by": [{"prop": "path"}]}, "breakdown": {"prop": "path"},
                 "funnel": {"steps": [{"event": "A"}], "group_by": [{"prop": "path"}]}}[kind])
    check(client, items, body)
