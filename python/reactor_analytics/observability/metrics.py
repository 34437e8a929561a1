"""Prometheus metrics, served at /metrics by prometheus-flask-exporter.

Under gunicorn every worker writes its samples to PROMETHEUS_MULTIPROC_DIR (set by `reactor
serve` before any worker starts) and /metrics merges them, so a scrape answered by any worker
counts the requests of all of them.

/metrics is public unless `[analytics] metrics_token` is set; then a scrape must send
`Authorization: Bearer <metrics_token>` (Prometheus: `authorization: {credentials_file: …}`).
"""

from __future__ import annotations

import hmac
import os
import time

from flask import Flask, g, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_flask_exporter import PrometheusMetrics

from ..errors import unauthenticated

CAPABILITY = "analytics"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter("reactor_http_requests_total", "HTTP requests by capability, method and status.",
                        ["capability", "method", "status"])
HTTP_DURATION = Histogram("reactor_http_request_duration_seconds", "HTTP request latency.",
                          ["capability", "method"], buckets=_LATENCY_BUCKETS)
DB_POOL_SIZE = Gauge("reactor_db_pool_size", "Database connections held by the pools.",
                     multiprocess_mode="livesum")
DB_POOL_IDLE = Gauge("reactor_db_pool_idle", "Idle database connections in the pools.",
                     multiprocess_mode="livesum")
DB_ACQUIRE = Histogram("reactor_db_acquire_duration_seconds", "Time to acquire a database connection.",
                       buckets=_LATENCY_BUCKETS)
QUOTA_EXCEEDED = Counter("reactor_quota_exceeded_total", "Requests refused for an exhausted quota, by tenant.",
                         ["tenant"])
EVENTS_ACCEPTED = Counter("reactor_analytics_events_accepted_total", "Events accepted, by endpoint.",
                          ["endpoint"])
GRPC_REQUESTS = Counter("reactor_grpc_requests_total", "gRPC calls by method and status code.",
                        ["method", "code"])
EVENTS_REJECTED = Counter("reactor_analytics_events_rejected_total", "Events rejected, by reason.", ["reason"])
EVENTS_DROPPED = Counter("reactor_analytics_events_dropped_total",
                         "Requests dropped without storing, by cause (do_not_track).", ["cause"])
QUERY_DURATION = Histogram("reactor_analytics_query_duration_seconds", "Query latency, by kind.", ["kind"],
                           buckets=_LATENCY_BUCKETS)


def observe_pool(stats: dict[str, int]) -> None:
    DB_POOL_SIZE.set(stats["size"])
    DB_POOL_IDLE.set(stats["idle"])


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
