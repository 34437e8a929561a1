"""A small, obviously-correct reference implementation of every query kind, in plain Python.

It reads only what a client sends: the raw ingest calls (the bodies of `/batch`, `/track`,
`/identify` and `/alias`, in arrival order, `$identify` / `$alias` events included) and the raw
body of `POST /analytics/v1/query`. It parses both itself (time ranges, time zones, the
documented defaults, filters, identity links) and imports nothing of `reactor_analytics`: no
plan building, no stored identity rows, not even the product's list of hot columns (README's
list is written out here, so a column dropped from or added to the product's shows up too). So
a bug in how the product builds a plan or stores a link shows up as a difference. No
cleverness, no columns, no kernels.

The contract: ../shared/SPEC.md "Query", ../shared/reference/query-semantics.md §7 and README
"Queries", "Semantics" and "Identity".
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

# README "Queries": a prop of one of these names reads the hot column, then the property.
HOT = ("session_id", "url", "path", "referrer_host", "utm_source", "utm_medium", "utm_campaign", "utm_term",
       "utm_content", "browser", "os", "device_type", "country", "language", "timezone")
SESSION_GAP_US = 30 * 60 * 1_000_000
NONE_KEY = "(none)"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
US = 1_000_000


@dataclass
class Row:
    seq: int  # arrival order
    event: str
    ts: int  # epoch µs
    distinct_id: str
    props: dict
    hot: dict = field(default_factory=dict)
    message_id: str = ""
    user_id: str | None = None
    anonymous_id: str | None = None


# --- ingest: raw calls -> rows, links, traits ----------------------------------------------------

def instant_us(text: str) -> int:
    """An ISO-8601 time (`Z` or an offset; none means UTC) as epoch microseconds, exactly."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return (parsed - EPOCH) // timedelta(microseconds=1)


def stored_path(path: str | None) -> str | None:
    """A page path as stored: trailing slashes dropped, except for the root."""
    if not path:
        return None
    return path.rstrip("/") or "/"


def effective_links(links: list[tuple[str, str]], users: set[str]) -> dict[str, str]:
    """anonymous id -> user id, from the (anonymous id, user id) links in arrival order and the
    ids that sent an event as user_id (`users`; the user side of a link did: its $identify or
    $alias event). An id that is a user is never linked to another user, whether it became one
    before or after the link arrived; otherwise the first link of an anonymous id wins. Links
    are resolved at query time, so they apply to events before them too (retroactive)."""
    users = set(users) | {u for _, u in links}
    out: dict[str, str] = {}
    for anonymous_id, user_id in links:
        if anonymous_id not in users:
            out.setdefault(anonymous_id, user_id)
    return out


def ingest(calls: list[tuple[str, dict]]) -> "Data":
    """What the product holds after `calls`, each (endpoint, body) as sent: ("batch",
    {"batch": [event, …]}), ("track", event), ("identify", {"user_id", "anonymous_id"?,
    "traits"?, …}) or ("alias", {"previous_id", "user_id", …}). Every call carries a timestamp.

    An event's distinct id is its user_id, else its anonymous_id. `/identify` stores an
    `$identify` event whose properties are the traits, `/alias` an `$alias` event from
    previous_id (its anonymous id) to user_id. A link is made by `/identify` or an `$identify`
    event with both ids, and by `/alias` or an `$alias` event with both ids; any other event
    carrying both ids links nothing. Traits (from `/identify`) merge key by key, later winning."""
    rows: list[Row] = []
    links: list[tuple[str, str]] = []
    users: set[str] = set()
    traits: dict[str, dict] = {}

    def take(name: str, body: dict, props: dict, anonymous_id: str | None, user_id: str | None,
             links_ids: bool) -> None:
        if user_id is not None:
            users.add(user_id)
        if links_ids and anonymous_id is not None and user_id is not None and anonymous_id != user_id:
            links.append((anonymous_id, user_id))
        rows.append(Row(seq=len(rows), event=name, ts=instant_us(body["timestamp"]),
                        distinct_id=user_id if user_id is not None else anonymous_id, props=dict(props),
                        hot=hot_of(body.get("context") or {}), message_id=body.get("message_id", ""),
                        user_id=user_id, anonymous_id=anonymous_id))

    for endpoint, body in calls:
        if endpoint in ("batch", "track"):
            for e in (body["batch"] if endpoint == "batch" else [body]):
                take(e["event"], e, e.get("properties") or {}, e.get("anonymous_id"), e.get("user_id"),
                     e["event"] in ("$identify", "$alias"))
        elif endpoint == "identify":
            given = body.get("traits") or {}
            take("$identify", body, given, body.get("anonymous_id"), body["user_id"], True)
            if given:
                traits.setdefault(body["user_id"], {}).update(given)
        elif endpoint == "alias":
            take("$alias", body, {}, body["previous_id"], body["user_id"], True)
        else:
            raise ValueError(endpoint)
    return Data(rows=rows, links=effective_links(links, users), traits=traits)


