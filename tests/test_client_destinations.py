"""Python SDK destinations: each vendor's documented request format, checked strictly against a
local HTTP server standing in for it; this service's own destination against the real service
(`reactor serve`, through a relay that records what went over the wire); fan-out to all at once;
one failing or hanging destination never holding up another; retries that keep their message_ids
and honour Retry-After."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
import psycopg
import pytest
import requests

from conftest import ADMIN, JWT_SECRET, LiveServer, events_of
from reactor_analytics_sdk import Analytics, PermanentError
from reactor_analytics_sdk.destinations import from_env
from reactor_analytics_sdk.destinations.posthog import PostHogDestination

# --- a stand-in HTTP server -------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic())

    def json(self):
        return json.loads(self.body)


def ok_json(payload=None):
    return lambda request: (200, {"Content-Type": "application/json"}, json.dumps(payload or {}).encode())


class Recorder:
    """Records every request; answers with `respond(request) -> (status, headers, body)`."""

    def __init__(self, respond=None):
        self.requests: list[Request] = []
        self.respond = respond or ok_json()
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = Request("POST", parts.path, parse_qs(parts.query), dict(self.headers.items()),
                                  self.rfile.read(length))
                with recorder._lock:
                    recorder.requests.append(request)
                status, headers, body = recorder.respond(request)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def of(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture()
def recorder():
    made = []

    def make(respond=None) -> Recorder:
        made.append(Recorder(respond))
        return made[-1]

    yield make
    for r in made:
        r.close()


FAST = dict(flush_at=10, flush_interval=0.05, retry_base=0.01, retry_max_delay=0.05, timeout=2.0)


@pytest.fixture()
def analytics():
    made = []

    def make(**options) -> Analytics:
        made.append(Analytics(**{**FAST, "env": {}, **options}))
        return made[-1]

    yield make
    for a in made:
        a.close(timeout=2)


def send_sample(client: Analytics) -> None:
    """One of each call, with both ids where they apply."""
    client.track("order_completed", {"total": 49.99, "items": 3}, user_id="u_42", anonymous_id="anon-7f3a")
    client.track("page_viewed", {"path": "/pricing"}, anonymous_id="anon-7f3a")
    client.identify("u_42", {"plan": "pro", "email": "max@example.com"}, anonymous_id="anon-7f3a")
    client.alias("anon-7f3a", "u_42")


def iso_utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, text
    assert abs((parsed - datetime.now(timezone.utc)).total_seconds()) < 60
    return parsed


# --- PostHog ------------------------------------------------------------------------------------


def check_posthog_batch(request: Request, api_key: str) -> list[dict]:
    """POST /batch/ as PostHog documents it: the project key in the body, no auth header."""
    assert (request.method, request.path) == ("POST", "/batch/")
    assert request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in request.headers
    body = request.json()
    assert set(body) <= {"api_key", "historical_migration", "batch", "sent_at"}
    assert body["api_key"] == api_key and body.get("historical_migration", False) is False
    assert isinstance(body["batch"], list) and body["batch"]
    for event in body["batch"]:
        assert set(event) <= {"event", "distinct_id", "properties", "timestamp", "uuid"}
        assert isinstance(event["event"], str) and event["event"]
        assert isinstance(event["distinct_id"], str) and event["distinct_id"]
        assert isinstance(event["properties"], dict)
        iso_utc(event["timestamp"])
        assert str(uuid.UUID(event["uuid"])) == event["uuid"]
    return body["batch"]


def test_posthog_batch_follows_the_capture_api(recorder, analytics):
    posthog = recorder(ok_json({"status": 1}))
    client = analytics(env={"POSTHOG_API_KEY": "phc_test123", "POSTHOG_HOST": posthog.url + "/"})
    assert client.list_destinations() == ["posthog"]
    send_sample(client)
    assert client.flush(5)
    events = [e for r in posthog.requests for e in check_posthog_batch(r, "phc_test123")]
    track, page, identify, alias = events
    assert track["event"] == "order_completed" and track["distinct_id"] == "u_42"
    assert track["properties"] == {"total": 49.99, "items": 3}
    assert page["distinct_id"] == "anon-7f3a"
    assert identify == {**identify, "event": "$identify", "distinct_id": "u_42",
                        "properties": {"$set": {"plan": "pro", "email": "max@example.com"},
                                       "$anon_distinct_id": "anon-7f3a"}}
    assert alias["event"] == "$create_alias" and alias["distinct_id"] == "anon-7f3a"
    assert alias["properties"] == {"alias": "u_42"}
    assert len({e["uuid"] for e in events}) == 4


def test_posthog_host_defaults_to_us_cloud():
    (posthog,) = from_env({"POSTHOG_API_KEY": "phc_x"})
    assert posthog.url == "https://us.i.posthog.com/batch/"


def test_posthog_non_200_success_is_retried_like_posthogs_own_sdk(recorder, analytics):
    answers = iter([(204, {}, b""), (200, {}, b"{}")])
    posthog = recorder(lambda request: next(answers))
    client = analytics(destinations=[PostHogDestination("phc_x", posthog.url)])
    client.track("e", user_id="u_1")
    assert client.flush(5)
    assert len(posthog.requests) == 2
    assert posthog.requests[0].body == posthog.requests[1].body


# --- Mixpanel -----------------------------------------------------------------------------------

INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}\Z")


def check_mixpanel(request: Request, token: str) -> list[dict]:
    """/track and /engage with JSON arrays, as Mixpanel's ingestion API documents them."""
    assert request.method == "POST" and request.path in ("/track", "/engage")
    assert request.query == {"verbose": ["1"], "ip": ["0"]}
    assert request.headers["Content-Type"] == "application/json"
    items = request.json()
    assert isinstance(items, list) and 1 <= len(items) <= 2000
    for item in items:
        if request.path == "/track":
            assert set(item) == {"event", "properties"} and isinstance(item["event"], str)
            props = item["properties"]
            assert props["token"] == token
            assert isinstance(props["distinct_id"], str) and props["distinct_id"]
            assert isinstance(props["time"], int) and abs(props["time"] / 1000 - time.time()) < 60  # ms
            assert INSERT_ID.match(props["$insert_id"])
        else:
            assert set(item) == {"$token", "$distinct_id", "$set"} and item["$token"] == token
            assert isinstance(item["$set"], dict)
    return items


