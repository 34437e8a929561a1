"""The gRPC service, as `reactor serve` runs it: same pipeline, engine, permissions and errors as HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid

import grpc
import psycopg
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from conftest import ADMIN_TOKEN, LiveServer, events_of, unique_slug
from reactor_analytics.rpc.errors import error_info
from reactor_analytics.rpc.gen import analytics_pb2 as pb
from reactor_analytics.rpc.gen import analytics_pb2_grpc as pb_grpc
from reactor_analytics.rpc.service import SERVICE

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory):
    live = LiveServer(postgres, tmp_path_factory.mktemp("grpc")).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.grpc_target) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        yield ch


def _project(server) -> tuple[str, str]:
    slug = unique_slug("grpc")
    data = requests.post(server.url + "/analytics/v1/projects", json={"slug": slug}, headers=ADMIN, timeout=10).json()
    return data["data"]["id"], slug


def _token(server, *permissions: str) -> list[tuple[str, str]]:
    minted = requests.post(server.url + "/_admin/tokens", json={"sub": "svc", "permissions": list(permissions)},
                           headers=ADMIN, timeout=10).json()["data"]["token"]
    return [("authorization", f"Bearer {minted}")]


def _code(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as failed:
        call()
    info = error_info(failed.value)
    return failed.value.code(), info.reason if info else ""


def test_health_reflection_and_http_health_report_grpc(server, channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "reactor.analytics.v1.Analytics"):
        assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    answer = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                            timeout=5))
    names = {s.name for s in answer.list_services_response.service}
    assert {"reactor.analytics.v1.Analytics", "grpc.health.v1.Health"} <= names
    body = requests.get(server.url + "/health", timeout=10).json()
    assert body["parts"]["grpc"] == "ok"
    doctor = requests.get(server.url + "/_admin/doctor", headers=ADMIN, timeout=10).json()
    assert any(c["name"] == "grpc" and c["status"] == "ok" for c in doctor["analytics"]["checks"])


def test_ingest_query_and_erase_over_grpc(server, channel, postgres):
    project_id, slug = _project(server)
    stub = pb_grpc.AnalyticsStub(channel)
    md = _token(server, f"analytics:{slug}:ingest", f"analytics:{slug}:query", f"analytics:{slug}:erase")
    props = b'{"plan":"pro","cents":9007199254740993}'
    assert stub.Track(pb.TrackRequest(project=slug, event=pb.Event(
        event="signup", anonymous_id="anon_g", properties=props, message_id="m-track")), metadata=md).accepted == 1
    batch = stub.Batch(pb.BatchRequest(project=project_id, events=[
        pb.Event(event="view", anonymous_id="anon_g", message_id=f"m-{i}") for i in range(5)] + [
        pb.Event(event="", anonymous_id="anon_g")]), metadata=md)
    assert batch.accepted == 5 and [r.reason for r in batch.rejected] == ["invalid_name"] and batch.rejected[0].index == 5
    assert stub.Identify(pb.IdentifyRequest(project=slug, anonymous_id="anon_g", user_id="u_g",
                                            traits=b'{"email":"g@mail.test"}'), metadata=md).accepted == 1
    assert stub.Alias(pb.AliasRequest(project=slug, previous_id="anon_g2", user_id="u_g"), metadata=md).accepted == 1
    # A retry with the same message_id is stored once.
    stub.Track(pb.TrackRequest(project=slug, event=pb.Event(event="signup", anonymous_id="anon_g",
                                                              message_id="m-track")), metadata=md)
    with psycopg.connect(postgres.url) as conn:
        stored = conn.execute("SELECT properties FROM events WHERE project_id = %s AND message_id = 'm-track'",
                              (project_id,)).fetchall()
    assert stored == [({"plan": "pro", "cents": 9007199254740993},)]

    answer = stub.Query(pb.QueryRequest(project=slug, query=json.dumps(
        {"kind": "aggregate", "time_range": {"last": "1d"}, "measure": "unique_users"}).encode()), metadata=md)
    assert answer.kind == "aggregate" and json.loads(answer.rows)[0]["value"] == 1
    http = requests.post(server.url + "/analytics/v1/query", json={
        "kind": "aggregate", "time_range": {"last": "1d"}}, headers={"Authorization": md[0][1],
                                                                     "X-Reactor-Project": slug}, timeout=10).json()
    assert json.loads(stub.Query(pb.QueryRequest(project=slug, query=b'{"kind":"aggregate","time_range":{"last":"1d"}}'),
                                 metadata=md).rows) == http["data"]["rows"]
    # A web query with compare: the earlier range's rows travel beside the rows, as over HTTP.
    web = {"kind": "web", "time_range": {"last": "1d"}, "metrics": ["visitors", "visits"], "compare": "previous_period"}
    web_reply = stub.Query(pb.QueryRequest(project=slug, query=json.dumps(web).encode()), metadata=md)
    web_http = requests.post(server.url + "/analytics/v1/query", json=web, headers={
        "Authorization": md[0][1], "X-Reactor-Project": slug}, timeout=10).json()["data"]
    assert json.loads(web_reply.rows) == web_http["rows"] == [{"visitors": 1, "visits": 1}]
    assert json.loads(web_reply.comparison) == web_http["comparison"] == [{"visitors": 0, "visits": 0}]
    assert stub.Query(pb.QueryRequest(project=slug, query=b'{"kind":"aggregate"}'), metadata=md).comparison == b""

    erased = stub.Erase(pb.EraseRequest(project=slug, user_id="u_g"), metadata=md)
    assert (erased.events, erased.identity_links, erased.traits) == (8, 2, 1)
    again = stub.Query(pb.QueryRequest(project=slug, query=b'{"kind":"aggregate","time_range":{"last":"1d"}}'),
                       metadata=md)
    assert json.loads(again.rows)[0]["value"] == 0


def test_a_token_without_org_cannot_reach_another_orgs_project_over_grpc(server, channel, postgres):
    """A JWT without org_id belongs to the default org: another org's project answers as an unknown one."""
    slug = unique_slug("grpc-org")
    foreign = requests.post(server.url + "/analytics/v1/projects", json={"slug": slug, "org_id": "org_grpc_other"},
                            headers=ADMIN, timeout=10).json()["data"]
    key = requests.post(server.url + f"/analytics/v1/projects/{foreign['id']}/keys", json={"name": "k"},
                        headers=ADMIN, timeout=10).json()["data"]["key"]
    assert requests.post(server.url + "/analytics/v1/track", json={"event": "e", "user_id": "u_o"},
                         headers={"X-Reactor-Project-Key": key}, timeout=10).status_code == 200
    own_id, own = _project(server)
    stub = pb_grpc.AnalyticsStub(channel)
    md = _token(server, "analytics:*:ingest", "analytics:*:query", "analytics:*:erase")

    def rows() -> tuple:
        with psycopg.connect(postgres.url) as conn:
            return tuple(conn.execute(f"SELECT count(*) FROM {table} WHERE project_id = %s",
                                      (foreign["id"],)).fetchone()[0] for table in ("events", "identity_links"))

    before = rows()
    assert before[0] == 1
    query = b'{"kind":"aggregate","time_range":{"last":"1d"}}'
    event = pb.Event(event="e", anonymous_id="a")
    calls = [lambda p: stub.Track(pb.TrackRequest(project=p, event=event), metadata=md),
             lambda p: stub.Batch(pb.BatchRequest(project=p, events=[event]), metadata=md),
             lambda p: stub.Identify(pb.IdentifyRequest(project=p, anonymous_id="a", user_id="u_o"), metadata=md),
             lambda p: stub.Alias(pb.AliasRequest(project=p, previous_id="a", user_id="u_o"), metadata=md),
             lambda p: stub.Query(pb.QueryRequest(project=p, query=query), metadata=md),
             lambda p: stub.Erase(pb.EraseRequest(project=p, user_id="u_o"), metadata=md)]
    for call in calls:
        for ref, unknown in ((foreign["id"], "p_doesnotexist00"), (slug, unique_slug("nothing"))):
            got = _code(lambda: call(ref))
            assert got == _code(lambda: call(unknown)) == (grpc.StatusCode.PERMISSION_DENIED,
                                                            "analytics.auth.forbidden")
    assert json.loads(stub.Query(pb.QueryRequest(project=own, query=query), metadata=md).rows)[0]["value"] == 0
    assert rows() == before


