"""Idle benchmark: what an install costs while nobody sends or asks anything.

    make bench-idle              (or: .venv/bin/python bench/idle.py --seconds 60)

Starts the service the way the README does (`reactor serve` with its embedded PostgreSQL in a
fresh data directory), waits until /health answers 200 and lets it settle, then reads the CPU time
of its processes from /proc/<pid>/stat over --seconds of idleness and prints it as % of one core:
  * the query engine process, which reads the tails when PostgreSQL notifies it, and the engine
    with its two database backends (the listening one and the one it reads on);
  * the whole service: gunicorn's master and workers, the engine, the gRPC server and PostgreSQL
    with all its processes (CPU of processes that ended in the window counts through the parent
    that reaped them).
The peer, in the same run and against the same database: the engine reading every 0.1 s whatever
happens (the way of earlier versions), over an equal window, its process and its backend, with the
ratio poll / notify.

Then the cost of the wake-up triggers to ingest, rounds with them disabled and enabled taking
turns, median events/s of each and the ratio:
  * through the service: HTTP /batch at peak (bench/ingest.py's events and closed-loop clients),
    with the triggers the engine reading as notified (under load: every 0.1 s while rows keep
    coming, ingest notifying nothing), without them the engine asked to read every 0.1 s;
  * plain transactions in a database of their own, concurrent clients committing COPY'd events
    plus an identity-link upsert (the statements of an ingest transaction), 50 events and 1 event
    per transaction: with no engine asleep (the tails' lock free), and with a listener holding the
    lock throughout, so that every commit notifies (PostgreSQL commits notifying transactions one
    at a time): the cost the lock spares ingest while the engine reads.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg

TICK = os.sysconf("SC_CLK_TCK")
VENV_BIN = Path(sys.executable).parent
POLL_APP = "reactor-bench-idle-poll"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- CPU time from /proc ----------------------------------------------------------------------

def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, CPU ticks of the process and of its reaped children)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return int(fields[1]), utime + stime + cutime + cstime


def _processes() -> dict[int, tuple[int, int]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            found[int(entry)] = stat
    return found


def tree_ticks(roots: list[int]) -> int:
    """CPU ticks of `roots` and all their descendants. A child that ended counts in its parent's
    cutime/cstime once reaped, so differences of this sum over a window cover it too."""
    procs = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in procs:
            continue
        seen.add(pid)
        total += procs[pid][1]
        todo.extend(children.get(pid, ()))
    return total


def ticks(pids: list[int]) -> int:
    return sum(stat[1] for pid in pids if (stat := _stat(pid)) is not None)


def percent(ticks_used: int, seconds: float) -> float:
    return 100.0 * ticks_used / TICK / seconds


# --- the service ------------------------------------------------------------------------------

class Service:
    """`reactor serve` over its own embedded PostgreSQL, as the README starts it."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("REACTOR_")}
        self.env = {**env, "REACTOR_DATA_DIR": str(data_dir), "REACTOR_ANALYTICS_BIND": f"127.0.0.1:{self.port}",
                    "REACTOR_GRPC_BIND": f"127.0.0.1:{free_port()}", "REACTOR_TRACING_FILTER": "warning",
                    # For the ingest rounds after the idle windows (idle, nothing reads these).
                    "REACTOR_ANALYTICS_RATE_LIMIT_PER_SECOND": "0",
                    "REACTOR_ANALYTICS_QUOTA_PER_ORG_MONTHLY": "1000000000"}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> None:
        self.proc = subprocess.Popen([str(VENV_BIN / "reactor"), "serve"], env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("reactor serve exited")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("reactor serve did not become healthy")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)

    @property
    def db_url(self) -> str:
        from reactor_analytics.store.embedded import EmbeddedPostgres

        return EmbeddedPostgres(self.data_dir).url

    def postmaster(self) -> int:
        return int((self.data_dir / "pg" / "postmaster.pid").read_text().split("\n", 1)[0])

    def engine(self) -> int:
        for pid, (ppid, _) in _processes().items():
            if ppid == self.proc.pid:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"engine" in cmd:
                    return pid
        raise RuntimeError("no engine process")


