"""The `web` kind in ClickHouse SQL (README "Web analytics"): visits derived from the events
with array functions, once per visit, then the metrics per bucket, per dimension value or over the
range.

* A visit is a person's run of events with no gap of 30 minutes or more: the person's events in
  time order (`arraySort` of a `groupArray`), cut where 30 minutes pass idle (`arraySplit`), as
  `path` cuts sessions. Only a visit that starts in the range counts, so rows from 30 minutes before
  `from` on are read (a row there decides whether the first row in the range starts a visit), with
  no end (a visit runs on past `to`). Each event of a visit is a tuple of only what the query
  reads: time, seq, what the event is to web analytics (`$pageview`, `$pageleave`, custom), the
  `$pageleave`'s `duration_ms`, the columns the dimensions asked read, and the event's own part of
  the filter.
* Its dimensions are its first event's, its first `$pageview`'s for sources (else its first
  event's), the paths of its first and last `$pageview` for entry and exit pages.
* A filter is read per event with its visit's dimensions; a visit counts when one of its events
  passes, and its pageviews and times on page are those of the pageviews that pass.
* Time on page: the `$pageleave`'s `duration_ms` before the next `$pageview`, else the gap to that
  `$pageview`, else to the `$pageleave`; each event's next `$pageview` and `$pageleave` by one
  backward fill (`arrayReverseFill`). The median per cell is the mean of the lower and upper
  middle values (`quantileExactLow` / `quantileExactHigh`), as the native engine takes it.
"""

from __future__ import annotations

import math

from .kinds import NONE_KEY, Translation, _instant, _local, bucket_start, iso, next_bucket_start
from .sql import US, Body, Params, Tables, filter_sql, label, member_text, number, rows, uses_traits

METRICS = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "time_on_page"]
DIMENSIONS = ["page", "entry_page", "exit_page", "hostname", "referrer", "source", "utm_source", "utm_medium",
              "utm_campaign", "browser", "os", "device", "country", "language"]
DIRECT = "Direct / None"
GAP_US = 30 * 60 * US
# What an event is to web analytics (an element's `kind`): other `$` events are 0.
PAGEVIEW, PAGELEAVE, CUSTOM = 1, 2, 3
_KIND = (f"toUInt8(multiIf(event = '$pageview', {PAGEVIEW}, event = '$pageleave', {PAGELEAVE}, "
         f"startsWith(event, '$'), 0, {CUSTOM}))")
# The dimensions that are the visit's (`page` is the event's path).
_VISIT_DIMENSIONS = set(DIMENSIONS) - {"page"}


def _round2(x: float) -> float:
    scaled = x * 100
    floor = math.floor(scaled)
    return (floor + 1 if scaled - floor >= 0.5 else floor) / 100


def _metrics(names: list[str], cell: tuple | None) -> dict:
    visitors, n, pageviews, bounces, duration, median = cell or (0, 0, 0, 0, 0, None)
    values = {"visitors": visitors, "visits": n, "pageviews": pageviews,
              "views_per_visit": _round2(pageviews / n) if n else 0,
              "bounce_rate": _round2(bounces * 100.0 / n) if n else 0,
              "visit_duration": _round2(duration / 1e6 / n) if n else 0,
              "time_on_page": None if median is None else _round2(median)}
    return {name: values[name] for name in names}


def year_before(ts_us: int, tz) -> int:
    local = _local(ts_us, tz)
    try:
        earlier = local.replace(year=local.year - 1)
    except ValueError:  # 29 February
        earlier = local.replace(year=local.year - 1, day=28)
    return _instant(earlier.replace(tzinfo=None).replace(tzinfo=tz, fold=0))


