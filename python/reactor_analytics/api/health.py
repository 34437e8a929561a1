"""Health and version: /health for load balancers, /_admin/version for operators."""

from __future__ import annotations

from flask import Blueprint, jsonify

from .. import __version__
from ..errors import AppError
from ..store import migrate, queries
from . import context

blueprint = Blueprint("health", __name__)


def probes() -> dict[str, str]:
    """Each part of the service and whether it works: 'ok' or a short reason."""
    parts: dict[str, str] = {}
    try:
        from .. import _native

        _native.truncate_ip("127.0.0.1")
        parts["native"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure of the extension is a health failure
        parts["native"] = f"error: {type(exc).__name__}"
    try:
        with context.services().db.connection() as conn:
            queries.ping(conn)
            parts["database"] = "ok"
            missing = migrate.pending(conn)
            parts["migrations"] = "ok" if not missing else f"pending: {missing}"
    except AppError:
        parts["database"] = "unavailable"
        parts["migrations"] = "unknown"
    return parts


@blueprint.get("/health")
def health():
    parts = probes()
    ok = all(state == "ok" for state in parts.values())
    return jsonify(status="ok" if ok else "error", capabilities={"analytics": "ok" if ok else "error"},
                   parts=parts), (200 if ok else 503)


@blueprint.get("/_admin/version")
def version():
    context.admin_principal()
    return jsonify(reactor=__version__, capabilities={"analytics": __version__})
