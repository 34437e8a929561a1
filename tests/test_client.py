"""Python server SDK: never blocks or raises, batches, drops the oldest when full, flushes on
close and at exit, `ctx.analytics`; and end to end against a live service (gunicorn +
PostgreSQL), including a kill -9 mid-stream and lost responses, with nothing lost or stored twice."""

from __future__ import annotations

import decimal
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import psycopg
import pytest
import requests

from conftest import ADMIN_TOKEN, JWT_SECRET, events_of
from reactor_analytics_sdk import Analytics, AnalyticsContext, transports
from reactor_analytics_sdk.destinations import Destination
from reactor_analytics_sdk.destinations.reactor import ReactorDestination
from reactor_analytics_sdk.transports.grpc import GrpcTransport
from reactor_analytics_sdk.transports.http import HttpTransport
from test_client_destinations import Recorder, wait_until

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Collect(Destination):
    """Keeps every record it is sent; `gate` (when given) holds each send until it is set."""

    def __init__(self, name="collect", gate: threading.Event | None = None):
        self.name, self.gate = name, gate
        self.batches: list[list[dict]] = []
        self.sending = threading.Event()

    def send(self, batch):
        self.sending.set()
        if self.gate is not None:
            self.gate.wait(10)
        self.batches.append(batch)

    @property
    def records(self) -> list[dict]:
        return [r for batch in self.batches for r in batch]


@pytest.fixture()
def make_client():
    made = []

    def make(*destinations, **options) -> Analytics:
        settings = dict(env={}, flush_at=10, flush_interval=0.05, retry_base=0.01, retry_max_delay=0.05)
        made.append(Analytics(destinations=destinations, **{**settings, **options}))
        return made[-1]

    yield make
    for client in made:
        client.close(timeout=2)


# --- the caller's side ----------------------------------------------------------------------------


def test_track_never_raises_on_bad_input_and_counts_it(make_client):
    sink = Collect()
    client = make_client(sink)
    bad_calls = [
        lambda: client.track(),
        lambda: client.track(None, user_id="u"),
        lambda: client.track("", user_id="u"),
        lambda: client.track(42, user_id="u"),
        lambda: client.track("no_identity"),
        lambda: client.track("e", [1, 2], user_id="u"),
        lambda: client.track("e", user_id=object()),
        lambda: client.track("e", user_id="u", timestamp="not a time"),
        lambda: client.track("e", user_id="u", timestamp=float("nan")),
        lambda: client.track("e", user_id="u", context="ctx"),
        lambda: client.track("e", user_id="u", message_id=""),
        lambda: client.track("e", user_id="u", unknown_option=1),
        lambda: client.identify(),
        lambda: client.identify("u", traits=["plan"]),
        lambda: client.alias(None, "u"),
        lambda: client.alias("same", "same"),
    ]
    for call in bad_calls:
        assert call() is None
    assert client.invalid == len(bad_calls)
    assert client.flush(5) and sink.records == []


def test_ids_that_are_numbers_become_text(make_client):
    sink = Collect()
    client = make_client(sink)
    client.track("e", user_id=42)
    client.identify(7, {"plan": "pro"})
    assert client.flush(5)
    assert [r["user_id"] for r in sink.records] == ["42", "7"] and client.invalid == 0


def test_properties_are_taken_as_they_were_at_the_call(make_client):
    sink = Collect()
    client = make_client(sink, flush_interval=60)
    properties = {"step": 1}
    client.track("e", properties, user_id="u")
    properties["step"] = 2
    assert client.flush(5)
    assert sink.records[0]["properties"] == {"step": 1}