class _Visit:
    """The SQL of one query's visits: the fields each event carries (`field` adds one and returns
    how an element reads it), and the visit's dimensions over them."""

    def __init__(self, params: Params) -> None:
        self.params = params
        self.fields: list[str] = []
        self.leaves: list[str] = []

    def field(self, sql: str) -> int:
        if sql not in self.fields:
            self.fields.append(sql)
        return self.fields.index(sql) + 1

    def dimension(self, name: str) -> str:
        """The visit's value of a dimension (not `page`), as Nullable(String)."""
        first, source = "v[1]", "v[if(ipv > 0, ipv, 1)]"
        if name in ("entry_page", "exit_page"):
            return f"if(ipv > 0, v[{'ipv' if name == 'entry_page' else 'lpv'}].{self.field('path')}, NULL)"
        if name == "hostname":
            return f"nullIf(lower(domain(coalesce({first}.{self.field('url')}, ''))), '')"
        if name == "source":
            direct = self.params.add(DIRECT, "String")
            return (f"coalesce(nullIf({source}.{self.field('utm_source')}, ''), "
                    f"nullIf({source}.{self.field('referrer_host')}, ''), {direct})")
        column = {"referrer": "referrer_host", "device": "device_type"}.get(name, name)
        at = source if name in ("referrer", "utm_source", "utm_medium", "utm_campaign") else first
        return f"{at}.{self.field(column)}"

    def filter(self, f: dict | None) -> str | None:
        """The filter as a condition on an element `x` of the visit (None: no filter): the event's
        own part read per row into a field, the visit's dimensions once per visit (`w0`, …)."""
        if f is None:
            return None
        kind, sql = self._part(f)
        return f"x.{self.field(f'toUInt8({sql})')}" if kind == "row" else sql

    def _part(self, f: dict) -> tuple[str, str]:
        (key, value), = f.items()
        if key in ("all", "any"):
            parts = [self._part(x) for x in value]
            joiner = " AND " if key == "all" else " OR "
            if all(kind == "row" for kind, _ in parts):
                return "row", "(" + (joiner.join(sql for _, sql in parts) or ("1" if key == "all" else "0")) + ")"
            return "visit", "(" + joiner.join(self._element(p) for p in parts) + ")"
        if key == "not":
            kind, sql = self._part(value)
            return kind, f"NOT ({sql})"
        if key == "prop" and next(iter(value)) in _VISIT_DIMENSIONS:
            name = next(iter(value))
            self.leaves.append(filter_sql(self.params, f, {name: self.dimension(name)}))
            return "visit", f"w{len(self.leaves) - 1}"
        return "row", filter_sql(self.params, f, {"page": label(self.params, "prop", "path")})

    def _element(self, part: tuple[str, str]) -> str:
        kind, sql = part
        return f"x.{self.field(f'toUInt8({sql})')}" if kind == "row" else sql