def test_mixpanel_track_and_engage_follow_the_ingestion_api(recorder, analytics):
    mixpanel = recorder(ok_json({"status": 1, "error": None}))
    client = analytics(env={"MIXPANEL_TOKEN": "mp-token", "MIXPANEL_API_HOST": mixpanel.url})
    send_sample(client)
    client.track("signup", user_id="u_1", message_id="order:42/retry")  # not a valid $insert_id as given
    assert client.flush(5)
    events = [e for r in mixpanel.of("/track") for e in check_mixpanel(r, "mp-token")]
    profiles = [p for r in mixpanel.of("/engage") for p in check_mixpanel(r, "mp-token")]
    by_name = {e["event"]: e["properties"] for e in events}
    assert set(by_name) == {"order_completed", "page_viewed", "$identify", "$create_alias", "signup"}
    order = by_name["order_completed"]
    assert (order["distinct_id"], order["$user_id"], order["$device_id"]) == ("u_42", "u_42", "anon-7f3a")
    assert order["total"] == 49.99
    assert by_name["page_viewed"]["distinct_id"] == "anon-7f3a" and "$user_id" not in by_name["page_viewed"]
    assert (by_name["$identify"]["$identified_id"], by_name["$identify"]["$anon_id"]) == ("u_42", "anon-7f3a")
    assert (by_name["$create_alias"]["distinct_id"], by_name["$create_alias"]["alias"]) == ("anon-7f3a", "u_42")
    assert profiles == [{"$token": "mp-token", "$distinct_id": "u_42",
                         "$set": {"plan": "pro", "email": "max@example.com"}}]


