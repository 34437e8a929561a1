"""Query kinds translated to ClickHouse SQL (`translate`) and their answer rows shaped from what
ClickHouse returns (`Translation.shape`), answering what the native engine answers (README
"Queries", "Semantics"; ../shared/reference/query-semantics.md §7 for the ClickHouse oracles).

ClickHouse computes the sets and measures (`uniqExact`, `quantileExactInclusive`,
`accurateCast`-like number reading, `windowFunnel`, `retention`); Python only lays the calendar
out (the buckets of a range, which must be listed even when empty) and shapes the JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable
from zoneinfo import ZoneInfo

from .sql import EPOCH, US, Body, Params, Tables, filter_sql, label, number, rows, uses_traits

NONE_KEY = "(none)"


class Untranslated(Exception):
    """A query kind (or measure) the ClickHouse store does not translate yet."""


@dataclass
class Translation:
    sql: str
    params: dict
    shape: Callable[[list[tuple]], list]
    #: A `web` query's with `compare`: the same over the earlier range.
    comparison: "Translation | None" = None


# --- calendar -------------------------------------------------------------------------------

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
    if unit == "1h":
        nxt = bucket_start(start_us + 3600 * US, tz, unit)
        return nxt if nxt > start_us else start_us + 3600 * US
    day = _local(start_us, tz).date()
    if unit == "1mo":
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    else:
        day += timedelta(days=7 if unit == "1w" else 1)
    return _instant(datetime(day.year, day.month, day.day, tzinfo=tz))


def bucket_sql(params: Params, unit: str, tz: str) -> str:
    """The instant (epoch µs) a row's calendar bucket starts at, in `tz`."""
    zone = params.add(tz, "String")
    start = {"1h": f"toStartOfHour(ts, {zone})", "1d": f"toStartOfDay(ts, {zone})",
             "1w": f"toDateTime(toMonday(ts, {zone}), {zone})",
             "1mo": f"toDateTime(toStartOfMonth(ts, {zone}), {zone})"}[unit]
    return f"toInt64(toUnixTimestamp({start})) * {US}"


def iso(ts_us: int, tz: ZoneInfo) -> str:
    return _local(ts_us, tz).isoformat()


# --- measures ---------------------------------------------------------------------------------

def measure_of(raw) -> tuple:
    if raw is None or isinstance(raw, str):
        return (raw or "count",)
    (kind, arg), = raw.items()
    return ("percentile", arg["prop"], arg["p"]) if kind == "percentile" else (kind, arg)


def measure_sql(params: Params, measure: tuple) -> str:
    kind = measure[0]
    if kind == "count":
        return "count()"
    if kind == "unique_users":
        return "uniqExact(person)"
    if kind not in ("sum", "avg", "min", "max", "percentile"):
        raise Untranslated(f"measure {kind!r}")
    value = number(f"({_prop_text(params, measure[1])})")
    if kind == "sum":
        return f"coalesce(sum({value}), 0)"
    if kind == "percentile":
        return f"quantileExactInclusive({params.add(float(measure[2]), 'Float64')})({value})"
    return f"{kind}({value})"


def _prop_text(params: Params, name: str) -> str:
    """A measure reads the event's property itself (no hot column)."""
    from .sql import member_text

    return member_text("props", params.add(name, "String"))


def _number_out(kind: str, value):
    if value is None:
        return None
    if kind in ("count", "unique_users"):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


def _sort_key(tup, n):
    tup = tup if tup is not None else (None,) * n
    return tuple((0, "") if v is None else (1, v) for v in tup)


# --- kinds --------------------------------------------------------------------------------------

ACTIVE_DAYS = {"dau": 1, "wau": 7, "mau": 30}


