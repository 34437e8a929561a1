"""What the README promises of a fresh install and the CLI: secrets made once and read by the CLI,
`reactor doctor`, `reactor migrate`."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

import psycopg
import pytest
import requests

from conftest import VENV_BIN, LiveServer, database_root
from reactor_analytics.store import migrate
from reactor_analytics.store.embedded import EmbeddedPostgres


def reactor(*args: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "reactor"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _cli_env(server: LiveServer, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("REACTOR_TOKEN", "REACTOR_ADMIN_TOKEN")}
    return {**env, "REACTOR_URL": server.url, "REACTOR_DATA_DIR": server.env["REACTOR_DATA_DIR"], **extra}


@pytest.fixture()
def fresh_install(postgres, tmp_path):
    """A service whose admin token and JWT secret are not configured: it makes them itself."""
    server = LiveServer(postgres, tmp_path / "data")
    for name in ("REACTOR_ADMIN_TOKEN", "REACTOR_JWT_SECRET"):
        server.env.pop(name)
    (tmp_path / "data").mkdir()
    yield server
    server.stop()


def test_first_run_makes_secrets_once_and_the_cli_reads_the_admin_token(fresh_install, tmp_path):
    server = fresh_install.start()
    data = tmp_path / "data"
    admin_token, jwt_secret = ((data / name).read_text().strip() for name in ("admin_token", "jwt_secret"))
    for name in ("admin_token", "jwt_secret"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
    assert len(admin_token) >= 32 and len(jwt_secret) >= 32 and admin_token != jwt_secret

    # The CLI finds the admin token in the data directory: no token in its environment.
    env = _cli_env(server)
    created = reactor("analytics", "projects", "create", "cli-fresh", "--name", "Fresh", env=env)
    assert created.returncode == 0, created.stderr + created.stdout
    minted = reactor("token", "mint", "--sub", "svc", "--permission", "analytics:cli-fresh:query", env=env)
    assert minted.returncode == 0, minted.stderr
    jwt = minted.stdout.strip()

    # A restart keeps both secrets: the same admin token works and the JWT minted before still does.
    server.stop()
    server = fresh_install.start()
    assert (data / "admin_token").read_text().strip() == admin_token
    assert (data / "jwt_secret").read_text().strip() == jwt_secret
    listed = reactor("analytics", "projects", "list", env=env)
    assert listed.returncode == 0 and "cli-fresh" in listed.stdout
    answer = requests.post(f"{server.url}/analytics/v1/query", headers={"Authorization": f"Bearer {jwt}"},
                           json={"project_id": "cli-fresh", "kind": "aggregate", "time_range": {"last": "1d"}},
                           timeout=10)
    assert answer.status_code == 200, answer.text

    # Without the data directory's token, the same command is refused.
    refused = reactor("analytics", "projects", "list", env={**env, "REACTOR_DATA_DIR": str(tmp_path / "none")})
    assert refused.returncode != 0
    assert "analytics.auth.unauthenticated" in refused.stdout


def test_reactor_doctor_reports_every_part(live_server):
    env = _cli_env(live_server, REACTOR_TOKEN=live_server.env["REACTOR_ADMIN_TOKEN"])
    result = reactor("doctor", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    import json

    report = json.loads(result.stdout)["analytics"]
    assert report["status"] == "ok"
    assert {c["name"] for c in report["checks"]} >= {"database", "migrations", "native_core", "query_engine"}
    assert all(c["status"] == "ok" for c in report["checks"])
    same = reactor("analytics", "doctor", env=env)
    assert same.returncode == 0 and json.loads(same.stdout)["analytics"]["status"] == "ok"
    wrong = reactor("doctor", env={**env, "REACTOR_TOKEN": "not-the-admin-token"})
    assert wrong.returncode == 1


def test_reactor_migrate_brings_an_empty_database_to_the_latest_schema_once():
    root = database_root("reactor-test-migrate-")
    database = EmbeddedPostgres(root)
    database.start()
    try:
        env = {**os.environ, "REACTOR_DATABASE_URL": database.url, "REACTOR_DATA_DIR": str(root / "data")}
        with psycopg.connect(database.url) as conn:
            assert migrate.applied(conn) == set()
        first = reactor("migrate", env=env)
        assert first.returncode == 0, first.stderr
        with psycopg.connect(database.url) as conn:
            versions = migrate.applied(conn)
            assert versions == {v for v, _, _ in migrate.available()}
            assert migrate.pending(conn) == []
            assert conn.execute("SELECT to_regclass('events') IS NOT NULL").fetchone() == (True,)
            applied_at = conn.execute("SELECT max(applied_at) FROM schema_migrations").fetchone()
        again = reactor("migrate", env=env)
        assert again.returncode == 0, again.stderr
        with psycopg.connect(database.url) as conn:
            assert conn.execute("SELECT max(applied_at) FROM schema_migrations").fetchone() == applied_at
            assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(versions),)
    finally:
        database.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