def test_mixpanel_verbose_failure_is_given_up_not_retried(recorder, analytics):
    mixpanel = recorder(ok_json({"status": 0, "error": "token, missing or empty"}))
    client = analytics(env={"MIXPANEL_TOKEN": "mp-token", "MIXPANEL_API_HOST": mixpanel.url})
    client.track("e", user_id="u_1")
    assert client.flush(5)
    assert len(mixpanel.requests) == 1
    assert client.stats()["destinations"]["mixpanel"]["failed"] == 1


# --- Amplitude ----------------------------------------------------------------------------------

AMPLITUDE_EVENT_FIELDS = {"event_type", "user_id", "device_id", "time", "insert_id", "event_properties",
                          "user_properties"}


def amplitude_ok(request: Request):
    count = len(json.loads(request.body)["events"])
    return 200, {"Content-Type": "application/json"}, json.dumps(
        {"code": 200, "events_ingested": count, "payload_size_bytes": len(request.body),
         "server_upload_time": int(time.time() * 1000)}).encode()


def check_amplitude(request: Request, api_key: str) -> list[dict]:
    """POST /2/httpapi as Amplitude's HTTP V2 API documents it."""
    assert (request.method, request.path) == ("POST", "/2/httpapi")
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert set(body) <= {"api_key", "events", "options"} and body["api_key"] == api_key
    min_id_length = body.get("options", {}).get("min_id_length", 5)
    assert 1 <= len(body["events"]) <= 2000
    for event in body["events"]:
        assert set(event) <= AMPLITUDE_EVENT_FIELDS and isinstance(event["event_type"], str)
        ids = [event[k] for k in ("user_id", "device_id") if k in event]
        assert ids and all(isinstance(i, str) and len(i) >= min_id_length for i in ids)
        assert isinstance(event["time"], int) and abs(event["time"] / 1000 - time.time()) < 60
        assert isinstance(event["insert_id"], str) and event["insert_id"]
        for key in ("event_properties", "user_properties"):
            assert isinstance(event.get(key, {}), dict)
    return body["events"]


def test_amplitude_follows_the_http_v2_api(recorder, analytics):
    amplitude = recorder(amplitude_ok)
    client = analytics(env={"AMPLITUDE_API_KEY": "amp-key", "AMPLITUDE_API_HOST": amplitude.url})
    send_sample(client)
    assert client.flush(5)
    events = [e for r in amplitude.requests for e in check_amplitude(r, "amp-key")]
    assert all(r.json()["options"] == {"min_id_length": 4} for r in amplitude.requests)  # "u_42"
    order, page, identify = events  # Amplitude's HTTP V2 API has no alias
    assert order == {**order, "event_type": "order_completed", "user_id": "u_42", "device_id": "anon-7f3a",
                     "event_properties": {"total": 49.99, "items": 3}}
    assert page["device_id"] == "anon-7f3a" and "user_id" not in page
    assert identify == {**identify, "event_type": "$identify", "user_id": "u_42", "device_id": "anon-7f3a",
                        "user_properties": {"$set": {"plan": "pro", "email": "max@example.com"}}}
    assert len({e["insert_id"] for e in events}) == 3


def test_amplitude_short_ids_are_allowed_with_min_id_length(recorder, analytics):
    amplitude = recorder(amplitude_ok)
    client = analytics(env={"AMPLITUDE_API_KEY": "amp-key", "AMPLITUDE_API_HOST": amplitude.url})
    client.track("e", user_id="u1")
    assert client.flush(5)
    (request,) = amplitude.requests
    assert request.json()["options"] == {"min_id_length": 2}
    check_amplitude(request, "amp-key")


