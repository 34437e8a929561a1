"""The query engine process and the client the web workers use to reach it.

One engine process per install holds the columnar copy of every project's events (Rust,
`_native.Engine`), so memory is spent once, not once per gunicorn worker. It tails PostgreSQL,
the system of record, by `seq`: before every query it reads what was committed since, so an
acknowledged event is counted by the next query.

Workers reach it over a Unix socket. A message, either way, is two length-prefixed frames: a small
JSON header (the operation and its arguments, or the answer's status) and a payload of bytes that
passes through untouched: a query's body as the client sent it, which only the native core reads
and validates, and the answer's rows as the native core wrote them.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import struct
import threading
import time
from pathlib import Path

import psycopg
import structlog

from .. import _native
from ..errors import AppError, unavailable
from ..governance.retention import Retention
from ..store import queries
from ..store.tail_wake import TailWake
from .opening import Opening
from .sealing import Sealer

log = structlog.get_logger(target="reactor_analytics.engine")
_FRAME = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
# Rows per tail read: a backlog (a restart, a bulk load) is read in index-ordered slices this
# size; TAIL_CONNECTION_OPTIONS keeps every read on the seq index.
TAIL_BATCH = 20_000
TAILS = ("links", "traits", "events")
# The engine reads what was committed since its last read when PostgreSQL notifies it, then every
# FRESH_EVERY_S for as long as rows keep coming (store/tail_wake.py). A query reads the tails
# itself first, so an acknowledged event is counted by the next query whatever the notifications do.
FRESH_EVERY_S = 0.1
# Once no query has run for this long, the heap's free pages go back to the system.
RELEASE_AFTER_S = 1.0


# A tail read is a short scan of the seq index, ten times a second. With no or stale statistics
# (any table under ~100k rows not yet analysed) the planner would rather seq-scan the whole table
# and sort it (12-42 ms against 8 ms for 1,500 new rows of 5k-80k), JIT-compile the read or fork
# parallel workers for it: the engine's connection allows none of that.
TAIL_CONNECTION_OPTIONS = ("-c jit=off -c max_parallel_workers_per_gather=0 "
                           "-c enable_seqscan=off -c enable_bitmapscan=off -c enable_sort=off")


def _send(sock: socket.socket, header: dict, payload: bytes = b"") -> None:
    head = json.dumps(header, separators=(",", ":")).encode()
    sock.sendall(_FRAME.pack(len(head)) + head + _FRAME.pack(len(payload)))
    if payload:
        sock.sendall(payload)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ConnectionError("engine connection closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _recv_frame(sock: socket.socket) -> bytes:
    (size,) = _FRAME.unpack(_recv_exact(sock, _FRAME.size))
    if size > MAX_FRAME:
        raise ConnectionError("frame too large")
    return _recv_exact(sock, size)


def _recv(sock: socket.socket) -> tuple[dict, bytes]:
    """A message: its header and its payload."""
    header = json.loads(_recv_frame(sock))
    return header, _recv_frame(sock)


_UNAVAILABLE = {"ok": False, "code": "unavailable", "message": "the database is unavailable"}


def _process_age_s() -> float:
    """Seconds since this process started (interpreter start and imports included)."""
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


class MemoryReleaser:
    """Gives the heap's free pages back to the system once no query has run for `idle_s`: a
    query's working memory (selections, per-person state, sorted rows) is freed when it answers
    but kept by the allocator, so without this the process would stay as large as its largest
    query. Back-to-back queries keep reusing it; releasing costs a few milliseconds, off their path."""

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self._last = 0.0
        self._pending = threading.Event()

    def queried(self) -> None:
        self._last = time.monotonic()
        self._pending.set()

    def run_forever(self) -> None:
        while True:
            self._pending.wait()
            while (wait := self._last + self.idle_s - time.monotonic()) > 0:
                time.sleep(wait)
            self._pending.clear()
            _native.Engine.release_free_memory()


class EngineServer:
    def __init__(self, db_url: str, socket_path: Path, retention_interval_s: float = 0,
                 segments_dir: Path | None = None, engine: _native.Engine | None = None,
                 opening: Opening | None = None) -> None:
        """`engine` and `opening`: an engine whose segments (in `segments_dir`) are being opened
        already (see `opening`)."""
        self.db_url = db_url
        self.socket_path = socket_path
        self.engine = engine if engine is not None else _native.Engine()
        self._opening = opening
        self.sealer = Sealer(self.engine, db_url, segments_dir) if segments_dir else None
        #: Rows the segments held when the engine started, and the seconds from the process's start
        #: to answering.
        self.opened_rows = 0
        self.load_seconds = 0.0
        self.retention = Retention(db_url, self.engine, retention_interval_s)
        self._sync_lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self.last_sync = 0.0
        self.releaser = MemoryReleaser(RELEASE_AFTER_S)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.db_url, autocommit=True, connect_timeout=5,
                                         options=TAIL_CONNECTION_OPTIONS)
        return self._conn

    def sync(self) -> int:
        """Read everything committed since the last read; returns the rows read."""
        with self._sync_lock:
            total = 0
            try:
                conn = self._connection()
                for name in TAILS:
                    while True:
                        after, missing = self.engine.tail_position(name)
                        data = queries.read_tail(conn, name, after, missing, TAIL_BATCH)
                        read = self.engine.append(name, data) if data else 0
                        total += read
                        if read < TAIL_BATCH:
                            break
                        if self.sealer is not None and self.sealer.backlog_due():
                            # A long read (the first, or after a long stop) is sealed as it goes,
                            # so the rows it holds in memory stay few.
                            self._reseal()
            except psycopg.Error as exc:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                raise ConnectionError(f"database: {type(exc).__name__}") from None
            self.last_sync = time.monotonic()
            return total

    def query(self, request: dict, body: bytes) -> tuple[dict, bytes]:
        """Read and validate the body (before anything else, so a bad query is refused even while
        the database is down), read what was committed since the last read, run the plan."""
        try:
            plan = _native.plan_query(body, request["project"], now_us=request["now_us"], **request["limits"])
            self.sync()
            try:
                rows, scanned, comparison = self.engine.execute(plan)
            finally:
                self.releaser.queried()
        except _native.QueryError as exc:
            return {"ok": False, "code": exc.code, "message": exc.message, "extra": exc.extra}, b""
        except ConnectionError:
            return _UNAVAILABLE, b""
        answer = {"ok": True, "kind": plan.kind, "rows_scanned": scanned}
        if comparison is not None:
            # Small (a bucket per period or `limit` rows): it travels in the header.
            answer["comparison"] = json.loads(comparison)
        return answer, rows

    def handle(self, request: dict, payload: bytes = b"") -> tuple[dict, bytes]:
        op = request.get("op")
        if op == "ping":
            stats = {**self.engine.stats(), "opened_rows": self.opened_rows, "load_seconds": self.load_seconds}
            return {"ok": True, "stats": stats}, b""
        if op == "query":
            return self.query(request, payload)
        try:
            self.sync()
        except ConnectionError:
            return _UNAVAILABLE, b""
        return self._manage(op, request), b""

    def _manage(self, op: str | None, request: dict) -> dict:
        if op == "erase":
            rows, ids = self.engine.erase_person(request["project"], request["ids"], request["seqs"])
            self._reseal()
            return {"ok": True, "rows": rows, "ids": ids}
        if op == "mentions":
            return {"ok": True, "mentions": self.engine.mentions(request["project"], request["needle"])}
        if op == "retention":
            removed = self.retention.sweep()
            self._reseal()
            return {"ok": True, "removed": removed}
        if op == "sync":
            return {"ok": True}
        if op == "seal" and self.sealer is not None:
            pieces, rows, size = self.sealer.seal()
            return {"ok": True, "pieces": pieces, "rows": rows, "bytes": size}
        return {"ok": False, "code": "invalid", "message": f"unknown op {op!r}"}

    def serve_forever(self, poll_seconds: float = FRESH_EVERY_S, wake: str = "notify") -> None:
        """Answer on the socket. The tails are read when PostgreSQL notifies, then every
        `poll_seconds` while rows keep coming (`wake="notify"`), or every `poll_seconds` whatever
        happens (`"poll"`, the way of earlier versions, kept as bench/idle.py's peer)."""
        server_self = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    _send(self.request, *server_self.handle(*_recv(self.request)))
                except (ConnectionError, ValueError, OSError):
                    return

        class Server(socketserver.ThreadingUnixStreamServer):
            daemon_threads = True

        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists():
            self.socket_path.unlink()
        loaded = self._initial_load()
        self.load_seconds = round(_process_age_s(), 2)
        log.info("engine loaded", rows=loaded, seconds=self.load_seconds)
        if wake == "poll":
            keep_fresh = self._poll
        else:
            keep_fresh = TailWake(self.db_url, self.sync, lambda: self.last_sync).run_forever
        threading.Thread(target=keep_fresh, args=(poll_seconds,), daemon=True, name="engine-tail").start()
        threading.Thread(target=self.releaser.run_forever, daemon=True, name="engine-memory").start()
        self.retention.start()
        with Server(str(self.socket_path), Handler) as server:
            os.chmod(self.socket_path, 0o600)
            server.serve_forever(poll_interval=3600)  # nothing calls shutdown(): no need to wake

    def _reseal(self) -> None:
        """Seal now; a failure is logged and costs a longer read at the next start, nothing else
        (after rows are forgotten, their manifest is already gone)."""
        if self.sealer is not None:
            try:
                self.sealer.seal()
            except (OSError, psycopg.Error) as exc:
                log.warning("engine seal failed", error=type(exc).__name__, detail=str(exc))

    def _initial_load(self) -> int:
        """Open the segments, then read what was committed since they were sealed (everything
        without them), then seal what was read."""
        while True:
            try:
                if self.sealer is not None:
                    opening, self._opening = self._opening, None
                    self.sealer.open(opening)
                    self.opened_rows = self.engine.stats()["rows"]
                    log.info("engine segments opened", rows=self.opened_rows,
                             process_age_s=round(_process_age_s(), 3))
                loaded = self.sync()
                break
            except (ConnectionError, psycopg.OperationalError):
                log.warning("engine waiting for the database")
                time.sleep(1.0)
        if self.sealer is not None:
            self._reseal()
            self.sealer.start()
        return loaded

    def _poll(self, poll_seconds: float) -> None:
        while True:
            time.sleep(poll_seconds)
            if time.monotonic() - self.last_sync >= poll_seconds:
                try:
                    self.sync()
                except ConnectionError:
                    pass


class EngineClient:
    """What a web worker uses: one short Unix-socket exchange per call. The `EventStore` of
    `[events] store = "native"` (query/store.py)."""

    def __init__(self, socket_path: Path, timeout_s: float) -> None:
        self.socket_path = socket_path
        self.timeout_s = timeout_s

    def _exchange(self, request: dict, payload: bytes, timeout_s: float | None) -> tuple[dict, bytes]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout_s or self.timeout_s)
        try:
            sock.connect(str(self.socket_path))
            _send(sock, request, payload)
            answer, rows = _recv(sock)
        except socket.timeout:
            raise AppError(504, "analytics.query.timeout", "the query ran over its time budget") from None
        except (ConnectionError, FileNotFoundError, OSError):
            raise unavailable("the query engine is unavailable; retry shortly") from None
        finally:
            sock.close()
        if not answer.get("ok"):
            raise _refusal(answer)
        return answer, rows

    def call(self, request: dict, timeout_s: float | None = None) -> dict:
        """An operation other than a query (ping, erase, mentions, retention, sync): its answer."""
        return self._exchange(request, b"", timeout_s)[0]

    def query(self, body: bytes, project_id: str, now_us: int, limits: dict[str, int],
              timeout_s: float | None = None) -> tuple[str, bytes, int, list | None]:
        """Run a query body (JSON bytes, as the client sent them) on `project_id`: (kind, rows as a
        JSON array, rows scanned, the comparison rows of a `web` query with `compare` or None).
        `limits` are `_native.plan_query`'s; `timeout_s` (a caller's deadline) shortens the
        configured budget."""
        if timeout_s is not None:
            timeout_s = max(0.001, min(timeout_s, self.timeout_s))
        request = {"op": "query", "project": project_id, "now_us": now_us, "limits": limits}
        answer, rows = self._exchange(request, body, timeout_s)
        return answer["kind"], rows, answer["rows_scanned"], answer.get("comparison")

    def ping(self) -> dict:
        return self.call({"op": "ping"}, timeout_s=2.0)["stats"]

    def erase(self, project_id: str, ids: list[str], seqs: list[int]) -> dict:
        answer = self.call({"op": "erase", "project": project_id, "ids": ids, "seqs": seqs})
        return {"rows": answer["rows"], "ids": answer["ids"]}

    def mentions(self, project_id: str, needle: str) -> bool:
        return self.call({"op": "mentions", "project": project_id, "needle": needle})["mentions"]

    def sweep_retention(self) -> int:
        return self.call({"op": "retention"})["removed"]

    def sync(self) -> None:
        self.call({"op": "sync"})


def _refusal(answer: dict) -> AppError:
    """The error of an engine's refusal: a query's code as the native core gave it (400, or 504 for
    a query over its row budget), 503 while the database is down."""
    code, message = answer.get("code"), answer.get("message", "invalid query")
    if code == "unavailable":
        return unavailable()
    if code == "analytics.query.timeout":
        return AppError(504, code, message)
    if isinstance(code, str) and code.startswith("analytics."):
        return AppError(400, code, message, **answer.get("extra", {}))
    return AppError(400, "analytics.query.invalid", message)


def socket_path(data_dir: str) -> Path:
    return Path(data_dir).resolve() / "engine.sock"
