"""Drop-in capture's cost: a PostHog `/batch/` of 100 events against a native `/analytics/v1/batch`
of the same events, in service CPU per request.

    make bench-dropin           (or: .venv/bin/python bench/dropin.py --requests 400 --rounds 3)

One PostgreSQL and one `reactor serve` (gunicorn, gRPC off). The same generated events are sent
both ways (PostHog's shape: `distinct_id`, `uuid`, `$current_url`, `$raw_user_agent`, … in
`properties`), in alternating rounds of sequential keep-alive requests, each round with events
never sent before. CPU is read from /proc (utime + stime) of every process of the service before and
after each round. Prints CPU ms per request for each and
their ratio (target ≤ 1.2), and checks every event was stored once.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from ingest import admin, make_event  # noqa: E402
from workers import start  # noqa: E402

from reactor_analytics.store import migrate  # noqa: E402
from reactor_analytics.store.embedded import EmbeddedPostgres  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def service_cpu(session: int) -> float:
    """CPU seconds (user + system) of every process of the service (`reactor serve`'s session:
    the gunicorn master and web workers, the query engine that reads the new rows)."""
    everything = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) != session:  # field 6 of stat: the session id
            continue
        everything += (int(fields[11]) + int(fields[12])) / TICK
    return everything


def posthog_event(event: dict, key: str) -> dict:
    """The same event as posthog-js would send it."""
    ctx = event["context"]
    props = {**event["properties"], "token": key, "distinct_id": event["anonymous_id"],
             "$current_url": ctx["page"]["url"], "$referrer": ctx["page"]["referrer"] or "$direct",
             "$raw_user_agent": ctx["user_agent"], "$timezone": ctx["timezone"],
             "$browser_language": ctx["locale"], "$session_id": ctx["session_id"],
             "$lib": "web", "$lib_version": "1.449.2", "$is_identified": False}
    return {"uuid": event["message_id"], "event": event["event"], "properties": props, "offset": 120}


def bodies(rng: random.Random, key: str, requests: int) -> tuple[list[bytes], list[bytes]]:
    """Per side, `requests` bodies of 100 events generated alike, each side with its own message ids
    (so both store every event)."""
    native, posthog = [], []
    for _ in range(requests):
        events = [make_event(rng) for _ in range(100)]
        for event in events:
            event.pop("user_id", None)  # a PostHog event has one distinct_id
        native.append(json.dumps({"batch": events}).encode())
        for event in events:
            event["message_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        posthog.append(json.dumps({"api_key": key, "batch": [posthog_event(e, key) for e in events],
                                   "sent_at": "2026-01-01T00:00:00Z"}).encode())
    return native, posthog


def send(url: str, path: str, payloads: list[bytes], headers: dict) -> None:
    conn = http.client.HTTPConnection(url.split("//")[1], timeout=60)
    for body in payloads:
        conn.request("POST", path, body, headers)
        answer = conn.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise SystemExit(f"{path}: {answer.status} {data[:300]!r}")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="requests of 100 events per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="reactor-bench-dropin-"))
    os.chmod(root, 0o711)  # the database user (postgres, when run as root) passes through it
    database = EmbeddedPostgres(root / "pg")
    database.start()
    migrate.migrate(database.url)
    server = None
    try:
        server, url = start(database, root, "8", args.workers)
        project = admin(url, "POST", "/analytics/v1/projects", {"slug": "bench-dropin"})["data"]["id"]
        key = admin(url, "POST", "/analytics/v1/projects/bench-dropin/keys", {"name": "k"})["data"]["key"]
        sides = {
            "native /analytics/v1/batch": ("/analytics/v1/batch", {"Content-Type": "application/json",
                                                                   "X-Reactor-Project-Key": key}),
            "PostHog /batch/": ("/batch/", {"Content-Type": "application/json"}),
        }
        rng = random.Random(11)
        warm_native, warm_posthog = bodies(rng, key, 30)
        send(url, *sides["native /analytics/v1/batch"][:1], warm_native, sides["native /analytics/v1/batch"][1])
        send(url, "/batch/", warm_posthog, sides["PostHog /batch/"][1])
        spent = {name: 0.0 for name in sides}
        sent = 60 * 100
        for round_ in range(args.rounds):
            native, posthog = bodies(rng, key, args.requests)
            payloads = {"native /analytics/v1/batch": native, "PostHog /batch/": posthog}
            order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
            for name in order:
                path, headers = sides[name]
                before = service_cpu(server.pid)
                send(url, path, payloads[name], headers)
                time.sleep(0.3)  # the engine's background read of these rows lands in this round
                after = service_cpu(server.pid)
                spent[name] += after - before
                sent += len(payloads[name]) * 100
        with psycopg.connect(database.url) as conn:
            stored = conn.execute("SELECT count(*), count(DISTINCT message_id) FROM events WHERE project_id = %s",
                                  (project,)).fetchone()
        total = args.rounds * args.requests
        print(f"{total} requests of 100 events per side, {args.workers} web workers; service CPU per request:")
        per = {name: cpu * 1000 / total for name, cpu in spent.items()}
        for name, ms in per.items():
            print(f"  {name:28s} {ms:7.3f} ms")
        ratio = per["PostHog /batch/"] / per["native /analytics/v1/batch"]
        print(f"  ratio PostHog / native: {ratio:.3f}x (target <= 1.2x)")
        print(f"  stored {stored[0]} events, {stored[1]} distinct message ids, sent {sent}")
        if stored[0] != sent or stored[1] != sent:
            raise SystemExit("not every event was stored exactly once")
    finally:
        if server is not None:
            os.killpg(server.pid, 15)
            server.wait(30)
        database.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