def web_range(body: Body, project_id: str, tables: Tables, lo: int, hi: int) -> Translation:
    names = body.get("metrics") or METRICS
    dim, unit = body.get("dimension"), body.get("time_bucket")
    want_time = "time_on_page" in names
    params = Params()
    source = rows(params, tables, project_id, lo - GAP_US, None, uses_traits(body.filter))
    gap = params.add(GAP_US, "Int64")
    lo_p, hi_p = params.add(lo, "Int64"), params.add(hi, "Int64")
    visit = _Visit(params)
    ts, seq, kind = visit.field("ts_us"), visit.field("seq"), visit.field(_KIND)
    dur = None
    if want_time:
        duration_ms = number(member_text("props", params.add("duration_ms", "String")))
        dur = visit.field(f"if(event = '$pageleave', coalesce({duration_ms}, nan), nan)")
    path = visit.field("path") if dim == "page" else None
    if unit:
        zone = params.add(body.tz, "String")
        start = f"fromUnixTimestamp64Micro(v[1].{ts}, 'UTC')"
        key = {"1h": f"toStartOfHour({start}, {zone})", "1d": f"toStartOfDay({start}, {zone})",
               "1w": f"toDateTime(toMonday({start}, {zone}), {zone})",
               "1mo": f"toDateTime(toStartOfMonth({start}, {zone}), {zone})"}[unit]
        key = f"toInt64(toUnixTimestamp({key})) * {US}"
    elif dim and dim != "page":
        key = visit.dimension(dim)
    else:
        key = "0"
    chosen = visit.filter(body.filter)

    columns = [f"v[1].{ts} AS start", f"arrayMap(x -> x.{kind}, v) AS ks",
               f"indexOf(ks, {PAGEVIEW}) AS ipv", f"arrayLastIndex(k -> k = {PAGEVIEW}, ks) AS lpv",
               f"arrayCount(k -> k = {PAGEVIEW}, ks) = 1 AND NOT has(ks, {CUSTOM}) AS bounce",
               f"if(bounce, 0, v[-1].{ts} - start) AS duration", f"{key} AS key"]
    columns += [f"({leaf}) AS w{i}" for i, leaf in enumerate(visit.leaves)]
    if path is not None:
        columns.append(f"arrayMap(x -> x.{path}, v) AS pages")
    if chosen is not None:
        columns.append(f"arrayMap(x -> toUInt8({chosen}), v) AS chosen")
        passes, views = f"(k, c) -> k = {PAGEVIEW} AND c = 1, ks, chosen", "ks, chosen"
    else:
        passes, views = f"k -> k = {PAGEVIEW}, ks", "ks"
    lanes = "(e, k, c)" if chosen is not None else "(e, k)"
    if want_time:
        # Each position's next `$pageview` and next `$pageleave` after it (0: none).
        after = "arrayPushBack(arrayPopFront(arrayReverseFill(i -> i != 0, arrayMap((k, i) -> if(k = {0}, i, 0), " \
                "ks, arrayEnumerate(ks)))), 0)"
        columns += [f"{after.format(PAGEVIEW)} AS nxs", f"{after.format(PAGELEAVE)} AS lvs"]
        columns.append(
            f"arrayMap((x, nx, lv) -> if(x.{kind} != {PAGEVIEW}, nan, multiIf("
            f"lv > 0 AND (nx = 0 OR lv < nx) AND v[lv].{dur} >= 0, v[lv].{dur} / 1000, "
            f"nx > 0, (v[nx].{ts} - x.{ts}) / 1e6, lv > 0 AND (nx = 0 OR lv < nx), (v[lv].{ts} - x.{ts}) / 1e6, "
            f"nan)), v, nxs, lvs) AS tops_all")
    split = (f"arrayFilter(s -> s[1].{ts} >= {lo_p} AND s[1].{ts} < {hi_p}, arraySplit((x, cut) -> cut, evs, "
             f"arrayMap(d -> d >= {gap}, arrayDifference(arrayMap(x -> x.{ts}, evs)))))")
    people = (f"SELECT person, arraySort(x -> (x.{ts}, x.{seq}), groupArray(tuple({', '.join(visit.fields)}))) AS evs "
              f"FROM {source} GROUP BY person")
    visits = (f"SELECT person, {', '.join(columns)} FROM ({people}) ARRAY JOIN {split} AS v"
              + (" WHERE has(chosen, 1)" if chosen is not None else ""))

    def pick(array: str) -> str:
        """The elements of `array` (one per event) at the pageviews that pass."""
        return f"arrayFilter({lanes} -> k = {PAGEVIEW}{' AND c = 1' if chosen is not None else ''}, {array}, {views})"

    def median(combinator: str, condition: str = "") -> str:
        """The median of `t`: the mean of its lower and upper middle values."""
        return (f"(quantileExactLow{combinator}(0.5)(t{condition}) + "
                f"quantileExactHigh{combinator}(0.5)(t{condition})) / 2")

    if dim == "page":
        # One row per pageview that passes: its path, whether it is the visit's first with that
        # path (the visit counts once per path), its time on page.
        per_view = [f"{pick('pages')} AS paths", "arrayEnumerateUniq(paths) AS nth"]
        if want_time:
            per_view.append(f"{pick('tops_all')} AS times")
        joined = "paths AS key, nth AS n" + (", times AS t" if want_time else "")
        m = (f"{median('If', ', NOT isNaN(t)')}, countIf(NOT isNaN(t))" if want_time else "0, 0")
        sql = (f"SELECT key, uniqExact(person), countIf(n = 1), count(), countIf(n = 1 AND bounce), "
               f"sumIf(duration, n = 1), {m} "
               f"FROM (SELECT person, bounce, duration, {', '.join(per_view)} FROM ({visits})) "
               f"ARRAY JOIN {joined} GROUP BY key")
    else:
        m = f"{median('Array')}, sum(length(t))" if want_time else "0, 0"
        times = f", arrayFilter(t -> NOT isNaN(t), {pick('tops_all')}) AS t" if want_time else ""
        sql = (f"SELECT key, uniqExact(person), count(), sum(pvs), countIf(bounce), sum(duration), {m} "
               f"FROM (SELECT person, key, bounce, duration, arrayCount({passes}) AS pvs{times} "
               f"FROM ({visits})) GROUP BY key")
    tz = body.zone

    def shape(result: list[tuple]) -> list:
        cells = {row[0]: (int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]),
                          float(row[6]) if row[7] else None)
                 for row in result}
        if unit:
            out, b = [], bucket_start(lo, tz, unit)
            while b < hi:
                out.append({"bucket": iso(b, tz), **_metrics(names, cells.get(b))})
                b = next_bucket_start(b, tz, unit)
            return out
        if not dim:
            return [_metrics(names, cells.get(0))]
        ranked = sorted((((k if k is not None else NONE_KEY), c) for k, c in cells.items()), key=lambda kc: kc[0])
        ranked.sort(key=lambda kc: -kc[1][0])
        return [{"key": k, **_metrics(names, c)} for k, c in ranked[: int(body.get("limit", 10))]]

    return Translation(sql, params.values, shape)


def web(body: Body, project_id: str, tables: Tables) -> Translation:
    """The range's rows, and with `compare` the earlier range's (`Translation.comparison`)."""
    translation = web_range(body, project_id, tables, body.lo, body.hi)
    compare = body.get("compare")
    if compare == "previous_period":
        translation.comparison = web_range(body, project_id, tables, 2 * body.lo - body.hi, body.lo)
    elif compare == "year_over_year":
        translation.comparison = web_range(body, project_id, tables, year_before(body.lo, body.zone),
                                           year_before(body.hi, body.zone))
    return translation

