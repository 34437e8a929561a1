"""What the README promises of logs and metrics: request ids, nothing personal in any log line at
any level, the dropped-events counter, log rotation, the stream-slot limit and `reactor logs
--follow` picking up where a stream ended."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import ADMIN, VENV_BIN, LiveServer, wait_for

IPHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
             "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1 secret-ua-7f3a")


@pytest.mark.parametrize("supplied", ["has space", "x" * 129, "semi;colon", "ünïcode", ""])
def test_an_invalid_request_id_is_replaced_by_a_generated_one(client, supplied):
    answer = client.get("/health", headers={"X-Request-Id": supplied})
    echoed = answer.headers["X-Request-Id"]
    assert echoed != supplied
    assert len(echoed) == 32 and all(c in "0123456789abcdef" for c in echoed)


def test_a_valid_request_id_is_echoed(client):
    for supplied in ("a", "abc-123", "A.b_c:d-e", "x" * 128):
        assert client.get("/health", headers={"X-Request-Id": supplied}).headers["X-Request-Id"] == supplied


@pytest.fixture(scope="module")
def debug_server(postgres, tmp_path_factory):
    server = LiveServer(postgres, tmp_path_factory.mktemp("debug-logs"), REACTOR_TRACING_FILTER="debug").start()
    yield server
    server.stop()


def test_no_body_or_user_agent_reaches_a_log_line_even_at_debug(debug_server):
    url = debug_server.url
    slug = f"logs-{uuid.uuid4().hex[:6]}"
    project = requests.post(f"{url}/analytics/v1/projects", json={"slug": slug}, headers=ADMIN, timeout=10).json()
    key = requests.post(f"{url}/analytics/v1/projects/{slug}/keys", json={"name": "k"}, headers=ADMIN,
                        timeout=10).json()["data"]["key"]
    marker = f"body-marker-{uuid.uuid4().hex}"
    headers = {"X-Reactor-Project-Key": key, "User-Agent": IPHONE_UA}
    event = {"event": marker, "anonymous_id": marker, "properties": {"secret": marker},
             "context": {"user_agent": IPHONE_UA}}
    request_id = uuid.uuid4().hex
    assert requests.post(f"{url}/analytics/v1/track", json=event, headers={**headers, "X-Request-Id": request_id},
                         timeout=10).status_code in (200, 202)
    requests.post(f"{url}/analytics/v1/batch", json={"batch": [event, {"event": 5}]}, headers=headers, timeout=10)
    requests.post(f"{url}/analytics/v1/track", data=b"{not json " + marker.encode(), headers=headers, timeout=10)
    requests.post(f"{url}/analytics/v1/query", json={"project_id": project["data"]["id"], "kind": "events",
                                                     "time_range": {"last": "1d"}, "filter": marker},
                  headers=ADMIN, timeout=10)
    log_file = Path(debug_server.env["REACTOR_DATA_DIR"]) / "logs" / "reactor.jsonl"
    wait_for(lambda: request_id in log_file.read_text())
    texts = [log_file.read_text(), debug_server.log.read_text(),
             requests.get(f"{url}/_admin/logs", headers=ADMIN, timeout=10).text]
    # The requests were logged (their lines carry the request id), and nothing logged is the body or the UA.
    assert request_id in texts[2]
    for text in texts:
        assert marker not in text
        assert "secret-ua-7f3a" not in text and "iPhone OS 17_4" not in text


def _dropped(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == "reactor_analytics_events_dropped":
            return sum(s.value for s in family.samples
                       if s.name.endswith("_total") and s.labels.get("cause") == "do_not_track")
    return 0.0


def test_events_dropped_for_do_not_track_are_counted(live_server, postgres):
    url = live_server.url
    slug = f"dnt-{uuid.uuid4().hex[:6]}"
    requests.post(f"{url}/analytics/v1/projects", json={"slug": slug}, headers=ADMIN, timeout=10)
    key = requests.post(f"{url}/analytics/v1/projects/{slug}/keys", json={"name": "k"}, headers=ADMIN,
                        timeout=10).json()["data"]["key"]
    before = _dropped(url)
    for header in ({"DNT": "1"}, {"Sec-GPC": "1"}, {"DNT": "1"}):
        answer = requests.post(f"{url}/analytics/v1/track", json={"event": "e", "anonymous_id": "a"},
                               headers={"X-Reactor-Project-Key": key, **header}, timeout=10)
        assert answer.status_code == 204
    kept = requests.post(f"{url}/analytics/v1/track", json={"event": "e", "anonymous_id": "a"},
                         headers={"X-Reactor-Project-Key": key, "DNT": "0"}, timeout=10)
    assert kept.status_code in (200, 202)
    assert _dropped(url) - before == 3


def test_the_log_file_rotates_past_its_size_keeping_one_previous_file(postgres, tmp_path):
    server = LiveServer(postgres, tmp_path, workers=1, REACTOR_TRACING_LOG_FILE_MAX_BYTES="20000").start()
    try:
        logs = tmp_path / "logs"
        session = requests.Session()
        # A size check comes every 256 lines a process writes: enough requests for two rotations.
        for n in range(700):
            session.get(f"{server.url}/health", headers={"X-Request-Id": f"rot-{n}"}, timeout=10)
        previous = logs / "reactor.1.jsonl"
        assert previous.exists()
        current = (logs / "reactor.jsonl").read_text()
        assert len(current.encode()) < 20000 + 256 * 1000  # past the limit by at most one check's lines
        assert "rot-699" in current
        older = previous.read_text()
        for line in (older + current).splitlines():
            json.loads(line)  # whole lines on both sides of a rotation
        assert sorted(p.name for p in logs.glob("reactor*.jsonl")) == ["reactor.1.jsonl", "reactor.jsonl"]
    finally:
        server.stop()


def test_log_streams_past_the_slots_are_refused_with_logs_busy(live_server):
    """Two workers: one following stream at a time (half the workers); the next is 429."""
    url = live_server.url
    first = requests.get(f"{url}/_admin/logs?follow=1", headers=ADMIN, stream=True, timeout=10)
    try:
        assert first.status_code == 200
        # (a Response is falsy when not ok: wrap it)
        busy = wait_for(lambda: (r := requests.get(f"{url}/_admin/logs?follow=1", headers=ADMIN, stream=True,
                                                    timeout=10)).status_code == 429 and [r])[0]
        assert busy.json()["error"]["code"] == "analytics.logs.busy"
        # A stream that does not follow needs no slot.
        assert requests.get(f"{url}/_admin/logs", headers=ADMIN, timeout=10).status_code == 200
    finally:
        first.close()
    # The slot is free again once the first stream is gone.
    again = wait_for(lambda: (r := requests.get(f"{url}/_admin/logs?follow=1", headers=ADMIN, stream=True,
                                                 timeout=10)).status_code == 200 and [r], every=0.5)[0]
    again.close()


def test_logs_follow_reconnects_from_the_last_id_without_repeating_a_line(postgres, tmp_path):
    server = LiveServer(postgres, tmp_path, REACTOR_TRACING_LOG_STREAM_SECONDS="1").start()
    env = {**os.environ, "REACTOR_URL": server.url, "REACTOR_TOKEN": server.env["REACTOR_ADMIN_TOKEN"]}
    out = tmp_path / "follow.out"
    with open(out, "w") as sink:
        follower = subprocess.Popen([str(VENV_BIN / "reactor"), "logs", "--follow"], env=env, stdout=sink,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        ids = [f"follow-{n}-{uuid.uuid4().hex[:6]}" for n in range(12)]
        # Requests spread over several of the server's 1-s streams, so the CLI must reconnect.
        for request_id in ids:
            requests.get(f"{server.url}/health", headers={"X-Request-Id": request_id}, timeout=10)
            time.sleep(0.35)
        wait_for(lambda: all(i in out.read_text() for i in ids), timeout=20)
        lines = out.read_text().splitlines()
        for request_id in ids:
            assert sum(request_id in line for line in lines) == 1, request_id
    finally:
        follower.terminate()
        follower.wait(10)
        server.stop()