def test_grpc_errors_carry_the_http_error_codes(server, channel):
    project_id, slug = _project(server)
    other_id, other = _project(server)
    stub = pb_grpc.AnalyticsStub(channel)
    raw_batch = channel.unary_unary("/reactor.analytics.v1.Analytics/Batch", request_serializer=None,
                                    response_deserializer=pb.IngestReply.FromString)
    md = _token(server, f"analytics:{slug}:ingest", f"analytics:{slug}:query")
    event = pb.Event(event="e", anonymous_id="a")
    cases = [
        (lambda: stub.Track(pb.TrackRequest(project=slug, event=event)),
         grpc.StatusCode.UNAUTHENTICATED, "analytics.auth.unauthenticated"),
        (lambda: stub.Track(pb.TrackRequest(project=slug, event=event), metadata=[("authorization", "Bearer x.y.z")]),
         grpc.StatusCode.UNAUTHENTICATED, "analytics.auth.unauthenticated"),
        (lambda: stub.Track(pb.TrackRequest(project=other, event=event), metadata=md),
         grpc.StatusCode.PERMISSION_DENIED, "analytics.auth.forbidden"),
        (lambda: stub.Track(pb.TrackRequest(project=slug, event=event), metadata=md + [("x-reactor-project", other)]),
         grpc.StatusCode.PERMISSION_DENIED, "analytics.auth.forbidden"),
        (lambda: stub.Erase(pb.EraseRequest(project=slug, user_id="u"), metadata=md),
         grpc.StatusCode.PERMISSION_DENIED, "analytics.auth.forbidden"),
        (lambda: stub.Erase(pb.EraseRequest(project=slug), metadata=md),
         grpc.StatusCode.INVALID_ARGUMENT, "analytics.invalid_request"),
        (lambda: stub.Track(pb.TrackRequest(project=slug, event=pb.Event(event="e", anonymous_id="a",
                                                                         properties=b"{not json")), metadata=md),
         grpc.StatusCode.INVALID_ARGUMENT, "analytics.invalid_json"),
        (lambda: stub.Track(pb.TrackRequest(project=slug, event=pb.Event(
            event="e", anonymous_id="a", properties=json.dumps({"x": "y" * 40_000}).encode())), metadata=md),
         grpc.StatusCode.INVALID_ARGUMENT, "analytics.event.properties_too_large"),
        (lambda: stub.Batch(pb.BatchRequest(project=slug, events=[event] * 101), metadata=md),
         grpc.StatusCode.INVALID_ARGUMENT, "analytics.batch.too_many_events"),
        (lambda: stub.Track(pb.TrackRequest(event=event), metadata=md),
         grpc.StatusCode.INVALID_ARGUMENT, "analytics.project.missing"),
        (lambda: stub.Query(pb.QueryRequest(project=slug, query=b"[1]"), metadata=md),
         grpc.StatusCode.INVALID_ARGUMENT, "analytics.invalid_request"),
        (lambda: stub.Query(pb.QueryRequest(project=slug, query=b'{"kind":"nope"}'), metadata=md),
         grpc.StatusCode.INVALID_ARGUMENT, "analytics.query.unknown_kind"),
        # Batch reaches the native core as wire bytes: properties must be one JSON value (no way to
        # smuggle a second event or a project_id into the body), and bytes that are not a
        # BatchRequest are the caller's error.
        (lambda: stub.Batch(pb.BatchRequest(project=slug, events=[pb.Event(
            event="e", anonymous_id="a", properties=b'{}, {"event": "x", "anonymous_id": "b"}')]), metadata=md),
         grpc.StatusCode.INVALID_ARGUMENT, "analytics.invalid_json"),
        (lambda: raw_batch(b"\x12\x05\x0a\x01", metadata=md),
         grpc.StatusCode.INVALID_ARGUMENT, "analytics.invalid_request"),
        (lambda: raw_batch(b"\x0a\x02\xff\xfe", metadata=md),
         grpc.StatusCode.INVALID_ARGUMENT, "analytics.invalid_request"),
    ]
    for call, status, reason in cases:
        assert _code(call) == (status, reason)
    # A deadline already past when the call is made fails as DEADLINE_EXCEEDED. (Not a tiny one:
    # gRPC sends a 1 us deadline as about 1 ms, which a call sometimes meets; what the server does
    # with a passed deadline is test_a_call_whose_deadline_has_passed_does_no_work.)
    assert _code(lambda: stub.Track(pb.TrackRequest(project=slug, event=pb.Event(event="late", anonymous_id="a")),
                                    metadata=md, timeout=0))[0] == grpc.StatusCode.DEADLINE_EXCEEDED


