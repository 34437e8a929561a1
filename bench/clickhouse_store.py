"""What the ClickHouse store's translations cost: each query kind's SQL as the store writes it
(python/reactor_analytics/clickhouse/kinds.py, web.py) beside a hand-written ClickHouse query that
answers the same question over the same tables (the oracles of ../shared/reference/query-semantics.md
§7: `uniqExact`, `windowFunnel`, `retention`, `arraySplit` for paths and visits, with the person
map joined and `FINAL`, as the tables' at-least-once delivery needs), in the same ClickHouse
(chdb, in-process), same run, same rows; and beside them the default store (the native engine,
in-process) answering the same bodies over the same rows, fed as its tails feed it.

    .venv/bin/python bench/clickhouse_store.py [--rows 10000000] [--repeat 5]

The rows: visits of 1 to 12 events a minute or so apart (`$pageview`s of six paths, `A`, `B`, `C`,
`$pageleave` with `duration_ms`; referrers and UTM tags on the landing page) by 50,000 ids over 28
days, 10 % of the ids linked to 2,000 users; after loading, the table's parts are merged (`OPTIMIZE
... FINAL`), as background merges leave a store's. Each kind's time is the median of `--repeat` runs of
the whole answer in Python: the ClickHouse store's SQL, its rows fetched (Arrow) and shaped as the
service answers (`Translation.shape`); the hand-written SQL and its rows; the native plan and
`Engine.execute` (rows as JSON); the three take turns, run by run. Every answer is compared
(floats to 9 places): the ClickHouse store's with the hand-written one's and with the native
store's; a difference names the kind and exits 1."""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from reactor_analytics import _native  # noqa: E402
from reactor_analytics.clickhouse import schema, translate  # noqa: E402
from reactor_analytics.clickhouse.sql import Tables, read_body  # noqa: E402

PROJECT = "p_bench"
US = 1_000_000
DAY_US = 86_400 * US
GAP_US = 30 * 60 * US
IDS, USERS = 50_000, 2_000
# Visits of 1, 1, 2, 3, 5, 8 and 12 events, in blocks of 32 rows.
VISIT_STARTS = [0, 1, 2, 4, 7, 12, 20]
BLOCK, LONGEST = 32, 12
# The service's defaults (config.py [analytics]).
LIMITS = {"events_max_days": 90, "max_days": 730, "max_rows_scanned": 50_000_000}
# What the store sets on every query (clickhouse/store.py).
SETTINGS = {"do_not_merge_across_partitions_select_final": 1, "join_use_nulls": 0}
PERSONS = (f"(SELECT anonymous_id, argMax(user_id, seq) AS user_id FROM person_map WHERE project_id = '{PROJECT}' "
           f"GROUP BY anonymous_id)")
PERSON = "if(m.user_id = '', e.distinct_id, m.user_id)"


# --- the rows -------------------------------------------------------------------------------------

def load(db, rows: int, start_us: int) -> None:
    for statement in schema.render(None, "default"):
        db.query(statement)
    span = 28 * DAY_US - LONGEST * 60 * US
    db.query(f"""
        INSERT INTO events (project_id, seq, message_id, event, ts, received_at, distinct_id, anonymous_id,
                            session_id, url, path, referrer_host, utm_source, device_type, properties,
                            retention_days, props)
        SELECT '{PROJECT}', number + 1, concat('m', toString(number)), ev, fromUnixTimestamp64Micro(t, 'UTC'),
               now64(6), d, d, concat('s', toString(v)),
               if(ev = '$pageview', concat('https://www.example.com', page), NULL),
               if(ev IN ('$pageview', '$pageleave'), page, NULL),
               if(k = 0, nullIf(referrer, ''), NULL), if(k = 0, nullIf(utm, ''), NULL), device,
               concat('{{"plan":"', plan, '","amount":', toString(amount),
                      if(ev = '$pageleave', concat(',"duration_ms":', toString(duration)), ''), '}}'),
               365,
               if(ev = '$pageleave', map('plan', plan, 'amount', toString(amount), 'duration_ms', toString(duration)),
                  map('plan', plan, 'amount', toString(amount)))
        FROM (SELECT number, number % {BLOCK} AS r, arrayCount(x -> x <= r, {VISIT_STARTS}) AS j,
                     intDiv(number, {BLOCK}) * {len(VISIT_STARTS)} + j AS v, r - {VISIT_STARTS}[j] AS k,
                     concat('d', toString(cityHash64(v, 3) % {IDS})) AS d,
                     toInt64({start_us} + cityHash64(v, 2) % {span} + k * {60 * US} + cityHash64(number, 7) % {50 * US})
                         AS t,
                     if(k = 0, '$pageview',
                        ['A', 'B', 'C', '$pageview', '$pageview', '$pageleave'][1 + cityHash64(number, 1) % 6]) AS ev,
                     ['/', '/pricing', '/docs', '/blog', '/signup', '/app'][1 + cityHash64(number, 4) % 6] AS page,
                     ['', '', 'google.com', 'news.ycombinator.com', 'twitter.com'][1 + cityHash64(v, 8) % 5]
                         AS referrer,
                     ['', '', '', 'newsletter'][1 + cityHash64(v, 9) % 4] AS utm,
                     ['desktop', 'mobile', 'tablet'][1 + cityHash64(v, 10) % 3] AS device,
                     ['free', 'pro', 'team'][1 + cityHash64(number, 5) % 3] AS plan,
                     cityHash64(number, 6) % 100 AS amount, cityHash64(number, 11) % 120000 AS duration
              FROM numbers({rows}))""")
    db.query(f"""
        INSERT INTO person_map (project_id, anonymous_id, user_id, seq)
        SELECT '{PROJECT}', concat('d', toString(number)), concat('u', toString(number % {USERS})), number + 1
        FROM numbers({IDS}) WHERE number % 10 = 0""")