def test_values_json_cannot_hold_are_sent_as_text_and_a_cycle_drops_only_its_event(make_client):
    hook = Recorder(lambda r: (200, {}, b""))
    try:
        client = make_client(env={"TRACKING_WEBHOOK_URL": hook.url})
        cyclic: dict = {}
        cyclic["self"] = cyclic
        when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        client.track("odd", {"price": decimal.Decimal("9.99"), "when": when, "tags": {"a"}, "id": uuid.UUID(int=1),
                             "thing": object.__new__(Recorder)}, user_id="u")
        client.track("cyclic", {"loop": cyclic}, user_id="u")
        client.track("fine", user_id="u")
        assert client.flush(5)
        events = [e for r in hook.requests for e in r.json()["batch"]]
        assert [e["event"] for e in events] == ["odd", "fine"]
        odd = events[0]["properties"]
        assert odd["price"] == 9.99 and odd["when"].startswith("2026-01-02T03:04:05") and odd["tags"] == ["a"]
        assert odd["id"] == "00000000-0000-0000-0000-000000000001" and "Recorder" in odd["thing"]
    finally:
        hook.close()


def test_timestamps_message_ids_and_context_are_kept(make_client):
    sink = Collect()
    client = make_client(sink)
    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    client.track("a", user_id="u", timestamp=when, message_id="order-42")
    client.track("b", user_id="u", timestamp="2026-03-04T05:06:07Z")
    client.track("c", user_id="u", timestamp=when.timestamp(), message_id=uuid.UUID(int=5))
    before = time.time()
    client.track("d", user_id="u", context={"locale": "de-DE"})
    after = time.time()
    assert client.flush(5)
    a, b, c, d = sink.records
    assert a["timestamp"] == b["timestamp"] == c["timestamp"] == when.timestamp()
    assert a["message_id"] == "order-42" and c["message_id"] == str(uuid.UUID(int=5))
    assert d["context"] == {"locale": "de-DE"} and before <= d["timestamp"] <= after  # stamped at the call


def test_generated_message_ids_are_unique_uuid4(make_client):
    hook = Recorder(lambda r: (200, {}, b""))
    try:
        client = make_client(env={"TRACKING_WEBHOOK_URL": hook.url}, flush_at=100)
        for i in range(500):
            client.track("e", {"i": i}, user_id="u")
        assert client.flush(5)
        ids = [e["messageId"] for r in hook.requests for e in r.json()["batch"]]
        assert len(ids) == len(set(ids)) == 500
        assert all(uuid.UUID(i).version == 4 for i in ids)
    finally:
        hook.close()


def test_full_queue_drops_the_oldest_and_counts_them(make_client):
    gate = threading.Event()
    sink = Collect(gate=gate)
    client = make_client(sink, flush_at=1, max_queue_size=5)
    client.track("e", {"i": 0}, user_id="u")
    assert sink.sending.wait(5)  # the sender holds record 0 in flight
    for i in range(1, 11):
        client.track("e", {"i": i}, user_id="u")
    assert client.dropped == 5 and client.stats()["destinations"]["collect"]["dropped"] == 5
    gate.set()
    assert client.flush(5)
    assert [r["properties"]["i"] for r in sink.records] == [0, 6, 7, 8, 9, 10]


def test_flush_at_sends_without_waiting_for_the_interval(make_client):
    sink = Collect()
    client = make_client(sink, flush_at=5, flush_interval=60)
    for i in range(4):
        client.track("e", user_id="u")
    time.sleep(0.3)  # a window in which nothing may be sent (no state to wait for: a slow machine can only hide a bug)
    assert sink.batches == []
    client.track("e", user_id="u")
    assert wait_until(lambda: len(sink.records) == 5, 10)
    assert [len(b) for b in sink.batches] == [5]


def test_flush_interval_sends_a_partial_batch(make_client):
    sink = Collect()
    client = make_client(sink, flush_at=1000, flush_interval=0.2)
    client.track("e", user_id="u")
    assert wait_until(lambda: len(sink.records) == 1, 3)


def test_close_flushes_everything_and_later_calls_are_ignored(make_client):
    sink = Collect()
    client = make_client(sink, flush_at=1000, flush_interval=60)
    for i in range(25):
        client.track("e", {"i": i}, user_id="u")
    assert client.close(5) is True
    assert [r["properties"]["i"] for r in sink.records] == list(range(25))
    client.track("after_close", user_id="u")
    assert client.close() is True and len(sink.records) == 25


