"""Per-request id (X-Request-Id accepted or generated, and echoed) and one log line per request."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from flask import Flask, g, request

from ..config import Config
from . import logging as reactor_logging

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
log = structlog.get_logger(target="reactor_analytics.http")


def install(app: Flask, config: Config) -> None:
    reactor_logging.configure_from(config)

    @app.before_request
    def start() -> None:
        supplied = request.headers.get("X-Request-Id", "")
        g.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        g.started = time.perf_counter()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=g.request_id)

    @app.after_request
    def finish(response):
        request_id = getattr(g, "request_id", None) or uuid.uuid4().hex
        response.headers["X-Request-Id"] = request_id
        started = getattr(g, "started", None)
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        log.info("request completed", method=request.method, path=_logged_path(), status=response.status_code,
                 duration_ms=duration_ms)
        return response


def _logged_path() -> str:
    """The request's path, with a shared link's secret (the route's `token`) left out."""
    secret = (request.view_args or {}).get("token")
    return request.path.replace(secret, "<token>") if isinstance(secret, str) and secret else request.path