def test_amplitude_body_code_is_checked_and_400_is_not_retried(recorder, analytics):
    amplitude = recorder(lambda r: (400, {}, b'{"code":400,"error":"Request missing required field"}'))
    client = analytics(env={"AMPLITUDE_API_KEY": "amp-key", "AMPLITUDE_API_HOST": amplitude.url})
    client.track("e", user_id="u_12345")
    assert client.flush(5)
    assert len(amplitude.requests) == 1 and client.stats()["destinations"]["amplitude"]["failed"] == 1


# --- webhook ------------------------------------------------------------------------------------


def test_webhook_posts_a_json_batch_with_the_configured_authorization(recorder, analytics):
    hook = recorder(lambda r: (202, {}, b""))
    client = analytics(env={"TRACKING_WEBHOOK_URL": hook.url + "/hooks/analytics",
                            "TRACKING_WEBHOOK_AUTH": "Bearer whk_s3cret"})
    send_sample(client)
    assert client.flush(5)
    (request,) = hook.requests
    assert request.path == "/hooks/analytics"
    assert request.headers["Authorization"] == "Bearer whk_s3cret"
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert set(body) == {"sentAt", "batch"}
    iso_utc(body["sentAt"])
    track, page, identify, alias = body["batch"]
    assert track == {**track, "type": "track", "event": "order_completed", "userId": "u_42",
                     "anonymousId": "anon-7f3a", "properties": {"total": 49.99, "items": 3}}
    assert identify == {**identify, "type": "identify", "event": "$identify", "userId": "u_42",
                        "traits": {"plan": "pro", "email": "max@example.com"}}
    assert alias == {**alias, "type": "alias", "previousId": "anon-7f3a", "userId": "u_42"}
    for event in body["batch"]:
        iso_utc(event["timestamp"])
        uuid.UUID(event["messageId"])


def test_webhook_without_auth_sends_no_authorization(recorder, analytics):
    hook = recorder(lambda r: (200, {}, b""))
    client = analytics(env={"TRACKING_WEBHOOK_URL": hook.url})
    client.track("e", user_id="u_1")
    assert client.flush(5)
    assert "Authorization" not in hook.requests[0].headers


# --- this service over HTTP ---------------------------------------------------------------------

REACTOR_EVENT_FIELDS = {"event", "anonymous_id", "user_id", "properties", "context", "timestamp", "sent_at",
                        "message_id", "project_id"}


@pytest.fixture(scope="module")
def service(postgres, tmp_path_factory):
    """This service for real: `reactor serve` (gunicorn, the ingest API) over the test database."""
    server = LiveServer(postgres, tmp_path_factory.mktemp("sdk-service"), workers=1).start()
    yield server
    server.stop()


@dataclass
class ServiceProject:
    id: str
    slug: str
    token: str  # a JWT minted by the service, allowed to ingest into this project


def service_project(service) -> ServiceProject:
    slug = f"sdk-{uuid.uuid4().hex[:10]}"
    created = requests.post(service.url + "/analytics/v1/projects", json={"slug": slug}, headers=ADMIN, timeout=10)
    assert created.status_code == 201, created.text
    minted = requests.post(service.url + "/_admin/tokens", json={
        "sub": "sdk-test", "permissions": [f"analytics:{slug}:ingest"]}, headers=ADMIN, timeout=10)
    assert minted.status_code == 201, minted.text
    return ServiceProject(created.json()["data"]["id"], slug, minted.json()["data"]["token"])


@pytest.fixture()
def reactor_project(service) -> ServiceProject:
    return service_project(service)


