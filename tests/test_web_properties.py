"""Property-based: web analytics (`web`, `realtime`, `summary`, and the `dau` / `wau` / `mau`
measures) against the plain-Python reference (reference_engine.py), from random visits sent
through the real ingest API: gaps of 29 and 30 minutes (and a second either side), visits across
midnight and DST changes in the query's time zone, `$pageleave` with and without `duration_ms`,
bounced visits carrying a custom event, persons identified mid-visit, sources from UTM tags and
referrers, every metric, dimension, bucket, comparison and web filter."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

import reference_engine as ref
from conftest import ADMIN
from test_query_properties import (BASE, DAY, LATEST, SETTINGS, ZONES, ask, filter_st, link_st, load, maybe, normal,
                                   stamp, style_st, time_range_st)

MIN = 60
AGENTS = [None, *ref.USER_AGENTS]
HOSTS = ["shop.example", "Blog.Example"]
WEB_PAGES = ["/", "/pricing", "/docs", "/a/"]
REFERRERS = [None, None, "https://www.Google.com/search?q=x", "https://news.example/a"]
UTM = [None, None, None, "newsletter", "google.com"]
# Gaps between a person's events: 29 and 30 minutes, a second either side, and across days.
GAPS = [0, 5, 60, 600, 29 * MIN, 30 * MIN - 1, 30 * MIN, 30 * MIN + 1, 3600, 6 * 3600, DAY]
WEB_NAMES = ["$pageview", "$pageview", "$pageview", "$pageleave", "signup", "$autocapture"]
DURATIONS = [None, None, 0, 1500, 12500.5, "800", "n/a"]


@st.composite
def web_event(draw, name: str, who: dict, at: int) -> dict:
    path = draw(st.sampled_from(WEB_PAGES))
    page: dict = {"path": path}
    if draw(st.booleans()):
        utm = draw(st.sampled_from(UTM))
        page["url"] = f"https://{draw(st.sampled_from(HOSTS))}{path}" + (f"?utm_source={utm}" if utm else "")
    referrer = draw(st.sampled_from(REFERRERS))
    if referrer and name == "$pageview":
        page["referrer"] = referrer
    context: dict = {"page": page}
    for key, values in (("userAgent", AGENTS), ("locale", [None, "de-DE", "en-US"]),
                        ("timezone", [None, *ref.COUNTRIES])):
        value = draw(st.sampled_from(values))
        if value:
            context[key] = value
    body = {"event": name, **who, "context": context, "timestamp": stamp(BASE + at, draw(style_st))}
    if name == "$pageleave":
        duration = draw(st.sampled_from(DURATIONS))
        if duration is not None:
            body["properties"] = {"duration_ms": duration}
    return body


@st.composite
def visitor(draw) -> list[tuple[str, dict]]:
    """One person's events at chosen gaps, identified part-way (a link from the anonymous id
    to the user id, made mid-visit) or not."""
    anon = draw(st.sampled_from(["a0", "a1", "a2", "a3", "a4"]))
    user = draw(st.sampled_from(["u0", "u1", "u2"]))
    names = draw(st.lists(st.sampled_from(WEB_NAMES), min_size=1, max_size=7))
    switch = draw(st.integers(0, len(names) + 2))
    # Late in a day now and then, so visits cross midnight (in UTC and the query zones).
    at = draw(st.integers(0, 20)) * DAY + draw(st.sampled_from([0, 3600, 20 * 3600, 23 * 3600 + 50 * MIN]))
    items, link_at = [], None
    for i, name in enumerate(names):
        if i:
            at = min(LATEST, at + draw(st.sampled_from(GAPS)))
        who = {"anonymous_id": anon} if i < switch else {"user_id": user}
        if i == switch:
            link_at = at
        items.append(("batch", draw(web_event(name, who, at))))
    if link_at is not None and switch > 0:
        items.append(draw(link_st(anon, user, link_at)))
    return items


web_stream = st.lists(visitor(), min_size=1, max_size=6).map(lambda people: [i for p in people for i in p])

WEB_FILTERS = [
    {"prop": {"source": {"eq": "google.com"}}}, {"prop": {"source": {"eq": ref.DIRECT}}},
    {"prop": {"page": {"eq": "/pricing"}}}, {"prop": {"entry_page": {"in": ["/", "/docs"]}}},
    {"prop": {"exit_page": {"neq": "/"}}}, {"prop": {"country": {"eq": "DE"}}}, {"prop": {"browser": {"eq": "Chrome"}}},
    {"prop": {"device": {"eq": "mobile"}}}, {"prop": {"referrer": {"exists": True}}},
    {"prop": {"utm_source": {"eq": "newsletter"}}}, {"prop": {"hostname": {"eq": "shop.example"}}},
    {"prop": {"language": {"exists": False}}}, {"event": {"eq": "signup"}}, {"event": {"neq": "$pageleave"}},
]
_web_leaf = st.sampled_from(WEB_FILTERS)
web_filter_st = st.one_of(st.none(), st.none(), _web_leaf, st.recursive(_web_leaf, lambda inner: st.one_of(
    st.lists(inner, min_size=1, max_size=3).map(lambda fs: {"all": fs}),
    st.lists(inner, min_size=1, max_size=3).map(lambda fs: {"any": fs}),
    inner.map(lambda f: {"not": f})), max_leaves=3))


@st.composite
def web_body(draw) -> dict:
    body: dict = {"kind": "web"}
    time_range = draw(time_range_st)
    if time_range is not None:
        body["time_range"] = time_range
    zone = draw(maybe(st.sampled_from(ZONES)))
    if zone:
        body["timezone"] = zone
    filt = draw(web_filter_st)
    if filt:
        body["filter"] = filt
    metrics = draw(maybe(st.lists(st.sampled_from(ref.WEB_METRICS), min_size=1, max_size=4, unique=True)))
    if metrics:
        body["metrics"] = metrics
    shape = draw(st.sampled_from(["total", "bucket", "dimension", "dimension"]))
    if shape == "bucket":
        body["time_bucket"] = draw(st.sampled_from(["1h", "1d", "1w", "1mo"]))
    elif shape == "dimension":
        body["dimension"] = draw(st.sampled_from(ref.WEB_DIMENSIONS))
        limit = draw(maybe(st.integers(1, 6)))
        if limit:
            body["limit"] = limit
    compare = draw(maybe(st.sampled_from(["previous_period", "year_over_year"])))
    open_range = time_range is not None and "from" in time_range and "to" not in time_range
    if compare and not open_range:
        body["compare"] = compare
    return body


def web_answer(got: dict) -> dict:
    out = {"rows": got["rows"]}
    if "comparison" in got:
        out["comparison"] = got["comparison"]
    return out


def check_web(client, project, data: ref.Data, body: dict):
    """The product's answer equals the reference's at the clock before or after the request."""
    before = time.time()
    got = ask(client, project, body)
    after = time.time()
    mine = web_answer(got) if body["kind"] == "web" else got["rows"]
    first, last = (normal(ref.answer(data, body, now)) for now in (before, after))
    assert normal(mine) in (first, last), (body, mine, first)
    return mine


@settings(SETTINGS, max_examples=80)
@given(items=web_stream, body=web_body())
def test_web_matches_the_reference(client, items, body):
    project, calls = load(client, items)
    check_web(client, project, ref.ingest(calls), body)


@SETTINGS
@given(items=web_stream, measure=st.sampled_from(["dau", "wau", "mau"]), time_range=time_range_st,
       zone=maybe(st.sampled_from(ZONES)), filt=filter_st,
       group_by=maybe(st.sampled_from([[{"prop": "path"}], [{"prop": "browser"}]])))
def test_active_users_match_the_reference(client, items, measure, time_range, zone, filt, group_by):
    body = {"kind": "aggregate", "measure": measure, "time_bucket": "1d"}
    for name, value in (("time_range", time_range), ("timezone", zone), ("filter", filt), ("group_by", group_by)):
        if value is not None:
            body[name] = value
    project, calls = load(client, items)
    check_web(client, project, ref.ingest(calls), body)


@SETTINGS
@given(items=web_stream, time_range=time_range_st, filt=filter_st)
def test_summary_matches_the_reference(client, items, time_range, filt):
    body = {"kind": "summary"}
    for name, value in (("time_range", time_range), ("filter", filt)):
        if value is not None:
            body[name] = value
    project, calls = load(client, items)
    check_web(client, project, ref.ingest(calls), body)


# --- fixed examples -----------------------------------------------------------------------------

def _at(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def test_realtime_counts_the_last_five_minutes(client):
    now = time.time()
    items = [("batch", {"event": "$pageview", "anonymous_id": who, "context": {"page": {"path": path}},
                        "timestamp": _at(now - ago)})
             for who, path, ago in [("r0", "/gone", 600), ("r1", "/x", 200), ("r1", "/x", 100), ("r2", "/x", 30),
                                    ("r2", "/y", 20)]]
    items.append(("batch", {"event": "click", "anonymous_id": "r3", "timestamp": _at(now - 5)}))
    project, calls = load(client, items)
    rows = check_web(client, project, ref.ingest(calls), {"kind": "realtime", "time_range": {"last": "1d"}})
    assert rows == [{"visitors": 3, "pages": [{"key": "/x", "visitors": 2}, {"key": "/y", "visitors": 1}]}]


def _last_transition(zone: str) -> int:
    """The last DST change of `zone` at least five days ago (epoch seconds, on the hour)."""
    tz = ZoneInfo(zone)
    at = (int(time.time()) // 3600 - 5 * 24) * 3600
    offset = datetime.fromtimestamp(at, tz).utcoffset()
    while datetime.fromtimestamp(at - 3600, tz).utcoffset() == offset:
        at -= 3600
    return at


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin"])
def test_visits_across_midnight_and_a_dst_change(client, zone):
    """Visits of 29-minute steps through the night of the zone's last DST change, and one 30 minutes
    after: daily and hourly buckets in that zone, totals and entry pages, against the reference."""
    change = _last_transition(zone)
    start = change - 3 * 3600
    items = []
    for i in range(14):
        items.append(("batch", {"event": "$pageview", "anonymous_id": "n0", "context": {"page": {"path": f"/p{i % 3}"}},
                                "timestamp": _at(start + i * 29 * MIN)}))
    items.append(("batch", {"event": "$pageleave", "anonymous_id": "n0", "properties": {"duration_ms": 4200},
                            "timestamp": _at(start + 13 * 29 * MIN + 30)}))
    items.append(("batch", {"event": "$pageview", "anonymous_id": "n0", "context": {"page": {"path": "/late"}},
                            "timestamp": _at(start + 13 * 29 * MIN + 30 + 30 * MIN)}))
    project, calls = load(client, items)
    data = ref.ingest(calls)
    window = {"from": _at(start - 2 * DAY), "to": _at(start + 2 * DAY)}
    for extra in [{}, {"time_bucket": "1d"}, {"time_bucket": "1h"}, {"dimension": "entry_page"},
                  {"compare": "previous_period"}]:
        got = check_web(client, project, data, {"kind": "web", "time_range": window, "timezone": zone, **extra})
        if not extra:
            assert got["rows"][0]["visits"] == 2 and got["rows"][0]["bounce_rate"] == 50


def test_bad_web_queries_name_the_field(client, project):
    def refused(body: dict) -> dict:
        answer = client.post("/analytics/v1/query", json={**body, "project_id": project.id}, headers=ADMIN)
        assert answer.status_code == 400, answer.get_json()
        return answer.get_json()["error"]

    assert refused({"kind": "web", "metrics": ["hits"]})["field"].startswith("metrics")
    assert refused({"kind": "web", "dimension": "planet"})["field"] == "dimension"
    error = refused({"kind": "web", "compare": "previous_period", "time_range": {"from": "2026-01-01"}})
    assert error["field"] == "compare"
    assert refused({"kind": "web", "compare": "last_week"})["field"] == "compare"
    assert refused({"kind": "web", "dimension": "page", "time_bucket": "1d"})["field"] == "dimension"
    assert refused({"kind": "aggregate", "measure": "wau"})["code"] == "analytics.query.invalid_measure"
    assert refused({"kind": "breakdown", "prop": "path", "measure": "mau"})["code"] == "analytics.query.invalid_measure"
    assert refused({"kind": "realtime", "limit": 3})["code"] == "analytics.query.unknown_field"