class _Aborted(Exception):
    pass


class _Context:
    """A grpc.ServicerContext with a chosen time remaining: the server side of a deadline, exactly."""

    def __init__(self, remaining: float, metadata: list[tuple[str, str]]) -> None:
        self.remaining, self.metadata, self.code = remaining, metadata, None

    def time_remaining(self) -> float:
        return self.remaining

    def invocation_metadata(self):
        return self.metadata

    def abort(self, code, details):
        self.code = code
        raise _Aborted(details)

    def abort_with_status(self, status):
        self.abort(status.code, status.details)


@pytest.mark.parametrize("remaining", [0.0, -0.5])
def test_a_call_whose_deadline_has_passed_does_no_work(app, postgres, remaining):
    from conftest import Project, events_of
    from reactor_analytics.rpc.service import AnalyticsService

    project = Project(app.test_client())
    minted = app.test_client().post("/_admin/tokens", json={"sub": "svc", "permissions": [
        f"analytics:{project.id}:ingest", f"analytics:{project.id}:erase"]}, headers=ADMIN).get_json()["data"]["token"]
    md = [("authorization", f"Bearer {minted}")]
    service = AnalyticsService(app.extensions["reactor"])
    track = pb.TrackRequest(project=project.id, event=pb.Event(event="late", anonymous_id="a", user_id="u"))
    late = _Context(remaining, md)
    with pytest.raises(_Aborted):
        service.Track(track, late)
    assert late.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert events_of(postgres, project.id) == []
    # The same call with time left stores the event, and a late erasure erases nothing.
    assert service.Track(track, _Context(5.0, md)).accepted == 1
    erase = _Context(remaining, md)
    with pytest.raises(_Aborted):
        service.Erase(pb.EraseRequest(project=project.id, user_id="u"), erase)
    assert erase.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert len(events_of(postgres, project.id)) == 1


