"""An embedded local PostgreSQL for installs with no `[database] url`.

Initialises a cluster in `<data_dir>/pg` on first use and starts it on loopback. PostgreSQL
refuses to run as root, so when we are root the cluster is owned by and run as the
unprivileged `postgres` system user (or `REACTOR_PG_USER`). Connections from loopback are
trusted: the server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class EmbeddedError(Exception):
    pass


def _bindir() -> Path:
    override = os.environ.get("REACTOR_PG_BINDIR")
    if override:
        return Path(override)
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise EmbeddedError("PostgreSQL server binaries (initdb, pg_ctl) were not found; install postgresql-15")


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int

    def __post_init__(self) -> None:
        # PostgreSQL resolves relative paths against its own data directory: hand it absolute ones.
        self.data_dir = Path(self.data_dir).resolve()

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pg"

    @property
    def url(self) -> str:
        return f"postgresql://reactor@127.0.0.1:{self.port}/reactor"

    def _user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        return os.environ.get("REACTOR_PG_USER", "postgres")

    def _run(self, args: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
        user = self._user()
        if user:
            args = ["runuser", "-u", user, "--", *args]
        return subprocess.run(args, check=check, capture_output=True, text=True, **kw)

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._user()
        if user:
            entry = pwd.getpwnam(user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            # The server must be able to reach its data directory through every parent.
            for parent in self.data_dir.resolve().parents:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)

    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def init(self) -> None:
        self._prepare_dirs()
        if self.initialised():
            return
        bindir = _bindir()
        result = self._run(
            [str(bindir / "initdb"), "-D", str(self.pgdata), "-U", "reactor", "--auth=trust",
             "--encoding=UTF8", "--locale=C.UTF-8"], check=False)
        if result.returncode != 0:
            raise EmbeddedError(f"initdb failed: {result.stderr.strip()}")
        # wal_init_zero = off: a new 16 MB WAL segment is not zero-filled and fsynced while every
        # commit waits for it. Under steady ingest that stall came once a second or so and was
        # the slowest answers' cause; PostgreSQL still fsyncs the WAL itself before each commit.
        with open(self.pgdata / "postgresql.auto.conf", "a") as conf:
            conf.write(
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.pgdata}'\n"
                "max_connections = 200\n"
                "shared_buffers = 256MB\n"
                "checkpoint_timeout = 15min\n"
                "max_wal_size = 2GB\n"
                "commit_delay = 0\n"
                "wal_init_zero = off\n"
                "logging_collector = off\n"
            )

    def running(self) -> bool:
        result = self._run([str(_bindir() / "pg_ctl"), "status", "-D", str(self.pgdata)], check=False)
        return result.returncode == 0

    def start(self, timeout: float = 60.0) -> None:
        self.init()
        if not self.running():
            log = self.data_dir / "postgres.log"
            if self._user():
                log.touch()
                entry = pwd.getpwnam(self._user())
                os.chown(log, entry.pw_uid, entry.pw_gid)
            result = self._run(
                [str(_bindir() / "pg_ctl"), "start", "-w", "-t", str(int(timeout)), "-D", str(self.pgdata),
                 "-l", str(log), "-o", f"-p {self.port}"], check=False)
            if result.returncode != 0:
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise EmbeddedError(f"PostgreSQL did not start: {result.stderr.strip()} {tail}")
        self._ensure_database(timeout)

    def _ensure_database(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(f"postgresql://reactor@127.0.0.1:{self.port}/postgres", autocommit=True,
                                     connect_timeout=5) as conn:
                    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'reactor'").fetchone():
                        conn.execute("CREATE DATABASE reactor")
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self, mode: str = "fast") -> None:
        if self.initialised() and self.running():
            self._run([str(_bindir() / "pg_ctl"), "stop", "-w", "-m", mode, "-D", str(self.pgdata)], check=False)