class Relay:
    """`respond` for a Recorder: forwards each request to the real service and answers with the
    service's answer (kept in `answers` as (status, JSON body)); `faked` answers, while there are
    any, are given instead, without reaching the service."""

    def __init__(self, service, faked=()):
        self.target = service.url
        self.faked = list(faked)
        self.answers: list[tuple[int, object]] = []

    def __call__(self, request: Request):
        if self.faked:
            status, headers, body = self.faked.pop(0)
        else:
            headers = {k: v for k, v in request.headers.items()
                       if k.lower() not in ("host", "content-length", "connection", "transfer-encoding")}
            answer = requests.post(self.target + request.path, data=request.body, headers=headers, timeout=30)
            status, body = answer.status_code, answer.content
            headers = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "retry-after")}
        self.answers.append((status, json.loads(body) if body else None))
        return status, headers, body


def check_reactor(request: Request, project: ServiceProject) -> list[dict]:
    assert (request.method, request.path) == ("POST", "/analytics/v1/batch")
    assert request.headers["Authorization"] == f"Bearer {project.token}"
    assert request.headers["X-Reactor-Project"] == project.slug
    body = request.json()
    assert set(body) == {"batch", "sent_at"} and isinstance(body["sent_at"], int)
    assert 1 <= len(body["batch"]) <= 100
    for event in body["batch"]:
        assert set(event) <= REACTOR_EVENT_FIELDS
        assert event.get("user_id") or event.get("anonymous_id")
        assert isinstance(event["message_id"], str) and isinstance(event["timestamp"], (int, float))
    return body["batch"]


def stored(postgres, project: ServiceProject) -> list[dict]:
    return events_of(postgres, project.id, "message_id, event, anonymous_id, user_id, properties, library")


def test_reactor_batch_is_what_the_ingest_api_accepts(recorder, analytics, service, reactor_project, postgres):
    relay = Relay(service)
    wire = recorder(relay)
    client = analytics(url=wire.url, token=reactor_project.token, project=reactor_project.slug, transport="http")
    send_sample(client)
    assert client.flush(10)
    events = [e for r in wire.requests for e in check_reactor(r, reactor_project)]
    assert [e["event"] for e in events] == ["order_completed", "page_viewed", "$identify", "$alias"]
    assert events[2]["properties"] == {"$set": {"plan": "pro", "email": "max@example.com"}}
    assert (events[3]["anonymous_id"], events[3]["user_id"]) == ("anon-7f3a", "u_42")
    assert events[0]["context"]["library"]["name"] == "reactor-analytics-python"
    stats = client.stats()["destinations"]["reactor"]
    assert (stats["sent"], stats["rejected"], stats["failed"]) == (4, 0, 0)
    # The service took every event as sent: one 200 with nothing refused, each stored once under its message_id.
    assert [(status, body["data"]["rejected"]) for status, body in relay.answers] == [(200, [])]
    rows = stored(postgres, reactor_project)
    assert sorted((r["message_id"], r["event"]) for r in rows) == sorted((e["message_id"], e["event"]) for e in events)
    by_event = {r["event"]: r for r in rows}
    assert by_event["order_completed"]["properties"] == {"total": 49.99, "items": 3}
    assert (by_event["order_completed"]["user_id"], by_event["order_completed"]["anonymous_id"]) == ("u_42", "anon-7f3a")
    assert {r["library"] for r in rows} == {"reactor-analytics-python/0.1.0"}
    with psycopg.connect(postgres.url) as conn:
        links = conn.execute("SELECT anonymous_id, user_id FROM identity_links WHERE project_id = %s "
                             "AND anonymous_id <> user_id", (reactor_project.id,)).fetchall()
        traits = conn.execute("SELECT user_id, traits FROM person_traits WHERE project_id = %s",
                              (reactor_project.id,)).fetchall()
    assert links == [("anon-7f3a", "u_42")]
    assert traits == [("u_42", {"plan": "pro", "email": "max@example.com"})]


