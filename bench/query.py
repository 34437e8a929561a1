"""Query benchmark: the product's engine against ClickHouse (chdb) and hand-written PostgreSQL.

    make bench-query             (or: .venv/bin/python bench/query.py --events 10000000)

One run: generates a realistic dataset (default 10M events, 500k visitors, 30 days, ~30% of
visitors later identified, a 4-step signup funnel with drop-off, Zipf-distributed other events),
loads it through the product's ingest path (the native parser/encoder and the same COPY the
API uses; HTTP is left out only to keep loading under a few minutes), mirrors the same rows
with the same person mapping into ClickHouse via chdb, starts `reactor serve`, and prints, per
query, the median of several runs end to end through the HTTP API (JSON included) next to
ClickHouse, as a ratio, with the answers compared for equality. Also: the funnel in
hand-written PostgreSQL SQL, the first query after a restart (cold), and the engine's memory
per event.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from reactor_analytics import _native
from reactor_analytics.store import migrate, queries
from reactor_analytics.store.embedded import EmbeddedPostgres

ADMIN_TOKEN = "bench-admin-token"
DAY_US = 86_400 * 10**6
# The engine gives a query's working memory back once queries pause for a second
# (query/engine.py RELEASE_AFTER_S); memory is read again after this long.
RELEASE_WAIT_S = 2.0
SESSION_GAP_US = 30 * 60 * 10**6
FUNNEL = ["page_viewed", "signup_started", "signup_completed", "first_deploy"]
OTHER = [f"feature_{i:02d}" for i in range(40)]
ZIPF = [1 / (i + 1) for i in range(len(OTHER))]
PATHS = ["/", "/pricing", "/docs", "/blog", "/app", "/app/settings", "/changelog"]
SOURCES = ["google", "newsletter", "twitter", "hn", "direct"]
PLANS = ["free", "pro", "team"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the dataset ----------------------------------------------------------------------------

def visitor_events(rng: random.Random, v: int, start_us: int, per_visitor: float):
    """(ts_us, distinct_id, event, path, utm_source, plan, anonymous_id, user_id) of one visitor."""
    anon = f"anon-{v:07d}"
    user = f"user-{v:07d}" if rng.random() < 0.30 else None
    t = start_us + int(rng.random() * 27 * DAY_US)
    source = rng.choice(SOURCES)
    plan = rng.choice(PLANS)
    identified = False
    out = []

    def emit(event, path=None):
        who = user if identified else anon
        out.append((t, who, event, path, source if path else None, plan, None if identified else anon,
                    user if identified else None))

    # The funnel, with drop-off.
    if rng.random() < 0.7:
        emit("page_viewed", "/" if rng.random() < 0.8 else rng.choice(PATHS))
        for step, keep in zip(FUNNEL[1:], (0.45, 0.6, 0.5)):
            if rng.random() > keep:
                break
            t += int(rng.expovariate(1 / (0.8 * DAY_US)))
            if step == "signup_completed" and user:
                out.append((t, user, "$identify", None, None, plan, anon, user))
                identified = True
            emit(step)
    if user and not identified and rng.random() < 0.5:
        out.append((t, user, "$identify", None, None, plan, anon, user))
        identified = True
    # Everything else: sessions of page views and Zipf-distributed feature events.
    target = max(1, int(rng.expovariate(1 / per_visitor)))
    while len(out) < target:
        t += int(rng.expovariate(1 / (1.5 * DAY_US)))
        for _ in range(rng.randint(1, 8)):
            t += rng.randint(5, 300) * 10**6
            if rng.random() < 0.4:
                emit("page_viewed", rng.choice(PATHS))
            else:
                emit(rng.choices(OTHER, ZIPF)[0])
    return out


def _generate(args) -> tuple[str, str, int]:
    """One worker: visitors [lo, hi) → COPY rows (through the native ingest encoder) and TSV for chdb."""
    lo, hi, seed, start_us, per_visitor, project_id, out_dir = args
    rng = random.Random(seed)
    copy_path, tsv_path = Path(out_dir) / f"copy-{lo}.txt", Path(out_dir) / f"ch-{lo}.tsv"
    links = {}
    count = 0
    batch = []
    received = int(time.time() * 1000)
    with open(copy_path, "wb") as copy_out, open(tsv_path, "w") as tsv:
        def flush():
            if not batch:
                return
            body = json.dumps({"batch": batch}).encode()
            parsed = _native.parse_request(body, "batch", received_at_ms=received, ip=None, user_agent=None,
                                           accept_language=None)
            copy_out.write(parsed.encode(project_id, "bench", []).copy_rows)
            batch.clear()

        for v in range(lo, hi):
            # Nothing in the future: ingest would clamp it to the receive time.
            visitor = [e for e in visitor_events(rng, v, start_us, per_visitor) if e[0] < received * 1000 - 60 * 10**6]
            # Identity is resolved retroactively: once identified, all the visitor's events are the user's.
            identified_as = next((e[7] for e in visitor if e[2] == "$identify"), None)
            for ts, who, event, path, source, plan, anon, user in visitor:
                e = {"event": event, "timestamp": datetime.fromtimestamp(ts / 1e6, timezone.utc).isoformat(),
                     "properties": {"plan": plan}}
                if anon:
                    e["anonymous_id"] = anon
                if user:
                    e["user_id"] = user
                if path:
                    e["context"] = {"page": {"path": path, "url": f"https://app.example.com{path}?utm_source={source}"}}
                batch.append(e)
                if event == "$identify":
                    links.setdefault(anon, user)
                person = identified_as or who
                tsv.write(f"{ts}\t{person}\t{event}\t{path or ''}\t{source or ''}\t{plan}\n")
                count += 1
                if len(batch) == 100:
                    flush()
        flush()
    (Path(out_dir) / f"links-{lo}.json").write_text(json.dumps(links))
    return str(copy_path), str(tsv_path), count


def generate_and_load(events: int, visitors: int, project_id: str, out_dir: Path, workers: int, start_us: int,
                      db_url: str) -> tuple[list, float, float]:
    """Generate the dataset in parts on `workers` processes while the parts already made are
    COPYed into PostgreSQL (each part's COPY file is removed once loaded: a 100M-event run would
    not fit on a small disk otherwise), then store the identity links. Returns the parts
    (copy file, TSV for ClickHouse, events), the wall time, and the time spent in COPY."""
    # About a tenth of what visitors would do falls after "now" and is not generated; ask for more.
    per_visitor = events / visitors * 1.17
    step = math.ceil(visitors / max(workers * 8, events // 1_000_000))
    jobs = [(lo, min(lo + step, visitors), 1000 + lo, start_us, per_visitor, project_id, str(out_dir))
            for lo in range(0, visitors, step)]
    started, copying, parts = time.perf_counter(), 0.0, []
    with mp.Pool(workers) as pool, psycopg.connect(db_url) as conn:
        for copy_path, tsv_path, count in pool.imap(_generate, jobs):
            t0 = time.perf_counter()
            queries.copy_events(conn, Path(copy_path).read_bytes())
            conn.commit()
            copying += time.perf_counter() - t0
            os.unlink(copy_path)
            parts.append((copy_path, tsv_path, count))
            print(f"  {sum(p[2] for p in parts):,} events loaded ({time.perf_counter() - started:.0f} s)",
                  file=sys.stderr)
        t0 = time.perf_counter()
        store_links(conn, project_id, out_dir)
        copying += time.perf_counter() - t0
    return parts, time.perf_counter() - started, copying


def store_links(conn, project_id: str, out_dir: Path) -> None:
    """The identity links the parts' generators wrote (links-*.json), then ANALYZE."""
    links = {}
    for f in sorted(out_dir.glob("links-*.json")):
        links.update(json.loads(f.read_text()))
    items = list(links.items())
    for i in range(0, len(items), 50_000):
        queries.store_links(conn, project_id, items[i:i + 50_000])
    conn.commit()
    conn.execute("ANALYZE events")


