"""Operations surface: /metrics, /health, /_admin/doctor, /_admin/version, /_admin/logs, logs, deploy files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from configparser import ConfigParser
from pathlib import Path

import jwt
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from conftest import ADMIN, ADMIN_TOKEN, JWT_SECRET, VENV_BIN, LiveServer, database_root
from reactor_analytics.store import migrate
from reactor_analytics.store.embedded import EmbeddedPostgres

ROOT = Path(__file__).resolve().parent.parent
REQUIRED_METRICS = {"reactor_http_requests", "reactor_http_request_duration_seconds", "reactor_db_pool_size",
                    "reactor_db_pool_idle", "reactor_db_acquire_duration_seconds", "reactor_quota_exceeded",
                    "reactor_analytics_events_accepted", "reactor_analytics_events_rejected",
                    "reactor_analytics_query_duration_seconds"}


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample_sum(family, **labels) -> float:
    return sum(s.value for s in family.samples
               if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics_parse_and_name_every_required_series(client, project):
    # The in-process registry counts the whole test session: compare with a scrape taken just before.
    before = families(client.get("/metrics").data.decode())
    client.post("/analytics/v1/track", json={"event": "e", "anonymous_id": "a"}, headers=project.key_headers)
    client.post("/analytics/v1/batch", json={"batch": [{"event": "$bad", "anonymous_id": "a"}]},
                headers=project.key_headers)
    found = families(client.get("/metrics").data.decode())
    assert REQUIRED_METRICS <= set(found), REQUIRED_METRICS - set(found)

    def delta(name: str, **labels) -> float:
        return sample_sum(found[name], **labels) - (sample_sum(before[name], **labels) if name in before else 0)

    assert delta("reactor_http_requests", capability="analytics", method="POST", status="200") == 2
    assert delta("reactor_analytics_events_accepted", endpoint="track") == 1
    assert delta("reactor_analytics_events_accepted", endpoint="batch") == 0
    assert delta("reactor_analytics_events_rejected", reason="system_reserved") == 1


def _get_200_by_process(data_dir: str) -> dict[str, float]:
    """GET requests answered 200, as each process counted them in its own file of the shared
    metrics directory (counter_<pid>.db): which worker answered what."""
    from prometheus_client.mmap_dict import MmapedDict

    counts: dict[str, float] = {}
    for path in (Path(data_dir) / "metrics").rglob("counter_*.db"):
        total = 0.0
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            _, sample, labels, _ = json.loads(key)
            if sample == "reactor_http_requests_total" and labels.get("method") == "GET" \
                    and labels.get("status") == "200":
                total += value
        counts[path.stem.rpartition("_")[2]] = total
    return counts


def test_metrics_are_counted_across_gunicorn_workers(live_server):
    url = live_server.url

    def scraped(answer) -> float:
        return sample_sum(families(answer.text)["reactor_http_requests"], method="GET", status="200")

    before = scraped(requests.get(f"{url}/metrics", timeout=10))
    by_process = _get_200_by_process(live_server.env["REACTOR_DATA_DIR"])
    sent, deadline = 0, time.monotonic() + 60
    while True:
        for _ in range(20):
            # A new connection each time, so the requests spread over the workers.
            assert requests.get(f"{url}/health", headers={"Connection": "close"}, timeout=10).status_code == 200
        sent += 20
        answered = {pid: n - by_process.get(pid, 0)
                    for pid, n in _get_200_by_process(live_server.env["REACTOR_DATA_DIR"]).items()}
        if sum(n > 0 for n in answered.values()) >= 2:
            break
        assert time.monotonic() < deadline, f"one worker answered all {sent} requests: {answered}"
    assert sum(answered.values()) == sent
    # Every scrape, whichever worker answers it, sees the requests of all of them, and nothing more.
    scrapes = [requests.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=10) for _ in range(6)]
    assert [scraped(s) for s in scrapes] == [before + sent] * 6
    assert families(scrapes[-1].text)["reactor_db_pool_size"].samples[0].value >= 1


def test_health_names_the_failing_part_while_postgres_is_down(tmp_path):
    root = database_root("reactor-test-pg-health-")
    database = EmbeddedPostgres(root)
    database.start()
    migrate.migrate(database.url)
    server = LiveServer(database, tmp_path).start()
    try:
        assert requests.get(f"{server.url}/health", timeout=10).status_code == 200
        database.stop("fast")
        answer = requests.get(f"{server.url}/health", timeout=15)
        assert answer.status_code == 503
        assert "database" in answer.json()["failing"]
        doctor = requests.get(f"{server.url}/_admin/doctor", headers=ADMIN, timeout=15).json()
        assert doctor["analytics"]["status"] == "error"
        database.start()
        deadline = time.monotonic() + 20
        while requests.get(f"{server.url}/health", timeout=15).status_code != 200:
            assert time.monotonic() < deadline, "health did not recover"
            time.sleep(0.2)
    finally:
        server.stop()
        database.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def test_health_is_ok_with_every_part(client):
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.get_json()["parts"] == {"database": "ok", "migrations": "ok", "native_core": "ok",
                                          "query_engine": "ok"}
    assert answer.get_json()["capabilities"] == {"analytics": "ok"}


def test_doctor_and_version_need_the_admin_token(client):
    assert client.get("/_admin/doctor").status_code == 401
    token = jwt.encode({"sub": "x", "permissions": ["analytics:*:query"], "exp": int(time.time()) + 60},
                       JWT_SECRET, algorithm="HS256")
    assert client.get("/_admin/doctor", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    doctor = client.get("/_admin/doctor", headers=ADMIN).get_json()
    assert doctor["analytics"]["status"] == "ok"
    assert [c["name"] for c in doctor["analytics"]["checks"]] == ["database", "migrations", "native_core",
                                                                 "query_engine"]
    assert all(c["status"] == "ok" and "latency_ms" in c for c in doctor["analytics"]["checks"])
    version = client.get("/_admin/version", headers=ADMIN).get_json()
    assert version["reactor"] == version["capabilities"]["analytics"]


def _sse_lines(text: str) -> list[dict]:
    return [json.loads(line[len("data: "):]) for line in text.splitlines() if line.startswith("data: ")]


def test_log_lines_are_reactor_json_and_stream_over_sse(live_server):
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    requests.get(f"{live_server.url}/health", headers={"X-Request-Id": request_id})
    text = requests.get(f"{live_server.url}/_admin/logs", headers=ADMIN, timeout=10).text
    lines = [r for r in _sse_lines(text) if r["fields"].get("request_id") == request_id]
    assert len(lines) == 1
    line = lines[0]
    assert set(line) == {"timestamp", "level", "target", "fields"}
    assert line["level"] == "INFO" and line["target"].startswith("reactor_analytics")
    assert {"method": "GET", "path": "/health", "status": 200}.items() <= line["fields"].items()
    assert isinstance(line["fields"]["duration_ms"], float)
    assert _sse_lines(requests.get(f"{live_server.url}/_admin/logs?level=error", headers=ADMIN).text) == []
    assert _sse_lines(requests.get(f"{live_server.url}/_admin/logs?capability=jobs", headers=ADMIN).text) == []
    assert _sse_lines(requests.get(f"{live_server.url}/_admin/logs?since=2099-01-01T00:00:00Z",
                                   headers=ADMIN).text) == []
    assert requests.get(f"{live_server.url}/_admin/logs?since=yesterday", headers=ADMIN).status_code == 400
    assert requests.get(f"{live_server.url}/_admin/logs").status_code == 401


def test_reactor_logs_follow_sees_every_workers_lines(live_server):
    env = {**os.environ, "REACTOR_URL": live_server.url, "REACTOR_TOKEN": ADMIN_TOKEN}
    follower = subprocess.Popen([str(VENV_BIN / "reactor"), "logs", "--follow", "--since", "1m"], env=env,
                                stdout=subprocess.PIPE, text=True)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(follower.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        ids = [f"follow-{i}-{uuid.uuid4().hex[:8]}" for i in range(20)]
        for request_id in ids:
            requests.get(f"{live_server.url}/health", headers={"X-Request-Id": request_id})
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(any(i in line for line in seen) for i in ids):
            time.sleep(0.2)
        assert all(any(i in line for line in seen) for i in ids)
    finally:
        follower.terminate()
        follower.wait(10)


def test_no_ip_key_or_token_ever_reaches_a_log_line(live_server):
    url = live_server.url
    project = requests.post(f"{url}/analytics/v1/projects", json={"slug": f"logs-{uuid.uuid4().hex[:6]}"},
                            headers=ADMIN).json()["data"]
    key = requests.post(f"{url}/analytics/v1/projects/{project['id']}/keys", json={"name": "k"},
                        headers=ADMIN).json()["data"]["key"]
    token = jwt.encode({"sub": "svc", "permissions": ["analytics:*:ingest"], "exp": int(time.time()) + 60},
                       JWT_SECRET, algorithm="HS256")
    secret_ip = "198.51.100.203"
    event = {"event": "e", "anonymous_id": "anon-secret", "context": {"ip": secret_ip}}
    requests.post(f"{url}/analytics/v1/track", json=event, headers={"X-Reactor-Project-Key": key,
                                                                   "X-Forwarded-For": secret_ip})
    requests.post(f"{url}/analytics/v1/track?key={key}", json=event)
    requests.post(f"{url}/analytics/v1/track", json=event,
                  headers={"Authorization": f"Bearer {token}", "X-Reactor-Project": project["id"]})
    requests.post(f"{url}/analytics/v1/track", json=event, headers={"Authorization": "Bearer wrong.token.here"})
    requests.get(f"{url}/_admin/doctor", headers=ADMIN)
    log_text = (Path(live_server.env["REACTOR_DATA_DIR"]) / "logs" / "reactor.jsonl").read_text()
    stream_text = requests.get(f"{url}/_admin/logs", headers=ADMIN).text
    console = live_server.log.read_text()
    assert "/analytics/v1/track" in log_text and "/analytics/v1/track" in stream_text
    for text in (log_text, stream_text, console):
        for secret in (key, token, ADMIN_TOKEN, secret_ip, "wrong.token.here"):
            assert secret not in text, secret
    # The client's own address (loopback here) is in no request line either; the console's
    # start-up banner names the bind address, which is not a client's.
    assert "127.0.0.1" not in log_text and "127.0.0.1" not in stream_text


def test_deploy_files_parse_and_use_only_metrics_we_export(client):
    deploy = ROOT / "deploy"
    exported = set(families(client.get("/metrics").data.decode()))
    alerts = yaml.safe_load((deploy / "alerts.yml").read_text())
    expressions = [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]
    assert {r["alert"] for g in alerts["groups"] for r in g["rules"]} >= {"ReactorHighErrorRate",
                                                                         "ReactorHealthCheckFailing"}
    scrape = yaml.safe_load((deploy / "prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["metrics_path"] == "/metrics"
    assert scrape["scrape_configs"][0]["job_name"] == "reactor"
    dashboard = json.loads((deploy / "grafana-dashboard.json").read_text())
    titles = {p["title"] for p in dashboard["panels"]}
    assert {"Request rate", "Error rate", "Latency P50/P95/P99", "DB pool utilization"} <= titles
    expressions += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {re.sub(r"_(bucket|total|count|sum)$", "", m) for e in expressions for m in re.findall(r"reactor_\w+", e)}
    assert used <= exported, used - exported
    unit = ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read_string((deploy / "reactor-analytics.service").read_text())
    assert unit["Service"]["ExecStart"].endswith("reactor serve")
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    recipe = (deploy / "Containerfile").read_text().splitlines()
    assert recipe[[i for i, l in enumerate(recipe) if l.startswith("FROM")][-1]].startswith("FROM python:3.11")
    assert any(l.startswith("CMD") and "reactor serve" in l for l in recipe)
    compile((deploy / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec")
