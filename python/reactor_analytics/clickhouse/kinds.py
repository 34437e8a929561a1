"""Query kinds translated to ClickHouse SQL (`translate`) and their answer rows shaped from what
ClickHouse returns (`Translation.shape`), answering what the native engine answers (README
"Queries", "Semantics"; ../shared/reference/query-semantics.md §7 for the ClickHouse oracles).

ClickHouse computes the sets and measures (`uniqExact`, `quantileExactInclusive`,
`accurateCast`-like number reading, `windowFunnel`, `retention`); Python only lays the calendar
out (the buckets of a range, which must be listed even when empty) and shapes the JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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
    from .sql import json_text

    return json_text("properties", params.add(name, "String"))


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

def aggregate(body: Body, project_id: str, tables: Tables) -> Translation:
    measure = measure_of(body.get("measure"))
    if measure[0] in ("dau", "wau", "mau"):
        raise Untranslated(f"measure {measure[0]!r}")
    unit = body.get("time_bucket")
    group_by = [next(iter(g.items())) for g in body.get("group_by", [])]
    params = Params()
    source = rows(params, tables, project_id, body.lo, body.hi, uses_traits(body.filter, body.raw.get("group_by")))
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
    source = rows(params, tables, project_id, body.lo, body.hi, uses_traits(body.filter))
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
    source = rows(params, tables, project_id, body.lo, body.hi, uses_traits(body.filter))
    where = filter_sql(params, body.filter)
    limit = params.add(int(body.get("limit", 100)), "UInt32")
    sql = f"SELECT seq FROM {source} WHERE {where} ORDER BY ts_us DESC, seq DESC LIMIT {limit}"
    return Translation(sql, params.values, lambda result: [int(r[0]) for r in result])


TRANSLATED: dict[str, Callable[[Body, str, Tables], Translation]] = {
    "aggregate": aggregate, "breakdown": breakdown, "events": events,
}


def translate(body: Body, project_id: str, tables: Tables) -> Translation:
    """The SQL of a validated body; raises Untranslated for a kind or measure not translated."""
    if body.kind not in TRANSLATED:
        raise Untranslated(f"kind {body.kind!r}")
    return TRANSLATED[body.kind](body, project_id, tables)


def _period_start(day: date) -> date:  # for retention, to come
    return day - timedelta(days=day.weekday())