@contextlib.contextmanager
def _holding(postgres, project_id: str, message_id: str):
    """An open transaction that has inserted the event `message_id` of the project: a call that
    stores the same message_id waits inside the server (on the primary key) until the test leaves
    this block, which rolls the row back, so the call's own insert then goes through."""
    with psycopg.connect(postgres.url) as conn:
        conn.execute("INSERT INTO events (project_id, message_id, event, ts, received_at, distinct_id) "
                     "VALUES (%s, %s, 'held', now(), now(), 'held')", (project_id, message_id))
        try:
            yield conn
        finally:
            conn.rollback()


def _waiting_for(postgres, held) -> list[int]:
    """The database sessions that wait for a row lock `held` holds (not an engine going to sleep,
    which waits for the tails' advisory lock that `held`'s insert took shared)."""
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid)) "
                                           "AND wait_event IS DISTINCT FROM 'advisory'",
                                           (held.info.backend_pid,))]


def _until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.02)


def test_a_deadline_that_passes_while_the_server_works_stores_nothing(server, channel, postgres):
    """The call reaches the database and waits there (for a row the test holds) while its deadline
    passes; the row is then released, and the server must not go on to store the event."""
    project_id, slug = _project(server)
    stub = pb_grpc.AnalyticsStub(channel)
    md = _token(server, f"analytics:{slug}:ingest")
    assert stub.Track(pb.TrackRequest(project=slug, event=pb.Event(event="warm", anonymous_id="a")),
                      metadata=md, timeout=30).accepted == 1
    before = events_of(postgres, project_id)
    worker = None
    # The deadline must pass while the server waits, not before the call gets there: on a machine
    # too loaded for the call to reach the database in time, try again with a longer one.
    for seconds in (2.0, 8.0, 30.0):
        message_id = f"late-{uuid.uuid4().hex}"
        with _holding(postgres, project_id, message_id) as held:
            call = stub.Track.future(pb.TrackRequest(project=slug, event=pb.Event(
                event="late", anonymous_id="a", message_id=message_id)), metadata=md, timeout=seconds)
            waiting = _until(lambda: _waiting_for(postgres, held) or call.done(), seconds + 30,
                             "the call reached the database or ended")
            with pytest.raises(grpc.RpcError) as failed:
                call.result(timeout=seconds + 30)
            assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            if isinstance(waiting, list):
                worker = waiting[0]
                assert _waiting_for(postgres, held) in ([], [worker])
                break
    assert worker is not None, "the call never reached the database before its deadline"
    # Released: wait until the server's database session has finished with the call.
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        _until(lambda: conn.execute("SELECT state FROM pg_stat_activity WHERE pid = %s",
                                    (worker,)).fetchone() in (None, ("idle",)), 30, "the server finished the call")
    assert events_of(postgres, project_id) == before