# README "Enrichment", for the values the property streams send: the classes of a few User-Agents,
# the country of a few time zones.
USER_AGENTS = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36":
        ("Chrome", "Windows", "desktop"),
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
    "Mobile/15E148 Safari/604.1": ("Safari", "iOS", "mobile"),
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0": ("Firefox", "Linux", "desktop"),
}
COUNTRIES = {"Europe/Berlin": "DE", "America/New_York": "US", "Asia/Kolkata": "IN"}


def hot_of(context: dict) -> dict:
    """The hot columns of an event from its `context` (page path, URL, referrer host, UTM tags
    from the URL, browser / OS / device from `userAgent`, language from `locale`, country from
    `timezone`), for the values the streams send."""
    from urllib.parse import parse_qs, urlsplit

    page = context.get("page") or {}
    hot = {"path": stored_path(page.get("path"))}
    url = page.get("url")
    if url:
        hot["url"] = url
        query = parse_qs(urlsplit(url).query)
        for tag in ("utm_source", "utm_medium", "utm_campaign"):
            if query.get(tag):
                hot[tag] = query[tag][0]
    if page.get("referrer"):
        host = (urlsplit(page["referrer"]).hostname or "").lower()
        hot["referrer_host"] = host[4:] if host.startswith("www.") else host
    agent = USER_AGENTS.get(context.get("userAgent") or "")
    if agent:
        hot["browser"], hot["os"], hot["device_type"] = agent
    if context.get("locale"):
        hot["language"] = context["locale"].split("-")[0].lower()
    if context.get("timezone") in COUNTRIES:
        hot["timezone"], hot["country"] = context["timezone"], COUNTRIES[context["timezone"]]
    return {k: v for k, v in hot.items() if v}


@dataclass
class Data:
    rows: list[Row]
    links: dict[str, str]  # anonymous id -> user id, as effective_links resolves them
    traits: dict[str, dict]

    def person(self, row: Row) -> str:
        return self.links.get(row.distinct_id, row.distinct_id)


# --- the query body ------------------------------------------------------------------------------

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration_us(text: str) -> int:
    """`30m`, `12h`, `7d`, `4w`, … in microseconds."""
    return int(text[:-1]) * UNIT_SECONDS[text[-1]] * US


@dataclass
class Query:
    """A query body read with the documented defaults; times in epoch µs, [lo, hi)."""
    body: dict
    kind: str
    lo: int
    hi: int
    now: int
    tz: ZoneInfo
    filter: dict | None

    def get(self, name: str, default=None):
        return self.body.get(name, default)


def parse_query(body: dict, now: float) -> Query:
    """`time_range` is `{"last": "30d"}` (ending now) or `{"from", "to"}` (`to` defaulting to
    now), `{"last": "30d"}` when absent; `timezone` defaults to UTC."""
    now_us = int(now * US)
    time_range = body.get("time_range") or {"last": "30d"}
    if "last" in time_range:
        lo, hi = now_us - duration_us(time_range["last"]), now_us
    else:
        lo = instant_us(time_range["from"])
        hi = instant_us(time_range["to"]) if "to" in time_range else now_us
    return Query(body=body, kind=body["kind"], lo=lo, hi=hi, now=now_us, tz=ZoneInfo(body.get("timezone", "UTC")),
                 filter=body.get("filter"))