def load_native(db, rows: int):
    """An in-process native engine fed the same rows as COPY text in its tails' column order
    (store/queries.py `_TAIL_COLUMNS`); returns it and the seconds it took."""
    assert tuple(_native.HOT_COLUMNS) == schema.HOT
    engine = _native.Engine()
    hot = ", ".join(schema.HOT)
    took = 0.0
    chunk = 1_000_000
    for lo in range(0, rows, chunk):
        text = db.query(f"SELECT seq, project_id, event, toUnixTimestamp64Micro(ts), distinct_id, {hot}, properties "
                        f"FROM events WHERE seq > {lo} AND seq <= {lo + chunk} ORDER BY seq", "TSV").bytes()
        started = time.perf_counter()
        engine.append("events", text)
        took += time.perf_counter() - started
    text = db.query("SELECT seq, project_id, anonymous_id, user_id FROM person_map ORDER BY seq", "TSV").bytes()
    started = time.perf_counter()
    engine.append("links", text)
    return engine, took + time.perf_counter() - started


# --- the kinds ------------------------------------------------------------------------------------

def iso(us: int) -> str:
    return datetime.fromtimestamp(us / US, timezone.utc).isoformat()


def round2(x: float) -> float:
    scaled = x * 100
    floor = math.floor(scaled)
    return (floor + 1 if scaled - floor >= 0.5 else floor) / 100


class Kind:
    """A query body and its hand-written peer: SQL and how its rows read as the service's rows."""

    def __init__(self, body: dict, sql: str, answer: Callable[[list[tuple]], list]) -> None:
        self.body, self.sql, self.answer = body, sql, answer