def test_sigterm_finishes_a_call_in_flight_turns_health_not_serving_and_loses_nothing(postgres, tmp_path):
    """A call held inside the server (its insert waits for a row the test holds) when SIGTERM
    arrives: health turns NOT_SERVING while it is held, and once released it succeeds and is
    stored. Senders keep calling meanwhile; nothing they were acknowledged is lost."""
    import threading

    acknowledged: list[str] = []
    stop = threading.Event()
    live = LiveServer(postgres, tmp_path).start()
    try:
        project_id, slug = _project(live)
        md = _token(live, f"analytics:{slug}:ingest")

        def send() -> None:
            with grpc.insecure_channel(live.grpc_target) as ch:
                stub = pb_grpc.AnalyticsStub(ch)
                while not stop.is_set():
                    ids = [f"{uuid.uuid4().hex}" for _ in range(20)]
                    try:
                        stub.Batch(pb.BatchRequest(project=slug, events=[
                            pb.Event(event="e", anonymous_id="a", message_id=i) for i in ids]), metadata=md,
                            timeout=30)
                    except grpc.RpcError:
                        return  # refused once the server stops taking calls
                    acknowledged.extend(ids)

        held_id = f"held-{uuid.uuid4().hex}"
        threads = [threading.Thread(target=send) for _ in range(2)]
        with grpc.insecure_channel(live.grpc_target) as ch:
            with _holding(postgres, project_id, held_id) as held:
                for t in threads:
                    t.start()
                _until(lambda: len(acknowledged) >= 100, 60, "the senders were acknowledged")
                watch = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(service=SERVICE),
                                                             timeout=60)
                assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
                call = pb_grpc.AnalyticsStub(ch).Track.future(pb.TrackRequest(project=slug, event=pb.Event(
                    event="held", anonymous_id="a", message_id=held_id)), metadata=md, timeout=60)
                _until(lambda: _waiting_for(postgres, held), 30, "the call waits in the server for the held row")
                os.killpg(live.proc.pid, signal.SIGTERM)
                assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
                watch.cancel()
                assert not call.done() and _waiting_for(postgres, held)  # still in flight, in the server
            # The held row is rolled back: the call's insert goes through, and it is answered.
            assert call.result(timeout=30).accepted == 1
        stop.set()
        for t in threads:
            t.join(30)
        assert live.proc.wait(60) is not None
    finally:
        stop.set()
        live.stop()
    with psycopg.connect(postgres.url) as conn:
        stored = {r[0] for r in conn.execute("SELECT message_id FROM events WHERE project_id = %s", (project_id,))}
    assert held_id in stored
    assert acknowledged and set(acknowledged) <= stored