def load_postgres(db_url: str, project_id: str, parts, out_dir: Path) -> float:
    """COPY parts generated beforehand (copy file, TSV, events) into PostgreSQL, then their
    links; the seconds it took."""
    started = time.perf_counter()
    with psycopg.connect(db_url) as conn:
        for copy_path, _, _ in parts:
            queries.copy_events(conn, Path(copy_path).read_bytes())
            conn.commit()
        store_links(conn, project_id, out_dir)
    return time.perf_counter() - started


# --- loading --------------------------------------------------------------------------------

# The mirrored columns, as (name, ClickHouse type); ts and person first.
CH_COLUMNS = [("ts", "UInt64"), ("person", "String"), ("event", "LowCardinality(String)"),
              ("path", "LowCardinality(String)"), ("utm_source", "LowCardinality(String)"),
              ("plan", "LowCardinality(String)")]


def load_chdb(parts, columns=CH_COLUMNS):
    """The TSV parts in a MergeTree table `bench.events` of `columns`, ordered by (person, ts)."""
    from chdb import session

    ch = session.Session()
    ch.query("CREATE DATABASE IF NOT EXISTS bench")
    ch.query(f"CREATE TABLE bench.events ({', '.join(f'{n} {t}' for n, t in columns)}) "
             "ENGINE = MergeTree ORDER BY (person, ts)")
    read_as = ", ".join(f"{n} {t.replace('LowCardinality(String)', 'String')}" for n, t in columns)
    started = time.perf_counter()
    for _, tsv_path, _ in parts:
        ch.query(f"INSERT INTO bench.events SELECT * FROM file('{tsv_path}', 'TSV', '{read_as}')")
    return ch, time.perf_counter() - started