def measure_of(raw) -> tuple:
    """"count" (the default), "unique_users", {"sum"|"avg"|"min"|"max": prop},
    {"percentile": {"prop", "p"}} -> ("count",), ("sum", prop), ("percentile", prop, p), …"""
    if raw is None or isinstance(raw, str):
        return (raw or "count",)
    (kind, arg), = raw.items()
    return ("percentile", arg["prop"], arg["p"]) if kind == "percentile" else (kind, arg)


def group_by_of(raw) -> list[tuple[str, str]]:
    """[{"prop": name} | {"trait": name}] -> [(source, name)]."""
    return [next(iter(g.items())) for g in raw or []]


def answer(data: Data, body: dict, now: float):
    """The rows the product must answer to `body` (a raw query body) over `data`, at `now`."""
    query = parse_query(body, now)
    return KINDS[query.kind](data, query)


# --- values and filters --------------------------------------------------------------------------

def text_of(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _json_number(value)
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, separators=(",", ":"))


def _json_number(v) -> str:
    if isinstance(v, int):
        return str(v)
    if v == int(v) and abs(v) < 1e17:
        return f"{v:.1f}"
    return repr(v)


def number_of(label: str | None) -> float:
    if label is None:
        return math.nan
    try:
        n = float(label.strip())
    except ValueError:
        return math.nan
    return n if math.isfinite(n) else math.nan


def label(data: Data, row: Row, source: str, name: str) -> str | None:
    """A property of the row (a hot column first, its property of that name where the column is
    empty) or a trait of the row's person."""
    if source == "trait":
        return text_of(data.traits.get(data.person(row), {}).get(name))
    if name in HOT and row.hot.get(name) is not None:
        return row.hot[name]
    return text_of(row.props.get(name))


def _scalar_matches(lab: str, value) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number_of(lab) == float(value) or text_of(value) == lab
    return text_of(value) == lab


def condition(lab: str | None, op: str, value) -> bool:
    if op == "exists":
        return (lab is not None) == bool(value)
    if op == "neq":
        return not condition(lab, "eq", value)
    if lab is None:
        return False
    if op == "eq":
        return _scalar_matches(lab, value)
    if op == "in":
        return any(_scalar_matches(lab, v) for v in value)
    if op == "contains":
        return value in lab
    n = number_of(lab)
    if math.isnan(n):
        return False
    return {"gt": n > value, "gte": n >= value, "lt": n < value, "lte": n <= value}[op]


def matches(data: Data, row: Row, f: dict | None) -> bool:
    """`f` as a client writes it: {"all": […]}, {"any": […]}, {"not": f}, {"event": {op: v}},
    {"prop": {name: {op: v}}}, {"trait": {name: {op: v}}}."""
    if f is None:
        return True
    (key, value), = f.items()
    if key == "all":
        return all(matches(data, row, x) for x in value)
    if key == "any":
        return any(matches(data, row, x) for x in value)
    if key == "not":
        return not matches(data, row, value)
    if key == "event":
        (op, operand), = value.items()
        return condition(row.event, op, operand)
    (name, cond), = value.items()
    (op, operand), = cond.items()
    return condition(label(data, row, key, name), op, operand)


# --- time ----------------------------------------------------------------------------------------

def _local(ts_us: int, tz: ZoneInfo) -> datetime:
    return (EPOCH + timedelta(microseconds=ts_us)).astimezone(tz)


def _instant(local: datetime) -> int:
    return (local - EPOCH) // timedelta(microseconds=1)


def bucket_start(ts_us: int, tz: ZoneInfo, unit: str) -> int:
    local = _local(ts_us, tz)
    if unit == "1h":
        return _instant(local.replace(minute=0, second=0, microsecond=0))
    day = local.date()
    if unit == "1w":
        day -= timedelta(days=day.weekday())
    elif unit == "1mo":
        day = day.replace(day=1)
    return _instant(datetime(day.year, day.month, day.day, tzinfo=tz))


