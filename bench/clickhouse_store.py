"""What the ClickHouse store's translations cost: each query kind's SQL as the store writes it
(python/reactor_analytics/clickhouse/kinds.py) beside a hand-written ClickHouse query that answers
the same question over the same tables (the oracles of ../shared/reference/query-semantics.md §7:
`uniqExact`, `windowFunnel`, `retention`, with the person map joined and `FINAL`, as the tables'
at-least-once delivery needs), in the same ClickHouse (chdb, in-process), same run, same rows.

    .venv/bin/python bench/clickhouse_store.py [--rows 1000000] [--repeat 5]

Prints, per kind, the median milliseconds of both and the ratio (ours / hand-written)."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from reactor_analytics.clickhouse import schema, translate  # noqa: E402
from reactor_analytics.clickhouse.sql import Tables, read_body  # noqa: E402

PROJECT = "p_bench"
DAY_US = 86_400_000_000
PERSONS = "(SELECT anonymous_id, argMax(user_id, seq) AS user_id FROM person_map WHERE project_id = 'p_bench' " \
          "GROUP BY anonymous_id)"
PERSON = "if(m.user_id = '', e.distinct_id, m.user_id)"


def load(db, rows: int, start_us: int) -> None:
    for statement in schema.render(None, "default"):
        db.query(statement)
    db.query(f"""
        INSERT INTO events (project_id, seq, message_id, event, ts, received_at, distinct_id, anonymous_id, path,
                            properties, retention_days, props)
        SELECT '{PROJECT}', number + 1, concat('m', toString(number)),
               ['A', 'B', 'C', '$pageview'][1 + cityHash64(number, 1) % 4],
               fromUnixTimestamp64Micro(toInt64({start_us} + cityHash64(number, 2) % (28 * {DAY_US})), 'UTC'),
               now64(6), concat('d', toString(cityHash64(number, 3) % 50000)),
               concat('d', toString(cityHash64(number, 3) % 50000)),
               ['/', '/a', '/b', '/c'][1 + cityHash64(number, 4) % 4],
               '{{}}', 365,
               map('plan', ['free', 'pro', 'team'][1 + cityHash64(number, 5) % 3],
                   'amount', toString(cityHash64(number, 6) % 100))
        FROM numbers({rows})""")
    db.query(f"""
        INSERT INTO person_map (project_id, anonymous_id, user_id, seq)
        SELECT '{PROJECT}', concat('d', toString(number)), concat('u', toString(number % 2000)), number + 1
        FROM numbers(50000) WHERE number % 10 = 0""")


def hand_written(start_us: int, end_us: int) -> dict[str, str]:
    rng = (f"e.project_id = '{PROJECT}' AND e.ts >= fromUnixTimestamp64Micro({start_us}, 'UTC') "
           f"AND e.ts < fromUnixTimestamp64Micro({end_us}, 'UTC')")
    joined = f"events AS e FINAL LEFT JOIN {PERSONS} AS m ON m.anonymous_id = e.distinct_id"
    return {
        "aggregate count by day": f"SELECT toStartOfDay(e.ts, 'UTC') AS b, count() FROM events AS e FINAL "
                                  f"WHERE {rng} GROUP BY b",
        "aggregate unique users by day": f"SELECT toStartOfDay(e.ts, 'UTC') AS b, uniqExact({PERSON}) FROM {joined} "
                                         f"WHERE {rng} GROUP BY b",
        "breakdown by plan": f"SELECT e.props['plan'] AS k, count() AS c FROM events AS e FINAL WHERE {rng} "
                             f"GROUP BY k ORDER BY c DESC, k LIMIT 10",
        "funnel A B C, 1d": f"SELECT countIf(l >= 1), countIf(l >= 2), countIf(l >= 3) FROM (SELECT {PERSON} AS p, "
                            f"windowFunnel({DAY_US}, 'strict_once')(toUInt64(toUnixTimestamp64Micro(e.ts)), "
                            f"e.event = 'A', e.event = 'B', e.event = 'C') AS l FROM {joined} WHERE {rng} "
                            f"AND e.event IN ('A', 'B', 'C') GROUP BY p HAVING l > 0)",
        "retention weekly, 4": f"SELECT c, count(), sum(r[2]), sum(r[3]), sum(r[4]) FROM (SELECT p, any(c0) AS c, "
                               f"retention(w = c0, w = c0 + 7, w = c0 + 14, w = c0 + 21) AS r FROM (SELECT {PERSON} AS p, "
                               f"toMonday(e.ts, 'UTC') AS w, min(w) OVER (PARTITION BY p) AS c0 FROM {joined} "
                               f"WHERE {rng} AND e.event = 'A') GROUP BY p) GROUP BY c",
    }


def ours(start_us: int, end_us: int) -> dict[str, tuple[str, dict]]:
    iso = lambda us: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us / 1e6))  # noqa: E731
    window = {"from": iso(start_us), "to": iso(end_us)}
    bodies = {
        "aggregate count by day": {"kind": "aggregate", "time_bucket": "1d"},
        "aggregate unique users by day": {"kind": "aggregate", "time_bucket": "1d", "measure": "unique_users"},
        "breakdown by plan": {"kind": "breakdown", "prop": "plan"},
        "funnel A B C, 1d": {"kind": "funnel", "steps": [{"event": "A"}, {"event": "B"}, {"event": "C"}],
                             "conversion_window": "1d"},
        "retention weekly, 4": {"kind": "retention", "cohort_event": "A"},
    }
    out = {}
    for name, body in bodies.items():
        translation = translate.translate(read_body({**body, "time_range": window}, end_us), PROJECT, Tables())
        out[name] = (translation.sql, {k: v for k, v in translation.params.items()})
    return out


def timed(db, sql: str, params: dict | None, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        db.query(sql, "Null", params=_text(params))
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


def _text(params: dict | None) -> dict | None:
    """chdb reads a query parameter's value as text in ClickHouse's format."""
    if not params:
        return None
    out = {}
    for key, value in params.items():
        if isinstance(value, list):
            out[key] = "[" + ",".join(str(v) for v in value) + "]"
        else:
            out[key] = str(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from chdb import session

    start_us = (int(time.time()) // 86400 - 28) * DAY_US
    end_us = start_us + 28 * DAY_US
    with tempfile.TemporaryDirectory(prefix="bench-clickhouse-") as path:
        db = session.Session(path)
        load(db, args.rows, start_us)
        peers, mine = hand_written(start_us, end_us), ours(start_us, end_us)
        print(f"{args.rows:,} events, 28 days, 50,000 ids (10 % linked to 2,000 users); chdb "
              f"{db.query('SELECT version()', 'TSVRaw').bytes().decode().strip()}; median of {args.repeat}")
        print("| query | ClickHouse store (ms) | hand-written (ms) | ratio |")
        print("|---|---|---|---|")
        for name, peer in peers.items():
            sql, params = mine[name]
            timed(db, sql, params, 1)  # warm
            timed(db, peer, None, 1)
            a, b = timed(db, sql, params, args.repeat), timed(db, peer, None, args.repeat)
            print(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f} |")
        db.close()


if __name__ == "__main__":
    main()
