"""Ingest benchmark: HTTP /batch and /track through gunicorn, against the PostgreSQL COPY ceiling.

    make bench-ingest            (or: .venv/bin/python bench/ingest.py --events 200000)

In one run it starts its own PostgreSQL, loads realistic events (varied names, properties,
user agents, unique message ids) and prints:
  * COPY ceiling: the same rows, encoded beforehand, in plain `COPY … FROM STDIN` into the events
    table with the same indexes (two COPYs of half the rows, taking turns with the HTTP and gRPC
    runs; after each, the query engine reads the rows and a CHECKPOINT writes them out before the
    service is timed again, so the service pays neither for reading nor for flushing them);
  * HTTP /batch events/s at peak (closed loop), and p50/p99 batch latency at 80% of that peak
    (open loop, paced, for --paced-seconds: long enough to hold the kernel's periodic write-back
    of the service's own pages, which a run of a few seconds either misses or is all about),
    and the p99 of its 5-s windows with and without such a write-back, sampled from /proc/vmstat;
  * HTTP /track single-event requests/s with p50/p99;
  * gRPC `Batch` events/s at peak (closed loop, same events, a JWT as server callers use);
and the ratios HTTP / COPY and gRPC / COPY.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from reactor_analytics import _native  # noqa: E402
from reactor_analytics.store import migrate, queries  # noqa: E402
from reactor_analytics.store.embedded import EmbeddedPostgres  # noqa: E402

ADMIN_TOKEN = "bench-admin-token"
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
]
EVENTS = ["$pageview"] * 6 + ["signup_started", "signup_completed", "checkout_completed", "button_clicked",
                              "search", "video_played", "$session_start", "feature_used"]
PATHS = ["/", "/pricing", "/docs", "/blog/launch", "/signup", "/app/dashboard", "/app/settings"]
SOURCES = [None, "google", "newsletter", "twitter", "hn"]
TIMEZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Europe/London", "America/Sao_Paulo"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_event(rng: random.Random) -> dict:
    name = rng.choice(EVENTS)
    path = rng.choice(PATHS)
    source = rng.choice(SOURCES)
    url = f"https://app.example.com{path}" + (f"?utm_source={source}&utm_medium=cpc" if source else "")
    event = {
        "event": name,
        "anonymous_id": f"anon-{rng.randrange(50_000):05d}",
        "message_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "properties": {"plan": rng.choice(["free", "pro", "team"]), "amount": round(rng.random() * 100, 2),
                       "items": rng.randrange(1, 9), "ab_variant": rng.choice("ABC"),
                       "title": f"Page {rng.randrange(100)}"},
        "context": {"page": {"url": url, "path": path, "referrer": rng.choice(
            ["", "https://www.google.com/", "https://news.ycombinator.com/item?id=1"])},
            "user_agent": rng.choice(USER_AGENTS), "locale": rng.choice(["en-US", "de-DE", "fr-FR", "ja-JP"]),
            "timezone": rng.choice(TIMEZONES), "library": {"name": "reactor-js", "version": "0.1.0"},
            "session_id": f"s-{rng.randrange(100_000)}"},
    }
    if rng.random() < 0.3:
        event["user_id"] = f"u_{rng.randrange(20_000)}"
    return event


def batches(count: int, size: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [json.dumps({"batch": [make_event(rng) for _ in range(size)]}).encode() for _ in range(count // size)]


def admin(url: str, method: str, path: str, body: dict) -> dict:
    conn = http.client.HTTPConnection(url.split("//")[1], timeout=30)
    conn.request(method, path, json.dumps(body), {"Content-Type": "application/json",
                                                 "Authorization": f"Bearer {ADMIN_TOKEN}"})
    return json.loads(conn.getresponse().read())


# --- load generation ---------------------------------------------------------------------

def _client(host: str, port: int, path: str, bodies: list[bytes], key: str, interval: float,
            out: mp.Queue, start_at: float, phase: float = 0.0) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    headers = {"Content-Type": "application/json", "X-Reactor-Project-Key": key}
    latencies, late, sent, failures = [], [], [], 0
    while time.time() < start_at:
        time.sleep(0.001)
    cpu = time.process_time()
    clock_offset = time.perf_counter() - time.time()  # sends are reported on the wall clock
    next_send = time.perf_counter() + phase
    for body in bodies:
        scheduled = next_send if interval else None
        if interval:
            delay = next_send - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            next_send += interval
        t0 = time.perf_counter()
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        response.read()
        done = time.perf_counter()
        latencies.append(done - t0)
        sent.append(t0 - clock_offset)
        # Paced, a batch sent late because the one before it was slow also counts its wait.
        late.append(done - min(t0, scheduled) if interval else done - t0)
        if response.status != 200:
            failures += 1
    out.put((latencies, failures, time.process_time() - cpu, late, sent))


def _copy_client(db_url: str, rows: list[bytes], interval: float, out: mp.Queue, start_at: float,
                 phase: float) -> None:
    """The plain peer: COPY each batch straight into events and COMMIT, at the same pacing."""
    latencies = []
    with psycopg.connect(db_url) as conn:
        while time.time() < start_at:
            time.sleep(0.001)
        next_send = time.perf_counter() + phase
        for chunk in rows:
            delay = next_send - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            next_send += interval
            t0 = time.perf_counter()
            with conn.cursor().copy(f"COPY events ({queries.EVENT_COLUMNS}) FROM STDIN") as copy:
                copy.write(chunk)
            conn.commit()
            latencies.append(time.perf_counter() - t0)
    out.put(latencies)


def run_copy_paced(db_url: str, rows: list[bytes], clients: int, rate: float) -> dict:
    out: mp.Queue = mp.Queue()
    interval = clients / rate
    start_at = time.time() + 0.5
    procs = [mp.Process(target=_copy_client, args=(db_url, rows[i::clients], interval, out, start_at,
                                                   i * interval / clients)) for i in range(clients)]
    for proc in procs:
        proc.start()
    latencies = sorted(l for _ in procs for l in out.get())
    for proc in procs:
        proc.join()
    return {"requests": len(latencies), "p50_ms": quantile_ms(latencies, 0.50),
            "p99_ms": quantile_ms(latencies, 0.99), "seconds": time.time() - start_at}


def quantile_ms(ordered: list[float], q: float) -> float:
    """The q-quantile of sorted latencies in seconds, in milliseconds."""
    return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def run_load(url: str, path: str, bodies: list[bytes], key: str, clients: int, rate: float | None = None) -> dict:
    host, port = url.split("//")[1].split(":")
    out: mp.Queue = mp.Queue()
    shares = [bodies[i::clients] for i in range(clients)]
    interval = (clients / rate) if rate else 0.0
    start_at = time.time() + 0.5
    # Paced clients take turns (client i sends i/clients of an interval after client 0), so the
    # offered load is a steady rate, not a burst of every client at once.
    procs = [mp.Process(target=_client, args=(host, int(port), path, share, key, interval, out, start_at,
                                              i * interval / clients))
             for i, share in enumerate(shares)]
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    started = start_at
    elapsed = max(time.time() - started, 1e-9)
    latencies = sorted(l for r in results for l in r[0])
    from_schedule = sorted(l for r in results for l in r[3])
    return {"requests": len(latencies), "failures": sum(r[1] for r in results), "seconds": elapsed,
            "client_cpu_s": sum(r[2] for r in results), "rps": len(latencies) / elapsed,
            "p50_ms": quantile_ms(latencies, 0.50), "p90_ms": quantile_ms(latencies, 0.90),
            "p99_ms": quantile_ms(latencies, 0.99), "max_ms": 1000 * latencies[-1],
            "scheduled_p99_ms": quantile_ms(from_schedule, 0.99),
            "answers": [(at, latency) for r in results for at, latency in zip(r[4], r[0])]}


def _grpc_requests(bodies: list[bytes], slug: str) -> list[bytes]:
    """The same batches as gRPC BatchRequests, serialised before the clock starts."""
    from reactor_analytics.rpc.gen import analytics_pb2 as pb

    requests = []
    for body in bodies:
        events = [pb.Event(event=e["event"], anonymous_id=e.get("anonymous_id", ""), user_id=e.get("user_id", ""),
                           message_id=e["message_id"], properties=json.dumps(e["properties"]).encode(),
                           context=json.dumps(e["context"]).encode()) for e in json.loads(body)["batch"]]
        requests.append(pb.BatchRequest(project=slug, events=events).SerializeToString())
    return requests


def _grpc_client(target: str, token: str, requests: list[bytes], out: mp.Queue, start_at: float) -> None:
    import grpc

    from reactor_analytics.rpc.gen import analytics_pb2 as pb

    with grpc.insecure_channel(target) as channel:
        batch = channel.unary_unary("/reactor.analytics.v1.Analytics/Batch", request_serializer=None,
                                    response_deserializer=pb.IngestReply.FromString)
        metadata = (("authorization", f"Bearer {token}"),)
        latencies, failures = [], 0
        while time.time() < start_at:
            time.sleep(0.001)
        cpu = time.process_time()
        for request in requests:
            t0 = time.perf_counter()
            try:
                batch(request, metadata=metadata, timeout=60)
            except grpc.RpcError:
                failures += 1
            latencies.append(time.perf_counter() - t0)
        cpu = time.process_time() - cpu
    out.put((latencies, failures, cpu))


def run_grpc_load(target: str, token: str, requests: list[bytes], clients: int) -> dict:
    out: mp.Queue = mp.Queue()
    start_at = time.time() + 0.5
    procs = [mp.Process(target=_grpc_client, args=(target, token, requests[i::clients], out, start_at))
             for i in range(clients)]
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = max(time.time() - start_at, 1e-9)
    latencies = sorted(l for r in results for l in r[0])
    return {"requests": len(latencies), "failures": sum(r[1] for r in results), "rps": len(latencies) / elapsed,
            "seconds": elapsed, "client_cpu_s": sum(r[2] for r in results),
            "p50_ms": quantile_ms(latencies, 0.50), "p99_ms": quantile_ms(latencies, 0.99)}


def service_cpu(group: int) -> dict[str, float]:
    """CPU seconds used so far by the service's processes (the process group of `reactor serve`):
    the web workers and the gRPC servers."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {"web": 0.0, "grpc": 0.0}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) != group:  # pgrp
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        if "cli.main grpc" in cmdline:
            used["grpc"] += seconds
        elif "reactor serve" in cmdline:
            used["web"] += seconds
    return used


