"""Edges of the operations surface found by probing: the log stream's resume offset, chunked
bodies over the size limit, and a token for /metrics."""

from __future__ import annotations

import http.client
import json
import uuid
from urllib.parse import urlsplit

import requests

from conftest import ADMIN, ADMIN_TOKEN


def _sse_ids(text: str) -> list[int]:
    return [int(line[len("id: "):]) for line in text.splitlines() if line.startswith("id: ")]


def test_a_log_offset_past_the_end_of_the_file_restarts_the_stream_from_its_beginning(live_server):
    """A Last-Event-ID past the end (the file was rotated since, or the id is made up) is read like
    a rotation: the stream starts over at the current file's first line. Offsets past the largest
    file the filesystem allows made seek() fail inside the stream."""
    logs = f"{live_server.url}/_admin/logs"
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    requests.get(f"{live_server.url}/health", headers={"X-Request-Id": request_id}, timeout=10)
    whole = requests.get(logs, headers=ADMIN, timeout=10).text
    assert request_id in whole
    first, last = _sse_ids(whole)[0], _sse_ids(whole)[-1]
    for offset in ("999999999999999999", str(10 ** 15), str(last + 10 ** 9)):
        answer = requests.get(logs, headers={**ADMIN, "Last-Event-ID": offset}, timeout=10)
        assert answer.status_code == 200
        text = answer.text  # a stream broken by the server fails here (ChunkedEncodingError)
        assert request_id in text, offset
        assert _sse_ids(text)[0] == first, offset
    # More digits than any file offset: refused before the stream starts.
    refused = requests.get(logs, headers={**ADMIN, "Last-Event-ID": "9" * 30}, timeout=10)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "analytics.invalid_request"
    # An offset inside the file still resumes right after it.
    resumed = requests.get(logs, headers={**ADMIN, "Last-Event-ID": str(last)}, timeout=10).text
    assert request_id not in resumed and all(i > last for i in _sse_ids(resumed))


LIMIT = 1_048_576  # [analytics] max_body_bytes, the default the live server runs with


def _chunked(server, path: str, body: bytes, headers: dict, chunk: int = 16_384) -> tuple[int, dict, dict]:
    """POST `body` with Transfer-Encoding: chunked (no Content-Length), as a streaming client does."""
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.putrequest("POST", path)
        for name, value in {"Content-Type": "application/json", "Transfer-Encoding": "chunked", **headers}.items():
            conn.putheader(name, value)
        conn.endheaders()
        try:
            for start in range(0, len(body), chunk):
                piece = body[start:start + chunk]
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer before it has read everything; its answer is still there
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), json.loads(answer.read() or b"null")
    finally:
        conn.close()


def _key_of_a_new_project(server) -> str:
    slug = f"chunked-{uuid.uuid4().hex[:8]}"
    requests.post(f"{server.url}/analytics/v1/projects", json={"slug": slug}, headers=ADMIN, timeout=10)
    return requests.post(f"{server.url}/analytics/v1/projects/{slug}/keys", json={"name": "k"}, headers=ADMIN,
                         timeout=10).json()["data"]["key"]


def test_a_chunked_body_over_the_limit_is_413_like_one_with_a_content_length(live_server):
    key = _key_of_a_new_project(live_server)
    event = {"event": "e", "anonymous_id": "a"}
    pad = "x" * 2000
    big = json.dumps({"batch": [{**event, "properties": {"pad": pad}} for _ in range(600)]}).encode()
    assert len(big) > LIMIT
    admin_big = json.dumps({"slug": "too-big", "name": "y" * (LIMIT + 10)}).encode()
    for path, body, headers in (("/analytics/v1/batch", big, {"X-Reactor-Project-Key": key}),
                                ("/analytics/v1/track", json.dumps({**event, "p": "z" * (3 * LIMIT)}).encode(),
                                 {"X-Reactor-Project-Key": key}),
                                ("/analytics/v1/projects", admin_big, {"Authorization": f"Bearer {ADMIN_TOKEN}"})):
        status, _, answer = _chunked(live_server, path, body, headers)
        assert status == 413, (path, answer)
        assert answer["error"]["code"] == "analytics.payload_too_large"
        assert answer["error"]["limit_bytes"] == LIMIT
        # The same body with a Content-Length gets the same answer.
        sized = requests.post(live_server.url + path, data=body, timeout=30,
                              headers={"Content-Type": "application/json", **headers})
        assert (sized.status_code, sized.json()) == (status, answer)
    # Chunked bodies within the limit are read whole, the largest allowed one included.
    small = json.dumps({"batch": [event] * 3}).encode()
    assert _chunked(live_server, "/analytics/v1/batch", small, {"X-Reactor-Project-Key": key}, chunk=7)[2] == \
        {"data": {"accepted": 3, "rejected": []}}
    exact = json.dumps({"event": "e", "anonymous_id": "a"})
    exact = (exact + " " * (LIMIT - len(exact))).encode()
    assert len(exact) == LIMIT
    status, _, answer = _chunked(live_server, "/analytics/v1/track", exact, {"X-Reactor-Project-Key": key})
    assert (status, answer) == (200, {"data": {"accepted": 1, "rejected": []}})


def test_metrics_are_public_by_default_and_need_the_metrics_token_when_one_is_set(client, config, tmp_path):
    from dataclasses import replace

    from reactor_analytics import config as config_module
    from reactor_analytics.app import create_app

    assert config_module.load(env={}, path=None).analytics.metrics_token == ""
    assert client.get("/metrics").status_code == 200  # the default: scraped without credentials
    path = tmp_path / "reactor.toml"
    path.write_text('[analytics]\nmetrics_token = "from-toml"\n')
    assert config_module.load(env={}, path=str(path)).analytics.metrics_token == "from-toml"
    assert config_module.load(env={"REACTOR_ANALYTICS_METRICS_TOKEN": "from-env"},
                              path=str(path)).analytics.metrics_token == "from-env"

    token = "metrics-token-0123456789"
    app = create_app(replace(config, analytics=replace(config.analytics, metrics_token=token)))
    try:
        guarded = app.test_client()
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token},
                        {"Authorization": f"Basic {token}"}, ADMIN):
            answer = guarded.get("/metrics", headers=headers)
            assert answer.status_code == 401, headers
            assert answer.get_json()["error"]["code"] == "analytics.auth.unauthenticated"
            assert b"reactor_http_requests" not in answer.data
        answer = guarded.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and b"reactor_http_requests" in answer.data
        # Only /metrics is guarded.
        assert guarded.get("/health").status_code == 200
    finally:
        app.extensions["reactor"].db.close()


def test_a_live_server_with_a_metrics_token_refuses_scrapes_without_it(postgres, tmp_path):
    from conftest import LiveServer

    server = LiveServer(postgres, tmp_path, REACTOR_ANALYTICS_METRICS_TOKEN="scrape-secret-42").start()
    try:
        refused = requests.get(f"{server.url}/metrics", timeout=10)
        assert refused.status_code == 401 and "reactor_" not in refused.text
        scraped = requests.get(f"{server.url}/metrics", headers={"Authorization": "Bearer scrape-secret-42"},
                               timeout=10)
        assert scraped.status_code == 200 and "reactor_http_requests_total" in scraped.text
    finally:
        server.stop()