def next_bucket_start(start_us: int, tz: ZoneInfo, unit: str) -> int:
    """The bucket after the one starting at `start_us`: an hour later, or the next local midnight
    (days of 23 or 25 hours included)."""
    if unit == "1h":
        nxt = bucket_start(start_us + 3600 * US, tz, unit)
        return nxt if nxt > start_us else start_us + 3600 * US
    day = _local(start_us, tz).date()
    if unit == "1mo":
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    else:
        day += timedelta(days=7 if unit == "1w" else 1)
    return _instant(datetime(day.year, day.month, day.day, tzinfo=tz))


def iso(ts_us: int, tz: ZoneInfo) -> str:
    return _local(ts_us, tz).isoformat()


def period_of(ts_us: int, tz: ZoneInfo, period: str) -> date:
    day = _local(ts_us, tz).date()
    return day - timedelta(days=day.weekday()) if period == "week" else day


def _step(day: date, period: str, k: int) -> date:
    return day + timedelta(days=k * (7 if period == "week" else 1))


# --- kinds ---------------------------------------------------------------------------------------

def selected(data: Data, q: Query, lo: int, hi: int) -> list[Row]:
    return [r for r in data.rows if lo <= r.ts < hi and matches(data, r, q.filter)]


def _group(data: Data, row: Row, group_by: list[tuple[str, str]]):
    tup = tuple(label(data, row, source, name) for source, name in group_by)
    return None if all(v is None for v in tup) else tup


def _group_json(group_by, tup):
    return {name: (None if tup is None else tup[i]) for i, (_, name) in enumerate(group_by)}


def _sort_key(tup, n):
    tup = tup if tup is not None else (None,) * n
    return tuple((0, "") if v is None else (1, v) for v in tup)


def measure_value(measure: tuple, rows: list[Row], data: Data):
    kind = measure[0]
    if kind == "count":
        return len(rows)
    if kind == "unique_users":
        return len({data.person(r) for r in rows})
    values = [v for v in (number_of(text_of(r.props.get(measure[1]))) for r in rows) if not math.isnan(v)]
    if kind == "sum":
        return sum(values)
    if not values:
        return None
    if kind == "avg":
        return sum(values) / len(values)
    if kind == "min":
        return min(values)
    if kind == "max":
        return max(values)
    values.sort()
    pos = measure[2] * (len(values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def aggregate(data: Data, q: Query) -> list[dict]:
    if isinstance(q.get("measure"), str) and q.get("measure") in ACTIVE_DAYS:
        return actives(data, q)
    tz, unit = q.tz, q.get("time_bucket")
    group_by, measure = group_by_of(q.get("group_by")), measure_of(q.get("measure"))
    rows = selected(data, q, q.lo, q.hi)
    buckets = []
    if unit:
        at = bucket_start(q.lo, tz, unit)
        while at < q.hi:
            buckets.append(at)
            at = next_bucket_start(at, tz, unit)
    cells: dict = defaultdict(list)
    for r in rows:
        b = bucket_start(r.ts, tz, unit) if unit else None
        g = _group(data, r, group_by) if group_by else 0
        cells[(b, g)].append(r)
    results = {k: measure_value(measure, v, data) for k, v in cells.items()}
    if measure[0] in ("count", "unique_users"):
        groups = {g for _, g in cells} or ({0} if not group_by else set())
        for b in (buckets if unit else [None]):
            for g in groups:
                results.setdefault((b, g), 0)
    out = []
    for (b, g) in sorted(results, key=lambda k: ((k[0] or 0), _sort_key(k[1], len(group_by)) if group_by else ())):
        row = {}
        if unit:
            row["bucket"] = iso(b, tz)
        if group_by:
            row["group"] = _group_json(group_by, g)
        row["value"] = results[(b, g)]
        out.append(row)
    return out


def breakdown(data: Data, q: Query) -> list[dict]:
    measure, limit = measure_of(q.get("measure")), q.get("limit", 10)
    rows = selected(data, q, q.lo, q.hi)
    cells: dict = defaultdict(list)
    for r in rows:
        cells[label(data, r, "prop", q.get("prop")) or NONE_KEY].append(r)
    ranked = [(k, measure_value(measure, v, data)) for k, v in cells.items()]
    ranked.sort(key=lambda kv: (-(kv[1] if kv[1] is not None else -math.inf), kv[0]))
    return [{"key": k, "value": v} for k, v in ranked[:limit]]


def _tie_order(masks: dict, r: Row):
    """Rows at one instant are taken in step order: by their lowest step, then by the set of
    steps they match (so a row that can only be step 1 fills it before one that could also be
    step 2), then by arrival; rows that match no step come last."""
    m = masks[r.seq]
    lowest = (m & -m).bit_length() - 1 if m else 99
    return (r.ts, lowest, m, r.seq)


def funnel(data: Data, q: Query) -> list[dict]:
    steps = q.get("steps")
    window = duration_us(q.get("conversion_window", "14d"))
    strict = q.get("order", "sequential") == "strict"
    group_by = group_by_of(q.get("group_by"))
    rows = selected(data, q, q.lo, q.hi + window)
    masks = {}
    for r in rows:
        m = 0
        for i, s in enumerate(steps):
            if r.event == s["event"] and matches(data, r, s.get("filter")):
                m |= 1 << i
        masks[r.seq] = m
    by_person: dict = defaultdict(list)
    for r in rows:
        if strict or masks[r.seq]:
            by_person[data.person(r)].append(r)
    counts: dict = defaultdict(lambda: [0] * len(steps))
    for person, prs in by_person.items():
        prs.sort(key=lambda r: _tie_order(masks, r))
        best = 0
        for i, start in enumerate(prs):
            if not (masks[start.seq] & 1) or not (q.lo <= start.ts < q.hi):
                continue
            level = 1
            for r in prs[i + 1:]:
                if level == len(steps) or r.ts - start.ts > window:
                    break
                if masks[r.seq] & (1 << level):
                    level += 1
                elif strict:
                    break
            best = max(best, level)
        if best == 0:
            continue
        group = 0
        if group_by:
            group = None
            for r in prs:
                if masks[r.seq] and (g := _group(data, r, group_by)) is not None:
                    group = g
                    break
        for k in range(best):
            counts[group][k] += 1

    def step_rows(c):
        first = c[0] if c else 0
        return [{"event": s["event"], "count": c[k], "conversion": (c[k] / first if first else 0.0)}
                for k, s in enumerate(steps)]

    if not group_by:
        total = [sum(c[k] for c in counts.values()) for k in range(len(steps))]
        return [{"steps": step_rows(total)}]
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1][0], _sort_key(kv[0], len(group_by))))
    return [{"group": _group_json(group_by, g), "steps": step_rows(c)} for g, c in ordered]


