"""The Python SDK's default transport, gRPC, against `reactor serve`: events sent with
`Analytics.track()` are stored and found by the query API; a server killed mid-stream is retried
without losing or duplicating anything."""

from __future__ import annotations

import threading
import time

import psycopg
import requests

from conftest import ADMIN_TOKEN, LiveServer, unique_slug
from reactor_analytics_sdk import Analytics
from test_client_destinations import wait_until

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _setup(server) -> tuple[str, str, str]:
    slug = unique_slug("sdk")
    project_id = requests.post(server.url + "/analytics/v1/projects", json={"slug": slug}, headers=ADMIN,
                               timeout=10).json()["data"]["id"]
    token = requests.post(server.url + "/_admin/tokens", json={"sub": "fn", "permissions": [
        f"analytics:{slug}:ingest", f"analytics:{slug}:query"]}, headers=ADMIN, timeout=10).json()["data"]["token"]
    return project_id, slug, token


def _stored(postgres, project_id: str) -> dict[str, int]:
    with psycopg.connect(postgres.url) as conn:
        return dict(conn.execute("SELECT message_id, count(*) FROM events WHERE project_id = %s GROUP BY 1",
                                 (project_id,)).fetchall())


def test_sdk_over_grpc_is_the_default_and_its_events_are_queryable(postgres, tmp_path):
    server = LiveServer(postgres, tmp_path).start()
    try:
        project_id, slug, token = _setup(server)
        analytics = Analytics(url=f"grpc://{server.grpc_target}", token=token, project=slug, env={},
                              flush_at=10, flush_interval=0.2)
        assert analytics._senders["reactor"].destination.transport_name == "grpc"
        for i in range(25):
            analytics.track("order_paid", {"cents": 1999, "n": i}, user_id=f"u_{i % 5}")
        analytics.identify("u_1", {"plan": "pro"}, anonymous_id="anon_1")
        analytics.alias("anon_9", "u_2")
        assert analytics.flush(30)
        stats = analytics.stats()["destinations"]["reactor"]
        assert (stats["sent"], stats["rejected"], stats["failed"]) == (27, 0, 0)

        def unique_payers():
            answer = requests.post(server.url + "/analytics/v1/query", json={
                "kind": "aggregate", "time_range": {"last": "1d"}, "measure": "unique_users",
                "filter": {"event": {"eq": "order_paid"}}},
                headers={"Authorization": f"Bearer {token}", "X-Reactor-Project": slug}, timeout=10).json()
            return answer["data"]["rows"][0]["value"] if answer["data"]["rows"] else answer

        assert wait_until(lambda: unique_payers() == 5, 30), unique_payers()
        stored = _stored(postgres, project_id)
        assert len(stored) == 27 and set(stored.values()) == {1}
        analytics.close()
    finally:
        server.stop()


def test_sdk_retries_through_a_killed_server_and_stores_each_event_once(postgres, tmp_path):
    server = LiveServer(postgres, tmp_path).start()
    try:
        project_id, slug, token = _setup(server)
        analytics = Analytics(url=f"grpc://{server.grpc_target}", token=token, project=slug, env={},
                              flush_at=20, flush_interval=0.1, retry_base=0.2, retry_max_delay=1.0, max_retries=100)
        sent = 0
        done = threading.Event()

        def produce() -> None:
            nonlocal sent
            while not done.is_set() and sent < 5_000:  # under max_queue_size: none dropped while it is down
                analytics.track("tick", {"i": sent}, anonymous_id="a")
                sent += 1
                time.sleep(0.0005)  # a steady stream, not a wait for anything

        def stats() -> dict:
            return analytics.stats()["destinations"]["reactor"]

        def stored_count() -> int:
            return sum(_stored(postgres, project_id).values())

        producer = threading.Thread(target=produce)
        producer.start()
        try:
            assert wait_until(lambda: stored_count() > 0, 30)  # streaming into the service
            server.kill9()
            assert wait_until(lambda: stats()["retries"] >= 1, 30)  # the SDK met the dead server
            before_restart = stored_count()
            server.start()
            # Events sent after the restart arrive too, while the producer keeps going.
            assert wait_until(lambda: stored_count() > before_restart, 30)
        finally:
            done.set()
            producer.join(30)
        assert analytics.flush(60)
        analytics.close()
        assert (stats()["sent"], stats()["failed"], stats()["dropped"]) == (sent, 0, 0), (sent, stats())
        stored = _stored(postgres, project_id)
        assert sum(stored.values()) == len(stored) == sent
    finally:
        server.stop()
