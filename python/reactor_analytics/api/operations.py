"""Operations: /health for load balancers, and the admin-only doctor, version and log stream."""

from __future__ import annotations

import time
from pathlib import Path

from flask import Blueprint, Response, jsonify, request

from .. import __version__
from ..errors import AppError, invalid
from ..observability import logstream
from ..observability.logging import log_path
from ..schemas.operations import LogsQuery
from ..store import migrate, queries
from . import http

blueprint = Blueprint("operations", __name__)


def _check(name: str, probe) -> dict:
    started = time.perf_counter()
    try:
        detail = probe() or {}
        status = "ok"
    except AppError as exc:
        detail, status = {"error": exc.message}, "error"
    except Exception as exc:  # noqa: BLE001 - a failed probe is reported, never raised
        detail, status = {"error": type(exc).__name__}, "error"
    return {"name": name, "status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            **detail}


def _native_probe() -> dict:
    from .. import _native

    if _native.truncate_ip("203.0.113.9") != "203.0.113.0":
        raise RuntimeError("native core answered wrongly")
    return {}


# A probe answers within a load balancer's patience even while the database is down: it waits
# this long for a pooled connection instead of the pool's own timeout.
PROBE_WAIT_S = 0.5


def _database_probe() -> dict:
    services = http.services()
    with services.db.connection(timeout=PROBE_WAIT_S) as conn:
        queries.ping(conn)
    return {"pool": services.db.stats()}


def _migrations_probe() -> dict:
    with http.services().db.connection(timeout=PROBE_WAIT_S) as conn:
        pending = migrate.pending(conn)
        applied = len(migrate.applied(conn))
    if pending:
        raise RuntimeError(f"pending migrations: {pending}")
    return {"applied": applied}


def _engine_probe() -> dict:
    return {"engine": http.services().engine.ping()}


def _grpc_probe() -> dict:
    from ..rpc.probe import probe

    bind = http.services().config.grpc.bind
    status = probe(bind)
    if status != "SERVING":
        raise RuntimeError(f"gRPC reports {status}")
    return {"bind": bind}


def checks() -> list[dict]:
    """Each part of the service and whether it works (gRPC when it is enabled)."""
    database = _check("database", _database_probe)
    # With the database down, the migrations cannot be read either: say so without waiting again.
    migrations = (_check("migrations", _migrations_probe) if database["status"] == "ok" else
                  {"name": "migrations", "status": "error", "latency_ms": 0.0, "error": "database unavailable"})
    results = [database, migrations, _check("native_core", _native_probe), _check("query_engine", _engine_probe)]
    if http.services().config.grpc.enabled:
        results.append(_check("grpc", _grpc_probe))
    return results


@blueprint.get("/health")
def health():
    results = checks()
    ok = all(c["status"] == "ok" for c in results)
    body = {"status": "ok" if ok else "error", "capabilities": {"analytics": "ok" if ok else "error"},
            "parts": {c["name"]: c["status"] for c in results}}
    if not ok:
        body["failing"] = [c["name"] for c in results if c["status"] != "ok"]
    return jsonify(body), (200 if ok else 503)


@blueprint.get("/_admin/doctor")
def doctor():
    http.admin_principal()
    results = checks()
    status = "ok" if all(c["status"] == "ok" for c in results) else "error"
    return jsonify({"analytics": {"status": status, "version": __version__, "checks": results}})


@blueprint.get("/_admin/version")
def version():
    http.admin_principal()
    return jsonify(reactor=__version__, capabilities={"analytics": __version__})


@blueprint.get("/_admin/logs")
def logs():
    http.admin_principal()
    config = http.services().config
    args = http.query(LogsQuery)
    follow = args.following
    try:
        where = logstream.Filter(logstream.parse_since(args.since), args.capability or None, args.level)
    except logstream.StreamError as exc:
        raise invalid("analytics.invalid_request", str(exc)) from None
    except OverflowError:  # a duration reaching before year 1, e.g. since=999999d
        raise invalid("analytics.invalid_request", "since reaches too far back") from None
    offset = request.headers.get("Last-Event-ID", "0")
    # ASCII digits only ("²".isdigit() is true) and a size seek() takes; checked before the stream starts.
    if not (offset.isascii() and offset.isdigit()) or len(offset) > 18:
        raise invalid("analytics.invalid_request", "Last-Event-ID must be a log offset")
    path = log_path(config)
    slot = None
    if follow:
        slot = logstream.acquire_slot(path.parent / "slots", max(1, config.analytics.workers // 2))
        if slot is None:
            raise AppError(429, "analytics.logs.busy", "too many log streams are open; retry shortly")

    def frames():
        try:
            yield from logstream.stream(Path(path), where, follow, int(offset), config.tracing.log_stream_seconds)
        finally:
            if slot is not None:
                logstream.release_slot(slot)

    return Response(frames(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