def test_interpreter_exit_flushes_through_atexit(tmp_path):
    hook = Recorder(lambda r: (200, {}, b""))
    try:
        script = ("from reactor_analytics_sdk import Analytics\n"
                  "a = Analytics(flush_at=1000, flush_interval=60)\n"
                  "for i in range(3):\n"
                  "    a.track('exiting', {'i': i}, user_id='u_1')\n")
        env = {**os.environ, "TRACKING_WEBHOOK_URL": hook.url}
        for name in ("REACTOR_URL", "POSTHOG_API_KEY", "MIXPANEL_TOKEN", "AMPLITUDE_API_KEY"):
            env.pop(name, None)
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=30)
        assert [e["properties"]["i"] for r in hook.requests for e in r.json()["batch"]] == [0, 1, 2]
    finally:
        hook.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_sends_its_own_events_with_its_own_threads():
    hook = Recorder(lambda r: (200, {}, b""))
    client = Analytics(env={"TRACKING_WEBHOOK_URL": hook.url}, flush_at=1000, flush_interval=60)
    try:
        client.track("queued_in_parent", user_id="u")
        pid = os.fork()
        if pid == 0:  # the child: a gunicorn worker after a preloaded app, say
            client.track("from_child", user_id="u")
            os._exit(0 if client.flush(5) else 1)
        deadline = time.monotonic() + 30
        while (waited := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if waited[0] == 0:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child did not finish")
        assert os.waitstatus_to_exitcode(waited[1]) == 0
        assert client.flush(5)
        events = Counter(e["event"] for r in hook.requests for e in r.json()["batch"])
        assert events == {"queued_in_parent": 1, "from_child": 1}
    finally:
        client.close(2)
        hook.close()


def test_ctx_analytics_fills_in_the_current_caller(make_client):
    sink = Collect()
    client = make_client(sink)
    ctx = AnalyticsContext(client, user_id="u_42", anonymous_id="anon-1", properties={"function": "checkout"})
    ctx.track("order_completed", {"total": 10})
    ctx.track("for_someone_else", user_id="u_7")
    ctx.identify(traits={"plan": "pro"})
    ctx.alias()
    ctx.bind(user_id="u_9", properties=None).track("bound")
    ctx.track(None)  # bad input: counted, never raised
    assert ctx.flush(5)
    order, other, identify, alias, bound = sink.records
    assert (order["user_id"], order["anonymous_id"]) == ("u_42", "anon-1")
    assert order["properties"] == {"function": "checkout", "total": 10}
    assert other["user_id"] == "u_7" and other["properties"] == {"function": "checkout"}
    assert (identify["type"], identify["user_id"], identify["anonymous_id"], identify["properties"]) == (
        "identify", "u_42", "anon-1", {"plan": "pro"})
    assert (alias["type"], alias["previous_id"], alias["user_id"]) == ("alias", "anon-1", "u_42")
    assert bound["user_id"] == "u_9" and bound["properties"] is None
    assert client.invalid == 1


def test_the_reactor_transport_is_chosen_by_name():
    assert isinstance(transports.create("http", url="grpc://x:1", token="t"), HttpTransport)
    chosen = transports.create("grpc", url="http://x:1", token="t")
    try:
        assert isinstance(chosen, GrpcTransport)
    finally:
        chosen.close()
    with pytest.raises(ValueError):
        transports.create("carrier-pigeon", url="http://x")


@pytest.mark.parametrize("url, expected", [
    ("http://reactor.test", "http"),
    ("https://reactor.test:8443/", "http"),
    ("grpc://reactor.test:50051", "grpc"),
    ("grpcs://reactor.test:443", "grpc"),
    ("reactor.test:50051", "grpc"),
    ("127.0.0.1:50051", "grpc"),
])
def test_the_reactor_transport_is_chosen_by_the_url_form(url, expected):
    """http(s):// picks HTTP; grpc://, grpcs:// and a bare host:port pick gRPC (grpcio is installed here)."""
    assert transports.default_name(url) == expected
    destination = ReactorDestination(url, token="t")
    try:
        assert destination.transport_name == expected
        assert type(destination.transport) is {"http": HttpTransport, "grpc": GrpcTransport}[expected]
    finally:
        destination.close()
    # `transport=` overrides the url's choice.
    other = {"http": "grpc", "grpc": "http"}[expected]
    overridden = ReactorDestination(url if other == "grpc" else "http://reactor.test", token="t", transport=other)
    try:
        assert overridden.transport_name == other
    finally:
        overridden.close()


def test_without_grpcio_every_url_form_but_http_falls_back_to_http(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "grpc" else real_find_spec(name, *args))
    for url in ("http://reactor.test", "https://reactor.test", "reactor.test:50051", "grpc://reactor.test:1", ""):
        assert transports.default_name(url) == "http", url


# --- end to end against a live service -------------------------------------------------------------


def live_project(url: str) -> tuple[str, str]:
    """A project and a JWT allowed to ingest into it."""
    slug = f"sdk-{uuid.uuid4().hex[:8]}"
    answer = requests.post(f"{url}/analytics/v1/projects", json={"slug": slug}, headers=ADMIN, timeout=10)
    assert answer.status_code == 201, answer.text
    project_id = answer.json()["data"]["id"]
    token = jwt.encode({"sub": "sdk-test", "permissions": [f"analytics:{project_id}:ingest"],
                        "exp": int(time.time()) + 600}, JWT_SECRET, algorithm="HS256")
    return project_id, token


def live_client(url: str, token: str, project_id: str, **options) -> Analytics:
    settings = dict(env={}, transport="http", flush_at=20, flush_interval=0.05, retry_base=0.05,
                    retry_max_delay=0.5, max_retries=200, timeout=3)
    return Analytics(url=url, token=token, project=project_id, **{**settings, **options})


def stored_per_message(postgres, project_id: str) -> tuple[Counter, Counter]:
    rows = events_of(postgres, project_id, "message_id, event, properties")
    return Counter(r["message_id"] for r in rows), Counter(r["properties"].get("n") for r in rows
                                                           if r["event"] == "streamed")


def test_sdk_events_reach_the_live_service_and_are_queryable(live_server, postgres):
    project_id, token = live_project(live_server.url)
    client = live_client(live_server.url, token, project_id)
    try:
        for n in range(45):
            client.track("checkout_completed", {"n": n, "plan": "pro" if n % 3 else "free"}, user_id=f"u_{n % 5}",
                         message_id=f"sdk-{project_id}-{n}")
        client.identify("u_1", {"plan": "pro"}, anonymous_id="anon-sdk-1")
        client.track("page_viewed", anonymous_id="anon-sdk-1")
        client.alias("anon-sdk-2", "u_2")
        assert client.flush(20)
        stats = client.stats()["destinations"]["reactor"]
        assert (stats["sent"], stats["rejected"], stats["failed"]) == (48, 0, 0)
    finally:
        client.close(5)

    def rows():
        answer = requests.post(f"{live_server.url}/analytics/v1/query", headers=ADMIN, timeout=10, json={
            "project_id": project_id, "kind": "events", "time_range": {"last": "1d"}, "limit": 1000})
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]["rows"]

    assert wait_until(lambda: len(rows()) == 48, 10)
    found = rows()
    checkouts = {r["message_id"]: r for r in found if r["event"] == "checkout_completed"}
    assert set(checkouts) == {f"sdk-{project_id}-{n}" for n in range(45)}
    assert checkouts[f"sdk-{project_id}-7"]["user_id"] == "u_2"
    assert checkouts[f"sdk-{project_id}-7"]["properties"] == {"n": 7, "plan": "pro"}
    assert Counter(r["event"] for r in found) == {"checkout_completed": 45, "$identify": 1, "page_viewed": 1,
                                                  "$alias": 1}
    stored = events_of(postgres, project_id, "event, library, anonymous_id, user_id")
    assert {r["library"] for r in stored} == {"reactor-analytics-python/0.1.0"}
    with psycopg.connect(postgres.url) as conn:
        links = conn.execute("SELECT anonymous_id, user_id FROM identity_links WHERE project_id = %s "
                             "AND anonymous_id <> user_id ORDER BY 1", (project_id,)).fetchall()
        traits = conn.execute("SELECT traits FROM person_traits WHERE project_id = %s", (project_id,)).fetchall()
    assert links == [("anon-sdk-1", "u_1"), ("anon-sdk-2", "u_2")]
    assert traits == [({"plan": "pro"},)]