def backends(db_url: str, where: str) -> list[int]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return [row[0] for row in conn.execute(f"SELECT pid FROM pg_stat_activity WHERE {where}")]


def poll_engine(db_url: str, data_dir: Path) -> subprocess.Popen:
    """An engine reading every 0.1 s whatever happens, on a socket of its own."""
    code = ("import sys; from pathlib import Path; from reactor_analytics.query.engine import EngineServer; "
            "EngineServer(sys.argv[1], Path(sys.argv[2])).serve_forever(wake='poll')")
    env = {**os.environ, "PGAPPNAME": POLL_APP}
    return subprocess.Popen([sys.executable, "-c", code, db_url, str(data_dir / "poll-engine.sock")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def idle(seconds: float, settle: float, rounds: int, events: int, clients: int, windows: bool = True) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="reactor-bench-idle-"))
    os.chmod(data_dir, 0o711)  # run as root, the database runs as `postgres`, which must pass through
    service = Service(data_dir / "data")
    try:
        service.start()
        if windows:
            idle_windows(service, data_dir, seconds, settle)
        ingest_with_triggers(service, rounds, events, clients)
    finally:
        service.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def idle_windows(service: Service, data_dir: Path, seconds: float, settle: float) -> None:
    from reactor_analytics.store import queries

    peer = None
    try:
        time.sleep(settle)
        url, engine = service.db_url, service.engine()
        # The engine's two connections: the one asleep on the channel (it holds the tails' lock)
        # and the one it reads on.
        engine_backends = backends(url, "query LIKE 'COPY (SELECT seq%%' OR pid IN (SELECT pid FROM pg_locks "
                                        f"WHERE locktype = 'advisory' AND objid = {queries.TAIL_LOCK} AND granted)")
        assert len(engine_backends) == 2, engine_backends
        roots = [service.proc.pid, service.postmaster()]

        before = (ticks([engine]), ticks(engine_backends), tree_ticks(roots))
        time.sleep(seconds)
        after = (ticks([engine]), ticks(engine_backends), tree_ticks(roots))
        notify_engine, notify_backends, notify_tree = (percent(a - b, seconds) for a, b in zip(after, before))

        peer = poll_engine(url, data_dir)
        deadline = time.monotonic() + 60
        while not (peer_backends := backends(url, f"application_name = '{POLL_APP}'")):
            if peer.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the polling engine did not start")
            time.sleep(0.2)
        time.sleep(settle)
        before = (ticks([peer.pid]), ticks(peer_backends))
        time.sleep(seconds)
        after = (ticks([peer.pid]), ticks(peer_backends))
        poll_engine_pct, poll_backends = (percent(a - b, seconds) for a, b in zip(after, before))
    finally:
        if peer is not None:
            os.killpg(peer.pid, signal.SIGTERM)
            peer.wait(30)

    def ratio(poll: float, notify: float) -> str:
        # Under one clock tick in the window, the ratio is at least poll / one tick.
        return f"{poll / notify:.0f}x" if notify > 0 else f">= {poll / percent(1, seconds):.0f}x"

    print(f"idle for {seconds:.0f} s each, % of one core (clock tick {1000 // TICK} ms "
          f"= {percent(1, seconds):.3f} % over the window)")
    print(f"{'':34}{'notify':>10}{'poll 10 Hz':>12}{'poll/notify':>13}")
    print(f"{'engine process':34}{notify_engine:>9.3f}%{poll_engine_pct:>11.3f}%"
          f"{ratio(poll_engine_pct, notify_engine):>13}")
    print(f"{'engine + its database backends':34}{notify_engine + notify_backends:>9.3f}%"
          f"{poll_engine_pct + poll_backends:>11.3f}%"
          f"{ratio(poll_engine_pct + poll_backends, notify_engine + notify_backends):>13}")
    print(f"{'whole service (PostgreSQL incl.)':34}{notify_tree:>9.3f}%")


# --- the triggers' cost to ingest -------------------------------------------------------------

