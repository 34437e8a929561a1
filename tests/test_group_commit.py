"""Group commit: concurrent ingest requests of one process share one transaction, and each is
answered as if it had been alone (idempotency, quotas, rejections, its own errors).

Groups are formed deterministically: the test holds the leader with a request of its own that is
"being prepared" (`arrive`) under a long `batch_interval_ms`, waits until the requests under test
are queued, then lets it go, so they all land in one group.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace

import psycopg
import pytest

from conftest import ADMIN, unique_slug, wait_for
from reactor_analytics.ingest import pipeline


class App:
    def __init__(self, config, interval_ms: int = 60_000, max_rows: int = 500, quota: int | None = None) -> None:
        from reactor_analytics.app import create_app

        analytics = replace(config.analytics, batch_interval_ms=interval_ms, batch_max_rows=max_rows)
        if quota is not None:
            analytics = replace(analytics, quota_per_org_monthly=quota)
        # Each waiting request holds its pooled connection, as under gunicorn (threads <= pool_max).
        database = replace(config.database, pool_max=12)
        self.app = create_app(replace(config, analytics=analytics, database=database))
        self.services = self.app.extensions["reactor"]
        self.committer = pipeline.committer(self.services)

    def project(self, org: str | None = None) -> tuple[str, dict]:
        client = self.app.test_client()
        body = {"slug": unique_slug()} | ({"org_id": org} if org else {})
        project_id = client.post("/analytics/v1/projects", json=body, headers=ADMIN).get_json()["data"]["id"]
        key = client.post(f"/analytics/v1/projects/{project_id}/keys", json={"name": "k"},
                          headers=ADMIN).get_json()["data"]["key"]
        return project_id, {"X-Reactor-Project-Key": key}

    def post(self, headers: dict, batch: list[dict]):
        return self.app.test_client().post("/analytics/v1/batch", json={"batch": batch}, headers=headers)

    def in_one_group(self, requests: list[tuple[dict, list[dict]]]) -> list:
        """Send `requests` concurrently and commit them as one group; their answers, in order."""
        held = self.committer.arrive()
        answers: list = [None] * len(requests)

        def send(i: int) -> None:
            answers[i] = self.post(*requests[i])

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
        for thread in threads:
            thread.start()
        wait_for(lambda: len(self.committer._queue) == len(requests), 30, what="every request queued")
        self.committer.leave(held)
        for thread in threads:
            thread.join(30)
        return answers

    def close(self) -> None:
        self.services.db.close()


def events(n: int, **fields) -> list[dict]:
    return [{"event": "e", "anonymous_id": f"a-{i}", "message_id": str(uuid.uuid4())} | fields for i in range(n)]


def stored(postgres, project_id: str) -> list[str]:
    with psycopg.connect(postgres.url) as conn:
        return [r[0] for r in conn.execute("SELECT message_id FROM events WHERE project_id = %s", (project_id,))]


@pytest.fixture()
def app(config):
    app = App(config)
    yield app
    app.close()


def test_concurrent_requests_share_one_transaction(app, postgres):
    projects = [app.project() for _ in range(3)]
    batches = [(headers, events(10)) for _, headers in projects for _ in range(2)]
    groups_before = app.committer.groups
    answers = app.in_one_group(batches)
    assert [a.status_code for a in answers] == [200] * 6
    assert [a.get_json()["data"]["accepted"] for a in answers] == [10] * 6
    assert app.committer.groups == groups_before + 1
    for (project_id, _), pair in zip(projects, (batches[0:2], batches[2:4], batches[4:6])):
        assert sorted(stored(postgres, project_id)) == sorted(e["message_id"] for _, b in pair for e in b)


def test_a_lone_request_is_committed_without_waiting_for_the_interval(app, postgres):
    project_id, headers = app.project()
    answer = app.post(headers, events(3))  # the interval is 60 s: it would time out the test
    assert answer.status_code == 200
    assert len(stored(postgres, project_id)) == 3


def test_a_message_id_repeated_within_a_group_or_already_stored_is_stored_once(app, postgres):
    project_id, headers = app.project()
    retried = events(5)
    assert app.post(headers, retried).status_code == 200
    twice = events(4)
    fresh = events(6)
    answers = app.in_one_group([(headers, twice), (headers, twice), (headers, retried + events(2)),
                                (headers, fresh)])
    assert [a.status_code for a in answers] == [200] * 4
    ids = stored(postgres, project_id)
    assert len(ids) == len(set(ids)) == 5 + 4 + 2 + 6
    assert {e["message_id"] for e in twice + fresh + retried} <= set(ids)


def test_one_requests_quota_failure_is_its_own(config, postgres):
    app = App(config, quota=10)
    try:
        org_full = f"org_{uuid.uuid4().hex[:8]}"
        full_id, full = app.project(org_full)
        ok_id, ok = app.project(f"org_{uuid.uuid4().hex[:8]}")
        answers = app.in_one_group([(full, events(8)), (ok, events(5)), (full, events(8)), (ok, events(5))])
        statuses = [a.status_code for a in answers]
        assert statuses[1] == statuses[3] == 200
        assert sorted(statuses[0::2]) == [200, 429]  # one of the two passes the org's quota of 10
        refused = answers[0] if statuses[0] == 429 else answers[2]
        assert refused.get_json()["error"]["code"] == "analytics.quota.exceeded"
        assert len(stored(postgres, full_id)) == 8
        assert len(stored(postgres, ok_id)) == 10
    finally:
        app.close()


def test_rejections_are_per_request_within_a_group(app, postgres):
    project_id, headers = app.project()
    good = events(3)
    bad = events(2) + [{"event": "", "anonymous_id": "x"}]
    answers = app.in_one_group([(headers, good), (headers, bad)])
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].get_json()["data"]["accepted"] == 3
    assert answers[1].get_json()["data"]["accepted"] == 2
    assert [r["index"] for r in answers[1].get_json()["data"]["rejected"]] == [2]
    assert len(stored(postgres, project_id)) == 5


def test_a_group_holds_at_most_batch_max_rows(config, postgres):
    app = App(config, max_rows=25)
    try:
        project_id, headers = app.project()
        held = app.committer.arrive()
        threads = [threading.Thread(target=lambda: answers.append(app.post(headers, events(10))))
                   for _ in range(5)]
        answers: list = []
        for thread in threads:
            thread.start()
        # Once 25 rows are queued the committer stops waiting for company (the held request too).
        wait_for(lambda: app.committer.largest_group, 30, what="a group committed")
        app.committer.leave(held)
        for thread in threads:
            thread.join(30)
        assert [a.status_code for a in answers] == [200] * 5
        assert app.committer.largest_group == 20  # a third request of 10 rows would pass 25
        assert len(stored(postgres, project_id)) == 50
    finally:
        app.close()