def retention(data: Data, q: Query) -> list[dict]:
    tz = q.tz
    cohort_event = q.get("cohort_event")
    return_event = q.get("return_event") or cohort_event
    period, periods = q.get("period", "week"), q.get("periods", 4)
    rows = [r for r in data.rows if r.ts >= q.lo and matches(data, r, q.filter)]
    cohort_of: dict = {}
    returns: dict = defaultdict(set)
    for r in sorted(rows, key=lambda r: (r.ts, r.seq)):
        p = data.person(r)
        if r.event == cohort_event and r.ts < q.hi and p not in cohort_of:
            cohort_of[p] = period_of(r.ts, tz, period)
        if r.event == return_event:
            returns[p].add(period_of(r.ts, tz, period))
    now_period = period_of(q.now, tz, period)
    cohorts: dict = defaultdict(lambda: [0] * periods)
    for p, c in cohort_of.items():
        cohorts[c][0] += 1
        for k in range(1, periods):
            if _step(c, period, k) in returns[p]:
                cohorts[c][k] += 1
    out = []
    for c in sorted(cohorts):
        start = datetime(c.year, c.month, c.day, tzinfo=tz)
        out.append({"cohort": start.isoformat(), "size": cohorts[c][0], "returned": cohorts[c],
                    "complete": [_step(c, period, k) < now_period for k in range(periods)]})
    return out


