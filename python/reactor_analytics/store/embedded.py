"""An embedded, private PostgreSQL for installs with no `[database] url`.

The cluster lives in `<data_dir>/pg`, a directory only the database user can enter (0700). The
server listens on a Unix socket in that directory and on no TCP port unless `embedded_port` is set;
every connection needs the password of the application role `reactor` (scram-sha-256), generated
at initialisation and kept in `<data_dir>/db_password` (0600, libpq passfile format). The role owns
the `reactor` database and is not a superuser; the bootstrap superuser has no password, so it is
reachable only through single-user mode by the database user itself.

PostgreSQL refuses to run as root, so when we are root the cluster is owned by and run as the
unprivileged `postgres` system user (or `REACTOR_PG_USER`). No directory the user gave us is ever
changed: when the database user cannot reach the data directory, starting fails and says why.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

APP_ROLE = "reactor"
DATABASE = "reactor"
SUPERUSER = "reactor_bootstrap"
# The socket's name carries a port even when no TCP port is open; inside a private directory it
# cannot clash with another install.
SOCKET_PORT = 5432
# Unix sockets have a path limit of 107 bytes (sun_path); `/.s.PGSQL.5432` takes 14 of them.
_MAX_SOCKET_DIR = 92


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


def make_data_dir(path: Path, database_user_enters: bool) -> None:
    """Create a missing data directory private to the service: 0700, or 0711 when the database
    runs as another user (root's case), who must pass through it to its cluster. A directory that
    exists is left exactly as it is."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o711 if database_user_enters else 0o700)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, replacing it atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    # 0: Unix socket only. A TCP port, when configured, listens on 127.0.0.1 and needs the password.
    port: int = 0

    def __post_init__(self) -> None:
        # PostgreSQL resolves relative paths against its own data directory: hand it absolute ones.
        self.data_dir = Path(self.data_dir).resolve()

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pg"

    @property
    def socket_dir(self) -> Path:
        return self.pgdata

    @property
    def passfile(self) -> Path:
        return self.data_dir / "db_password"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def socket_port(self) -> int:
        return self.port or SOCKET_PORT

    @property
    def url(self) -> str:
        """How the service connects: the private socket, the password read from the passfile."""
        return (f"postgresql://{APP_ROLE}@/{DATABASE}?host={self.socket_dir}&port={self.socket_port}"
                f"&passfile={self.passfile}")

    # -- running things as the database user ---------------------------------------------------

    def _user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        return os.environ.get("REACTOR_PG_USER", "postgres")

    def _ids(self) -> tuple[int, int]:
        user = self._user()
        if user is None:
            return os.geteuid(), os.getegid()
        entry = pwd.getpwnam(user)
        return entry.pw_uid, entry.pw_gid

    def _run(self, args: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
        user = self._user()
        if user:
            args = ["runuser", "-u", user, "--", *args]
        return subprocess.run(args, check=check, capture_output=True, text=True, **kw)

    def _single_user(self, pgdata: Path, database: str, statements: list[str]) -> None:
        """Run statements in single-user mode: no server, no connection, no password needed."""
        result = self._run([str(_bindir() / "postgres"), "--single", "-D", str(pgdata), database],
                           check=False, input="\n".join(statements) + "\n")
        if result.returncode != 0 or "ERROR:" in result.stderr:
            raise EmbeddedError(f"setting up the database failed: {result.stderr.strip()[-1000:]}")

    # -- directories ---------------------------------------------------------------------------

    def _prepare_dirs(self) -> None:
        user = self._user()
        make_data_dir(self.data_dir, database_user_enters=user is not None)
        if user and self._run(["test", "-x", str(self.data_dir)], check=False).returncode != 0:
            blocked = next((p for p in [*reversed(self.data_dir.parents), self.data_dir]
                            if self._run(["test", "-x", str(p)], check=False).returncode != 0), self.data_dir)
            raise EmbeddedError(
                f"the database runs as the system user {user!r}, which cannot enter {blocked} "
                f"(mode {blocked.stat().st_mode & 0o777:04o}); choose a data directory it can reach, "
                "run the service as an unprivileged user, or configure [database] url")
        if len(str(self.socket_dir)) > _MAX_SOCKET_DIR:
            raise EmbeddedError(f"the data directory path is too long for a Unix socket: {self.socket_dir}")
        uid, gid = self._ids()
        if not self.pgdata.exists():
            self.pgdata.mkdir(mode=0o700)
            os.chown(self.pgdata, uid, gid)
        if not self.log_file.exists():
            self.log_file.touch(mode=0o600)
            os.chown(self.log_file, uid, gid)

    # -- initialisation ------------------------------------------------------------------------

    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def _password(self) -> str | None:
        if not self.passfile.exists():
            return None
        return self.passfile.read_text().strip().rsplit(":", 1)[-1]

    def _keep_password(self, password: str) -> None:
        # libpq's passfile format (host:port:database:user:password); it refuses a file others can read.
        _write_private(self.passfile, f"*:*:{DATABASE}:{APP_ROLE}:{password}\n")

    def init(self) -> None:
        self._prepare_dirs()
        if not self.initialised():
            self._create_cluster()
        elif self._password() is None:
            # A cluster made before passwords (its bootstrap superuser is `reactor`, trusted on
            # loopback): give the role a password; access is then the same as a new cluster's.
            password = secrets.token_urlsafe(32)
            self._single_user(self.pgdata, "postgres", [f"ALTER ROLE {APP_ROLE} PASSWORD '{password}'"])
            self._keep_password(password)
        self._write_settings()

    def _create_cluster(self) -> None:
        """initdb, the role and the database, all in a staging directory renamed into place when
        complete: a start interrupted half-way leaves no cluster without its password."""
        staging = self.data_dir / "pg.init"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        os.chown(staging, *self._ids())
        # No server ever runs with initdb's access rules: ours replace them before the first start.
        # Text sorts as C.UTF-8 sorts it (by code point, which is UTF-8's byte order), but under the
        # name "C": PostgreSQL then compares keys with memcmp instead of strcoll, and a COPY into
        # `events` (whose primary key is two text columns) ran 7-16 % faster.
        result = self._run([str(_bindir() / "initdb"), "-D", str(staging), "-U", SUPERUSER, "--auth=trust",
                            "--encoding=UTF8", "--locale=C.UTF-8", "--lc-collate=C"], check=False)
        if result.returncode != 0:
            raise EmbeddedError(f"initdb failed: {result.stderr.strip()}")
        password = secrets.token_urlsafe(32)
        self._single_user(staging, "postgres", [
            f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD '{password}'",
            f"CREATE DATABASE {DATABASE} OWNER {APP_ROLE}",
        ])
        self._keep_password(password)
        self.pgdata.rmdir()
        staging.rename(self.pgdata)

    def _write_settings(self) -> None:
        """Our settings and access rules, rewritten at each start so an older cluster gets them too."""
        tcp = f"listen_addresses = '127.0.0.1'\nport = {self.port}\n" if self.port else (
            f"listen_addresses = ''\nport = {SOCKET_PORT}\n")
        # wal_init_zero = off: a new 16 MB WAL segment is not zero-filled and fsynced while every
        # commit waits for it. Under steady ingest that stall came once a second or so and was
        # the slowest answers' cause; PostgreSQL still fsyncs the WAL itself before each commit.
        settings = (
            "# Written by reactor at each start; changes here are replaced.\n"
            f"{tcp}"
            f"unix_socket_directories = '{self.socket_dir}'\n"
            "unix_socket_permissions = 0700\n"
            "password_encryption = 'scram-sha-256'\n"
            "max_connections = 200\n"
            "shared_buffers = 256MB\n"
            "checkpoint_timeout = 15min\n"
            "max_wal_size = 2GB\n"
            "commit_delay = 0\n"
            "wal_init_zero = off\n"
            "logging_collector = off\n"
        )
        rules = "# Written by reactor at each start: the private socket, with a password; nothing else.\n"
        rules += "local all all scram-sha-256\n"
        if self.port:
            rules += "host all all 127.0.0.1/32 scram-sha-256\n"
        uid, gid = self._ids()
        for name, text in (("postgresql.auto.conf", settings), ("pg_hba.conf", rules)):
            path = self.pgdata / name
            _write_private(path, text)
            os.chown(path, uid, gid)

    # -- running -------------------------------------------------------------------------------

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        """Whether the postmaster is alive (no subprocess: this is polled by the supervisor)."""
        pid = self.postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def start(self, timeout: float = 60.0) -> None:
        self.init()
        if not self.running():
            result = self._run(
                [str(_bindir() / "pg_ctl"), "start", "-w", "-t", str(int(timeout)), "-D", str(self.pgdata),
                 "-l", str(self.log_file)], check=False)
            if result.returncode != 0:
                tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
                raise EmbeddedError(f"PostgreSQL did not start: {result.stderr.strip()} {tail}")
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute("SELECT 1")
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        if self.initialised() and self.running():
            self._run([str(_bindir() / "pg_ctl"), "stop", "-w", "-m", mode, "-D", str(self.pgdata)], check=False)
