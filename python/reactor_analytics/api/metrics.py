"""/metrics (prometheus-flask-exporter) and the per-request counts of the HTTP API.

A scrape answered by any gunicorn worker merges the samples of all of them (see
`observability/metrics.py`). /metrics is public unless `[analytics] metrics_token` is set; then a
scrape must send `Authorization: Bearer <metrics_token>` (Prometheus: `authorization:
{credentials_file: …}`).
"""

from __future__ import annotations

import hmac
import os
import time

from flask import Flask, g, request
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_flask_exporter import PrometheusMetrics

from ..errors import unauthenticated
from ..observability.metrics import CAPABILITY, HTTP_DURATION, HTTP_REQUESTS, observe_pool


def install(app: Flask, pool_stats, token: str = "") -> None:
    PrometheusMetrics(app, path="/metrics", export_defaults=False, registry=_registry())
    pool_observed = [0.0]
    expected = token.encode()

    @app.before_request
    def _guard_scrapes() -> None:
        if expected and request.path == "/metrics":
            scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                    sent.strip().encode("utf-8", "surrogatepass"), expected):
                raise unauthenticated("/metrics needs Authorization: Bearer <metrics_token>")

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response):
        started = getattr(g, "metrics_started", None)
        if request.path != "/metrics":
            HTTP_REQUESTS.labels(CAPABILITY, request.method, str(response.status_code)).inc()
            if started is not None:
                HTTP_DURATION.labels(CAPABILITY, request.method).observe(time.perf_counter() - started)
        # The pool gauges move slowly; refreshing them once a second keeps them off the hot path.
        now = time.monotonic()
        if now - pool_observed[0] >= 1.0 or request.path == "/metrics":
            pool_observed[0] = now
            observe_pool(pool_stats())
        return response


def _registry():
    """A registry for the exporter's own bookkeeping, so several apps in one process (tests)
    do not register the same series twice; our metrics live in the default registry."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        return CollectorRegistry()
    return REGISTRY
