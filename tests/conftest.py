"""Test fixtures: a real PostgreSQL started for the run, the real app, and a real gunicorn."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from reactor_analytics.config import AnalyticsConfig, AuthConfig, Config, DatabaseConfig, GrpcConfig, TracingConfig
from reactor_analytics.store import migrate
from reactor_analytics.store.embedded import EmbeddedPostgres

ADMIN_TOKEN = "test-admin-token-0123456789"
JWT_SECRET = "test-jwt-secret-0123456789abcdef"
VENV_BIN = Path(sys.executable).parent


def wait_for(predicate, timeout: float = 20.0, every: float = 0.05, what: str = ""):
    """Poll until `predicate` is true (and return what it returned), failing after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s: {what or predicate}")


def socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets a process holds open, from /proc (no tool needed)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def tcp_sockets(state: str) -> dict[str, int]:
    """The machine's TCP sockets in `state` ("0A" listening, "01" established), from /proc: inode ->
    local port."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == state:
                found[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_root(prefix: str = "reactor-test-pg-") -> Path:
    """A fresh directory for an embedded database. When the tests run as root the database runs as
    `postgres`, which must pass through it (mkdtemp makes it 0700: the tests open their own)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(root, 0o711)
    return root


@pytest.fixture(scope="session", autouse=True)
def cli_config_home(tmp_path_factory):
    """The `reactor` CLI reads a credential stored in the user's config directory: the tests and
    every CLI they run get an empty one of their own, never the developer's."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("xdg-config")
        patch.setenv("XDG_CONFIG_HOME", str(path))
        yield path


@pytest.fixture(scope="session")
def postgres():
    root = database_root()
    server = EmbeddedPostgres(root)
    server.start()
    migrate.migrate(server.url)
    yield server
    server.stop("immediate")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def config(postgres, tmp_path_factory) -> Config:
    data_dir = tmp_path_factory.mktemp("data")
    # Every test talks from 127.0.0.1: rate limits and the retention schedule are off here and
    # switched on by the tests of governance.
    return Config(
        data_dir=str(data_dir),
        analytics=AnalyticsConfig(rate_limit_per_second=0, retention_interval_s=0),
        database=DatabaseConfig(url=postgres.url, pool_min=1, pool_max=4, pool_timeout_s=2.0),
        auth=AuthConfig(admin_token=ADMIN_TOKEN, jwt_secret=JWT_SECRET),
        grpc=GrpcConfig(enabled=False),  # the in-process app has no gRPC server; LiveServer runs one
        tracing=TracingConfig(filter="warning"),
    )


@pytest.fixture(scope="session")
def engine(config):
    """The query engine process (`reactor engine`) over the test database."""
    from reactor_analytics.query.engine import EngineClient, socket_path

    env = {**os.environ, "REACTOR_DATABASE_URL": config.database.url, "REACTOR_DATA_DIR": config.data_dir,
           "REACTOR_TRACING_FILTER": "warning", "REACTOR_ANALYTICS_RETENTION_INTERVAL_S": "0"}
    proc = subprocess.Popen([str(VENV_BIN / "reactor"), "engine"], env=env, start_new_session=True)
    client = EngineClient(socket_path(config.data_dir), 5.0)
    deadline = time.monotonic() + 60
    while True:
        try:
            client.ping()
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the query engine did not start")
            time.sleep(0.1)
    yield client
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(10)


@pytest.fixture(scope="session")
def app(config, engine):
    from reactor_analytics.app import create_app

    application = create_app(config)
    yield application
    application.extensions["reactor"].db.close()


@pytest.fixture()
def client(app):
    return app.test_client()


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def unique_slug(prefix: str = "proj") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Project:
    def __init__(self, client, slug: str | None = None):
        slug = slug or unique_slug()
        answer = client.post("/analytics/v1/projects", json={"slug": slug, "name": slug}, headers=ADMIN)
        assert answer.status_code == 201, answer.get_json()
        self.data = answer.get_json()["data"]
        self.id, self.slug = self.data["id"], self.data["slug"]
        created = client.post(f"/analytics/v1/projects/{self.id}/keys", json={"name": "browser"}, headers=ADMIN)
        assert created.status_code == 201
        self.key_data = created.get_json()["data"]
        self.key = self.key_data["key"]

    @property
    def key_headers(self) -> dict:
        return {"X-Reactor-Project-Key": self.key}


@pytest.fixture()
def project(client) -> Project:
    return Project(client)


def events_of(postgres, project_id: str, columns: str = "*") -> list[dict]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(postgres.url, row_factory=dict_row) as conn:
        return conn.execute(f"SELECT {columns} FROM events WHERE project_id = %s ORDER BY seq",
                            (project_id,)).fetchall()


class LiveServer:
    """`reactor serve` under gunicorn, as a separate process group we can kill -9."""

    def __init__(self, postgres: EmbeddedPostgres | None, data_dir: Path, workers: int = 2, **env: str):
        """With `postgres` None the service starts its own embedded database in `data_dir`."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.grpc_target = f"127.0.0.1:{free_port()}"
        self.env = {
            **os.environ,
            **({"REACTOR_DATABASE_URL": postgres.url} if postgres is not None else {}),
            "REACTOR_ANALYTICS_BIND": f"127.0.0.1:{self.port}",
            "REACTOR_GRPC_BIND": self.grpc_target,
            "REACTOR_ANALYTICS_WORKERS": str(workers),
            "REACTOR_ADMIN_TOKEN": ADMIN_TOKEN,
            "REACTOR_JWT_SECRET": JWT_SECRET,
            "REACTOR_DATA_DIR": str(data_dir),
            "REACTOR_TRACING_FILTER": "info",
            "REACTOR_ANALYTICS_RATE_LIMIT_PER_SECOND": "0",
            "REACTOR_ANALYTICS_RETENTION_INTERVAL_S": "0",
            **env,
        }
        self.proc: subprocess.Popen | None = None
        # Beside a data directory the service is to make itself, not in it.
        self.log = (data_dir if data_dir.exists() else data_dir.parent) / f"server-{self.port}.log"

    def start(self, timeout: float = 60.0) -> "LiveServer":
        """Returns once /health answers 200: every part up (a 503 means some part is not yet)."""
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([str(VENV_BIN / "reactor"), "serve"], env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                answer = requests.get(self.url + "/health", timeout=5)
                if answer.status_code == 200:
                    return self
                last = f"{answer.status_code} {answer.text[:300]}"
            except requests.RequestException as exc:
                last = type(exc).__name__
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not healthy within {timeout} s (last /health: {last}): "
                           f"{self.log.read_text()[-2000:]}")

    def kill9(self) -> None:
        """kill -9 every process of the service (master and workers)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def make_project(url: str, prefix: str = "proj") -> tuple[str, str]:
    """A project made through a live server's API, and an ingest key of it: (id, key)."""
    slug = f"{prefix}-{uuid.uuid4().hex[:8]}"
    project = requests.post(f"{url}/analytics/v1/projects", json={"slug": slug}, headers=ADMIN, timeout=10).json()
    key = requests.post(f"{url}/analytics/v1/projects/{slug}/keys", json={"name": "k"}, headers=ADMIN,
                        timeout=10).json()
    return project["data"]["id"], key["data"]["key"]


@pytest.fixture()
def live_server(postgres, tmp_path):
    server = LiveServer(postgres, tmp_path).start()
    yield server
    server.stop()
