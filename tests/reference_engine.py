"""A small, obviously-correct reference implementation of every query kind, in plain Python.

It works on the raw events a test generated (no columns, no kernels, no cleverness) and is
what the property tests hold the real engine to. Semantics: README "Query semantics".
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

HOT = ("session_id", "url", "path", "referrer_host", "utm_source", "utm_medium", "utm_campaign", "utm_term",
       "utm_content", "browser", "os", "device_type", "country", "language", "timezone")
SESSION_GAP_US = 30 * 60 * 1_000_000
NONE_KEY = "(none)"


@dataclass
class Row:
    seq: int
    event: str
    ts: int  # epoch µs
    distinct_id: str
    props: dict
    hot: dict = field(default_factory=dict)
    message_id: str = ""


def effective_links(links: list[tuple[str, str]], users: set[str]) -> dict[str, str]:
    """anonymous id -> user id, from the (anonymous id, user id) links in arrival order and the
    ids that sent an event as user_id (`users`; the user side of a link did: its $identify or
    $alias event). An id that is a user is never linked to another user, whether it became one
    before or after the link arrived; otherwise the first link of an anonymous id wins."""
    users = set(users) | {u for _, u in links}
    out: dict[str, str] = {}
    for anonymous_id, user_id in links:
        if anonymous_id not in users:
            out.setdefault(anonymous_id, user_id)
    return out


@dataclass
class Data:
    rows: list[Row]
    links: dict[str, str]  # anonymous id -> user id, as effective_links resolves them
    traits: dict[str, dict]

    def person(self, row: Row) -> str:
        return self.links.get(row.distinct_id, row.distinct_id)


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
    """`f` is a plan filter: all / any / not, event {op, value}, prop / trait {name, op, value}."""
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
        return condition(row.event, value["op"], value["value"])
    return condition(label(data, row, key, value["name"]), value["op"], value["value"])


# --- time ------------------------------------------------------------------------------

def _local(ts_us: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts_us / 1e6, timezone.utc).astimezone(tz)


def _instant(local: datetime) -> int:
    return round(local.timestamp() * 1e6)


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
        nxt = bucket_start(start_us + 3600 * 10**6, tz, unit)
        return nxt if nxt > start_us else start_us + 3600 * 10**6
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


# --- kinds -----------------------------------------------------------------------------

def selected(data: Data, plan: dict, lo: int, hi: int) -> list[Row]:
    return [r for r in data.rows if lo <= r.ts < hi and matches(data, r, plan.get("filter"))]


def _group(data: Data, row: Row, group_by: list[dict]):
    tup = tuple(label(data, row, g["source"], g["name"]) for g in group_by)
    return None if all(v is None for v in tup) else tup


def _group_json(group_by, tup):
    return {g["name"]: (None if tup is None else tup[i]) for i, g in enumerate(group_by)}


def _sort_key(tup, n):
    tup = tup if tup is not None else (None,) * n
    return tuple((0, "") if v is None else (1, v) for v in tup)


def measure_value(measure: dict, rows: list[Row], data: Data):
    kind = measure["kind"]
    if kind == "count":
        return len(rows)
    if kind == "unique_users":
        return len({data.person(r) for r in rows})
    values = [v for v in (number_of(text_of(r.props.get(measure["prop"]))) for r in rows) if not math.isnan(v)]
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
    pos = measure["p"] * (len(values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def aggregate(data: Data, plan: dict) -> list[dict]:
    tz = ZoneInfo(plan["timezone"])
    rows = selected(data, plan, plan["from_us"], plan["to_us"])
    unit, group_by, measure = plan.get("time_bucket"), plan.get("group_by", []), plan["measure"]
    buckets = []
    if unit:
        at = bucket_start(plan["from_us"], tz, unit)
        while at < plan["to_us"]:
            buckets.append(at)
            at = next_bucket_start(at, tz, unit)
    cells: dict = defaultdict(list)
    for r in rows:
        b = bucket_start(r.ts, tz, unit) if unit else None
        g = _group(data, r, group_by) if group_by else 0
        cells[(b, g)].append(r)
    results = {k: measure_value(measure, v, data) for k, v in cells.items()}
    if measure["kind"] in ("count", "unique_users"):
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


def breakdown(data: Data, plan: dict) -> list[dict]:
    rows = selected(data, plan, plan["from_us"], plan["to_us"])
    cells: dict = defaultdict(list)
    for r in rows:
        cells[label(data, r, "prop", plan["prop"]) or NONE_KEY].append(r)
    ranked = [(k, measure_value(plan["measure"], v, data)) for k, v in cells.items()]
    ranked.sort(key=lambda kv: (-(kv[1] if kv[1] is not None else -math.inf), kv[0]))
    return [{"key": k, "value": v} for k, v in ranked[: plan["limit"]]]


def _tie_order(masks: dict, r: Row):
    """Rows at one instant are taken in step order: by their lowest step, then by the set of
    steps they match (so a row that can only be step 1 fills it before one that could also be
    step 2), then by arrival; rows that match no step come last."""
    m = masks[r.seq]
    lowest = (m & -m).bit_length() - 1 if m else 99
    return (r.ts, lowest, m, r.seq)


def funnel(data: Data, plan: dict) -> list[dict]:
    steps, window, strict = plan["steps"], plan["window_us"], plan["strict"]
    group_by = plan.get("group_by", [])
    rows = selected(data, plan, plan["from_us"], plan["to_us"] + window)
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
            if not (masks[start.seq] & 1) or not (plan["from_us"] <= start.ts < plan["to_us"]):
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


def retention(data: Data, plan: dict) -> list[dict]:
    tz = ZoneInfo(plan["timezone"])
    period, periods = plan["period"], plan["periods"]
    rows = [r for r in data.rows if r.ts >= plan["from_us"] and matches(data, r, plan.get("filter"))]
    cohort_of: dict = {}
    returns: dict = defaultdict(set)
    for r in sorted(rows, key=lambda r: (r.ts, r.seq)):
        p = data.person(r)
        if r.event == plan["cohort_event"] and r.ts < plan["to_us"] and p not in cohort_of:
            cohort_of[p] = period_of(r.ts, tz, period)
        if r.event == plan["return_event"]:
            returns[p].add(period_of(r.ts, tz, period))
    now_period = period_of(plan["now_us"], tz, period)
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


def path(data: Data, plan: dict) -> list[dict]:
    rows = selected(data, plan, plan["from_us"], plan["to_us"])
    anchor = plan.get("start_event") or plan.get("end_event")
    after = "start_event" in plan
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
            chosen = items[idx: idx + plan["depth"]] if after else items[max(0, idx + 1 - plan["depth"]): idx + 1]
            counts[tuple(i for i, _ in chosen)] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], list(kv[0])))
    return [{"path": list(p), "count": c} for p, c in ranked[: plan["limit"]]]


def events(data: Data, plan: dict) -> list[str]:
    rows = selected(data, plan, plan["from_us"], plan["to_us"])
    rows.sort(key=lambda r: (r.ts, r.seq), reverse=True)
    return [r.message_id for r in rows[: plan["limit"]]]


KINDS = {"aggregate": aggregate, "breakdown": breakdown, "funnel": funnel, "retention": retention, "path": path,
         "events": events}