def test_reactor_rejections_are_counted_not_retried(recorder, analytics, service, reactor_project, postgres):
    relay = Relay(service)
    wire = recorder(relay)
    client = analytics(url=wire.url, token=reactor_project.token, project=reactor_project.slug, transport="http")
    client.track("$not_a_system_event", user_id="u_1")
    client.track("fine", user_id="u_1")
    assert client.flush(10)
    assert len(wire.requests) == 1
    ((status, answer),) = relay.answers
    assert status == 200 and [r["index"] for r in answer["data"]["rejected"]] == [0], answer
    stats = client.stats()["destinations"]["reactor"]
    assert (stats["sent"], stats["rejected"], stats["retries"]) == (1, 1, 0)
    assert [r["event"] for r in stored(postgres, reactor_project)] == ["fine"]


def test_reactor_from_environment_uses_reactor_url_and_token(recorder, analytics, service, reactor_project, postgres):
    wire = recorder(Relay(service))
    client = analytics(env={"REACTOR_URL": wire.url, "REACTOR_TOKEN": reactor_project.token,
                            "REACTOR_PROJECT": reactor_project.slug}, transport="http")
    client.track("e", user_id="u_1")
    assert client.flush(10)
    (sent,) = check_reactor(wire.requests[0], reactor_project)
    assert [(r["message_id"], r["event"]) for r in stored(postgres, reactor_project)] == [(sent["message_id"], "e")]


def test_reactor_body_over_one_mebibyte_is_split(recorder, analytics, service, reactor_project, postgres):
    relay = Relay(service)
    wire = recorder(relay)
    client = analytics(url=wire.url, token=reactor_project.token, project=reactor_project.slug, transport="http",
                       flush_at=100, flush_interval=60)
    for i in range(60):  # 60 × ~30 KiB
        client.track("big", {"blob": "x" * 30_000, "i": i}, user_id="u_1")
    assert client.flush(20)
    assert len(wire.requests) >= 2 and all(len(r.body) <= 1024 * 1024 for r in wire.requests)
    assert sum(len(check_reactor(r, reactor_project)) for r in wire.requests) == 60
    assert {status for status, _ in relay.answers} == {200}  # the service's body limit was never met
    assert sorted(r["properties"]["i"] for r in stored(postgres, reactor_project)) == list(range(60))
    assert client.stats()["destinations"]["reactor"]["sent"] == 60


def test_reactor_permanent_errors_are_not_retried(recorder, analytics, service, reactor_project, postgres):
    """The service's own refusals: an expired JWT (401) and one for another project (403)."""
    expired = jwt.encode({"sub": "sdk-test", "permissions": [f"analytics:{reactor_project.slug}:ingest"],
                          "exp": int(time.time()) - 3600}, JWT_SECRET, algorithm="HS256")
    elsewhere = service_project(service)
    for token, status, code in ((expired, 401, "analytics.auth.unauthenticated"),
                                (elsewhere.token, 403, "analytics.auth.forbidden")):
        relay = Relay(service)
        wire = recorder(relay)
        client = analytics(url=wire.url, token=token, project=reactor_project.slug, transport="http")
        client.track("e", user_id="u_1")
        assert client.flush(10)
        assert len(wire.requests) == 1
        assert [(s, (body or {}).get("error", {}).get("code")) for s, body in relay.answers] == [(status, code)]
        stats = client.stats()["destinations"]["reactor"]
        assert (stats["failed"], stats["retries"], stats["sent"]) == (1, 0, 0)
    assert stored(postgres, reactor_project) == [] and stored(postgres, elsewhere) == []


# --- fan-out and isolation ----------------------------------------------------------------------


def vendor_env(posthog, mixpanel, amplitude, hook) -> dict:
    return {"POSTHOG_API_KEY": "phc_x", "POSTHOG_HOST": posthog.url,
            "MIXPANEL_TOKEN": "mp-token", "MIXPANEL_API_HOST": mixpanel.url,
            "AMPLITUDE_API_KEY": "amp-key", "AMPLITUDE_API_HOST": amplitude.url,
            "TRACKING_WEBHOOK_URL": hook.url + "/hook"}