class WriteBack:
    """Samples the kernel's dirty page count (Linux /proc/vmstat) while a run goes on, to tell
    which moments of it the kernel spent writing back dirty pages: then every commit's fdatasync
    waits for that write-back on a disk with a volatile write cache."""

    def __init__(self, every: float = 0.2):
        self.every, self.samples, self._stop = every, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def dirty_mb() -> float | None:
        try:
            for line in Path("/proc/vmstat").read_text().splitlines():
                name, value = line.split()
                if name == "nr_dirty":
                    return int(value) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except OSError:
            return None
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self.dirty_mb()))
            self._stop.wait(self.every)

    def __enter__(self) -> "WriteBack":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def written_mb(self, start: float, end: float) -> float:
        """MB by which the dirty page count fell between start and end (what was written back)."""
        inside = [mb for at, mb in self.samples if start <= at < end and mb is not None]
        return sum(max(0.0, a - b) for a, b in zip(inside, inside[1:]))


def by_window(answers: list[tuple[float, float]], writeback: WriteBack, seconds: float = 5.0,
              burst_mb: float = 32.0) -> dict | None:
    """The paced run in windows of `seconds`: the p99 of the windows in which the kernel wrote
    back at least `burst_mb` of dirty pages, and the p99 of all the others."""
    if not answers or not writeback.samples or writeback.samples[0][1] is None:
        return None
    start = min(at for at, _ in answers)
    windows: dict[int, list[float]] = {}
    for at, latency in answers:
        windows.setdefault(int((at - start) // seconds), []).append(latency)
    burst, quiet = [], []
    for index, latencies in windows.items():
        begin = start + index * seconds
        (burst if writeback.written_mb(begin, begin + seconds) >= burst_mb else quiet).append(latencies)
    pooled = lambda groups: quantile_ms(sorted(l for g in groups for l in g), 0.99) if groups else None  # noqa: E731
    return {"windows": len(windows), "burst_windows": len(burst), "burst_mb": burst_mb, "seconds": seconds,
            "burst_p99_ms": pooled(burst), "quiet_p99_ms": pooled(quiet)}


def combined(runs: list[dict]) -> dict:
    """Several runs as one: requests over total time; latency quantiles weighted by requests."""
    requests = sum(r["requests"] for r in runs)
    weight = lambda key: sum(r[key] * r["requests"] for r in runs) / requests  # noqa: E731
    return {"requests": requests, "failures": sum(r["failures"] for r in runs),
            "rps": requests / sum(r["seconds"] for r in runs), "p50_ms": weight("p50_ms"),
            "p99_ms": max(r["p99_ms"] for r in runs), "client_cpu_s": sum(r["client_cpu_s"] for r in runs)}


# --- the COPY ceiling --------------------------------------------------------------------

ONE_INDEX_TABLE = "copy_one_index"


def create_one_index_table(db_url: str) -> None:
    """The physical reference: the events table's columns with a single index (the idempotency key)."""
    with psycopg.connect(db_url) as conn:
        conn.execute(f"CREATE TABLE {ONE_INDEX_TABLE} (LIKE events INCLUDING DEFAULTS INCLUDING IDENTITY)")
        conn.execute(f"ALTER TABLE {ONE_INDEX_TABLE} ADD PRIMARY KEY (project_id, message_id)")


def encode_bodies(project_id: str, bodies: list[bytes]) -> list[bytes]:
    now_ms = int(time.time() * 1000)
    return [_native.parse_request(b, "batch", received_at_ms=now_ms, ip="203.0.113.9", user_agent=None,
                                  accept_language=None).encode(project_id, "copy", []).copy_rows for b in bodies]


def copy_ceiling(db_url: str, project_id: str, bodies: list[bytes], table: str = "events") -> dict:
    encoded = b"".join(encode_bodies(project_id, bodies))
    rows = encoded.count(b"\n")
    with psycopg.connect(db_url) as conn:
        t0 = time.perf_counter()
        with conn.cursor().copy(f"COPY {table} ({queries.EVENT_COLUMNS}) FROM STDIN") as copy:
            copy.write(encoded)
        conn.commit()
        elapsed = time.perf_counter() - t0
    return {"rows": rows, "seconds": elapsed}


def settle_after_ceiling(url: str, db_url: str, project_id: str, rows: int) -> None:
    """Settle the ceiling's debts before the service is timed again, so it pays for none of them:
    wait until the query engine has read what the COPY wrote (a query reads everything committed)
    and counts all `rows` written so far; then CHECKPOINT, which writes the COPY's pages out now
    rather than when the kernel flushes them, some 30 s later, in the middle of a service run."""
    answer = admin(url, "POST", "/analytics/v1/query", {"project_id": project_id, "kind": "aggregate",
                                                       "time_range": {"last": "1d"}})
    counted = sum(row["value"] for row in answer["data"]["rows"])
    if counted != rows:
        raise SystemExit(f"the engine counts {counted:,} of the ceiling's {rows:,} rows")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="events for the /batch runs")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--clients", type=int, default=6, help="concurrent HTTP clients")
    parser.add_argument("--track-requests", type=int, default=10_000)
    parser.add_argument("--paced-seconds", type=float, default=60.0,
                        help="length of the run at 80%% of peak")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="reactor-bench-"))
    os.chmod(root, 0o711)  # the database user (postgres, when run as root) passes through it
    database = EmbeddedPostgres(root)
    database.init()
    # The service's role is no superuser; the bench's CHECKPOINTs (see settle_after_ceiling) need this.
    database._single_user(database.pgdata, "postgres", ["GRANT pg_checkpoint TO reactor"])
    database.start()
    migrate.migrate(database.url)
    port = free_port()
    grpc_target = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "REACTOR_DATABASE_URL": database.url, "REACTOR_ANALYTICS_BIND": f"127.0.0.1:{port}",
           "REACTOR_GRPC_BIND": grpc_target, "REACTOR_ANALYTICS_RATE_LIMIT_PER_SECOND": "0",
           "REACTOR_ANALYTICS_WORKERS": str(args.workers), "REACTOR_ADMIN_TOKEN": ADMIN_TOKEN,
           "REACTOR_DATA_DIR": str(root / "data"), "REACTOR_TRACING_FILTER": "warning",
           "REACTOR_DATABASE_POOL_MIN": "1", "REACTOR_DATABASE_POOL_MAX": "4",
           # The bench's projects share one org and send more than the default month's quota.
           "REACTOR_ANALYTICS_QUOTA_PER_ORG_MONTHLY": "1000000000"}
    server = subprocess.Popen([str(Path(sys.executable).parent / "reactor"), "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        http_project = admin(url, "POST", "/analytics/v1/projects", {"slug": "bench-http"})["data"]
        key = admin(url, "POST", "/analytics/v1/projects/bench-http/keys", {"name": "bench"})["data"]["key"]
        copy_project = admin(url, "POST", "/analytics/v1/projects", {"slug": "bench-copy"})["data"]
        grpc_project = admin(url, "POST", "/analytics/v1/projects", {"slug": "bench-grpc"})["data"]
        token = admin(url, "POST", "/_admin/tokens", {"sub": "bench", "permissions": [
            "analytics:bench-grpc:ingest"]})["data"]["token"]

        print(f"generating {args.events:,} events ...", file=sys.stderr)
        warm = batches(5_000, 100, seed=1)
        peak_bodies = batches(args.events, 100, seed=2)
        copy_bodies = batches(args.events, 100, seed=4)
        rng = random.Random(5)
        track_bodies = [json.dumps(make_event(rng)).encode() for _ in range(args.track_requests)]
        grpc_requests = _grpc_requests(batches(args.events, 100, seed=6), "bench-grpc")

        # Both transports warm up (connections, pools, first calls) before anything is timed.
        run_load(url, "/analytics/v1/batch", warm, key, args.clients)
        grpc_warm = _grpc_requests(warm, "bench-grpc")
        run_grpc_load(grpc_target, token, grpc_warm, args.clients)
        # COPY, HTTP and gRPC take turns, half the batches each time, so none always meets the
        # bigger table, the later checkpoints or a quieter moment of a shared machine.
        create_one_index_table(database.url)
        half, halves, copies, one_index = len(peak_bodies) // 2, [], [], []
        cpu = {"web": 0.0, "grpc": 0.0}
        for part in (slice(0, half), slice(half, None)):
            copies.append(copy_ceiling(database.url, copy_project["id"], copy_bodies[part]))
            one_index.append(copy_ceiling(database.url, copy_project["id"], copy_bodies[part], ONE_INDEX_TABLE))
            settle_after_ceiling(url, database.url, copy_project["id"], sum(c["rows"] for c in copies))
            before = service_cpu(server.pid)["web"]
            http_run = run_load(url, "/analytics/v1/batch", peak_bodies[part], key, args.clients)
            cpu["web"] += service_cpu(server.pid)["web"] - before
            before = service_cpu(server.pid)["grpc"]
            grpc_run = run_grpc_load(grpc_target, token, grpc_requests[part], args.clients)
            cpu["grpc"] += service_cpu(server.pid)["grpc"] - before
            halves.append((http_run, grpc_run))
        copy = {"events_per_s": sum(c["rows"] for c in copies) / sum(c["seconds"] for c in copies)}
        one_copy = sum(c["rows"] for c in one_index) / sum(c["seconds"] for c in one_index)
        peak = combined([h for h, _ in halves])
        grpc_peak = combined([g for _, g in halves])
        peak_events = peak["rps"] * 100
        grpc_events = grpc_peak["rps"] * 100
        print(f"generating {0.8 * peak_events * args.paced_seconds:,.0f} events for the paced run ...", file=sys.stderr)
        paced_bodies = batches(int(0.8 * peak_events * args.paced_seconds), 100, seed=3)
        with WriteBack() as writeback:
            paced = run_load(url, "/analytics/v1/batch", paced_bodies, key, args.clients, rate=0.8 * peak["rps"])
        windows = by_window(paced["answers"], writeback)
        # The plain peer at the same pacing: other rows (fresh message ids), each batch COPYed and COMMITted.
        plain_rows = encode_bodies(copy_project["id"], batches(len(paced_bodies) * 100, 100, seed=8))
        plain = run_copy_paced(database.url, plain_rows, args.clients, rate=0.8 * peak["rps"])
        track = run_load(url, "/analytics/v1/track", track_bodies, key, args.clients)

        with psycopg.connect(database.url) as conn:
            stored = conn.execute("SELECT count(*) FROM events WHERE project_id = %s",
                                  (http_project["id"],)).fetchone()[0]
            grpc_stored = conn.execute("SELECT count(*) FROM events WHERE project_id = %s",
                                       (grpc_project["id"],)).fetchone()[0]
        expected = (len(warm) + len(peak_bodies) + len(paced_bodies)) * 100 + len(track_bodies)

        print()
        print(f"ingest benchmark — {os.cpu_count()} cores, {args.workers} gunicorn workers, {args.clients} clients")
        print(f"{'':44}{'reactor HTTP':>16}{'PostgreSQL COPY':>18}{'ratio':>8}")
        print(f"{'/batch of 100, events/s (peak)':44}{peak_events:>16,.0f}{copy['events_per_s']:>18,.0f}"
              f"{peak_events / copy['events_per_s']:>8.2f}")
        print(f"{'  vs COPY into a one-index table':44}{peak_events:>16,.0f}{one_copy:>18,.0f}"
              f"{peak_events / one_copy:>8.2f}   (the events columns, primary key only)")
        print(f"{'/batch p50 / max-p99 ms at peak':44}{peak['p50_ms']:>8.1f} /{peak['p99_ms']:>6.1f}")
        print(f"{'/batch p50 / p90 / p99 ms at 80% of peak':44}{paced['p50_ms']:>8.1f} /{paced['p90_ms']:>6.1f} /"
              f"{paced['p99_ms']:>6.1f}"
              f"   ({paced['rps'] * 100:,.0f} events/s offered for {paced['seconds']:.0f} s, "
              f"slowest {paced['max_ms']:.0f} ms)")
        print(f"{'  plain client COPY + COMMIT per batch, same pacing':44}{plain['p50_ms']:>8.1f} /{'':>6} /"
              f"{plain['p99_ms']:>6.1f}   (p99 ratio reactor / plain {paced['p99_ms'] / plain['p99_ms']:.2f})")
        print(f"{'  p99 counted from the scheduled send':44}{paced['scheduled_p99_ms']:>22.1f}"
              f"   (adds the wait of batches sent late behind a slow one)")
        if windows:
            fmt = lambda ms: f"{ms:.1f}" if ms is not None else "-"  # noqa: E731
            print(f"{'  p99 in windows without / with write-back':44}{fmt(windows['quiet_p99_ms']):>8} /"
                  f"{fmt(windows['burst_p99_ms']):>6}   ({windows['burst_windows']} of {windows['windows']} windows "
                  f"of {windows['seconds']:.0f} s saw the kernel write back >= {windows['burst_mb']:.0f} MB)")
        print(f"{'gRPC Batch of 100, events/s (peak)':44}{grpc_events:>16,.0f}{copy['events_per_s']:>18,.0f}"
              f"{grpc_events / copy['events_per_s']:>8.2f}   (gRPC / HTTP {grpc_events / peak_events:.2f})")
        print(f"{'gRPC Batch p50 / max-p99 ms at peak':44}{grpc_peak['p50_ms']:>8.1f} /{grpc_peak['p99_ms']:>6.1f}")
        print(f"{'service CPU s per 1,000 batches':44}{'HTTP':>8}{cpu['web'] * 1000 / peak['requests']:>7.2f}"
              f"   gRPC{cpu['grpc'] * 1000 / grpc_peak['requests']:>7.2f}   (web workers / gRPC servers)")
        print(f"{'service CPU ms per 1,000 events':44}{'HTTP':>8}{cpu['web'] * 1000 / (peak['requests'] * 100) * 1000:>7.1f}"
              f"   gRPC{cpu['grpc'] * 1000 / (grpc_peak['requests'] * 100) * 1000:>7.1f}")
        print(f"{'load generators, CPU s per 1,000 batches':44}{'HTTP':>8}{peak['client_cpu_s'] * 1000 / peak['requests']:>7.2f}"
              f"   gRPC{grpc_peak['client_cpu_s'] * 1000 / grpc_peak['requests']:>7.2f}   (they share the machine's cores)")
        print(f"{'/track requests/s':44}{track['rps']:>16,.0f}")
        print(f"{'/track p50 / p99 ms':44}{track['p50_ms']:>8.1f} /{track['p99_ms']:>6.1f}")
        failures = peak["failures"] + paced["failures"] + track["failures"] + grpc_peak["failures"]
        print(f"failed answers: {failures}; events stored {stored:,} of {expected:,} sent over HTTP, "
              f"{grpc_stored:,} of {(len(grpc_warm) + len(grpc_requests)) * 100:,} over gRPC")
    finally:
        os.killpg(server.pid, 15)
        server.wait(30)
        database.stop("fast")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