def kinds(start_us: int, end_us: int) -> dict[str, Kind]:
    lo, hi, now = start_us, end_us, end_us

    def joined(since: int | None, until: int | None) -> str:
        where = [f"e.project_id = '{PROJECT}'"]
        if since is not None:
            where.append(f"e.ts >= fromUnixTimestamp64Micro({since}, 'UTC')")
        if until is not None:
            where.append(f"e.ts < fromUnixTimestamp64Micro({until}, 'UTC')")
        return (f"events AS e FINAL LEFT JOIN {PERSONS} AS m ON m.anonymous_id = e.distinct_id "
                f"WHERE {' AND '.join(where)}")

    def plain(since: int, until: int) -> str:
        return (f"events AS e FINAL WHERE e.project_id = '{PROJECT}' AND e.ts >= fromUnixTimestamp64Micro({since}, "
                f"'UTC') AND e.ts < fromUnixTimestamp64Micro({until}, 'UTC')")

    window = {"from": iso(lo), "to": iso(hi)}
    us = "toUnixTimestamp64Micro(e.ts)"
    out: dict[str, Kind] = {}

    day = f"toInt64(toUnixTimestamp(toStartOfDay(e.ts, 'UTC'))) * {US}"
    out["aggregate count by day"] = Kind(
        {"kind": "aggregate", "time_bucket": "1d"},
        f"SELECT {day} AS b, count() FROM {plain(lo, hi)} GROUP BY b ORDER BY b",
        lambda rows: [{"bucket": iso(b), "value": int(n)} for b, n in rows])
    out["aggregate unique users by day"] = Kind(
        {"kind": "aggregate", "time_bucket": "1d", "measure": "unique_users"},
        f"SELECT {day} AS b, uniqExact({PERSON}) FROM {joined(lo, hi)} GROUP BY b ORDER BY b",
        lambda rows: [{"bucket": iso(b), "value": int(n)} for b, n in rows])
    out["breakdown by plan"] = Kind(
        {"kind": "breakdown", "prop": "plan"},
        f"SELECT e.props['plan'] AS k, count() AS c FROM {plain(lo, hi)} GROUP BY k ORDER BY c DESC, k LIMIT 10",
        lambda rows: [{"key": k, "value": int(c)} for k, c in rows])

    steps = ["A", "B", "C"]
    out["funnel A B C, 1d"] = Kind(
        {"kind": "funnel", "steps": [{"event": s} for s in steps], "conversion_window": "1d"},
        f"SELECT countIf(l >= 1), countIf(l >= 2), countIf(l >= 3) FROM (SELECT {PERSON} AS p, "
        f"windowFunnel({DAY_US}, 'strict_once')(toUInt64({us}), e.event = 'A' AND {us} < {hi}, e.event = 'B', "
        f"e.event = 'C') AS l FROM {joined(lo, hi + DAY_US)} AND e.event IN ('A', 'B', 'C') GROUP BY p HAVING l > 0)",
        lambda rows: [{"steps": [{"event": s, "count": int(c), "conversion": int(c) / int(rows[0][0])}
                                 for s, c in zip(steps, rows[0])]}])

    def retention_rows(rows):
        today = datetime.fromtimestamp(now / US, timezone.utc).date()
        this_week = today - timedelta(days=today.weekday())
        return [{"cohort": datetime(c.year, c.month, c.day, tzinfo=timezone.utc).isoformat(), "size": int(n),
                 "returned": [int(n), *map(int, r)], "complete": [c + timedelta(days=7 * k) < this_week
                                                                  for k in range(4)]}
                for c, n, *r in rows]

    out["retention weekly, 4"] = Kind(
        {"kind": "retention", "cohort_event": "A"},
        f"SELECT c, count(), sum(r[2]), sum(r[3]), sum(r[4]) FROM (SELECT p, any(c0) AS c, "
        f"retention(w = c0, w = c0 + 7, w = c0 + 14, w = c0 + 21) AS r FROM (SELECT {PERSON} AS p, "
        f"toMonday(e.ts, 'UTC') AS w, min(w) OVER (PARTITION BY p) AS c0 FROM {joined(lo, hi)} "
        f"AND e.event = 'A') GROUP BY p) GROUP BY c ORDER BY c",
        retention_rows)

    item = "if(e.event = '$pageview' AND coalesce(e.path, '') != '', e.path, e.event)"
    out["path from A, depth 4"] = Kind(
        {"kind": "path", "start_event": "A", "depth": 4},
        f"SELECT items, count() AS c FROM (SELECT arrayMap(x -> x.3, session) AS names, "
        f"arrayFilter((x, i) -> i = 1 OR x != names[i - 1], names, arrayEnumerate(names)) AS collapsed, "
        f"indexOf(collapsed, 'A') AS at, arraySlice(collapsed, at, 4) AS items "
        f"FROM (SELECT arraySort(groupArray(({us}, e.seq, {item}))) AS evs FROM {joined(lo, hi)} GROUP BY {PERSON}) "
        f"ARRAY JOIN arraySplit((x, gap) -> gap, evs, arrayMap(d -> d >= {GAP_US}, "
        f"arrayDifference(arrayMap(x -> x.1, evs)))) AS session WHERE at > 0) "
        f"GROUP BY items ORDER BY c DESC, items LIMIT 10",
        lambda rows: [{"path": list(p), "count": int(c)} for p, c in rows])

    # Visits: a person's events from 30 minutes before the range on, in time order, cut where 30
    # minutes pass idle (`arraySplit`, as for paths); a visit counts when it starts in the range.
    # Per visit, each pageview's time on page: the `$pageleave` before the next pageview (its
    # duration_ms), else the gap to the next pageview, else to the `$pageleave`.
    bounce = "pvs = 1 AND custom = 0"
    web_sql = (
        f"SELECT uniqExact(p), count(), sum(pvs), countIf({bounce}), sum(if({bounce}, 0, v[-1].1 - v[1].1)), "
        f"quantileExactInclusiveArray(0.5)(tops), sum(length(tops)) FROM ("
        f"SELECT p, v, arrayCount(x -> x.3 = '$pageview', v) AS pvs, arrayCount(x -> NOT startsWith(x.3, '$'), v) "
        f"AS custom, arrayEnumerate(v) AS idx, "
        f"arrayMap(i -> arrayFirstIndex((y, j) -> j > i AND y.3 = '$pageview', v, idx), idx) AS nexts, "
        f"arrayMap((i, nx) -> arrayFirstIndex((y, j) -> j > i AND (nx = 0 OR j < nx) AND y.3 = '$pageleave', v, idx), "
        f"idx, nexts) AS leaves, "
        f"arrayFilter(x -> x IS NOT NULL, arrayMap((x, nx, lv) -> if(x.3 != '$pageview', NULL, "
        f"multiIf(lv > 0 AND coalesce(v[lv].4 >= 0, 0), v[lv].4 / 1000, nx > 0, (v[nx].1 - x.1) / 1e6, "
        f"lv > 0, (v[lv].1 - x.1) / 1e6, NULL)), v, nexts, leaves)) AS tops "
        f"FROM (SELECT {PERSON} AS p, arraySort(groupArray(({us}, e.seq, e.event, "
        f"toFloat64OrNull(e.props['duration_ms'])))) AS evs FROM {joined(lo - GAP_US, None)} GROUP BY p) "
        f"ARRAY JOIN arraySplit((x, gap) -> gap, evs, arrayMap(d -> d >= {GAP_US}, "
        f"arrayDifference(arrayMap(x -> x.1, evs)))) AS v "
        f"WHERE v[1].1 >= {lo} AND v[1].1 < {hi})")

    def web_rows(rows):
        visitors, n, pageviews, bounces, duration, median, tops = rows[0]
        return [{"visitors": int(visitors), "visits": int(n), "pageviews": int(pageviews),
                 "views_per_visit": round2(pageviews / n) if n else 0,
                 "bounce_rate": round2(bounces * 100.0 / n) if n else 0,
                 "visit_duration": round2(duration / 1e6 / n) if n else 0,
                 "time_on_page": round2(median) if tops else None}]

    out["web overview"] = Kind({"kind": "web"}, web_sql, web_rows)

    since = min(lo, hi - 30 * DAY_US)
    actives = ", ".join(f"uniqExactIf({PERSON}, {us} >= {hi - d * DAY_US})" for d in (1, 7, 30))
    out["summary"] = Kind(
        {"kind": "summary"},
        f"SELECT countIf({us} >= {lo}), {actives}, (SELECT groupArray((event, c)) FROM (SELECT e.event AS event, "
        f"count() AS c FROM {plain(lo, hi)} GROUP BY event ORDER BY c DESC, event LIMIT 10)) FROM {joined(since, hi)}",
        lambda rows: [{"total_events": int(rows[0][0]), "dau": int(rows[0][1]), "wau": int(rows[0][2]),
                       "mau": int(rows[0][3]), "top_events": [{"key": k, "value": int(v)} for k, v in rows[0][4]]}])
    out["events, newest 100"] = Kind(
        {"kind": "events"},
        f"SELECT e.seq FROM {plain(hi - 7 * DAY_US, hi)} ORDER BY e.ts DESC, e.seq DESC LIMIT 100",
        lambda rows: [int(r[0]) for r in rows])
    recent = joined(now - 5 * 60 * US, now + 1)
    out["realtime"] = Kind(
        {"kind": "realtime"},
        f"SELECT (SELECT uniqExact({PERSON}) FROM {recent}), (SELECT groupArray((k, n)) FROM (SELECT "
        f"if(coalesce(e.path, '') = '', '(none)', e.path) AS k, uniqExact({PERSON}) AS n FROM {recent} "
        f"AND e.event = '$pageview' GROUP BY k ORDER BY n DESC, k LIMIT 10))",
        lambda rows: [{"visitors": int(rows[0][0]), "pages": [{"key": k, "visitors": int(n)} for k, n in rows[0][1]]}])

    for name, kind in out.items():
        if kind.body["kind"] == "events":
            kind.body = {**kind.body, "time_range": {"last": "7d"}}
        elif kind.body["kind"] != "realtime":
            kind.body = {**kind.body, "time_range": window}
    return out