def _triggers(url: str, on: bool) -> None:
    verb = "ENABLE" if on else "DISABLE"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE events {verb} TRIGGER events_notify_tail")
        conn.execute(f"ALTER TABLE identity_links {verb} TRIGGER identity_links_notify_tail")
        conn.execute(f"ALTER TABLE person_traits {verb} TRIGGER person_traits_notify_tail")


class Poll:
    """While the triggers are disabled nothing wakes the engine: ask it to read every 0.1 s
    instead, as the engine of earlier versions did by itself, so that both sides pay for reading
    what ingest writes."""

    def __init__(self, engine) -> None:
        self.engine, self.stop = engine, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            self.engine.sync()

    def __enter__(self) -> "Poll":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def ingest_with_triggers(service: Service, rounds: int, events: int, clients: int) -> None:
    """HTTP /batch at peak (bench/ingest.py's events and closed-loop clients), the triggers
    disabled (the engine asked to read every 0.1 s) and enabled (it reads as notified) taking
    turns; between rounds the engine reads what is left, untimed."""
    from contextlib import nullcontext

    from reactor_analytics.query.engine import EngineClient, socket_path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import ingest as ib  # bench/ingest.py: its events and load clients

    engine = EngineClient(socket_path(str(service.data_dir)), 600.0)

    url = f"http://127.0.0.1:{service.port}"
    ib.ADMIN_TOKEN = (service.data_dir / "admin_token").read_text().strip()  # made by the first start
    ib.admin(url, "POST", "/analytics/v1/projects", {"slug": "bench-idle"})
    key = ib.admin(url, "POST", "/analytics/v1/projects/bench-idle/keys", {"name": "bench"})["data"]["key"]
    ib.run_load(url, "/analytics/v1/batch", ib.batches(5_000, 100, seed=1), key, clients)  # warm up
    speeds: dict[bool, list[float]] = {False: [], True: []}
    failures = 0
    for n in range(rounds):
        for on in ((False, True) if n % 2 == 0 else (True, False)):  # neither always goes first
            _triggers(service.db_url, on)
            bodies = ib.batches(events, 100, seed=100 + 2 * n + on)
            with nullcontext() if on else Poll(engine):
                run = ib.run_load(url, "/analytics/v1/batch", bodies, key, clients)
            engine.sync()
            failures += run["failures"]
            speeds[on].append(run["requests"] * 100 / run["seconds"])
    _triggers(service.db_url, True)
    off, on = statistics.median(speeds[False]), statistics.median(speeds[True])
    print(f"\nHTTP /batch at peak (100 events a request, {clients} clients, {events:,} events a round), "
          f"median of {rounds} rounds, triggers off and on taking turns, each first in turn "
          f"({failures} failed requests)")
    print(f"{'':24}{'off, 10 Hz reads':>18}{'on, notified':>14}{'on/off':>9}")
    print(f"{'events/s':24}{off:>18,.0f}{on:>14,.0f}{on / off:>9.3f}")
    print(f"{'rounds: lowest-highest':24}{_spread(speeds[False]):>18}{_spread(speeds[True]):>14}")


def _spread(values: list[float]) -> str:
    return f"{min(values) / 1000:.1f}k-{max(values) / 1000:.1f}k"

def _rows(project: str, count: int) -> bytes:
    now = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime())
    return "".join(f"{project}\t{uuid.uuid4()}\tpageview\t{now}\t{now}\tanon-{n % 997}\tanon-{n % 997}\t"
                   f'{{"path": "/p/{n % 50}", "n": {n}}}\n' for n in range(count)).encode()


def _client(url: str, batch: int, transactions: int, project: str) -> None:
    payloads = [_rows(project, batch) for _ in range(transactions)]
    with psycopg.connect(url) as conn:
        for n, payload in enumerate(payloads):
            with conn.cursor().copy("COPY events (project_id, message_id, event, ts, received_at, distinct_id, "
                                    "anonymous_id, properties) FROM STDIN") as copy:
                copy.write(payload)
            conn.execute("INSERT INTO identity_links (project_id, anonymous_id, user_id) VALUES (%s, %s, %s) "
                         "ON CONFLICT DO NOTHING", (project, f"anon-{n % 997}", f"user-{n % 997}"))
            conn.commit()


