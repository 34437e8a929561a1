"""The embedded PostgreSQL is private to its install: no other local user reaches it, two installs
run side by side, no directory we were given changes, and it comes back by itself when it dies."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import requests

from conftest import ADMIN, LiveServer, database_root, socket_inodes, tcp_sockets
from reactor_analytics.store.embedded import EmbeddedPostgres

AS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not AS_ROOT, reason="switching to another local user needs root")


@pytest.fixture(scope="module")
def private_database():
    root = database_root("reactor-test-pg-private-")
    database = EmbeddedPostgres(root)
    database.start()
    yield database
    database.stop("immediate")
    shutil.rmtree(root, ignore_errors=True)


def _listening_tcp_ports(pid: int) -> set[int]:
    """TCP ports a process listens on."""
    held = socket_inodes(pid)
    return {port for inode, port in tcp_sockets("0A").items() if inode in held}


def _psql_as(user: str, conninfo: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", user, "--", "psql", conninfo, "-Atc", "SELECT current_user"],
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_embedded_database_listens_on_no_tcp_port(private_database):
    pid = private_database.postmaster_pid()
    assert pid is not None
    assert _listening_tcp_ports(pid) == set()


@needs_root
def test_another_local_user_cannot_connect_over_the_socket_or_tcp(private_database):
    socket_dir = private_database.socket_dir
    attempts = [
        f"host={socket_dir} port=5432 user=reactor dbname=reactor",
        f"host={socket_dir} port=5432 user=reactor_bootstrap dbname=postgres",
        "host=127.0.0.1 port=5432 user=reactor dbname=reactor connect_timeout=3",
        "host=127.0.0.1 port=54329 user=reactor dbname=reactor connect_timeout=3",
        "host=/tmp port=5432 user=reactor dbname=reactor",
        "host=/var/run/postgresql port=5432 user=reactor dbname=reactor",
    ]
    for conninfo in attempts:
        result = _psql_as("nobody", conninfo)
        assert result.returncode != 0, (conninfo, result.stdout)
        assert "reactor" not in result.stdout
    # Nor by reading the password: the passfile is the service's alone.
    read = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(private_database.passfile)],
                          capture_output=True, text=True)
    assert read.returncode != 0 and read.stdout == ""
    assert stat.S_IMODE(private_database.passfile.stat().st_mode) == 0o600


@needs_root
def test_the_database_user_itself_needs_the_password(private_database):
    """Even the `postgres` system user, who owns the socket directory, must know the password."""
    result = _psql_as("postgres", f"host={private_database.socket_dir} port=5432 user=reactor dbname=reactor")
    assert result.returncode != 0
    assert "password" in result.stderr.lower()


def test_the_application_role_is_not_a_superuser(private_database):
    with psycopg.connect(private_database.url, autocommit=True) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TEMP TABLE t (line text)")
            conn.execute("COPY t FROM PROGRAM 'id'")


def test_text_sorts_by_code_point_under_the_c_collation(private_database):
    """Keys compare with memcmp (collation "C"); the order is C.UTF-8's, code point by code point."""
    with psycopg.connect(private_database.url, autocommit=True) as conn:
        assert conn.execute("SELECT datcollate, datctype FROM pg_database WHERE datname = current_database()"
                            ).fetchone() == ("C", "C.UTF-8")
        words = ["b", "B", "a", "é", "z", "Ä", "_", "10", "9", "ü"]
        ordered = [w for (w,) in conn.execute("SELECT w FROM unnest(%s::text[]) AS w ORDER BY w", (words,))]
        assert ordered == sorted(words)  # Python sorts str by code point
        assert conn.execute("SELECT upper('äé')").fetchone() == ("ÄÉ",)  # character classes stay UTF-8's


def test_a_wrong_password_is_refused(private_database, tmp_path):
    wrong = tmp_path / "passfile"
    wrong.write_text("*:*:reactor:reactor:not-the-password\n")
    wrong.chmod(0o600)
    url = private_database.url.replace(str(private_database.passfile), str(wrong))
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(url, connect_timeout=5).close()


def _stop_embedded(data_dir: Path) -> None:
    EmbeddedPostgres(data_dir).stop("immediate")


