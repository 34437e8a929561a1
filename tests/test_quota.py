"""The monthly org quota as the README promises it: counted per calendar month (UTC), so a past
month's usage does not count this month; `quota_per_org_monthly = 0` turns it off; gRPC calls are
held to it like HTTP (RESOURCE_EXHAUSTED with `analytics.quota.exceeded`). The month is pinned
here, so no test meets the real month's end."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import replace

import grpc
import jwt
import psycopg
import pytest

from conftest import ADMIN, JWT_SECRET, free_port, unique_slug
from reactor_analytics.rpc.errors import error_info
from reactor_analytics.rpc.gen import analytics_pb2 as pb
from reactor_analytics.rpc.gen import analytics_pb2_grpc as pb_grpc


class Org:
    """An app whose orgs may store `quota` events a month, and a new org with one project."""

    def __init__(self, config, quota: int, org: str | None = None) -> None:
        from reactor_analytics.app import create_app

        self.config = replace(config, analytics=replace(config.analytics, quota_per_org_monthly=quota))
        self.app = create_app(self.config)
        self.client = self.app.test_client()
        self.org = org or f"org_{uuid.uuid4().hex[:8]}"
        self.project_id = self.client.post("/analytics/v1/projects", json={"slug": unique_slug(), "org_id": self.org},
                                           headers=ADMIN).get_json()["data"]["id"]
        key = self.client.post(f"/analytics/v1/projects/{self.project_id}/keys", json={"name": "k"},
                               headers=ADMIN).get_json()["data"]["key"]
        self.headers = {"X-Reactor-Project-Key": key}

    def send(self, n: int) -> int:
        batch = [{"event": "e", "anonymous_id": "a", "message_id": str(uuid.uuid4())} for _ in range(n)]
        answer = self.client.post("/analytics/v1/batch", json={"batch": batch}, headers=self.headers)
        if answer.status_code == 429:
            assert answer.get_json()["error"]["code"] == "analytics.quota.exceeded"
        return answer.status_code

    def close(self) -> None:
        self.app.extensions["reactor"].db.close()


def _stored(postgres, project_id: str) -> int:
    with psycopg.connect(postgres.url) as conn:
        return conn.execute("SELECT count(*) FROM events WHERE project_id = %s", (project_id,)).fetchone()[0]


def _usage(postgres, org: str) -> dict[dt.date, int]:
    with psycopg.connect(postgres.url) as conn:
        return dict(conn.execute("SELECT month, events FROM org_usage WHERE org_id = %s", (org,)).fetchall())


@pytest.fixture(autouse=True)
def pinned_month(monkeypatch):
    """Every test here runs in a month of its choosing (June 2026 unless it says), never across
    the real month's end."""
    from reactor_analytics.governance import quota

    def pin(month: dt.date) -> dt.date:
        monkeypatch.setattr(quota, "this_month", lambda: month)
        return month

    pin(dt.date(2026, 6, 1))
    return pin


def test_a_past_months_usage_does_not_count_this_month(config, postgres, pinned_month):
    org = Org(config, 5)
    try:
        last_month, this_month = dt.date(2026, 12, 1), pinned_month(dt.date(2027, 1, 1))
        # Last month used the whole quota, and more (as after a lowered quota).
        with psycopg.connect(postgres.url) as conn:
            conn.execute("INSERT INTO org_usage (org_id, month, events) VALUES (%s, %s, 7)", (org.org, last_month))
        assert org.send(5) == 200
        assert org.send(1) == 429
        assert _usage(postgres, org.org) == {last_month: 7, this_month: 5}
        assert _stored(postgres, org.project_id) == 5
    finally:
        org.close()


def test_an_org_used_up_last_month_may_store_again_when_the_month_turns(config, postgres, pinned_month):
    """A worker that saw the org used up in one month still takes its events in the next."""
    org = Org(config, 4)
    try:
        may = pinned_month(dt.date(2026, 5, 1))
        assert org.send(4) == 200
        assert org.send(1) == 429  # counted in the database
        assert org.send(1) == 429  # remembered by this worker, refused before the database
        june = pinned_month(dt.date(2026, 6, 1))
        assert org.send(3) == 200
        assert org.send(1) == 200
        assert org.send(1) == 429
        assert _usage(postgres, org.org) == {may: 4, june: 4}
        assert _stored(postgres, org.project_id) == 8
    finally:
        org.close()


