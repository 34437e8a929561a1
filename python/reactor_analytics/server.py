"""`reactor serve`: prepare the database, then run the Flask app under gunicorn."""

from __future__ import annotations

# The codec `socket` and `werkzeug` look host names up with, imported before any thread of this
# process runs: a web worker forked while another thread was importing it would never find it.
import encodings.idna  # noqa: F401
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from .auth import oidc
from .auth.bootstrap import with_secrets
from .config import Config, local_address
from .governance import ratelimit
from .ingest import geoip
from .store import migrate
from .store.db import database_url
from .store.embedded import EmbeddedPostgres
from .store.embedded import make_data_dir as make_private_dir


def gunicorn_settings(config: Config) -> dict:
    """The gunicorn settings we run with; deploy/gunicorn.conf.py uses the same."""
    return {
        "bind": config.analytics.bind,
        "workers": config.analytics.workers,
        # threads = 0: gunicorn's plain sync worker, one request per process and no protection from
        # slow clients; kept to measure the two models against each other (bench/workers.py).
        "worker_class": ("reactor_analytics.http_worker.BufferingThreadWorker" if config.analytics.threads > 0
                         else "sync"),
        "threads": max(1, config.analytics.threads),
        "post_fork": partial(_post_fork, config),
        "timeout": max(60, config.analytics.query_timeout_ms // 1000 + 30),
        "graceful_timeout": 30,
        "keepalive": 5,
        # Whether a request came over TLS is the service's call (`[analytics] trust_proxy` and
        # X-Forwarded-Proto, api/http.is_https), not gunicorn's trust of any local peer.
        "secure_scheme_headers": {},
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": "reactor-analytics",
        "child_exit": _child_exit,
    }


def _post_fork(config: Config, server, worker) -> None:
    """The buffering worker's limits: the body limit (plus slack for headers) and the read deadline."""
    worker.body_limit = config.analytics.max_body_bytes + 64 * 1024
    worker.read_timeout_s = config.analytics.request_read_timeout_s


def _child_exit(server, worker) -> None:
    """Drop a dead worker's live gauges from the shared metrics directory."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def metrics_dir(config: Config) -> Path:
    """A fresh directory for the workers' metric files; set before any worker imports prometheus_client."""
    path = Path(config.data_dir).resolve() / "metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def prepare(config: Config) -> tuple[str, EmbeddedPostgres | None]:
    """Start the embedded database when none is configured, and apply migrations."""
    embedded = None
    if config.embedded_database:
        embedded = EmbeddedPostgres(Path(config.data_dir), config.database.embedded_port)
        embedded.start()
    url = database_url(config)
    migrate.migrate(url)
    return url, embedded


class _Gunicorn(BaseApplication):
    def __init__(self, settings: dict, on_stop=None) -> None:
        self._settings = settings
        self._on_stop = on_stop
        super().__init__()

    def run(self) -> None:
        """gunicorn's arbiter, told to call `on_stop` first when a stop signal reaches it: the
        supervisors then know a child that exits next is shutting down, not crashing (they cannot
        tell from its exit status, which the arbiter's waitpid(-1) may have taken)."""
        arbiter = Arbiter(self)
        if self._on_stop is not None:
            for name in ("handle_term", "handle_int", "handle_quit"):
                def stopping(original=getattr(arbiter, name)) -> None:
                    self._on_stop()
                    original()

                setattr(arbiter, name, stopping)
        try:
            arbiter.run()
        except RuntimeError as exc:
            print(f"\nError: {exc}\n", file=sys.stderr, flush=True)
            sys.exit(1)

    def load_config(self) -> None:
        for key, value in self._settings.items():
            if value is not None or key == "accesslog":
                self.cfg.set(key, value)

    def load(self):
        from .wsgi import app

        return app


class ChildProcess:
    """A part of the service in its own process (`reactor engine`, `reactor grpc`), started before
    the web workers and restarted if it dies."""

    def __init__(self, name: str, command: str, ready) -> None:
        self.name = name
        self.command = command
        self.ready = ready
        self.proc: subprocess.Popen | None = None
        self._stopping = False
        self._lock = threading.Lock()

    def launch(self) -> None:
        """Start the process (not once the service is stopping: a part launched late, by the
        thread that waits for the engine, must not outlive the stop)."""
        with self._lock:
            if self._stopping:
                raise RuntimeError(f"the {self.name} was not started: the service is stopping")
            self.proc = subprocess.Popen([sys.executable, "-m", "reactor_analytics.cli.main", self.command])

    def start(self, timeout: float = 600.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 600.0) -> None:
        """Return once the launched process is ready; raise when it exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the {self.name} exited while starting")
            try:
                self.ready()
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        raise RuntimeError(f"the {self.name} did not start in time")

    def supervise(self) -> None:
        def watch() -> None:
            while not self._stopping:
                if self.proc is not None and self.proc.wait() is not None:
                    # A stop signal to the whole group (Ctrl-C, SIGTERM) is a shutdown, not a crash:
                    # the arbiter marks every part as stopping when it receives one (_Gunicorn.run).
                    if self._stopping:
                        return
                    time.sleep(1.0)
                    if self._stopping:
                        return
                    print(f"{self.name} exited; restarting", file=sys.stderr, flush=True)
                    try:
                        self.start()
                    except RuntimeError as exc:
                        print(f"{self.name}: {exc}", file=sys.stderr, flush=True)

        threading.Thread(target=watch, daemon=True, name=f"{self.command}-supervisor").start()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def mark_stopping(self) -> None:
        with self._lock:
            self._stopping = True

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class DatabaseKeeper:
    """Starts the embedded database again when it dies: the service owns it, so no person should
    have to. Polled twice a second (a signal-0 probe of the postmaster's pid, no subprocess)."""

    POLL_S = 0.5

    def __init__(self, embedded: EmbeddedPostgres) -> None:
        self.embedded = embedded
        self._stopping = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._watch, daemon=True, name="database-keeper").start()

    def _watch(self) -> None:
        while not self._stopping.wait(self.POLL_S):
            if self.embedded.running():
                continue
            print("the embedded database is not running; starting it", file=sys.stderr, flush=True)
            try:
                self.embedded.start(timeout=30)
                print("the embedded database is running again", file=sys.stderr, flush=True)
            except Exception as exc:  # noqa: BLE001 - tried again at the next poll
                print(f"the embedded database did not start: {exc}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        self._stopping.set()


def children(config: Config) -> list[ChildProcess]:
    """The engine (or, with events on ClickHouse, the forwarder in its place) and the gRPC servers."""
    if config.events.store == "clickhouse":
        # Ready once launched: while ClickHouse is away it waits and retries, and queries answer 503.
        parts = [ChildProcess("ClickHouse forwarder", "forward", lambda: None)]
    else:
        from .query.engine import EngineClient, socket_path

        engine = EngineClient(socket_path(config.data_dir), 2.0)
        parts = [ChildProcess("query engine", "engine", engine.ping)]
    if config.grpc.enabled:
        host, port = local_address(config.grpc.bind)
        target = (host, int(port))

        def grpc_ready() -> None:
            # A plain connection, not a gRPC call: gRPC's threads must never run in this process,
            # which forks the web workers (a worker forked while one ran would hang in gRPC).
            # /health asks the gRPC health service itself, from the workers.
            socket.create_connection(target, timeout=1.0).close()

        parts.extend(ChildProcess(f"gRPC server {n + 1}", "grpc", grpc_ready)
                     for n in range(max(1, config.grpc.workers)))
    return parts


def make_data_dir(config: Config) -> None:
    """The data directory, made private when missing (see store.embedded.make_data_dir)."""
    make_private_dir(Path(config.data_dir),
                     database_user_enters=config.embedded_database and os.geteuid() == 0)


def _await_ready(first: ChildProcess, then: list[ChildProcess], config: Config, failed: list[str]) -> None:
    """Wait for `first` (the engine, or the forwarder), then launch `then` (the gRPC servers) and
    wait for them, then say the service is up."""
    if not _ready(first, failed):
        return
    try:
        for part in then:
            part.launch()
    except RuntimeError:  # the service is stopping
        return
    if all(_ready(part, failed) for part in then):
        grpc_note = f", gRPC on {config.grpc.bind}" if config.grpc.enabled else ""
        print(f"reactor analytics listening on http://{config.analytics.bind}{grpc_note}"
              f" (admin token in {Path(config.data_dir) / 'admin_token'} unless configured)", file=sys.stderr,
              flush=True)


def _ready(part: ChildProcess, failed: list[str]) -> bool:
    """Wait for a launched part, then supervise it. False when it exited while starting, which
    stops the service (its reason in `failed`), unless the service was stopping anyway."""
    try:
        part.wait_ready()
    except RuntimeError as exc:
        if not part.stopping:
            failed.append(str(exc))
            os.kill(os.getpid(), signal.SIGTERM)
        return False
    part.supervise()
    return True


def serve(config: Config) -> None:
    from .query import store as event_store

    geoip.open_database(config)  # a geo_db that cannot be used stops the start here, with its reason
    oidc.client(config.auth)  # so does a malformed [auth] oidc_acl or oidc_issuer
    event_store.for_config(config)  # and an [events] store this build does not have
    make_data_dir(config)
    config = with_secrets(config)
    metrics_dir(config)
    ratelimit.fresh_table(config.data_dir)
    _, embedded = prepare(config)
    parts = children(config)
    master = os.getpid()
    keeper = DatabaseKeeper(embedded) if embedded is not None else None
    try:
        if keeper is not None:
            keeper.start()
        # The engine (or the forwarder) first: opening its segments is what the first answer
        # waits for. Meanwhile this process imports the web app's modules, which every worker then
        # has from its fork (each worker still builds its own app and connections after the fork),
        # and the web workers start: ingest is taken at once, and /health and queries answer 503
        # until the engine answers. The gRPC servers are launched once it has, so that their
        # start does not take the cores from it (the workers were forked long before their
        # readiness probe runs here).
        parts[0].launch()
        from . import app  # noqa: F401
        failed: list[str] = []
        # Until the arbiter takes the stop signals over, one ends the start here with the cleanup
        # below (by default it would kill this process and leave the parts running).
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        threading.Thread(target=_await_ready, args=(parts[0], parts[1:], config, failed), daemon=True,
                         name="parts-ready").start()

        def stopping() -> None:
            if keeper is not None:
                keeper.stop()
            for part in parts:
                part.mark_stopping()

        try:
            _Gunicorn(gunicorn_settings(config), on_stop=stopping).run()
        except SystemExit:
            if failed:
                print(f"reactor: {failed[0]}", file=sys.stderr, flush=True)
                sys.exit(1)
            raise
    finally:
        # A gunicorn worker unwinds through here from its fork; only the master cleans up.
        if os.getpid() == master:
            if keeper is not None:
                keeper.stop()
            for part in reversed(parts):
                part.stop()
            if embedded is not None:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                embedded.stop()