def test_every_event_reaches_every_destination_with_one_message_id(recorder, analytics, service, reactor_project,
                                                                   postgres):
    posthog, mixpanel = recorder(ok_json({"status": 1})), recorder(ok_json({"status": 1, "error": None}))
    amplitude, hook, wire = recorder(amplitude_ok), recorder(lambda r: (200, {}, b"")), recorder(Relay(service))
    client = analytics(env=vendor_env(posthog, mixpanel, amplitude, hook), url=wire.url,
                       token=reactor_project.token, project=reactor_project.slug, transport="http", flush_interval=60)
    assert sorted(client.list_destinations()) == ["amplitude", "mixpanel", "posthog", "reactor", "webhook"]
    for i in range(120):
        client.track("fanned_out", {"i": i}, user_id=f"user-{i % 7}")
    assert client.flush(20)
    ids = {
        "posthog": [e["uuid"] for r in posthog.requests for e in check_posthog_batch(r, "phc_x")],
        "mixpanel": [e["properties"]["$insert_id"] for r in mixpanel.requests for e in check_mixpanel(r, "mp-token")],
        "amplitude": [e["insert_id"] for r in amplitude.requests for e in check_amplitude(r, "amp-key")],
        "webhook": [e["messageId"] for r in hook.requests for e in r.json()["batch"]],
        "reactor": [e["message_id"] for r in wire.requests for e in check_reactor(r, reactor_project)],
        "stored": [r["message_id"] for r in stored(postgres, reactor_project)],  # what the service kept
    }
    assert all(len(v) == 120 for v in ids.values()), {k: len(v) for k, v in ids.items()}
    assert len({frozenset(v) for v in ids.values()}) == 1 and len(set(ids["reactor"])) == 120
    assert len(posthog.requests) == 12  # batches of flush_at=10


def test_failing_and_hanging_destinations_do_not_delay_the_others(recorder, analytics):
    failing = recorder(lambda r: (500, {}, b"boom"))
    hanging_release, hung_answered = threading.Event(), threading.Event()

    def hang(request):
        hanging_release.wait(60)
        hung_answered.set()
        return 200, {}, b'{"status":1,"error":null}'

    hanging, amplitude = recorder(hang), recorder(amplitude_ok)
    client = analytics(env={"POSTHOG_API_KEY": "phc_x", "POSTHOG_HOST": failing.url,
                            "MIXPANEL_TOKEN": "mp-token", "MIXPANEL_API_HOST": hanging.url,
                            "AMPLITUDE_API_KEY": "amp-key", "AMPLITUDE_API_HOST": amplitude.url},
                       max_retries=1000, timeout=60, shutdown_timeout=0.5)

    def amplitude_got() -> int:
        return sum(len(r.json()["events"]) for r in amplitude.requests)

    for i in range(25):
        client.track("e", {"i": i}, user_id="u_12345")
    assert wait_until(lambda: len(failing.requests) >= 2 and hanging.requests, 20)  # retrying; stuck
    assert wait_until(lambda: amplitude_got() == 25, 20)
    # With PostHog failing and Mixpanel stuck on its first request, later events still reach
    # Amplitude: it waits for neither (the hanging request is answered only after this).
    for i in range(25, 50):
        client.track("e", {"i": i}, user_id="u_12345")
    assert wait_until(lambda: amplitude_got() == 50, 20)
    assert not hung_answered.is_set() and len(hanging.requests) == 1
    assert client.flush(0.3) is False  # the others are not done, and flush says so
    hanging_release.set()
    client.unregister_destination("posthog")
    assert client.flush(10)
    assert sum(len(r.json()) for r in hanging.requests) == 50


def service_refusal(error, retry_after_s: int) -> tuple[int, dict, bytes]:
    """An answer as the service gives it for `error` (an AppError), with a Retry-After."""
    return error.status, {"Content-Type": "application/json", "Retry-After": str(retry_after_s)}, \
        json.dumps(error.body()).encode()


