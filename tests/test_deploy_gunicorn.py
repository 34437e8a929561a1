"""deploy/gunicorn.conf.py runs the whole service under a plain `gunicorn -c …`: queries answer (the
query engine runs) and gRPC serves, and every part stops with gunicorn."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import grpc
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import ADMIN, ADMIN_TOKEN, JWT_SECRET, VENV_BIN, free_port, unique_slug

ROOT = Path(__file__).resolve().parent.parent


def test_gunicorn_with_the_deploy_settings_runs_every_part(postgres, tmp_path):
    port, grpc_port = free_port(), free_port()
    env = {**os.environ, "REACTOR_DATABASE_URL": postgres.url, "REACTOR_ANALYTICS_BIND": f"127.0.0.1:{port}",
           "REACTOR_GRPC_BIND": f"127.0.0.1:{grpc_port}", "REACTOR_ANALYTICS_WORKERS": "2",
           "REACTOR_ADMIN_TOKEN": ADMIN_TOKEN, "REACTOR_JWT_SECRET": JWT_SECRET,
           "REACTOR_DATA_DIR": str(tmp_path / "data"), "REACTOR_ANALYTICS_RATE_LIMIT_PER_SECOND": "0"}
    log = open(tmp_path / "gunicorn.log", "wb")
    proc = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                             "reactor_analytics.wsgi:app"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()[-2000:]
            try:
                health = requests.get(f"{url}/health", timeout=2)
                if health.status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()[-2000:]
            time.sleep(0.2)
        assert health.json()["parts"] == {"database": "ok", "migrations": "ok", "native_core": "ok",
                                          "query_engine": "ok", "grpc": "ok"}
        slug = unique_slug("deploy")
        assert requests.post(f"{url}/analytics/v1/projects", json={"slug": slug}, headers=ADMIN,
                             timeout=10).status_code == 201
        answer = requests.post(f"{url}/analytics/v1/query", headers=ADMIN, timeout=10,
                               json={"project_id": slug, "kind": "aggregate", "time_range": {"last": "1d"}})
        assert answer.status_code == 200, answer.text
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="reactor.analytics.v1.Analytics"), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    finally:
        os.kill(proc.pid, signal.SIGTERM)  # the master only, as a process manager does
        proc.wait(60)
        log.close()
    # Nothing of the service outlives gunicorn's master.
    leftovers = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == proc.pid:
                    leftovers.append((entry / "cmdline").read_bytes())
            except (OSError, ProcessLookupError):
                pass
    assert leftovers == []