def path(data: Data, q: Query) -> list[dict]:
    after = q.get("start_event") is not None
    anchor = q.get("start_event") if after else q.get("end_event")
    depth, limit = q.get("depth", 5), q.get("limit", 10)
    rows = selected(data, q, q.lo, q.hi)
    by_person: dict = defaultdict(list)
    for r in rows:
        by_person[data.person(r)].append(r)
    counts: dict = defaultdict(int)
    for prs in by_person.values():
        prs.sort(key=lambda r: (r.ts, r.seq))
        sessions, current = [], []
        for r in prs:
            if current and r.ts - current[-1].ts >= SESSION_GAP_US:
                sessions.append(current)
                current = []
            current.append(r)
        if current:
            sessions.append(current)
        for session in sessions:
            items: list[tuple[str, bool]] = []
            for r in session:
                item = r.hot["path"] if r.event == "$pageview" and r.hot.get("path") else r.event
                if items and items[-1][0] == item:
                    items[-1] = (item, r.event == anchor)
                else:
                    items.append((item, r.event == anchor))
            idx = next((i for i, (_, a) in enumerate(items) if a), None)
            if idx is None:
                continue
            chosen = items[idx: idx + depth] if after else items[max(0, idx + 1 - depth): idx + 1]
            counts[tuple(i for i, _ in chosen)] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], list(kv[0])))
    return [{"path": list(p), "count": c} for p, c in ranked[:limit]]


def events(data: Data, q: Query) -> list[dict]:
    """Newest first; each as {"message_id", "event", "ts" (epoch µs), "distinct_id", "user_id",
    "anonymous_id", "properties"}."""
    rows = selected(data, q, q.lo, q.hi)
    rows.sort(key=lambda r: (r.ts, r.seq), reverse=True)
    return [{"message_id": r.message_id, "event": r.event, "ts": r.ts, "distinct_id": r.distinct_id,
             "user_id": r.user_id, "anonymous_id": r.anonymous_id, "properties": r.props}
            for r in rows[: q.get("limit", 100)]]


# --- web analytics (SPEC "Web analytics", query-semantics §7 "web") ---------------------------------

WEB_METRICS = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "time_on_page"]
WEB_DIMENSIONS = ["page", "entry_page", "exit_page", "hostname", "referrer", "source", "utm_source", "utm_medium",
                  "utm_campaign", "browser", "os", "device", "country", "language"]
DIRECT = "Direct / None"
ACTIVE_DAYS = {"dau": 1, "wau": 7, "mau": 30}


@dataclass
class Visit:
    n: int
    person: str
    rows: list[Row]
    top: list  # seconds on the page of each row that is a $pageview, else None

    @property
    def start(self) -> int:
        return self.rows[0].ts

    def views(self) -> list[Row]:
        return [r for r in self.rows if r.event == "$pageview"]

    @property
    def bounce(self) -> bool:
        return len(self.views()) == 1 and not any(not r.event.startswith("$") for r in self.rows)

    @property
    def duration(self) -> int:
        return 0 if self.bounce else self.rows[-1].ts - self.rows[0].ts

    def attribute(self, dim: str) -> str | None:
        """A property of the visit: its first event's, its first pageview's for sources."""
        views = self.views()
        first, source = self.rows[0], (views[0] if views else self.rows[0])
        if dim == "entry_page":
            return views[0].hot.get("path") if views else None
        if dim == "exit_page":
            return views[-1].hot.get("path") if views else None
        if dim == "hostname":
            from urllib.parse import urlsplit

            return (urlsplit(first.hot["url"]).hostname or None) if "url" in first.hot else None
        if dim == "referrer":
            return source.hot.get("referrer_host")
        if dim == "source":
            return source.hot.get("utm_source") or source.hot.get("referrer_host") or DIRECT
        if dim in ("utm_source", "utm_medium", "utm_campaign"):
            return source.hot.get(dim)
        return first.hot.get({"device": "device_type"}.get(dim, dim))


def _seconds_on_page(rows: list[Row], i: int):
    """The $pageleave's duration_ms when sent; else the gap to the next $pageview; else the gap to
    the $pageleave; else nothing."""
    nxt = next((j for j in range(i + 1, len(rows)) if rows[j].event == "$pageview"), None)
    end = nxt if nxt is not None else len(rows)
    leave = next((j for j in range(i + 1, end) if rows[j].event == "$pageleave"), None)
    if leave is not None:
        ms = number_of(text_of(rows[leave].props.get("duration_ms")))
        if not math.isnan(ms) and ms >= 0:
            return ms / 1000.0
    if nxt is not None:
        return (rows[nxt].ts - rows[i].ts) / 1e6
    if leave is not None:
        return (rows[leave].ts - rows[i].ts) / 1e6
    return None