def _round(url: str, batch: int, transactions: int, clients: int) -> float:
    project = uuid.uuid4().hex[:8]
    threads = [threading.Thread(target=_client, args=(url, batch, transactions, project)) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return batch * transactions * clients / (time.perf_counter() - started)


def copy_with_triggers(rounds: int, clients: int) -> None:
    """Plain transactions, three ways taking turns: the triggers disabled; enabled with no engine
    asleep (the tails' lock free: a statement takes it shared, nothing is notified), as while the
    engine reads under load; enabled with a listener holding the lock throughout (every commit
    notifies), as while the engine sleeps, which is how every commit went without the lock."""
    from reactor_analytics.store import migrate, queries
    from reactor_analytics.store.embedded import EmbeddedPostgres

    root = Path(tempfile.mkdtemp(prefix="reactor-bench-trigger-"))
    os.chmod(root, 0o711)
    database = EmbeddedPostgres(root)
    database.start()
    stop, asleep = threading.Event(), threading.Event()
    listener = None
    try:
        migrate.migrate(database.url)

        def listen() -> None:
            with psycopg.connect(database.url, autocommit=True) as conn:
                queries.listen_tails(conn, 5.0)
                armed = False
                while not stop.is_set():
                    if asleep.is_set() and not armed:
                        armed = queries.arm_tails(conn)
                    elif armed and not asleep.is_set():
                        queries.disarm_tails(conn)
                        armed = False
                    for _ in conn.notifies(timeout=0.2):
                        pass

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        modes = {"off": (False, False), "on, reading": (True, False), "on, asleep": (True, True)}
        print(f"\nplain transactions (COPY + identity-link upsert), {clients} clients, median of {rounds} rounds, "
              "the three ways taking turns, each first in turn; rows/s:")
        print(f"{'events per transaction':24}" + "".join(f"{name:>14}" for name in modes)
              + f"{'reading/off':>13}{'asleep/off':>12}")
        for batch, transactions in ((50, 200), (1, 1500)):
            _round(database.url, batch, transactions // 4, clients)  # warm up
            speeds: dict[str, list[float]] = {name: [] for name in modes}
            for n in range(rounds):
                names = list(modes)
                for name in names[n % len(names):] + names[:n % len(names)]:  # each goes first in turn
                    on, sleeping = modes[name]
                    _triggers(database.url, on)
                    (asleep.set if sleeping else asleep.clear)()
                    time.sleep(0.5)  # the listener takes or gives back the lock
                    speeds[name].append(_round(database.url, batch, transactions, clients))
            median = {name: statistics.median(values) for name, values in speeds.items()}
            print(f"{batch:<24}" + "".join(f"{median[name]:>14,.0f}" for name in modes)
                  + f"{median['on, reading'] / median['off']:>13.3f}{median['on, asleep'] / median['off']:>12.3f}")
            print(f"{'  rounds: lowest-highest':24}" + "".join(f"{_spread(speeds[name]):>14}" for name in modes))
    finally:
        stop.set()
        if listener is not None:
            listener.join()
        database.stop("fast")
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="each idle window")
    parser.add_argument("--settle", type=float, default=10.0, help="wait after a start before measuring")
    parser.add_argument("--rounds", type=int, default=5, help="trigger cost: rounds off and on")
    parser.add_argument("--events", type=int, default=20_000, help="trigger cost: events per HTTP round")
    parser.add_argument("--http-clients", type=int, default=6, help="trigger cost: concurrent HTTP clients")
    parser.add_argument("--clients", type=int, default=4, help="trigger cost: concurrent COPY clients")
    parser.add_argument("--triggers-only", action="store_true", help="only the triggers' cost to ingest")
    args = parser.parse_args()
    idle(args.seconds, args.settle, args.rounds, args.events, args.http_clients, not args.triggers_only)
    copy_with_triggers(args.rounds, args.clients)


if __name__ == "__main__":
    main()
