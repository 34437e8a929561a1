"""Web analytics benchmark: the five queries a dashboard opens with, against ClickHouse (chdb).

    make bench-web               (or: .venv/bin/python bench/web.py --events 10000000)

One run: generates a site's traffic (default 10M events, 400k visitors over 30 days: visits of
page views with referrers, UTM tags, User-Agents, custom events and `$pageleave` with visible
time; ~25% of visitors identified part-way, with the link made mid-visit), loads it through the
product's ingest path (the native parser/encoder and the API's COPY), mirrors the same rows with
the same persons into ClickHouse via chdb, starts `reactor serve`, and prints per query the median
of several runs through the HTTP API (JSON included) next to ClickHouse computing the same
metric from the same rows (visits with `lagInFrame`, 30 minutes idle), as a ratio, with the
answers compared. Also: the five together, and the first web query after a start (when the
engine derives the visits).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
import query as qb  # noqa: E402  (bench/query.py: the service, loading, timing)

from reactor_analytics import _native  # noqa: E402
from reactor_analytics.store import migrate  # noqa: E402
from reactor_analytics.store.embedded import EmbeddedPostgres  # noqa: E402

DAY_US = qb.DAY_US
VISITS_SAVED_S = 36.0
MIN_US = 60 * 10**6
PAGES = ["/", "/pricing", "/docs", "/blog", "/blog/launch", "/about", "/signup", "/app"]
PAGE_WEIGHTS = [30, 12, 14, 9, 6, 4, 6, 10]
REFERRERS = [None, None, None, "https://www.google.com/", "https://news.ycombinator.com/item?id=1",
             "https://twitter.com/x", "https://duckduckgo.com/"]
UTMS = [None] * 6 + ["newsletter", "producthunt"]
AGENTS = {
    "desktop": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
               "Safari/537.36",
    "mobile": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.1 Mobile/15E148 Safari/604.1",
    "tablet": "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
              "Mobile/15E148 Safari/604.1",
}
DEVICES, DEVICE_WEIGHTS = list(AGENTS), [55, 38, 7]
CUSTOM = ["signup", "download", "play_video"]


def host_of(referrer: str | None) -> str:
    if not referrer:
        return ""
    host = referrer.split("/")[2].lower()
    return host[4:] if host.startswith("www.") else host


def visitor_events(rng: random.Random, v: int, start_us: int, end_us: int, per_visitor: float):
    """One visitor's events: (ts_us, event, anonymous_id, user_id, context, properties)."""
    anon, user = f"anon-{v:07d}", (f"user-{v:07d}" if rng.random() < 0.25 else None)
    device = rng.choices(DEVICES, DEVICE_WEIGHTS)[0]
    identify_after = rng.randint(1, 12) if user else None
    t = start_us + int(rng.random() * (end_us - start_us))
    out, count, identified = [], 0, False
    target = max(1, int(rng.expovariate(1 / per_visitor)))
    while count < target and t < end_us:
        referrer, utm = rng.choice(REFERRERS), rng.choice(UTMS)
        path = rng.choices(PAGES, PAGE_WEIGHTS)[0]
        landing = True
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4, 6, 9])):
            url = f"https://www.example.com{path}" + (f"?utm_source={utm}" if landing and utm else "")
            page = {"path": path, "url": url}
            if landing and referrer:
                page["referrer"] = referrer
            context = {"page": page, "userAgent": AGENTS[device], "locale": "en-US"}
            who = (None, user) if identified else (anon, None)
            out.append((t, "$pageview", *who, context, {}))
            count += 1
            if identify_after is not None and count >= identify_after and not identified:
                t += 1000
                out.append((t, "$identify", anon, user, {}, {}))
                identified, count = True, count + 1
            stay = int(rng.expovariate(1 / (70 * 10**6))) + 10**6
            if rng.random() < 0.15:
                t += rng.randint(1, stay // 2)
                out.append((t, rng.choice(CUSTOM), *((None, user) if identified else (anon, None)), {}, {}))
                count += 1
            if rng.random() < 0.5:
                props = {"duration_ms": stay // 1000} if rng.random() < 0.8 else {}
                who = (None, user) if identified else (anon, None)
                out.append((t + stay, "$pageleave", *who, {"page": {"path": path}}, props))
                count += 1
            t += stay + rng.randint(1, 9) * 1000
            path, landing = rng.choices(PAGES, PAGE_WEIGHTS)[0], False
        t += 31 * MIN_US + int(rng.expovariate(1 / (2 * DAY_US)))
    return [e for e in out if e[0] < end_us], (anon, user) if identified else None


def _generate(args) -> tuple[str, str, int]:
    lo, hi, seed, start_us, end_us, per_visitor, project_id, out_dir = args
    rng = random.Random(seed)
    copy_path, tsv_path = Path(out_dir) / f"copy-{lo}.txt", Path(out_dir) / f"ch-{lo}.tsv"
    links, batch, count = {}, [], 0
    received = int(time.time() * 1000)
    with open(copy_path, "wb") as copy_out, open(tsv_path, "w") as tsv:
        def flush():
            if batch:
                body = json.dumps({"batch": batch}).encode()
                parsed = _native.parse_request(body, "batch", received_at_ms=received, ip=None, user_agent=None,
                                               accept_language=None)
                copy_out.write(parsed.encode(project_id, "bench", []).copy_rows)
                batch.clear()

        for v in range(lo, hi):
            events, link = visitor_events(rng, v, start_us, end_us, per_visitor)
            if link:
                links[link[0]] = link[1]
            person = link[1] if link else f"anon-{v:07d}"
            for ts, event, anon, user, context, props in events:
                e = {"event": event, "timestamp": datetime.fromtimestamp(ts / 1e6, timezone.utc).isoformat(),
                     "properties": props, "context": context}
                if anon:
                    e["anonymous_id"] = anon
                if user:
                    e["user_id"] = user
                batch.append(e)
                page = context.get("page", {})
                url = page.get("url", "")
                utm = url.split("utm_source=")[1] if "utm_source=" in url else ""
                agent = context.get("userAgent")
                device = next((d for d, a in AGENTS.items() if a == agent), "")
                duration = props.get("duration_ms")
                tsv.write(f"{ts}\t{person}\t{event}\t{page.get('path', '')}\t{host_of(page.get('referrer'))}\t{utm}"
                          f"\t{device}\t{chr(92) + 'N' if duration is None else duration}\n")
                count += 1
                if len(batch) == 100:
                    flush()
        flush()
    (Path(out_dir) / f"links-{lo}.json").write_text(json.dumps(links))
    return str(copy_path), str(tsv_path), count


def generate(events: int, visitors: int, project_id: str, out_dir: Path, workers: int, start_us: int, end_us: int):
    # Visits that would fall after "now" are not generated: ask for about a third more.
    per_visitor = events / visitors * 1.45
    step = math.ceil(visitors / (workers * 8))
    jobs = [(lo, min(lo + step, visitors), 7000 + lo, start_us, end_us, per_visitor, project_id, str(out_dir))
            for lo in range(0, visitors, step)]
    with mp.Pool(workers) as pool:
        return pool.map(_generate, jobs)


CH_COLUMNS = [("ts", "UInt64"), ("person", "String"), ("event", "LowCardinality(String)"),
              ("path", "LowCardinality(String)"), ("referrer", "LowCardinality(String)"),
              ("utm", "LowCardinality(String)"), ("device", "LowCardinality(String)"),
              ("duration_ms", "Nullable(Float64)")]


# Visits in ClickHouse: a new visit where a person's previous event is 30 minutes or more back.
VISITS = """
WITH marked AS (
  SELECT person, ts, event, path, referrer, utm, device,
         if(row_number() OVER w = 1 OR ts - lagInFrame(ts) OVER w >= 1800000000, 1, 0) AS new_visit
  FROM bench.events WINDOW w AS (PARTITION BY person ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), numbered AS (
  SELECT *, sum(new_visit) OVER (PARTITION BY person ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS n
  FROM marked
), visits AS (
  SELECT person, n, min(ts) AS start, max(ts) AS finish, countIf(event = '$pageview') AS pageviews,
         countIf(NOT startsWith(event, '$')) AS custom,
         if(pageviews > 0, argMinIf(utm, ts, event = '$pageview'), argMin(utm, ts)) AS first_utm,
         if(pageviews > 0, argMinIf(referrer, ts, event = '$pageview'), argMin(referrer, ts)) AS first_referrer,
         argMin(device, ts) AS device
  FROM numbered GROUP BY person, n
)
"""
IN_RANGE = "WHERE start >= {frm} AND start < {to}"
BOUNCE = "pageviews = 1 AND custom = 0"


def ch_queries(frm: int, to: int) -> dict[str, str]:
    in_range = IN_RANGE.format(frm=frm, to=to)
    metrics = (f"uniqExact(person), count(), sum(pageviews), round(sum(pageviews) / count(), 2), "
               f"round(countIf({BOUNCE}) * 100 / count(), 2), round(sum(if({BOUNCE}, 0, finish - start)) / 1e6 / count(), 2)")
    source = "if(first_utm != '', first_utm, if(first_referrer != '', first_referrer, 'Direct / None'))"
    return {
        "totals": f"{VISITS} SELECT {metrics} FROM visits {in_range}",
        "series": f"{VISITS} SELECT toDate(toDateTime(intDiv(start, 1000000), 'UTC')) AS d, uniqExact(person), count(), "
                  f"sum(pageviews), round(countIf({BOUNCE}) * 100 / count(), 2) FROM visits {in_range} GROUP BY d ORDER BY d",
        "pages": f"""{VISITS}, views AS (SELECT n, person, path FROM numbered WHERE event = '$pageview')
                  SELECT path, uniqExact(v.person) AS visitors, count() AS pageviews FROM views
                  JOIN visits AS v ON v.person = views.person AND v.n = views.n {in_range.replace('start', 'v.start')}
                  GROUP BY path ORDER BY visitors DESC, path LIMIT 10""",
        "sources": f"{VISITS} SELECT {source} AS s, uniqExact(person) AS visitors, count(), "
                   f"round(countIf({BOUNCE}) * 100 / count(), 2) FROM visits {in_range} GROUP BY s ORDER BY visitors DESC, s LIMIT 10",
        "devices": f"{VISITS} SELECT if(device = '', '(none)', device) AS d, uniqExact(person) AS visitors, count() "
                   f"FROM visits {in_range} GROUP BY d ORDER BY visitors DESC, d LIMIT 10",
    }


def ours_as_table(name: str, data: dict) -> list[list]:
    rows = data["rows"]
    if name == "totals":
        r = rows[0]
        return [[r["visitors"], r["visits"], r["pageviews"], r["views_per_visit"], r["bounce_rate"], r["visit_duration"]]]
    if name == "series":
        return [[r["bucket"][:10], r["visitors"], r["visits"], r["pageviews"], r["bounce_rate"]] for r in rows]
    if name == "pages":
        return [[r["key"], r["visitors"], r["pageviews"]] for r in rows]
    if name == "sources":
        return [[r["key"], r["visitors"], r["visits"], r["bounce_rate"]] for r in rows]
    return [[r["key"], r["visitors"], r["visits"]] for r in rows]


def as_numbers(table: list[list]) -> list[list]:
    def cell(v):
        try:
            f = float(v)
        except (TypeError, ValueError):
            return v
        return round(f, 2)
    return [[cell(v) for v in row] for row in table]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--visitors", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="reactor-bench-web-"))
    os.chmod(root, 0o711)
    database = EmbeddedPostgres(root)
    database.start()
    migrate.migrate(database.url)
    service = qb.Service(database.url, root / "data")
    now_us = int(time.time() * 1e6)
    day0 = (now_us // DAY_US - 30) * DAY_US
    frm, to = day0, day0 + 30 * DAY_US
    try:
        with psycopg.connect(database.url) as conn:
            conn.execute("INSERT INTO projects (id, org_id, slug, name) VALUES ('p_web', 'org', 'web', 'web')")
        print(f"generating {args.events:,} events for {args.visitors:,} visitors ...", file=sys.stderr)
        t0 = time.perf_counter()
        parts = generate(args.events, args.visitors, "p_web", root, os.cpu_count() or 2, day0, min(to, now_us - MIN_US))
        total = sum(p[2] for p in parts)
        print(f"  {total:,} events in {time.perf_counter() - t0:.0f} s; loading ...", file=sys.stderr)
        pg_load = qb.load_postgres(database.url, "p_web", parts, root)
        ch, ch_load = qb.load_chdb(parts, CH_COLUMNS)
        print(f"  PostgreSQL {pg_load:.0f} s, ClickHouse {ch_load:.0f} s; starting the service ...", file=sys.stderr)
        service.start()
        span = {"from": datetime.fromtimestamp(frm / 1e6, timezone.utc).isoformat(),
                "to": datetime.fromtimestamp(to / 1e6, timezone.utc).isoformat()}
        bodies = {
            "totals": {"kind": "web", "time_range": span,
                       "metrics": ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration"]},
            "series": {"kind": "web", "time_range": span, "time_bucket": "1d",
                       "metrics": ["visitors", "visits", "pageviews", "bounce_rate"]},
            "pages": {"kind": "web", "time_range": span, "dimension": "page", "metrics": ["visitors", "pageviews"]},
            "sources": {"kind": "web", "time_range": span, "dimension": "source",
                        "metrics": ["visitors", "visits", "bounce_rate"]},
            "devices": {"kind": "web", "time_range": span, "dimension": "device", "metrics": ["visitors", "visits"]},
        }
        first_t, _ = service.query("p_web", bodies["totals"])
        sql = ch_queries(frm, to)
        results = []
        for name, body in bodies.items():
            ours_t, ours = qb.median_time(lambda: service.query("p_web", body)[1], args.runs)
            ch_t, ch_answer = qb.median_time(lambda: qb.ch_rows(ch, sql[name]), args.runs)
            mine, theirs = as_numbers(ours_as_table(name, ours)), as_numbers(ch_answer)
            if mine != theirs:
                print(f"{name} differs:\n  reactor    {mine[:5]}\n  ClickHouse {theirs[:5]}", file=sys.stderr)
            results.append((name, ours_t, ch_t, mine == theirs))
        together_t, _ = qb.median_time(lambda: [service.query("p_web", b) for b in bodies.values()], args.runs)
        # New rows arrive (100 events of new and known visitors, committed as ingest commits them):
        # the next web query merges them into the visits.
        fresh = [{"event": "$pageview", "anonymous_id": f"anon-{i * 997 % args.visitors:07d}",
                  "timestamp": datetime.fromtimestamp((now_us - 2 * MIN_US) / 1e6, timezone.utc).isoformat(),
                  "context": {"page": {"path": "/fresh"}}} for i in range(100)]
        parsed = _native.parse_request(json.dumps({"batch": fresh}).encode(), "batch",
                                       received_at_ms=now_us // 1000, ip=None, user_agent=None, accept_language=None)
        with psycopg.connect(database.url) as conn:
            qb.queries.copy_events(conn, parsed.encode("p_web", "bench", []).copy_rows)
        after_append_t, _ = service.query("p_web", bodies["totals"])
        time.sleep(qb.RELEASE_WAIT_S)
        memory = service.engine_memory()
        # Visits brought up to date in memory are saved and mapped by a seal at most every 30 s
        # (checked every 5 s).
        time.sleep(VISITS_SAVED_S - qb.RELEASE_WAIT_S)
        saved_memory = service.engine_memory()
        # A restart: the columns are mapped from the segments, the visits derived again.
        service.stop()
        cold_t, _ = service.start_to_answer("p_web", bodies["totals"])
        ch_together = sum(r[2] for r in results)
        print()
        print(f"web benchmark — {total:,} events, {args.visitors:,} visitors, 30 days; median of {args.runs} runs; "
              f"HTTP API end to end (JSON included) vs ClickHouse {qb.ch_version(ch)} via chdb, same rows and persons")
        print(f"{'':28}{'reactor':>12}{'ClickHouse':>12}{'ratio':>8}  answers")
        for name, ours_t, ch_t, same in results:
            print(f"{name:28}{ours_t * 1000:>10.1f}ms{ch_t * 1000:>10.0f}ms{ours_t / ch_t:>8.3f}  "
                  f"{'equal' if same else 'DIFFERENT'}")
        print(f"{'the five together':28}{together_t * 1000:>10.1f}ms{ch_together * 1000:>10.0f}ms"
              f"{together_t / ch_together:>8.3f}")
        print(f"first web query after the start (the engine derives the visits): {first_t * 1000:.0f} ms")
        print(f"first web query after 100 new events (merged into the visits): {after_append_t * 1000:.0f} ms")
        print(f"restart to the first web answer: {cold_t:.2f} s (asked every 0.1 s from the launch)")
        per = lambda m: (f"{m['anon'] / total:.1f} B/event own memory (RSS {m['rss'] / 2**20:.0f} MiB, of which "  # noqa: E731
                         f"{m['file'] / 2**20:.0f} MiB mapped segment pages touched)")
        print(f"engine memory {qb.RELEASE_WAIT_S:.0f} s after the web queries and the 100 new events: {per(memory)}; "
              f"{VISITS_SAVED_S:.0f} s after (the visits saved and mapped): {per(saved_memory)}")
        print(f"loading: PostgreSQL COPY {pg_load:.0f} s, ClickHouse {ch_load:.0f} s")
    finally:
        service.stop()
        database.stop("fast")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