def test_sdk_retries_through_a_kill_9_and_restart_with_nothing_lost_or_stored_twice(live_server, postgres):
    project_id, token = live_project(live_server.url)
    client = live_client(live_server.url, token, project_id)
    total, killed_at = 400, 150

    def retries() -> int:
        return client.stats()["destinations"]["reactor"]["retries"]

    try:
        down = False
        for n in range(total):
            client.track("streamed", {"n": n}, user_id=f"u_{n % 9}")
            if n == killed_at:
                live_server.kill9()  # mid-stream: batches in flight, acknowledged or not
                down = True
            elif down and retries() >= 1:
                live_server.start()  # back once the SDK has met it down
                down = False
            time.sleep(0.003)  # a steady stream, not a wait for anything
        if down:  # the events tracked since the kill are being tried against the dead server
            assert wait_until(lambda: retries() >= 1, 30)
            live_server.start()
        assert client.flush(60)
        stats = client.stats()["destinations"]["reactor"]
    finally:
        client.close(5)
    assert stats["retries"] >= 1 and stats["failed"] == 0 and stats["sent"] == total
    per_message, per_n = stored_per_message(postgres, project_id)
    assert len(per_message) == total and set(per_message.values()) == {1}
    assert per_n == Counter(range(total))  # every event once: none lost, none stored under a new id