def test_two_installs_run_side_by_side_with_default_settings():
    roots = [database_root("reactor-test-side-") for _ in range(2)]
    servers = [LiveServer(None, root / "data") for root in roots]
    try:
        for server in servers:
            server.start(timeout=90)
        for server in servers:
            assert requests.get(f"{server.url}/health", timeout=10).status_code == 200
        slugs = [f"side-{uuid.uuid4().hex[:8]}" for _ in servers]
        for server, slug in zip(servers, slugs):
            assert requests.post(f"{server.url}/analytics/v1/projects", json={"slug": slug}, headers=ADMIN,
                                 timeout=10).status_code == 201
        # Two databases: each install sees only its own project.
        for server, slug, other in zip(servers, slugs, reversed(slugs)):
            listed = requests.get(f"{server.url}/analytics/v1/projects", headers=ADMIN, timeout=10).json()
            names = {p["slug"] for p in listed["data"]}
            assert slug in names and other not in names
    finally:
        for server, root in zip(servers, roots):
            server.stop()
            _stop_embedded(root / "data")
            shutil.rmtree(root, ignore_errors=True)


def _serve_once(data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "REACTOR_DATA_DIR": str(data_dir), "REACTOR_ANALYTICS_BIND": "127.0.0.1:0"}
    env.pop("REACTOR_DATABASE_URL", None)
    from conftest import VENV_BIN

    return subprocess.run([str(VENV_BIN / "reactor"), "serve"], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


@needs_root
def test_a_private_ancestor_is_left_unchanged_and_named():
    parent = Path(tempfile.mkdtemp(prefix="reactor-test-private-"))  # 0700, root's
    try:
        before = stat.S_IMODE(parent.stat().st_mode)
        tmp_before = stat.S_IMODE(Path(tempfile.gettempdir()).stat().st_mode)
        result = _serve_once(parent / "data")
        assert result.returncode != 0
        assert str(parent) in result.stderr and "cannot enter" in result.stderr
        assert "Traceback" not in result.stderr
        assert stat.S_IMODE(parent.stat().st_mode) == before == 0o700
        assert stat.S_IMODE(Path(tempfile.gettempdir()).stat().st_mode) == tmp_before
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def test_a_given_data_dir_keeps_its_mode_and_owner_and_secrets_are_private():
    root = database_root("reactor-test-given-")
    data = root / "data"
    data.mkdir(mode=0o751)
    os.chmod(data, 0o751)
    before = data.stat()
    server = LiveServer(None, data)
    try:
        server.start(timeout=90)
        assert requests.get(f"{server.url}/health", timeout=10).status_code == 200
        after = data.stat()
        assert (stat.S_IMODE(after.st_mode), after.st_uid, after.st_gid) == (
            stat.S_IMODE(before.st_mode), before.st_uid, before.st_gid)
        for name in ("admin_token", "jwt_secret", "db_password"):
            path = data / name
            if name in ("admin_token", "jwt_secret") and not path.exists():
                continue  # configured through the environment by LiveServer
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
            assert path.stat().st_uid == os.geteuid(), name
        cluster = data / "pg"
        assert stat.S_IMODE(cluster.stat().st_mode) == 0o700
        if AS_ROOT:
            # The database user owns its cluster and nothing else here: it cannot write the directory
            # that holds the service's secrets.
            assert cluster.stat().st_uid != 0
            assert subprocess.run(["runuser", "-u", "postgres", "--", "test", "-w", str(data)]).returncode != 0
    finally:
        server.stop()
        _stop_embedded(data)
        shutil.rmtree(root, ignore_errors=True)


def test_first_run_secrets_are_private():
    root = database_root("reactor-test-secrets-")
    data = root / "data"
    server = LiveServer(None, data)
    for name in ("REACTOR_ADMIN_TOKEN", "REACTOR_JWT_SECRET"):
        server.env.pop(name)
    try:
        server.start(timeout=90)
        for name in ("admin_token", "jwt_secret", "db_password"):
            mode = stat.S_IMODE((data / name).stat().st_mode)
            assert mode == 0o600, (name, oct(mode))
        # The data directory the service made is its own: others may at most pass through it.
        assert stat.S_IMODE(data.stat().st_mode) == (0o711 if AS_ROOT else 0o700)
        token = (data / "admin_token").read_text().strip()
        answer = requests.get(f"{server.url}/analytics/v1/projects", headers={"Authorization": f"Bearer {token}"},
                              timeout=10)
        assert answer.status_code == 200
        if AS_ROOT:
            for name in ("admin_token", "jwt_secret", "db_password"):
                assert subprocess.run(["runuser", "-u", "postgres", "--", "cat", str(data / name)],
                                      capture_output=True).returncode != 0, name
    finally:
        server.stop()
        _stop_embedded(data)
        shutil.rmtree(root, ignore_errors=True)