def test_retries_resend_the_same_message_ids_and_honour_retry_after(recorder, analytics, service, reactor_project,
                                                                   postgres):
    from reactor_analytics.api.limits import _refuse
    from reactor_analytics.errors import unavailable

    # The service's own refusals (its 503 and 429 codes), each asking for one second; then the
    # real service. Without Retry-After the client would retry within 50 ms (retry_max_delay).
    relay = Relay(service, faked=[service_refusal(unavailable(), 1), service_refusal(_refuse(1.0), 1)])
    wire = recorder(relay)
    client = analytics(url=wire.url, token=reactor_project.token, project=reactor_project.slug, transport="http")
    for i in range(5):
        client.track("e", {"i": i}, user_id="u_1")
    assert client.flush(20)
    assert [(status, body["error"]["code"] if status != 200 else None) for status, body in relay.answers] == [
        (503, "analytics.unavailable"), (429, "analytics.rate_limited"), (200, None)]
    attempts = [[e["message_id"] for e in check_reactor(r, reactor_project)] for r in wire.requests]
    assert len(attempts) == 3 and attempts[0] == attempts[1] == attempts[2] and len(set(attempts[0])) == 5
    gaps = [later.at - earlier.at for earlier, later in zip(wire.requests, wire.requests[1:])]
    assert all(gap >= 1.0 for gap in gaps), gaps  # waited as asked, not the 10-50 ms backoff
    stats = client.stats()["destinations"]["reactor"]
    assert (stats["sent"], stats["retries"], stats["failed"]) == (5, 2, 0)
    assert sorted(r["message_id"] for r in stored(postgres, reactor_project)) == sorted(attempts[0])


def test_unreachable_destination_is_retried_then_given_up(analytics):
    client = analytics(url="http://127.0.0.1:9", token="t", transport="http", max_retries=2)
    client.track("e", user_id="u_1")
    assert client.flush(5)
    stats = client.stats()["destinations"]["reactor"]
    assert (stats["retries"], stats["failed"], stats["sent"]) == (2, 1, 0)


# --- custom destinations ------------------------------------------------------------------------


def test_register_destination_takes_callables_batch_objects_and_tracking_providers(analytics):
    batches, tracked, identified, flushed = [], [], [], []

    class Provider:  # the tracking reference's TrackingProvider shape
        name = "my-analytics"

        def track(self, event):
            tracked.append(event)

        def identify(self, user_id, traits):
            identified.append((user_id, traits))

        def flush(self):
            flushed.append(True)

    class Failing:
        def send(self, batch):
            raise PermanentError("nope")

    client = analytics()
    assert client.register_destination(batches.append, name="callable") == "callable"
    assert client.register_destination(Provider()) == "my-analytics"
    assert client.register_destination(Failing()) == "Failing"
    send_sample(client)
    assert client.flush(5)
    assert [e["type"] for batch in batches for e in batch] == ["track", "track", "identify", "alias"]
    assert [e["name"] for e in tracked] == ["order_completed", "page_viewed"]
    assert tracked[0]["userId"] == "u_42" and tracked[0]["properties"] == {"total": 49.99, "items": 3}
    assert identified == [("u_42", {"plan": "pro", "email": "max@example.com"})] and flushed
    assert client.stats()["destinations"]["Failing"]["failed"] == 4
    assert client.unregister_destination("Failing") is True
    assert client.unregister_destination("Failing") is False
    assert sorted(client.list_destinations()) == ["callable", "my-analytics"]


def test_builtin_destinations_by_name(recorder, analytics):
    hook = recorder(lambda r: (200, {}, b""))
    client = analytics()
    assert client.register_destination("webhook", url=hook.url, auth="Token abc") == "webhook"
    client.track("e", user_id="u_1")
    assert client.flush(5)
    assert hook.requests[0].headers["Authorization"] == "Token abc"
    with pytest.raises(ValueError):
        client.register_destination("segment", write_key="x")
