"""The web worker model: ingest through the buffering gthread worker against gunicorn's sync worker.

    make bench-workers           (or: .venv/bin/python bench/workers.py --events 100000)

One PostgreSQL, two services started in turn on it with the same settings except the worker model
(`[analytics] threads = 8`, the default, and `threads = 0`, gunicorn's sync worker). Each takes the
same loads in alternating rounds: /batch of 100 events (closed loop, keep-alive clients) and single
events through /track. Prints events/s and p50/p99 per model and their ratio, and checks that every
event sent was stored once.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from ingest import ADMIN_TOKEN, admin, batches, combined, free_port, make_event, run_load  # noqa: E402

from reactor_analytics.store import migrate  # noqa: E402
from reactor_analytics.store.embedded import EmbeddedPostgres  # noqa: E402

MODELS = {"buffering gthread": "8", "sync": "0"}


def start(database: EmbeddedPostgres, root: Path, threads: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "REACTOR_DATABASE_URL": database.url, "REACTOR_ANALYTICS_BIND": f"127.0.0.1:{port}",
           "REACTOR_GRPC_ENABLED": "0", "REACTOR_ANALYTICS_RATE_LIMIT_PER_SECOND": "0",
           "REACTOR_ANALYTICS_WORKERS": str(workers), "REACTOR_ANALYTICS_THREADS": threads,
           "REACTOR_ADMIN_TOKEN": ADMIN_TOKEN, "REACTOR_DATA_DIR": str(root / f"data-{threads}"),
           "REACTOR_TRACING_FILTER": "warning", "REACTOR_ANALYTICS_QUOTA_PER_ORG_MONTHLY": "1000000000"}
    server = subprocess.Popen([str(Path(sys.executable).parent / "reactor"), "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            import http.client

            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return server, url
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the service with threads={threads} did not start")


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, 15)
    server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events for the /batch runs, per model")
    parser.add_argument("--track-requests", type=int, default=6_000, help="/track requests, per model")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="reactor-bench-workers-"))
    os.chmod(root, 0o711)  # the database user (postgres, when run as root) passes through it
    database = EmbeddedPostgres(root / "pg")
    database.start()
    migrate.migrate(database.url)
    results: dict[str, dict[str, list]] = {name: {"batch": [], "track": []} for name in MODELS}
    sent: dict[str, int] = {name: 0 for name in MODELS}
    projects: dict[str, str] = {}
    rng = random.Random(7)
    try:
        for round_ in range(args.rounds):
            order = list(MODELS) if round_ % 2 == 0 else list(reversed(MODELS))
            for name in order:
                server, url = start(database, root, MODELS[name], args.workers)
                try:
                    slug = f"bench-{MODELS[name]}"
                    if name not in projects:
                        projects[name] = admin(url, "POST", "/analytics/v1/projects", {"slug": slug})["data"]["id"]
                    key = admin(url, "POST", f"/analytics/v1/projects/{slug}/keys", {"name": f"r{round_}"})["data"]["key"]
                    warm = batches(2_000, 100, seed=100 + round_)
                    run_load(url, "/analytics/v1/batch", warm, key, args.clients)
                    bodies = batches(args.events // args.rounds, 100, seed=round_)
                    track = [json.dumps(make_event(rng)).encode() for _ in range(args.track_requests // args.rounds)]
                    results[name]["batch"].append(run_load(url, "/analytics/v1/batch", bodies, key, args.clients))
                    results[name]["track"].append(run_load(url, "/analytics/v1/track", track, key, args.clients))
                    sent[name] += (len(warm) + len(bodies)) * 100 + len(track)
                finally:
                    stop(server)
        with psycopg.connect(database.url) as conn:
            stored = {name: conn.execute("SELECT count(*), count(DISTINCT message_id) FROM events"
                                         " WHERE project_id = %s", (projects[name],)).fetchone() for name in MODELS}
        ours, sync = (combined(results[n]["batch"]) for n in MODELS)
        ours_t, sync_t = (combined(results[n]["track"]) for n in MODELS)
        print()
        print(f"web worker models — {os.cpu_count()} cores, {args.workers} workers, {args.clients} keep-alive clients,"
              f" {args.rounds} alternating rounds")
        print(f"{'':34}{'buffering gthread':>20}{'sync':>12}{'ratio':>8}")
        print(f"{'/batch of 100, events/s':34}{ours['rps'] * 100:>20,.0f}{sync['rps'] * 100:>12,.0f}"
              f"{ours['rps'] / sync['rps']:>8.2f}")
        print(f"{'/batch p50 / max-p99 ms':34}{ours['p50_ms']:>12.1f} /{ours['p99_ms']:>6.1f}"
              f"{sync['p50_ms']:>6.1f} /{sync['p99_ms']:>5.1f}")
        print(f"{'/track requests/s':34}{ours_t['rps']:>20,.0f}{sync_t['rps']:>12,.0f}"
              f"{ours_t['rps'] / sync_t['rps']:>8.2f}")
        print(f"{'/track p50 / max-p99 ms':34}{ours_t['p50_ms']:>12.1f} /{ours_t['p99_ms']:>6.1f}"
              f"{sync_t['p50_ms']:>6.1f} /{sync_t['p99_ms']:>5.1f}")
        failures = sum(r["failures"] for n in MODELS for kind in ("batch", "track") for r in results[n][kind])
        print(f"failed answers: {failures}; stored (rows, distinct ids) of sent: "
              + ", ".join(f"{n} {stored[n][0]:,} / {stored[n][1]:,} of {sent[n]:,}" for n in MODELS))
    finally:
        database.stop("fast")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
