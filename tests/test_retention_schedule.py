"""The retention schedule (README "Retention"): the engine process of `reactor serve` sweeps
every `retention_interval_s` by itself, removing a project's expired events from PostgreSQL and
from query answers, with no one asking for it."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import psycopg
import requests

from conftest import ADMIN, LiveServer, unique_slug


def _events(postgres, project_id: str) -> list[str]:
    with psycopg.connect(postgres.url) as conn:
        return sorted(r[0] for r in conn.execute("SELECT event FROM events WHERE project_id = %s", (project_id,)))


def test_the_engine_sweeps_expired_events_on_its_schedule(postgres, tmp_path):
    server = LiveServer(postgres, tmp_path, workers=1, REACTOR_ANALYTICS_RETENTION_INTERVAL_S="1").start()
    try:
        # Made after the sweep the engine runs at start: only the schedule can reach it.
        created = requests.post(server.url + "/analytics/v1/projects", json={
            "slug": unique_slug("ret"), "retention_days": 2}, headers=ADMIN, timeout=10).json()["data"]
        assert created["retention_days"] == 2
        project = created["id"]
        key = requests.post(f"{server.url}/analytics/v1/projects/{project}/keys", json={"name": "k"},
                            headers=ADMIN, timeout=10).json()["data"]["key"]
        now = dt.datetime.now(dt.timezone.utc)
        batch = [{"event": "expired", "anonymous_id": "a", "message_id": str(uuid.uuid4()),
                  "timestamp": (now - dt.timedelta(days=3, minutes=i)).isoformat()} for i in range(3)]
        batch += [{"event": "kept", "anonymous_id": "a", "message_id": str(uuid.uuid4()),
                   "timestamp": (now - dt.timedelta(days=1, minutes=i)).isoformat()} for i in range(2)]
        answer = requests.post(server.url + "/analytics/v1/batch", json={"batch": batch},
                               headers={"X-Reactor-Project-Key": key}, timeout=10)
        assert answer.json()["data"]["accepted"] == 5, answer.text

        def counted() -> int:
            answer = requests.post(server.url + "/analytics/v1/query", json={
                "project_id": project, "kind": "aggregate", "time_range": {"last": "7d"}}, headers=ADMIN, timeout=10)
            assert answer.status_code == 200, answer.text
            return answer.json()["data"]["rows"][0]["value"]

        # Nobody calls for a sweep: wait for the schedule, with a deadline twenty intervals away.
        deadline = time.monotonic() + 20
        while _events(postgres, project) != ["kept", "kept"] or counted() != 2:
            assert time.monotonic() < deadline, (_events(postgres, project), counted())
            time.sleep(0.2)
        with psycopg.connect(postgres.url) as conn:
            audit = conn.execute("SELECT detail FROM audit_log WHERE project_id = %s AND action = 'retention'",
                                 (project,)).fetchall()
        assert [row[0] for row in audit] == [{"events": 3, "retention_days": 2}]
    finally:
        server.stop()