def visits_of(data: Data) -> list[Visit]:
    """Every person's runs of events with no gap of 30 minutes or more, over all rows."""
    out: list[Visit] = []
    by_person: dict[str, list[Row]] = defaultdict(list)
    for r in data.rows:
        by_person[data.person(r)].append(r)
    for person, rows in by_person.items():
        rows.sort(key=lambda r: (r.ts, r.seq))
        runs: list[list[Row]] = []
        for r in rows:
            if runs and r.ts - runs[-1][-1].ts < SESSION_GAP_US:
                runs[-1].append(r)
            else:
                runs.append([r])
        for run in runs:
            top = [_seconds_on_page(run, i) if r.event == "$pageview" else None for i, r in enumerate(run)]
            out.append(Visit(n=len(out), person=person, rows=run, top=top))
    return out


def web_matches(data: Data, row: Row, visit: Visit, f: dict | None) -> bool:
    """A filter read with the visit in view: a web dimension's name is the visit's property,
    `page` the event's path, anything else the event's own."""
    if f is None:
        return True
    (key, value), = f.items()
    if key in ("all", "any"):
        results = [web_matches(data, row, visit, x) for x in value]
        return all(results) if key == "all" else any(results)
    if key == "not":
        return not web_matches(data, row, visit, value)
    if key == "prop":
        (name, cond), = value.items()
        if name in WEB_DIMENSIONS:
            (op, operand), = cond.items()
            lab = label(data, row, "prop", "path") if name == "page" else visit.attribute(name)
            return condition(lab, op, operand)
    return matches(data, row, f)


def round2(x: float) -> float:
    scaled = x * 100
    floor = math.floor(scaled)
    return (floor + 1 if scaled - floor >= 0.5 else floor) / 100


def median(values: list[float]):
    if not values:
        return None
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


class _Cell:
    def __init__(self):
        self.persons, self.visits, self.pageviews, self.bounces, self.duration, self.tops = set(), set(), 0, 0, 0, []

    def add(self, visit: Visit):
        if visit.n not in self.visits:
            self.visits.add(visit.n)
            self.persons.add(visit.person)
            self.bounces += visit.bounce
            self.duration += visit.duration

    def metrics(self, names: list[str]) -> dict:
        n = len(self.visits)
        values = {"visitors": len(self.persons), "visits": n, "pageviews": self.pageviews,
                  "views_per_visit": round2(self.pageviews / n) if n else 0,
                  "bounce_rate": round2(self.bounces * 100.0 / n) if n else 0,
                  "visit_duration": round2(self.duration / 1e6 / n) if n else 0,
                  "time_on_page": (lambda m: None if m is None else round2(m))(median(self.tops))}
        return {name: values[name] for name in names}


def web_rows(data: Data, q: Query, lo: int, hi: int) -> list[dict]:
    metrics, dim, unit = q.get("metrics") or WEB_METRICS, q.get("dimension"), q.get("time_bucket")
    cells: dict = defaultdict(_Cell)
    buckets = []
    if unit:
        at = bucket_start(lo, q.tz, unit)
        while at < hi:
            buckets.append(at)
            at = next_bucket_start(at, q.tz, unit)
    for visit in visits_of(data):
        if not lo <= visit.start < hi:
            continue
        chosen = [web_matches(data, r, visit, q.filter) for r in visit.rows]
        if not any(chosen):
            continue
        views = [i for i, r in enumerate(visit.rows) if chosen[i] and r.event == "$pageview"]
        if dim == "page":
            for i in views:
                cell = cells[visit.rows[i].hot.get("path")]
                cell.add(visit)
                cell.pageviews += 1
                if visit.top[i] is not None:
                    cell.tops.append(visit.top[i])
            continue
        key = (bucket_start(visit.start, q.tz, unit) if unit else visit.attribute(dim) if dim else 0)
        cell = cells[key]
        cell.add(visit)
        cell.pageviews += len(views)
        cell.tops += [visit.top[i] for i in views if visit.top[i] is not None]
    if unit:
        return [{"bucket": iso(b, q.tz), **cells.get(b, _Cell()).metrics(metrics)} for b in buckets]
    if not dim:
        return [cells.get(0, _Cell()).metrics(metrics)]
    ranked = sorted(((k if k is not None else NONE_KEY), c) for k, c in cells.items())
    ranked.sort(key=lambda kc: -len(kc[1].persons))
    return [{"key": k, **c.metrics(metrics)} for k, c in ranked[: q.get("limit", 10)]]


