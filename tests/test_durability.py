"""Durable on acknowledge: kill -9 of the service, and a PostgreSQL restart under load."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import uuid

import psycopg
import requests

from conftest import ADMIN_TOKEN, LiveServer, database_root, make_project, wait_for
from reactor_analytics.store import migrate
from reactor_analytics.store.embedded import EmbeddedPostgres

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Sender:
    """Threads sending batches of unique events; remembers what was acknowledged and what was not."""

    def __init__(self, key: str, threads: int = 3, batch_size: int = 20):
        self.key, self.batch_size = key, batch_size
        self.url = ""
        self.acked: set[str] = set()
        self.unacked: list[list[dict]] = []
        self.statuses: list[int] = []
        self.errors_503: list[dict] = []
        self.ack_times: list[float] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def _batch(self) -> list[dict]:
        return [{"event": "load", "anonymous_id": f"a-{uuid.uuid4().hex[:6]}", "message_id": str(uuid.uuid4()),
                 "properties": {"n": i}} for i in range(self.batch_size)]

    def send(self, batch: list[dict]) -> bool:
        try:
            answer = requests.post(f"{self.url}/analytics/v1/batch", json={"batch": batch},
                                   headers={"X-Reactor-Project-Key": self.key}, timeout=10)
        except requests.RequestException:
            with self._lock:
                self.unacked.append(batch)
            return False
        with self._lock:
            self.statuses.append(answer.status_code)
            if answer.status_code == 200:
                assert answer.json()["data"]["accepted"] == len(batch)
                self.acked.update(e["message_id"] for e in batch)
                self.ack_times.append(time.monotonic())
                return True
            if answer.status_code == 503:
                self.errors_503.append(answer.json())
            self.unacked.append(batch)
        return False

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.send(self._batch())

    def start(self, url: str) -> "Sender":
        self.url = url
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


def stored_ids(db_url: str, project_id: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute("SELECT message_id FROM events WHERE project_id = %s", (project_id,))]


def test_every_acknowledged_event_survives_kill_9_exactly_once(postgres, tmp_path):
    server = LiveServer(postgres, tmp_path, workers=2).start()
    project_id, key = make_project(server.url)
    sender = Sender(key).start(server.url)
    wait_for(lambda: len(sender.acked) >= 200, 60)  # mid-stream: batches in flight when it dies
    server.kill9()
    sender.stop()
    acked_before = len(sender.acked)
    assert acked_before > 0
    restarted = LiveServer(postgres, tmp_path, workers=2).start()
    try:
        sender.url = restarted.url
        # Clients retry what was not acknowledged, with the same message ids.
        retry, sender.unacked = sender.unacked, []
        for batch in retry:
            assert sender.send(batch)
        ids = stored_ids(postgres.url, project_id)
        assert len(ids) == len(set(ids)), "an event was stored twice"
        assert sender.acked <= set(ids), "an acknowledged event was lost"
        sent = {e["message_id"] for b in retry for e in b} | sender.acked
        assert set(ids) == sent
    finally:
        restarted.stop()


def test_postgres_restart_answers_503_then_recovers_losing_nothing(tmp_path):
    root = database_root("reactor-test-pg-restart-")
    database = EmbeddedPostgres(root)
    database.start()
    migrate.migrate(database.url)
    server = LiveServer(database, tmp_path, workers=2).start()
    try:
        project_id, key = make_project(server.url)
        sender = Sender(key, threads=2).start(server.url)
        wait_for(lambda: len(sender.acked) >= 100, 60)
        database.stop("immediate")  # a crash, as far as PostgreSQL can tell
        wait_for(lambda: sender.errors_503, 60)  # the senders are answered 503 while it is down
        down = requests.post(f"{server.url}/analytics/v1/track",
                             json={"event": "while_down", "anonymous_id": "a"},
                             headers={"X-Reactor-Project-Key": key}, timeout=15)
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "analytics.unavailable"
        assert requests.get(f"{server.url}/health", timeout=15).status_code == 503
        database.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if requests.get(f"{server.url}/health", timeout=15).status_code == 200:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the service did not recover after PostgreSQL came back")
        acked_at_recovery = len(sender.acked)
        wait_for(lambda: len(sender.acked) > acked_at_recovery, 30, what="ingest resumed")
        sender.stop()
        assert sender.errors_503 and all(e["error"]["code"] == "analytics.unavailable" for e in sender.errors_503)
        assert set(sender.statuses) <= {200, 503}, set(sender.statuses)
        ids = stored_ids(database.url, project_id)
        assert sender.acked <= set(ids)
        assert len(ids) == len(set(ids))
    finally:
        server.stop()
        database.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def _accepting(database: EmbeddedPostgres) -> bool:
    try:
        with psycopg.connect(database.url, connect_timeout=1) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def test_kill_9_of_the_embedded_database_under_load_restarts_it_and_loses_nothing():
    """The service's own database is killed: /health says so at once, the service starts the
    database again by itself, ingest resumes, and nothing acknowledged is lost. The bounds here are
    loose (a loaded CI machine); the figures measured on a quiet one go in the README."""
    root = database_root("reactor-test-pg-kill-")
    data = root / "data"
    server = LiveServer(None, data, workers=2).start(timeout=90)
    database = EmbeddedPostgres(data)
    try:
        wait_for(lambda: requests.get(f"{server.url}/health", timeout=5).status_code == 200, 30)
        project_id, key = make_project(server.url)
        sender = Sender(key, threads=2).start(server.url)
        wait_for(lambda: len(sender.acked) > 0, 30)
        old_pid = database.postmaster_pid()
        os.kill(old_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        # While it is down, /health answers 503 quickly (a load balancer's probe must not time out).
        slowest_health = 0.0
        saw_503 = False
        while True:
            started = time.monotonic()
            status = requests.get(f"{server.url}/health", timeout=10).status_code
            slowest_health = max(slowest_health, time.monotonic() - started)
            saw_503 = saw_503 or status == 503
            if status == 200 and saw_503:
                break
            assert time.monotonic() - killed_at < 60, "the service did not recover"
            time.sleep(0.05)
        restarted_pid = wait_for(lambda: database.postmaster_pid() if database.running() else None, 30)
        assert restarted_pid != old_pid
        wait_for(lambda: _accepting(database), 30)
        accepting_at = time.monotonic()
        acked = len(sender.ack_times)
        wait_for(lambda: len(sender.ack_times) > acked, 30)
        sender.stop()
        print(f"kill -9 of the database: /health slowest {slowest_health:.2f} s while down; "
              f"accepting again {accepting_at - killed_at:.2f} s after the kill; first ack "
              f"{sender.ack_times[acked] - accepting_at:.2f} s after that")
        assert saw_503
        assert slowest_health < 3.0
        assert set(sender.statuses) <= {200, 503}, set(sender.statuses)
        retry, sender.unacked = sender.unacked, []
        for batch in retry:
            assert sender.send(batch)
        ids = stored_ids(database.url, project_id)
        assert len(ids) == len(set(ids)), "an event was stored twice"
        assert sender.acked <= set(ids), "an acknowledged event was lost"
    finally:
        server.stop()
        database.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


class GrpcSender(Sender):
    """The same, over gRPC `Batch` with a minted ingest token."""

    def __init__(self, slug: str, token: str, threads: int, batch_size: int = 20):
        super().__init__("", threads, batch_size)
        self.slug, self.metadata = slug, [("authorization", f"Bearer {token}")]
        self.target = ""

    def send(self, batch: list[dict]) -> bool:
        import grpc

        from reactor_analytics.rpc.gen import analytics_pb2 as pb
        from reactor_analytics.rpc.gen import analytics_pb2_grpc as pb_grpc

        request = pb.BatchRequest(project=self.slug, events=[
            pb.Event(event=e["event"], anonymous_id=e["anonymous_id"], message_id=e["message_id"]) for e in batch])
        try:
            with grpc.insecure_channel(self.target) as channel:
                reply = pb_grpc.AnalyticsStub(channel).Batch(request, metadata=self.metadata, timeout=10)
        except grpc.RpcError:
            with self._lock:
                self.unacked.append(batch)
            return False
        with self._lock:
            assert reply.accepted == len(batch)
            self.acked.update(e["message_id"] for e in batch)
            self.ack_times.append(time.monotonic())
        return True

    def start(self, target: str) -> "GrpcSender":
        self.target = target
        for thread in self._threads:
            thread.start()
        return self


def test_group_commit_under_many_clients_loses_nothing_acknowledged_on_kill_9(postgres, tmp_path):
    """Many concurrent HTTP and gRPC clients, so requests share transactions (group commit);
    kill -9 mid-load: every acknowledged message_id is there after the restart, exactly once."""
    server = LiveServer(postgres, tmp_path, workers=2).start()
    project_id, key = make_project(server.url)
    slug = project_id  # a token's permission may name the project by id
    token = requests.post(f"{server.url}/_admin/tokens",
                          json={"sub": "svc", "permissions": [f"analytics:{slug}:ingest"]},
                          headers=ADMIN, timeout=10).json()["data"]["token"]
    http = Sender(key, threads=12, batch_size=10).start(server.url)
    rpc = GrpcSender(slug, token, threads=4, batch_size=10).start(server.grpc_target)
    wait_for(lambda: len(http.acked) >= 1000 and len(rpc.acked) >= 200, 120)
    server.kill9()
    http.stop()
    rpc.stop()
    restarted = LiveServer(postgres, tmp_path, workers=2).start()
    try:
        http.url = restarted.url
        retry = http.unacked + rpc.unacked
        http.unacked = rpc.unacked = []
        for batch in retry:
            assert http.send(batch)
        acked = http.acked | rpc.acked
        with psycopg.connect(postgres.url) as conn:
            rows = conn.execute("SELECT message_id, xmin::text FROM events WHERE project_id = %s",
                                (project_id,)).fetchall()
        ids = [r[0] for r in rows]
        assert len(ids) == len(set(ids)), "an event was stored twice"
        assert acked <= set(ids), "an acknowledged event was lost"
        assert set(ids) == acked | {e["message_id"] for b in retry for e in b}
        # Requests really shared transactions: some transaction holds more rows than one request's.
        per_transaction: dict[str, int] = {}
        for _, xmin in rows:
            per_transaction[xmin] = per_transaction.get(xmin, 0) + 1
        assert max(per_transaction.values()) > 10
    finally:
        restarted.stop()
