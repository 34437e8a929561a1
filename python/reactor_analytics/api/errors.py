"""Every error leaves as the documented JSON shape, never as HTML or a stack trace."""

from __future__ import annotations

import structlog
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from ..errors import AppError
from .http import services

log = structlog.get_logger(target="reactor_analytics.api")

_HTTP_CODES = {
    400: "analytics.invalid_request",
    401: "analytics.auth.unauthenticated",
    403: "analytics.auth.forbidden",
    404: "analytics.not_found",
    405: "analytics.method_not_allowed",
    413: "analytics.payload_too_large",
    415: "analytics.unsupported_media_type",
    429: "analytics.rate_limited",
}


def install(app: Flask) -> None:
    @app.errorhandler(AppError)
    def app_error(exc: AppError):
        response = jsonify(exc.body())
        response.status_code = exc.status
        if "retry_after_s" in exc.extra:
            response.headers["Retry-After"] = str(exc.extra["retry_after_s"])
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        code = _HTTP_CODES.get(status, "analytics.http_error")
        message = exc.description if status != 413 else "the request body is larger than the limit"
        extra = {}
        if status == 413:
            extra["limit_bytes"] = services().config.analytics.max_body_bytes
        response = jsonify({"error": {"code": code, "message": message, **extra}})
        response.status_code = status
        if status == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.error("unhandled error", error_type=type(exc).__name__, exc_info=exc)
        return jsonify({"error": {"code": "analytics.internal", "message": "internal error"}}), 500
