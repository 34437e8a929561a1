"""Per-IP rate limits on the public endpoints (README "Governance"), and the body size limit for
bodies sent without a Content-Length.

Ingest without a bearer token (browsers, pixels, beacons) and any request without credentials
spend a token; a request refused for its credentials (401) spends one too, and an address whose
bucket is empty may not try credentials on the protected endpoints either, so guessing keys or
tokens is slowed as much as flooding. A refused request gets 429 with `Retry-After`.
"""

from __future__ import annotations

import io

from flask import Flask, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..auth import sessions
from ..errors import AppError
from ..governance.ratelimit import retry_after
from .http import client_ip, services

_PUBLIC_BLUEPRINTS = {"ingest", "pixel"}  # pixel: GET /analytics/v1/pixel/{id}.gif
# Probes, documents and the browser SDK's static files: never limited.
_UNLIMITED_PATHS = {"/health", "/metrics", "/analytics/v1/openapi.json",
                    "/tracker.js", "/analytics/v1/sdk.js", "/analytics/v1/sdk.d.ts"}


def _refuse(wait: float) -> AppError:
    return AppError(429, "analytics.rate_limited", "too many requests from this address; slow down",
                    retry_after_s=retry_after(wait))


def _read_unsized_body() -> None:
    """Read a body sent without a Content-Length (Transfer-Encoding: chunked) up to the limit, and
    refuse it whole with 413 past it, as one with a Content-Length is.

    Werkzeug caps such a stream at `max_content_length` but, when it stops exactly at the cap,
    hands over the first `max_content_length` bytes as if they were the whole body (so a JSON
    body over the limit answered 400 `invalid_json`). The body is read here, before any view,
    and the view reads it back from memory.
    """
    environ = request.environ
    limit = request.max_content_length
    if limit is None or request.content_length is not None or "wsgi.input_terminated" not in environ:
        return  # sized bodies are checked against their Content-Length; others have no body
    raw, buffered = environ["wsgi.input"], bytearray()
    while len(buffered) <= limit:
        piece = raw.read(min(65_536, limit + 1 - len(buffered)))
        if not piece:
            break
        buffered += piece
    if len(buffered) > limit:
        raise RequestEntityTooLarge()  # the rest of the body is never read
    environ["wsgi.input"] = io.BytesIO(bytes(buffered))


def install(app: Flask) -> None:
    @app.before_request
    def spend_public_token() -> None:
        if request.method == "OPTIONS" or request.endpoint is None or request.path in _UNLIMITED_PATHS:
            return
        # Drop-in capture (PostHog, Segment) carries only a public key, even in Authorization: Basic.
        public = (request.blueprint in _PUBLIC_BLUEPRINTS and not request.headers.get("Authorization")
                  or request.blueprint == "dropin")
        credentials = (request.headers.get("Authorization") or request.headers.get("X-Reactor-Project-Key")
                       or request.cookies.get(sessions.COOKIE))
        g.rate_spent = public or not credentials
        wait = services().rate_limiter.take(client_ip(), spend=g.rate_spent)
        if wait:
            raise _refuse(wait)

    @app.before_request
    def limit_unsized_body() -> None:
        if request.method != "OPTIONS":
            _read_unsized_body()

    @app.after_request
    def spend_on_refused_credentials(response):
        if response.status_code == 401 and not g.get("rate_spent"):
            services().rate_limiter.take(client_ip())
        return response