# --- the service ----------------------------------------------------------------------------

class Service:
    def __init__(self, db_url: str, data_dir: Path):
        self.port = free_port()
        self.env = {**os.environ, "REACTOR_DATABASE_URL": db_url, "REACTOR_ANALYTICS_BIND": f"127.0.0.1:{self.port}",
                    "REACTOR_ANALYTICS_WORKERS": "2", "REACTOR_ADMIN_TOKEN": ADMIN_TOKEN,
                    "REACTOR_DATA_DIR": str(data_dir), "REACTOR_TRACING_FILTER": "warning",
                    # Every query here reads the whole dataset: no row budget, and time for 100M.
                    "REACTOR_ANALYTICS_QUERY_MAX_ROWS_SCANNED": "0", "REACTOR_ANALYTICS_QUERY_TIMEOUT_MS": "600000"}
        self.proc = None

    def start(self) -> float:
        started = time.perf_counter()
        self.proc = subprocess.Popen([str(Path(sys.executable).parent / "reactor"), "serve"], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        while True:
            try:
                if self.call("GET", "/health")[0] == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("reactor serve exited")
            time.sleep(0.1)

    def start_to_answer(self, project_id: str, body: dict) -> tuple[float, float]:
        """Start the service and ask `body` every 0.1 s from the moment it is launched: (seconds to
        the first answer, seconds to /health 200, which also waits for the gRPC servers)."""
        started = time.perf_counter()
        self.proc = subprocess.Popen([str(Path(sys.executable).parent / "reactor"), "serve"], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        answered = None
        while True:
            try:
                if answered is None:
                    if self.call("POST", "/analytics/v1/query", {"project_id": project_id, **body})[0] == 200:
                        answered = time.perf_counter() - started
                if answered is not None and self.call("GET", "/health")[0] == 200:
                    return answered, time.perf_counter() - started
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("reactor serve exited")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(60)

    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        conn.request(method, path, json.dumps(body) if body is not None else None,
                     {"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}",
                      **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()

    def wait_engine(self, project_id: str, time_range: dict) -> float:
        """Seconds until the engine answers a query (on a first start it reads every row from
        PostgreSQL before it does)."""
        started = time.perf_counter()
        while True:
            status, raw = self.call("POST", "/analytics/v1/query",
                                  {"project_id": project_id, "kind": "aggregate", "time_range": time_range,
                                   "measure": "count"})
            if status == 200:
                return time.perf_counter() - started
            if status != 503:
                raise RuntimeError(f"the engine answered {status}: {raw[:300]!r}")
            time.sleep(1)

    def engine_stats(self) -> dict:
        status, raw = self.call("GET", "/_admin/doctor")
        return next(c for c in json.loads(raw)["analytics"]["checks"] if c["name"] == "query_engine")["engine"]

    def query(self, project_id: str, body: dict) -> tuple[float, dict]:
        started = time.perf_counter()
        status, raw = self.call("POST", "/analytics/v1/query", {"project_id": project_id, **body})
        elapsed = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"query failed: {status} {raw[:300]!r}")
        return elapsed, json.loads(raw)["data"]

    def engine_memory(self) -> dict[str, int]:
        """The engine process's resident memory from /proc: its own (anonymous) pages and the
        pages of mapped segment files it has touched (the page cache's), in bytes."""
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                env = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue
            if b"engine" in cmd and str(self.env["REACTOR_DATA_DIR"]).encode() in env:
                fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
                kib = lambda name: int(fields[name].split()[0]) * 1024  # noqa: E731
                return {"rss": kib("VmRSS"), "anon": kib("RssAnon"), "file": kib("RssFile")}
        return {"rss": 0, "anon": 0, "file": 0}


# --- the queries, on both sides ------------------------------------------------------------

def rng_iso_of(frm: int, to: int) -> dict:
    return {"from": datetime.fromtimestamp(frm / 1e6, timezone.utc).isoformat(),
            "to": datetime.fromtimestamp(to / 1e6, timezone.utc).isoformat()}


def du(path: Path) -> int:
    """Bytes of the files under `path`, as allocated on disk."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def median_time(fn, runs: int):
    times, answer = [], None
    for _ in range(runs):
        started = time.perf_counter()
        answer = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), answer


def ch_rows(ch, sql: str) -> list[list]:
    return [line.split("\t") for line in str(ch.query(sql, "TSV")).splitlines() if line]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--visitors", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pg-funnel", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the funnel in hand-written PostgreSQL SQL")
    parser.add_argument("--root", type=Path,
                        help="keep the dataset, database and service data here, and use them again when "
                             "a run left them (then --events and --visitors are those of that run)")
    parser.add_argument("--load-only", action="store_true",
                        help="generate and load the dataset into --root, then stop (time it later)")
    args = parser.parse_args()
    if args.load_only and not args.root:
        parser.error("--load-only needs --root")

    root = args.root or Path(tempfile.mkdtemp(prefix="reactor-bench-query-"))
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o711)  # the database user (postgres, when run as root) passes through it
    meta_path = root / "dataset.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    database = EmbeddedPostgres(root)
    database.start()
    service = Service(database.url, root / "data")
    migrate.migrate(database.url)
    if meta:
        day0, args.visitors = meta["day0"], meta["visitors"]
    else:
        day0 = (int(time.time() * 1e6) // DAY_US - 30) * DAY_US
    frm, to = day0, day0 + 30 * DAY_US
    try:
        if meta:
            parts, pg_load, made = [tuple(p) for p in meta["parts"]], meta["pg_load"], meta.get("made")
            total = sum(p[2] for p in parts)
            print(f"using the {total:,} events left in {root}", file=sys.stderr)
        else:
            with psycopg.connect(database.url) as conn:
                conn.execute("INSERT INTO projects (id, org_id, slug, name) VALUES ('p_bench', 'org', 'bench', 'bench')")
            print(f"generating {args.events:,} events for {args.visitors:,} visitors, loading PostgreSQL as parts "
                  "are made ...", file=sys.stderr)
            parts, made, pg_load = generate_and_load(args.events, args.visitors, "p_bench", root,
                                                     os.cpu_count() or 2, day0, database.url)
            total = sum(p[2] for p in parts)
            print(f"  {total:,} events generated and loaded in {made:.0f} s ({pg_load:.0f} s of it in COPY)",
                  file=sys.stderr)
            if args.root:
                meta_path.write_text(json.dumps({"day0": day0, "visitors": args.visitors, "parts": parts,
                                                 "pg_load": pg_load, "made": made}))
        if args.load_only:
            print(f"loaded; PostgreSQL holds {du(root / 'pg') / 2**30:.1f} GiB", file=sys.stderr)
            return
        ch, ch_load = load_chdb(parts)
        print(f"  PostgreSQL {pg_load:.0f} s, ClickHouse {ch_load:.0f} s; starting the service ...", file=sys.stderr)
        warm_start = service.start()
        engine_ready = service.wait_engine("p_bench", rng_iso_of(frm, to))
        rng_iso = rng_iso_of(frm, to)
        window = 7 * DAY_US
        results = []

        # 1. Funnel, 7-day window.
        funnel_body = {"kind": "funnel", "time_range": rng_iso, "conversion_window": "7d",
                       "steps": [{"event": "page_viewed", "filter": {"prop": {"path": {"eq": "/"}}}},
                                 {"event": "signup_started"}, {"event": "signup_completed"},
                                 {"event": "first_deploy"}]}
        ours_t, ours = median_time(lambda: service.query("p_bench", funnel_body)[1], args.runs)
        ch_sql = (f"SELECT level, count() FROM (SELECT person, windowFunnel({window}, 'strict_once')(ts, "
                  f"event = 'page_viewed' AND path = '/' AND ts < {to}, event = 'signup_started', "
                  f"event = 'signup_completed', event = 'first_deploy') AS level FROM bench.events "
                  f"WHERE ts >= {frm} AND ts < {to + window} GROUP BY person) GROUP BY level")
        ch_t, ch_answer = median_time(lambda: ch_rows(ch, ch_sql), args.runs)
        levels = {int(level): int(n) for level, n in ch_answer}
        ch_counts = [sum(n for level, n in levels.items() if level >= k) for k in range(1, 5)]
        our_counts = [s["count"] for s in ours["rows"][0]["steps"]]
        results.append(("4-step funnel, 7-day window", ours_t, ch_t, our_counts == ch_counts,
                        f"{our_counts} vs {ch_counts}"))

        # 2. Weekly retention over 4 weeks.
        week_to = frm + 28 * DAY_US
        retention_body = {"kind": "retention", "cohort_event": "signup_completed", "return_event": "page_viewed",
                          "period": "week", "periods": 4,
                          "time_range": {"from": rng_iso["from"],
                                         "to": datetime.fromtimestamp(week_to / 1e6, timezone.utc).isoformat()}}
        ours_t, ours = median_time(lambda: service.query("p_bench", retention_body)[1], args.runs)
        wk = "toMonday(toDateTime(intDiv(ts, 1000000), 'UTC'))"
        ch_sql = (f"WITH p AS (SELECT person, minIf({wk}, event = 'signup_completed' AND ts < {week_to}) AS c, "
                  f"groupUniqArrayIf({wk}, event = 'page_viewed') AS weeks FROM bench.events WHERE ts >= {frm} "
                  f"AND event IN ('signup_completed', 'page_viewed') GROUP BY person "
                  f"HAVING countIf(event = 'signup_completed' AND ts < {week_to}) > 0) "
                  f"SELECT c, count(), countIf(has(weeks, c + 7)), countIf(has(weeks, c + 14)), "
                  f"countIf(has(weeks, c + 21)) FROM p GROUP BY c ORDER BY c")
        ch_t, ch_answer = median_time(lambda: ch_rows(ch, ch_sql), args.runs)
        ours_table = [[r["cohort"][:10], *r["returned"]] for r in ours["rows"]]
        ch_table = [[c, int(n), int(a), int(b), int(d)] for c, n, a, b, d in ch_answer]
        if ours_table != ch_table:
            print("retention differs:", ours_table, ch_table, file=sys.stderr)
        results.append(("weekly retention, 4 weeks", ours_t, ch_t, ours_table == ch_table,
                        f"{len(ours_table)} cohorts"))

        # 3. Daily unique users with a property filter.
        dau_body = {"kind": "aggregate", "time_range": rng_iso, "measure": "unique_users", "time_bucket": "1d",
                    "filter": {"prop": {"plan": {"eq": "pro"}}}}
        ours_t, ours = median_time(lambda: service.query("p_bench", dau_body)[1], args.runs)
        ch_sql = (f"SELECT toDate(toDateTime(intDiv(ts, 1000000), 'UTC')) AS d, uniqExact(person) FROM bench.events "
                  f"WHERE ts >= {frm} AND ts < {to} AND plan = 'pro' GROUP BY d ORDER BY d")
        ch_t, ch_answer = median_time(lambda: ch_rows(ch, ch_sql), args.runs)
        ours_daily = {r["bucket"][:10]: r["value"] for r in ours["rows"] if r["value"]}
        ch_daily = {d: int(n) for d, n in ch_answer}
        results.append(("daily unique users, plan = pro", ours_t, ch_t, ours_daily == ch_daily,
                        f"{len(ch_daily)} days"))

        # 4. Top-10 breakdown.
        top_body = {"kind": "breakdown", "time_range": rng_iso, "prop": "path", "limit": 10,
                    "filter": {"event": {"eq": "page_viewed"}}}
        ours_t, ours = median_time(lambda: service.query("p_bench", top_body)[1], args.runs)
        ch_sql = (f"SELECT path, count() AS n FROM bench.events WHERE ts >= {frm} AND ts < {to} "
                  f"AND event = 'page_viewed' GROUP BY path ORDER BY n DESC, path LIMIT 10")
        ch_t, ch_answer = median_time(lambda: ch_rows(ch, ch_sql), args.runs)
        ours_top = [[r["key"], r["value"]] for r in ours["rows"]]
        ch_top = [[k or "(none)", int(n)] for k, n in ch_answer]
        results.append(("top-10 breakdown (path of page views)", ours_t, ch_t, ours_top == ch_top, ""))

        # 5. Paths: four items from each session's first signup_started (sessions split at 30 minutes).
        path_body = {"kind": "path", "time_range": rng_iso, "start_event": "signup_started", "depth": 4,
                     "limit": 10, "filter": {"event": {"neq": "$identify"}}}
        ours_t, ours = median_time(lambda: service.query("p_bench", path_body)[1], args.runs)
        ch_sql = (f"WITH persons AS (SELECT arraySort(x -> x.1, groupArray((ts, event))) AS evs FROM bench.events "
                  f"WHERE ts >= {frm} AND ts < {to} AND event != '$identify' GROUP BY person) "
                  f"SELECT arrayStringConcat(items, ' > '), count() AS n FROM (SELECT arrayMap(x -> x.2, session) AS names, "
                  f"arrayFilter((e, i) -> i = 1 OR e != names[i - 1], names, arrayEnumerate(names)) AS collapsed, "
                  f"indexOf(collapsed, 'signup_started') AS at, arraySlice(collapsed, at, 4) AS items FROM persons "
                  f"ARRAY JOIN arraySplit((x, gap) -> gap, evs, arrayMap(d -> d >= {SESSION_GAP_US}, "
                  f"arrayDifference(arrayMap(x -> x.1, evs)))) AS session WHERE at > 0) "
                  f"GROUP BY items ORDER BY n DESC, items LIMIT 10")
        ch_t, ch_answer = median_time(lambda: ch_rows(ch, ch_sql), args.runs)
        ours_paths = [[" > ".join(r["path"]), r["count"]] for r in ours["rows"]]
        ch_paths = [[k, int(n)] for k, n in ch_answer]
        if ours_paths != ch_paths:
            print("paths differ:", ours_paths, ch_paths, file=sys.stderr)
        results.append(("top-10 paths after signup_started", ours_t, ch_t, ours_paths == ch_paths,
                        f"{sum(n for _, n in ch_paths):,} sessions"))

        pg_funnel = None
        if args.pg_funnel:
            pg_funnel = time_pg_funnel(database.url, frm, to, window)

        warm_memory = service.engine_memory()
        time.sleep(RELEASE_WAIT_S)
        rest_memory = service.engine_memory()
        engine_stats = service.engine_stats()

        # Cold: restart the whole service (the engine maps its segments and reads what is newer),
        # then the first funnel.
        service.stop()
        cold_total, cold_health = service.start_to_answer("p_bench", funnel_body)
        cold_stats = service.engine_stats()
        cold_memory = service.engine_memory()
        cold_firsts = [service.query("p_bench", body)[0] for body in (retention_body, dau_body, top_body, path_body)]
        queried_memory = service.engine_memory()
        time.sleep(RELEASE_WAIT_S)
        queried_rest = service.engine_memory()

        print()
        print(f"query benchmark — {total:,} events, {args.visitors:,} visitors, 30 days; median of {args.runs} runs; "
              f"HTTP API end to end (JSON included) vs ClickHouse {ch_version(ch)} via chdb, same rows and persons")
        print(f"{'':40}{'reactor':>12}{'ClickHouse':>12}{'ratio':>8}  answers")
        for name, ours_t, ch_t, same, note in results:
            print(f"{name:40}{ours_t * 1000:>10.0f}ms{ch_t * 1000:>10.0f}ms{ours_t / ch_t:>8.2f}  "
                  f"{'equal' if same else 'DIFFERENT'} {note}")
        if pg_funnel is not None:
            funnel_t = results[0][1]
            print(f"{'funnel in hand-written PostgreSQL SQL':40}{pg_funnel * 1000:>10.0f}ms"
                  f"{'':12}  reactor is {pg_funnel / funnel_t:.1f}x faster")
        print(f"cold: service restart to the first funnel answer {cold_total:.2f} s (asked every 0.1 s from the launch; "
              f"/health 200 after {cold_health:.2f} s; "
              f"{cold_stats['opened_rows']:,} rows mapped from segments, {cold_stats['rows'] - cold_stats['opened_rows']:,} "
              f"read from PostgreSQL; the engine answered {cold_stats['load_seconds']:.2f} s after it started)")
        per = lambda m: (f"{m['anon'] / total:.1f} B/event own memory (RSS {m['rss'] / 2**20:.0f} MiB, of which "  # noqa: E731
                         f"{m['file'] / 2**20:.0f} MiB mapped segment pages touched)")
        print("after the restart, the first retention, daily uniques, breakdown and paths took "
              + ", ".join(f"{t * 1000:.0f} ms" for t in cold_firsts))
        print(f"engine memory right after the timed runs: {per(warm_memory)}; {RELEASE_WAIT_S:.0f} s later: "
              f"{per(rest_memory)}; segments on disk {engine_stats['mapped_bytes'] / total:.0f} B/event, columns in "
              f"own memory {engine_stats['bytes'] / total:.1f} B/event")
        print(f"engine memory after the restart: {per(cold_memory)}; right after one query of each kind: "
              f"{per(queried_memory)}; {RELEASE_WAIT_S:.0f} s later: {per(queried_rest)}")
        made = f"generated and loaded in {made:.0f} s, " if made else ""
        print(f"loading: {made}PostgreSQL COPY {pg_load:.0f} s, ClickHouse {ch_load:.0f} s; first start "
              f"{warm_start:.1f} s, the engine answered {engine_ready:.1f} s later")
        ch_bytes = int(ch_rows(ch, "SELECT sum(bytes_on_disk) FROM system.parts "
                                   "WHERE active AND database = 'bench' AND table = 'events'")[0][0])
        print(f"disk: PostgreSQL {du(root / 'pg') / 2**30:.1f} GiB, segments {du(root / 'data' / 'segments') / 2**30:.1f} GiB "
              f"({du(root / 'data' / 'segments') / total:.1f} B/event: every row's columns, seq and properties, and the "
              f"saved property columns), ClickHouse's table {ch_bytes / total:.1f} B/event (only the {len(CH_COLUMNS)} "
              f"columns these queries read), its input (TSV) {sum(Path(p[1]).stat().st_size for p in parts) / 2**30:.1f} GiB")
    finally:
        service.stop()
        database.stop("fast")
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)


def ch_version(ch) -> str:
    return str(ch.query("SELECT version()", "TSV")).strip()


def time_pg_funnel(db_url: str, frm: int, to: int, window: int) -> float:
    """The same funnel as the best plain SQL we could write: person resolution, then per attempt the
    earliest next step inside the window (LATERAL joins over an index), then the best attempt per person."""
    sql = """
    CREATE TEMP TABLE fe AS
      SELECT coalesce(l.user_id, e.distinct_id) AS person, e.event, e.ts, e.path
      FROM events e LEFT JOIN identity_links l ON l.project_id = e.project_id AND l.anonymous_id = e.distinct_id
      WHERE e.project_id = 'p_bench' AND e.ts >= %(frm)s AND e.ts < %(hi)s
        AND e.event IN ('page_viewed', 'signup_started', 'signup_completed', 'first_deploy');
    CREATE INDEX ON fe (person, event, ts);
    ANALYZE fe;
    """
    query = """
    WITH attempts AS (
      SELECT s1.person, s1.ts AS t1, s2.ts AS t2, s3.ts AS t3, s4.ts AS t4
      FROM fe s1
      LEFT JOIN LATERAL (SELECT ts FROM fe WHERE person = s1.person AND event = 'signup_started'
                         AND ts >= s1.ts AND ts <= s1.ts + %(w)s ORDER BY ts LIMIT 1) s2 ON true
      LEFT JOIN LATERAL (SELECT ts FROM fe WHERE person = s1.person AND event = 'signup_completed'
                         AND ts >= s2.ts AND ts <= s1.ts + %(w)s ORDER BY ts LIMIT 1) s3 ON true
      LEFT JOIN LATERAL (SELECT ts FROM fe WHERE person = s1.person AND event = 'first_deploy'
                         AND ts >= s3.ts AND ts <= s1.ts + %(w)s ORDER BY ts LIMIT 1) s4 ON true
      WHERE s1.event = 'page_viewed' AND s1.path = '/' AND s1.ts < %(to)s
    ), best AS (
      SELECT person, max(1 + (t2 IS NOT NULL)::int + (t3 IS NOT NULL)::int + (t4 IS NOT NULL)::int) AS level
      FROM attempts GROUP BY person
    )
    SELECT count(*) FILTER (WHERE level >= 1), count(*) FILTER (WHERE level >= 2),
           count(*) FILTER (WHERE level >= 3), count(*) FILTER (WHERE level >= 4) FROM best
    """
    as_ts = {"frm": datetime.fromtimestamp(frm / 1e6, timezone.utc), "to": datetime.fromtimestamp(to / 1e6, timezone.utc),
             "hi": datetime.fromtimestamp((to + window) / 1e6, timezone.utc), "w": f"{window // 10**6} seconds"}
    with psycopg.connect(db_url) as conn:
        conn.execute("SET work_mem = '256MB'")
        started = time.perf_counter()
        with conn.cursor() as cur:
            for statement in sql.split(";"):
                if statement.strip():
                    cur.execute(statement, as_ts)
            cur.execute(query.replace("%(w)s", "%(w)s::interval"), as_ts)
            cur.fetchall()
        elapsed = time.perf_counter() - started
        conn.rollback()
    return elapsed


if __name__ == "__main__":
    main()
