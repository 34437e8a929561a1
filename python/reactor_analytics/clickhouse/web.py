"""The `web` kind in ClickHouse SQL (README "Web analytics"): visits derived from the events
with window functions, then the metrics per bucket, per dimension value or over the range.

* A visit is a person's run of events with no gap of 30 minutes or more (`lagInFrame` over the
  person's events in time order, a running `sum` numbering the runs). Only a visit that starts in
  the range counts, so rows from 30 minutes before `from` on are read (a row there decides whether
  the first row in the range starts a visit), with no end (a visit runs on past `to`).
* Its dimensions are window aggregates over the visit (`argMin` of a tuple, so an empty value is
  the first row's and not skipped): the first event's, the first `$pageview`'s for sources.
* A filter is read per event with its visit's dimensions; a visit counts when one of its events
  passes, and its pageviews and times on page are those of the pageviews that pass.
* Time on page: the `$pageleave`'s `duration_ms` before the next `$pageview`, else the gap to that
  `$pageview`, else to the `$pageleave`; the median per cell and the rounding are done in Python.
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
_FIRST = ("url", "browser", "os", "device_type", "country", "language")
_SOURCE = ("referrer_host", "utm_source", "utm_medium", "utm_campaign")


def _round2(x: float) -> float:
    scaled = x * 100
    floor = math.floor(scaled)
    return (floor + 1 if scaled - floor >= 0.5 else floor) / 100


def _median(values: list[float]):
    if not values:
        return None
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def _metrics(names: list[str], cell: tuple | None) -> dict:
    visitors, n, pageviews, bounces, duration, tops = cell or (0, 0, 0, 0, 0, [])
    values = {"visitors": visitors, "visits": n, "pageviews": pageviews,
              "views_per_visit": _round2(pageviews / n) if n else 0,
              "bounce_rate": _round2(bounces * 100.0 / n) if n else 0,
              "visit_duration": _round2(duration / 1e6 / n) if n else 0,
              "time_on_page": (lambda m: None if m is None else _round2(m))(_median(tops))}
    return {name: values[name] for name in names}


def year_before(ts_us: int, tz) -> int:
    local = _local(ts_us, tz)
    try:
        earlier = local.replace(year=local.year - 1)
    except ValueError:  # 29 February
        earlier = local.replace(year=local.year - 1, day=28)
    return _instant(earlier.replace(tzinfo=None).replace(tzinfo=tz, fold=0))


def web_range(body: Body, project_id: str, tables: Tables, lo: int, hi: int) -> Translation:
    names = body.get("metrics") or METRICS
    dim, unit = body.get("dimension"), body.get("time_bucket")
    params = Params()
    source = rows(params, tables, project_id, lo - GAP_US, None, uses_traits(body.filter))
    gap = params.add(GAP_US, "Int64")
    ordered = "PARTITION BY person ORDER BY ts_us, seq"
    marked = (f"SELECT *, if(row_number() OVER ({ordered}) = 1 OR ts_us - lagInFrame(ts_us, 1, toInt64(0)) OVER "
              f"({ordered} ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) >= {gap}, 1, 0) AS nv FROM {source}")
    numbered = (f"SELECT *, sum(nv) OVER ({ordered} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS vn "
                f"FROM ({marked})")
    visit = "(PARTITION BY person, vn)"
    pv = "event = '$pageview'"
    first = f"argMin(tuple({', '.join(_FIRST)}), (ts_us, seq)) OVER {visit}"
    first_src = f"argMin(tuple({', '.join(_SOURCE)}), (ts_us, seq)) OVER {visit}"
    pv_src = f"argMinIf(tuple({', '.join(_SOURCE)}), (ts_us, seq), {pv}) OVER {visit}"
    duration_ms = number(member_text("props", params.add("duration_ms", "String")))
    attributes = (
        f"SELECT *, min(ts_us) OVER {visit} AS v_start, max(ts_us) OVER {visit} AS v_end, "
        f"countIf({pv}) OVER {visit} AS v_pv, countIf(NOT startsWith(event, '$')) OVER {visit} AS v_custom, "
        f"{first} AS v_first, if(v_pv > 0, {pv_src}, {first_src}) AS v_src, "
        f"argMinIf(tuple(path), (ts_us, seq), {pv}) OVER {visit} AS v_entry, "
        f"argMaxIf(tuple(path), (ts_us, seq), {pv}) OVER {visit} AS v_exit, "
        f"arraySort(groupArray(tuple(ts_us, seq, event, {duration_ms})) OVER {visit}) AS v_rows "
        f"FROM ({numbered})")
    dims = {
        "entry_page": "if(v_pv > 0, v_entry.1, NULL)", "exit_page": "if(v_pv > 0, v_exit.1, NULL)",
        "hostname": "nullIf(lower(domain(coalesce(v_first.1, ''))), '')", "referrer": "v_src.1",
        "source": f"coalesce(nullIf(v_src.2, ''), nullIf(v_src.1, ''), {params.add(DIRECT, 'String')})",
        "utm_source": "v_src.2", "utm_medium": "v_src.3", "utm_campaign": "v_src.4",
        "browser": "v_first.2", "os": "v_first.3", "device": "v_first.4", "country": "v_first.5",
        "language": "v_first.6",
    }
    props = {**dims, "page": label(params, "prop", "path")}
    chosen = filter_sql(params, body.filter, props)
    at = "arrayFirstIndex(x -> x.2 = seq, v_rows)"
    nxt = f"arrayFirstIndex((x, j) -> j > {at} AND x.3 = '$pageview', v_rows, arrayEnumerate(v_rows))"
    end = f"if({nxt} = 0, length(v_rows) + 1, {nxt})"
    leave = (f"arrayFirstIndex((x, j) -> j > {at} AND j < {end} AND x.3 = '$pageleave', v_rows, "
             f"arrayEnumerate(v_rows))")
    top = (f"if(event = '$pageview', multiIf({leave} > 0 AND coalesce(v_rows[{leave}].4 >= 0, 0), "
           f"v_rows[{leave}].4 / 1000, {nxt} > 0, (v_rows[{nxt}].1 - ts_us) / 1e6, "
           f"{leave} > 0, (v_rows[{leave}].1 - ts_us) / 1e6, NULL), NULL)")
    lo_p, hi_p = params.add(lo, "Int64"), params.add(hi, "Int64")
    per_event = (f"SELECT person, vn, v_start, ({chosen}) AS chosen, event, path, {top} AS top, "
                 f"v_pv = 1 AND v_custom = 0 AS bounce, if(bounce, 0, v_end - v_start) AS duration, "
                 f"{dims[dim] if dim and dim != 'page' else 'NULL'} AS dim_key "
                 f"FROM ({attributes}) WHERE v_start >= {lo_p} AND v_start < {hi_p}")
    tops = "groupArrayIf(top, chosen AND event = '$pageview' AND top IS NOT NULL)"
    if dim == "page":
        visits = (f"SELECT person, vn, path AS key, any(bounce) AS bounce, any(duration) AS duration, "
                  f"count() AS pvs, groupArrayIf(top, top IS NOT NULL) AS tops FROM ({per_event}) "
                  f"WHERE chosen AND event = '$pageview' GROUP BY person, vn, key")
    else:
        if unit:
            zone = params.add(body.tz, "String")
            start = f"fromUnixTimestamp64Micro(any(v_start), 'UTC')"
            key = {"1h": f"toStartOfHour({start}, {zone})", "1d": f"toStartOfDay({start}, {zone})",
                   "1w": f"toDateTime(toMonday({start}, {zone}), {zone})",
                   "1mo": f"toDateTime(toStartOfMonth({start}, {zone}), {zone})"}[unit]
            key = f"toInt64(toUnixTimestamp({key})) * {US}"
        else:
            key = "any(dim_key)" if dim else "0"
        visits = (f"SELECT person, vn, {key} AS key, any(bounce) AS bounce, any(duration) AS duration, "
                  f"countIf(chosen AND event = '$pageview') AS pvs, {tops} AS tops FROM ({per_event}) "
                  f"GROUP BY person, vn HAVING max(chosen) = 1")
    sql = (f"SELECT key, uniqExact(person), count(), sum(pvs), sum(bounce), sum(duration), groupArrayArray(tops) "
           f"FROM ({visits}) GROUP BY key")
    tz = body.zone

    def shape(result: list[tuple]) -> list:
        cells = {row[0]: (int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]), list(row[6]))
                 for row in result}
        if unit:
            out, b = [], bucket_start(lo, tz, unit)
            while b < hi:
                out.append({"bucket": iso(b, tz), **_metrics(names, cells.get(b))})
                b = next_bucket_start(b, tz, unit)
            return out
        if not dim:
            return [_metrics(names, cells.get(0))]
        ranked = sorted(((k if k is not None else NONE_KEY), c) for k, c in cells.items())
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