def actives(body: Body, project_id: str, tables: Tables) -> Translation:
    """dau / wau / mau: per local day of the range, the persons with an event in the 1 / 7 / 30
    local days ending at the day's end (reaching before the range, never past its end). Each row
    joins every day whose window holds it."""
    days = ACTIVE_DAYS[body.get("measure")]
    tz = body.zone
    group_by = [next(iter(g.items())) for g in body.get("group_by", [])]
    starts, sinces, untils = [], [], []
    at = bucket_start(body.lo, tz, "1d")
    while at < body.hi:
        end = next_bucket_start(at, tz, "1d")
        first = _local(at, tz).date() - timedelta(days=days - 1)
        starts.append(at)
        sinces.append(_instant(datetime(first.year, first.month, first.day, tzinfo=tz)))
        untils.append(min(end, body.hi))
        at = end
    params = Params()
    source = rows(params, tables, project_id, min(sinces, default=body.lo), body.hi,
                  uses_traits(body.filter, body.raw.get("group_by")))
    where = filter_sql(params, body.filter)
    since, until = params.add(sinces, "Array(Int64)"), params.add(untils, "Array(Int64)")
    labels = [f"{label(params, s, n)} AS g{i}" for i, (s, n) in enumerate(group_by)]
    keys = ["b", *(f"g{i}" for i in range(len(group_by)))]
    bucket = f"arrayJoin(arrayFilter(i -> ts_us >= {since}[i] AND ts_us < {until}[i], arrayEnumerate({since}))) AS b"
    sql = (f"SELECT {', '.join([bucket, *labels])}, uniqExact(person) "
           f"FROM {source} WHERE {where} GROUP BY {', '.join(keys)}")

    def shape(result: list[tuple]) -> list:
        cells: dict = {}
        for row in result:
            g = 0
            if group_by:
                g = tuple(row[1:-1])
                g = None if all(v is None for v in g) else g
            cells[(int(row[0]) - 1, g)] = int(row[-1])
        groups = {g for _, g in cells} if group_by else {0}
        ordered = sorted(groups, key=lambda g: _sort_key(g, len(group_by)) if group_by else ())
        out = []
        for n, start in enumerate(starts):
            for g in ordered:
                row = {"bucket": iso(start, tz)}
                if group_by:
                    row["group"] = {name: (None if g is None else g[i]) for i, (_, name) in enumerate(group_by)}
                row["value"] = cells.get((n, g), 0)
                out.append(row)
        return out

    return Translation(sql, params.values, shape)


def aggregate(body: Body, project_id: str, tables: Tables) -> Translation:
    measure = measure_of(body.get("measure"))
    if measure[0] in ACTIVE_DAYS:
        return actives(body, project_id, tables)
    unit = body.get("time_bucket")
    group_by = [next(iter(g.items())) for g in body.get("group_by", [])]
    params = Params()
    source = rows(params, tables, project_id, body.lo, body.hi, uses_traits(body.filter, body.raw.get("group_by")),
                  persons=measure[0] == "unique_users")
    where = filter_sql(params, body.filter)
    keys = ([f"{bucket_sql(params, unit, body.tz)} AS b"] if unit else []) + \
        [f"{label(params, s, n)} AS g{i}" for i, (s, n) in enumerate(group_by)]
    value = measure_sql(params, measure)
    select = ", ".join(keys + [f"{value} AS value"])
    group = f" GROUP BY {', '.join(k.rsplit(' AS ', 1)[1] for k in keys)}" if keys else ""
    sql = f"SELECT {select} FROM {source} WHERE {where}{group}"
    if not keys:
        sql += " HAVING count() > 0"
    tz = body.zone

    def shape(result: list[tuple]) -> list:
        cells = {}
        for row in result:
            b = row[0] if unit else None
            g = row[1 if unit else 0: len(row) - 1] if group_by else 0
            if group_by:
                g = None if all(v is None for v in g) else tuple(g)
            cells[(b, g)] = _number_out(measure[0], row[-1])
        if measure[0] in ("count", "unique_users"):
            buckets = []
            if unit:
                at = bucket_start(body.lo, tz, unit)
                while at < body.hi:
                    buckets.append(at)
                    at = next_bucket_start(at, tz, unit)
            groups = {g for _, g in cells} or ({0} if not group_by else set())
            for b in (buckets if unit else [None]):
                for g in groups:
                    cells.setdefault((b, g), 0)
        out = []
        for (b, g) in sorted(cells, key=lambda k: ((k[0] or 0), _sort_key(k[1], len(group_by)) if group_by else ())):
            row = {}
            if unit:
                row["bucket"] = iso(b, tz)
            if group_by:
                row["group"] = {name: (None if g is None else g[i]) for i, (_, name) in enumerate(group_by)}
            row["value"] = cells[(b, g)]
            out.append(row)
        return out

    return Translation(sql, params.values, shape)