def test_a_quota_of_0_is_off(config, postgres):
    # The org is used up under a quota of 1, in this process (which remembers it) ...
    small = Org(config, 1)
    try:
        assert small.send(1) == 200
        assert small.send(1) == 429
    finally:
        small.close()
    # ... and a quota of 0 takes any number of its events, more than a batch, every time.
    unlimited = Org(config, 0, org=small.org)
    try:
        for n in (100, 100, 50):
            assert unlimited.send(n) == 200
        assert _stored(postgres, unlimited.project_id) == 250
        assert _stored(postgres, small.project_id) == 1
    finally:
        unlimited.close()


@pytest.fixture()
def grpc_quota(config):
    """A gRPC server of the service (the servicer `reactor grpc` runs) over an app whose orgs may
    store 5 events a month: (stub, org, its project id, ingest metadata for it)."""
    from reactor_analytics.rpc.server import build

    org = Org(replace(config, grpc=replace(config.grpc, bind=f"127.0.0.1:{free_port()}", workers=1)), 5)
    server, _ = build(org.config, services=org.app.extensions["reactor"])
    server.start()
    token = jwt.encode({"sub": "svc", "org_id": org.org, "permissions": [f"analytics:{org.project_id}:ingest"],
                        "exp": int(time.time()) + 600}, JWT_SECRET, algorithm="HS256")
    try:
        with grpc.insecure_channel(org.config.grpc.bind) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield pb_grpc.AnalyticsStub(channel), org, [("authorization", f"Bearer {token}")]
    finally:
        server.stop(None)
        org.close()


def _refusal(call) -> tuple[grpc.StatusCode, str, dict]:
    with pytest.raises(grpc.RpcError) as failed:
        call()
    info = error_info(failed.value)
    return failed.value.code(), info.reason if info else "", dict(info.metadata) if info else {}


def test_grpc_ingest_is_held_to_the_quota(grpc_quota, postgres):
    from reactor_analytics.observability import metrics

    stub, org, md = grpc_quota
    project = org.project_id
    before = metrics.QUOTA_EXCEEDED.labels(org.org)._value.get()
    events = [pb.Event(event="e", anonymous_id="a", message_id=f"m{i}") for i in range(4)]
    assert stub.Batch(pb.BatchRequest(project=project, events=events), metadata=md, timeout=30).accepted == 4
    # A batch that would pass the quota is refused whole.
    over = [pb.Event(event="e", anonymous_id="a", message_id=f"n{i}") for i in range(2)]
    refused = _refusal(lambda: stub.Batch(pb.BatchRequest(project=project, events=over), metadata=md, timeout=30))
    assert refused == (grpc.StatusCode.RESOURCE_EXHAUSTED, "analytics.quota.exceeded", {"org_id": org.org})
    assert stub.Track(pb.TrackRequest(project=project, event=pb.Event(event="e", anonymous_id="a")),
                      metadata=md, timeout=30).accepted == 1
    for call in (
            lambda: stub.Track(pb.TrackRequest(project=project, event=pb.Event(event="e", anonymous_id="a")),
                               metadata=md, timeout=30),
            lambda: stub.Identify(pb.IdentifyRequest(project=project, anonymous_id="a2", user_id="u2"),
                                  metadata=md, timeout=30),
            lambda: stub.Alias(pb.AliasRequest(project=project, previous_id="a3", user_id="u3"), metadata=md,
                               timeout=30)):
        assert _refusal(call)[:2] == (grpc.StatusCode.RESOURCE_EXHAUSTED, "analytics.quota.exceeded")
    assert _stored(postgres, project) == 5
    assert _usage(postgres, org.org) == {dt.date(2026, 6, 1): 5}
    assert metrics.QUOTA_EXCEEDED.labels(org.org)._value.get() == before + 4