def year_before(ts_us: int, tz: ZoneInfo) -> int:
    local = _local(ts_us, tz)
    try:
        earlier = local.replace(year=local.year - 1)
    except ValueError:  # 29 February
        earlier = local.replace(year=local.year - 1, day=28)
    naive = earlier.replace(tzinfo=None)
    return _instant(naive.replace(tzinfo=tz, fold=0))


def web(data: Data, q: Query) -> dict:
    """{"rows", "comparison"?}: the rows over the range, and over the earlier one with `compare`."""
    out = {"rows": web_rows(data, q, q.lo, q.hi)}
    compare = q.get("compare")
    if compare == "previous_period":
        out["comparison"] = web_rows(data, q, 2 * q.lo - q.hi, q.lo)
    elif compare == "year_over_year":
        out["comparison"] = web_rows(data, q, year_before(q.lo, q.tz), year_before(q.hi, q.tz))
    return out


def realtime(data: Data, q: Query) -> list[dict]:
    rows = [r for r in data.rows if q.now - 5 * 60 * US <= r.ts <= q.now and matches(data, r, q.filter)]
    pages: dict = defaultdict(set)
    for r in rows:
        if r.event == "$pageview":
            pages[r.hot.get("path") or NONE_KEY].add(data.person(r))
    ranked = sorted(pages.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:10]
    return [{"visitors": len({data.person(r) for r in rows}),
             "pages": [{"key": k, "visitors": len(v)} for k, v in ranked]}]


def summary(data: Data, q: Query) -> list[dict]:
    rows = selected(data, q, q.lo, q.hi)

    def actives_over(days: int) -> int:
        return len({data.person(r) for r in selected(data, q, q.hi - days * 86400 * US, q.hi)})

    counts: dict = defaultdict(int)
    for r in rows:
        counts[r.event] += 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return [{"total_events": len(rows), "dau": actives_over(1), "wau": actives_over(7), "mau": actives_over(30),
             "top_events": [{"key": k, "value": v} for k, v in top]}]


def actives(data: Data, q: Query) -> list[dict]:
    """dau / wau / mau: per daily bucket, the persons with an event in the 1 / 7 / 30 local days
    ending at the bucket's end (reaching before the range)."""
    days, tz = ACTIVE_DAYS[q.get("measure")], q.tz
    group_by = group_by_of(q.get("group_by"))
    out, cells = [], []
    at = bucket_start(q.lo, tz, "1d")
    while at < q.hi:
        end = next_bucket_start(at, tz, "1d")
        first = _local(at, tz).date() - timedelta(days=days - 1)
        since = _instant(datetime(first.year, first.month, first.day, tzinfo=tz))
        persons: dict = defaultdict(set)
        for r in selected(data, q, since, min(end, q.hi)):
            persons[_group(data, r, group_by) if group_by else 0].add(data.person(r))
        cells.append((at, persons))
        at = end
    groups = set().union(*(p.keys() for _, p in cells)) if cells else set()
    if not group_by:
        groups = {0}
    for at, persons in cells:
        for g in sorted(groups, key=lambda g: _sort_key(g, len(group_by)) if group_by else ()):
            row = {"bucket": iso(at, tz)}
            if group_by:
                row["group"] = _group_json(group_by, g)
            row["value"] = len(persons.get(g, ()))
            out.append(row)
    return out


KINDS = {"aggregate": aggregate, "breakdown": breakdown, "funnel": funnel, "retention": retention, "path": path,
         "events": events, "web": web, "realtime": realtime, "summary": summary}