def breakdown(body: Body, project_id: str, tables: Tables) -> Translation:
    measure = measure_of(body.get("measure"))
    params = Params()
    source = rows(params, tables, project_id, body.lo, body.hi, uses_traits(body.filter),
                  persons=measure[0] == "unique_users")
    where = filter_sql(params, body.filter)
    key = label(params, "prop", body.get("prop"))
    value = measure_sql(params, measure)
    limit = params.add(int(body.get("limit", 10)), "UInt32")
    sql = (f"SELECT if(coalesce({key}, '') = '', {params.add(NONE_KEY, 'String')}, {key}) AS key, {value} AS value "
           f"FROM {source} WHERE {where} GROUP BY key ORDER BY value DESC NULLS LAST, key ASC LIMIT {limit}")

    def shape(result: list[tuple]) -> list:
        return [{"key": k, "value": _number_out(measure[0], v)} for k, v in result]

    return Translation(sql, params.values, shape)


def events(body: Body, project_id: str, tables: Tables) -> Translation:
    """The seqs of the newest `limit` events, newest first (the service reads them from
    PostgreSQL, as it does the native engine's)."""
    params = Params()
    source = rows(params, tables, project_id, body.lo, body.hi, uses_traits(body.filter), persons=False)
    where = filter_sql(params, body.filter)
    limit = params.add(int(body.get("limit", 100)), "UInt32")
    sql = f"SELECT seq FROM {source} WHERE {where} ORDER BY ts_us DESC, seq DESC LIMIT {limit}"
    return Translation(sql, params.values, lambda result: [int(r[0]) for r in result])


def _step_rows(steps: list[dict], c: list[int]) -> list[dict]:
    first = c[0] if c else 0
    return [{"event": s["event"], "count": c[k], "conversion": (c[k] / first if first else 0.0)}
            for k, s in enumerate(steps)]


def funnel(body: Body, project_id: str, tables: Tables) -> Translation:
    """Per person over [from, to + w), step 1 only inside the range. Sequential:
    `windowFunnel(w, 'strict_once')`. Strict (`windowFunnel`'s `strict_order` ends at the first
    attempt, ours lets a later step-1 event start another): the person's events sorted as the
    attempts read them (time, then step order at one instant), each step-1 event in the range
    folded forward (`arrayFold`) until an event that is not the next step, the window, or the
    last step; the best attempt counts. The group is the person's first non-empty value among
    their step events, in that order."""
    from .sql import duration_us

    strict = body.get("order", "sequential") == "strict"

    steps = body.get("steps")
    window = duration_us(body.get("conversion_window", "14d"))
    group_by = [next(iter(g.items())) for g in body.get("group_by", [])]
    params = Params()
    step_parts = [body.filter, *(s.get("filter") for s in steps), body.raw.get("group_by")]
    source = rows(params, tables, project_id, body.lo, body.hi + window, uses_traits(*step_parts))
    where = filter_sql(params, body.filter)
    conds = [f"(event = {params.add(s['event'], 'String')} AND {filter_sql(params, s.get('filter'))})" for s in steps]
    lo, hi = params.add(body.lo, "Int64"), params.add(body.hi, "Int64")
    first = f"({conds[0]} AND ts_us >= {lo} AND ts_us < {hi})"
    mask = " + ".join(f"({c}) * {1 << i}" for i, c in enumerate(conds))
    lowest = "multiIf(" + ", ".join(f"{c}, {i}" for i, c in enumerate(conds)) + ", 99)"
    order = f"tuple(ts_us, {lowest}, {mask}, seq)"
    w = params.add(window, "UInt64" if not strict else "Int64")
    if strict:
        fold = (f"arrayFold((acc, y) -> if(acc.2 = 1, acc, if(acc.1 = {len(steps)} OR y.1 - x.1 > {w}, "
                f"(acc.1, toUInt8(1)), if(bitTest(y.3, acc.1), (acc.1 + 1, toUInt8(0)), (acc.1, toUInt8(1))))), "
                f"arraySlice(arr, i + 1), (toUInt64(1), toUInt8(0))).1")
        level = (f"arrayMax(arrayMap((x, i) -> if(bitTest(x.3, 0) AND x.1 >= {lo} AND x.1 < {hi}, {fold}, 0), "
                 f"arr, arrayEnumerate(arr)))")
        select = [f"arraySort(groupArray({order})) AS arr"]
        steps_only = ""
    else:
        level = f"windowFunnel({w}, 'strict_once')(toUInt64(ts_us), {', '.join([first, *conds[1:]])})"
        select = []
        steps_only = f" AND ({' OR '.join(conds)})"
    if group_by:
        labels = [label(params, s, n) for s, n in group_by]
        named = f"tuple({', '.join(labels)})"
        some = " OR ".join(f"({x}) IS NOT NULL" for x in labels)
        select.append(f"argMinIf({named}, {order}, ({mask}) != 0 AND ({some})) AS g")
    if strict:
        inner = (f"SELECT {level} AS level{', g' if group_by else ''} FROM (SELECT {', '.join(select)} "
                 f"FROM {source} WHERE {where} GROUP BY person) WHERE level > 0")
    else:
        select.insert(0, f"{level} AS level")
        inner = (f"SELECT {', '.join(select)} FROM {source} WHERE {where}{steps_only} "
                 f"GROUP BY person HAVING level > 0")
    keys = "g, " if group_by else ""
    counts = ", ".join(f"countIf(level >= {k + 1})" for k in range(len(steps)))
    sql = f"SELECT {keys}{counts} FROM ({inner})" + (" GROUP BY g" if group_by else "")

    def shape(result: list[tuple]) -> list:
        if not group_by:
            c = list(result[0]) if result else [0] * len(steps)
            return [{"steps": _step_rows(steps, [int(x) for x in c])}]
        groups = []
        for row in result:
            g = tuple(row[0])
            g = None if all(v is None for v in g) else g
            groups.append((g, [int(x) for x in row[1:]]))
        groups.sort(key=lambda gc: (-gc[1][0], _sort_key(gc[0], len(group_by))))
        return [{"group": {name: (None if g is None else g[i]) for i, (_, name) in enumerate(group_by)},
                 "steps": _step_rows(steps, c)} for g, c in groups]

    return Translation(sql, params.values, shape)