# --- running --------------------------------------------------------------------------------------

def python_rows(table) -> list[tuple]:
    """An Arrow table's rows as clickhouse-connect gives them (tuples for tuples, lists for arrays)."""
    def value(v):
        if isinstance(v, dict):
            return tuple(value(x) for x in v.values())
        if isinstance(v, list):
            return [value(x) for x in v]
        return v

    columns = [[value(v) for v in column.to_pylist()] for column in table.columns]
    return list(zip(*columns))


def _text(params: dict | None) -> dict | None:
    """chdb reads a query parameter's value as text in ClickHouse's format."""
    if not params:
        return None
    return {k: ("[" + ",".join(str(x) for x in v) + "]" if isinstance(v, list) else str(v)) for k, v in params.items()}


def ask(db, sql: str, params: dict | None = None) -> list[tuple]:
    settings = ", ".join(f"{k} = {v}" for k, v in SETTINGS.items())
    return python_rows(db.query(f"{sql} SETTINGS {settings}", "ArrowTable", params=_text(params)))


def timed(calls: list[Callable[[], object]], repeat: int) -> tuple[list[float], list[object]]:
    """Each call's answer (its first, warming run) and median milliseconds over `repeat` runs, the
    calls taking turns so that a busy moment of the machine falls on all of them alike."""
    answers = [call() for call in calls]
    runs: list[list[float]] = [[] for _ in calls]
    for _ in range(repeat):
        for call, times in zip(calls, runs):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
    return [statistics.median(times) * 1000 for times in runs], answers


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def normal(value):
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, list):
        return [normal(v) for v in value]
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from chdb import session

    start_us = (int(time.time()) // 86400 - 28) * DAY_US
    end_us = start_us + 28 * DAY_US
    with tempfile.TemporaryDirectory(prefix="bench-clickhouse-") as path:
        db = session.Session(path)
        started = time.perf_counter()
        load(db, args.rows, start_us)
        # Merged as a store's parts are once background merges caught up (FINAL still applies).
        db.query("OPTIMIZE TABLE events FINAL")
        ch_load = time.perf_counter() - started
        engine, native_load = load_native(db, args.rows)
        ch_bytes = db.query("SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND table = 'events'",
                            "CSV").bytes().decode().strip()
        version = db.query("SELECT version()", "TSVRaw").bytes().decode().strip()
        stats = engine.stats()
        print(f"{args.rows:,} events (visits of 1 to {LONGEST} events), 28 days, {IDS:,} ids "
              f"(10 % linked to {USERS:,} users); "
              f"chdb {version} and the native engine in one process, sharing the machine; median of {args.repeat}, "
              f"each the whole answer in Python")
        print(f"loading: ClickHouse {ch_load:.1f} s ({int(ch_bytes) / 2**20:.0f} MiB on disk), native engine "
              f"{native_load:.1f} s ({stats['rows']:,} rows, {stats['bytes'] / 2**20:.0f} MiB in memory); "
              f"process peak RSS {peak_gib():.1f} GiB")
        print("| kind | native store (ms) | ClickHouse store (ms) | hand-written ClickHouse (ms) | "
              "ClickHouse store / hand-written |")
        print("|---|---|---|---|---|")
        differ = []
        for name, kind in kinds(start_us, end_us).items():
            raw = json.dumps(kind.body).encode()
            translation = translate.translate(read_body(kind.body, end_us), PROJECT, Tables())

            def store():
                return translation.shape(ask(db, translation.sql, translation.params))

            def native():
                plan = _native.plan_query(raw, PROJECT, now_us=end_us, **LIMITS)
                return json.loads(engine.execute(plan)[0])

            def peer():
                return kind.answer(ask(db, kind.sql))

            (native_ms, ours_ms, peer_ms), (native_answer, ours, peer_answer) = timed([native, store, peer],
                                                                                       args.repeat)
            for who, answer in (("hand-written ClickHouse", peer_answer), ("native store", native_answer)):
                if normal(answer) != normal(ours):
                    differ.append(name)
                    print(f"{name}: the ClickHouse store's answer differs from the {who}'s:\n  store {ours!r:.600}\n"
                          f"  {who} {answer!r:.600}", file=sys.stderr)
            print(f"| {name} | {native_ms:.1f} | {ours_ms:.1f} | {peer_ms:.1f} | {ours_ms / peer_ms:.2f} |", flush=True)
        db.close()
    print(f"process peak RSS over the queries {peak_gib():.1f} GiB")
    if differ:
        print(f"answers differ: {', '.join(dict.fromkeys(differ))}")
        sys.exit(1)
    print("answers equal")


if __name__ == "__main__":
    main()