class LosingProxy:
    """Forwards to the service, but throws away the service's answer to the first attempt of
    every batch and answers 502 instead, as if the connection died after the commit."""

    def __init__(self, target: str):
        self.forwarded: list[tuple[str, ...]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = requests.post(target + self.path, data=body, headers=headers, timeout=10)
                batch = tuple(e["message_id"] for e in json.loads(body)["batch"])
                first_attempt = batch not in proxy.forwarded
                proxy.forwarded.append(batch)
                status, data = (502, b"lost") if first_attempt else (answer.status_code, answer.content)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_lost_answers_are_retried_with_the_same_message_ids_and_stored_once(live_server, postgres):
    project_id, token = live_project(live_server.url)
    proxy = LosingProxy(live_server.url)
    client = live_client(proxy.url, token, project_id, flush_at=25, flush_interval=60)
    try:
        for n in range(50):
            client.track("streamed", {"n": n}, user_id="u_1")
        assert client.flush(20)
        assert client.stats()["destinations"]["reactor"]["retries"] == 2
    finally:
        client.close(5)
        proxy.close()
    # Each batch reached the service twice (its first answer lost), with the same message_ids.
    first, second = proxy.forwarded[0], proxy.forwarded[2]
    assert proxy.forwarded == [first, first, second, second] and len(set(first + second)) == 50
    per_message, per_n = stored_per_message(postgres, project_id)
    assert set(per_message) == set(first + second) and set(per_message.values()) == {1}
    assert per_n == Counter(range(50))


def test_a_sender_abandoned_at_shutdown_stops_instead_of_spinning(make_client):
    from reactor_analytics_sdk.errors import RetryableError

    attempts: list[int] = []

    class Down(Destination):
        name = "down"

        def send(self, batch):
            attempts.append(len(batch))
            raise RetryableError("unreachable")

    # 1000 retries of ~25-50 ms would keep a sender that ignored the shutdown busy for ~40 s.
    analytics = make_client(Down(), flush_at=5, retry_base=0.05, max_retries=1000)
    for i in range(50):
        analytics.track("e", anonymous_id="a")
    assert wait_until(lambda: len(attempts) >= 2, 10)  # the first batch is being retried
    sender = analytics._senders["down"]
    assert analytics.close(timeout=0.3) is False
    sender._thread.join(10)
    assert not sender._thread.is_alive()  # ended, not still retrying (nor spinning) in the background
    stats = analytics.stats()["destinations"]["down"]
    # The batch in flight is given up; nothing was delivered; no batch after it was tried.
    assert stats["sent"] == 0 and stats["failed"] == 5 and stats["failed"] + stats["queued"] == 50, stats
    assert set(attempts) == {5} and stats["retries"] == len(attempts)