def retention(body: Body, project_id: str, tables: Tables) -> Translation:
    """One cohort per person, the period (local day, or week from Monday) of their first
    `cohort_event` in the range; `returned[k]` the cohort's persons with a `return_event` in
    period cohort + k (any time from the range's start on). ClickHouse's `retention(c1, ck)`
    is `any(c1) AND any(ck)` per person: the same as `has(periods, cohort + k)` here."""
    cohort_event = body.get("cohort_event")
    return_event = body.get("return_event") or cohort_event
    period, periods = body.get("period", "week"), int(body.get("periods", 4))
    step = 7 if period == "week" else 1
    params = Params()
    source = rows(params, tables, project_id, body.lo, None, uses_traits(body.filter))
    where = filter_sql(params, body.filter)
    zone = params.add(body.tz, "String")
    of = f"toMonday(ts, {zone})" if period == "week" else f"toDate(ts, {zone})"
    cohort, back = params.add(cohort_event, "String"), params.add(return_event, "String")
    hi = params.add(body.hi, "Int64")
    inner = (f"SELECT minIf(p, event = {cohort} AND ts_us < {hi}) AS c, groupUniqArrayIf(p, event = {back}) AS r, "
             f"countIf(event = {cohort} AND ts_us < {hi}) AS n "
             f"FROM (SELECT person, event, ts_us, {of} AS p FROM {source} WHERE {where} "
             f"AND event IN ({cohort}, {back})) GROUP BY person HAVING n > 0")
    returned = "".join(f", countIf(has(r, addDays(c, {k * step})))" for k in range(1, periods))
    sql = f"SELECT c, count(){returned} FROM ({inner}) GROUP BY c ORDER BY c"
    tz = body.zone
    now_day = _local(body.now, tz).date()
    now_period = now_day - timedelta(days=now_day.weekday()) if period == "week" else now_day

    def shape(result: list[tuple]) -> list:
        out = []
        for row in result:
            c = row[0]
            counts = [int(x) for x in row[1:]]
            out.append({"cohort": datetime(c.year, c.month, c.day, tzinfo=tz).isoformat(), "size": counts[0],
                        "returned": counts,
                        "complete": [c + timedelta(days=k * step) < now_period for k in range(periods)]})
        return out

    return Translation(sql, params.values, shape)


def summary(body: Body, project_id: str, tables: Tables) -> Translation:
    """Events in the range, the persons active over its last 1 / 7 / 30 days (by instant, reaching
    before the range), its ten most frequent events (ties by name)."""
    params = Params()
    day = 86400 * US
    source = rows(params, tables, project_id, min(body.lo, body.hi - 30 * day), body.hi, uses_traits(body.filter))
    where = filter_sql(params, body.filter)
    lo = params.add(body.lo, "Int64")
    active = ", ".join(f"uniqExactIf(person, ts_us >= {params.add(body.hi - n * day, 'Int64')})" for n in (1, 7, 30))
    top_source = rows(params, tables, project_id, body.lo, body.hi, uses_traits(body.filter))
    top_where = filter_sql(params, body.filter)
    top = (f"(SELECT groupArray((event, c)) FROM (SELECT event, count() AS c FROM {top_source} WHERE {top_where} "
           f"GROUP BY event ORDER BY c DESC, event ASC LIMIT 10))")
    sql = f"SELECT countIf(ts_us >= {lo}), {active}, {top} FROM {source} WHERE {where}"

    def shape(result: list[tuple]) -> list:
        total, dau, wau, mau, ranked = result[0]
        return [{"total_events": int(total), "dau": int(dau), "wau": int(wau), "mau": int(mau),
                 "top_events": [{"key": k, "value": int(v)} for k, v in ranked]}]

    return Translation(sql, params.values, shape)


def realtime(body: Body, project_id: str, tables: Tables) -> Translation:
    """The persons with an event in the last five minutes (now included), and their ten most
    visited pages (a `$pageview`'s path column, `(none)` without one) by persons, ties by path."""
    params = Params()
    lo, hi = body.now - 5 * 60 * US, body.now + 1
    source = rows(params, tables, project_id, lo, hi, uses_traits(body.filter))
    where = filter_sql(params, body.filter)
    page_source = rows(params, tables, project_id, lo, hi, uses_traits(body.filter))
    page_where = filter_sql(params, body.filter)
    none = params.add(NONE_KEY, "String")
    sql = (f"SELECT (SELECT uniqExact(person) FROM {source} WHERE {where}), "
           f"(SELECT groupArray((k, v)) FROM (SELECT if(coalesce(path, '') = '', {none}, path) AS k, "
           f"uniqExact(person) AS v FROM {page_source} WHERE {page_where} AND event = '$pageview' "
           f"GROUP BY k ORDER BY v DESC, k ASC LIMIT 10))")

    def shape(result: list[tuple]) -> list:
        visitors, ranked = result[0]
        return [{"visitors": int(visitors), "pages": [{"key": k, "visitors": int(v)} for k, v in ranked]}]

    return Translation(sql, params.values, shape)


SESSION_GAP_US = 30 * 60 * US


def path(body: Body, project_id: str, tables: Tables) -> Translation:
    """A person's events in time order (`arraySort`), cut into sessions at 30 minutes idle
    (`arraySplit`), consecutive repeats collapsed to the last of each run (`arrayFilter`); items
    are event names, a `$pageview`'s path. From the first anchor of a session the next `depth`
    items (itself included), or the last `depth` up to it; counted per person-session."""
    after = body.get("start_event") is not None
    anchor_event = body.get("start_event") if after else body.get("end_event")
    depth, limit = int(body.get("depth", 5)), int(body.get("limit", 10))
    params = Params()
    source = rows(params, tables, project_id, body.lo, body.hi, uses_traits(body.filter))
    where = filter_sql(params, body.filter)
    anchor, gap = params.add(anchor_event, "String"), params.add(SESSION_GAP_US, "Int64")
    d, n = params.add(depth, "Int64"), params.add(limit, "UInt32")
    item = "if(event = '$pageview' AND coalesce(path, '') != '', path, event)"
    people = (f"SELECT arraySort(x -> (x.1, x.2), groupArray((ts_us, seq, {item}, event = {anchor}))) AS evs "
              f"FROM {source} WHERE {where} GROUP BY person")
    sessions = (f"SELECT arrayJoin(arraySplit((x, p) -> (x.1 - p.1) >= {gap}, evs, "
                f"arrayConcat([evs[1]], arrayPopBack(evs)))) AS s FROM ({people})")
    collapsed = (f"SELECT arrayFilter((x, i) -> i = length(s) OR s[i + 1].3 != x.3, s, arrayEnumerate(s)) AS c, "
                 f"arrayMap(x -> x.3, c) AS items, indexOf(arrayMap(x -> x.4, c), 1) AS at FROM ({sessions})")
    chosen = (f"arraySlice(items, at, {d})" if after else
              f"arraySlice(items, greatest(1, at + 1 - {d}), at - greatest(1, at + 1 - {d}) + 1)")
    sql = (f"SELECT {chosen} AS path, count() AS c FROM ({collapsed}) WHERE at > 0 "
           f"GROUP BY path ORDER BY c DESC, path ASC LIMIT {n}")

    def shape(result: list[tuple]) -> list:
        return [{"path": list(p), "count": int(c)} for p, c in result]

    return Translation(sql, params.values, shape)


TRANSLATED: dict[str, Callable[[Body, str, Tables], Translation]] = {
    "aggregate": aggregate, "breakdown": breakdown, "events": events, "funnel": funnel, "retention": retention,
    "summary": summary, "realtime": realtime, "path": path,
}
