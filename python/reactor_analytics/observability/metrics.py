"""The Prometheus metrics every part of the service counts into (web workers, gRPC, ingest, quota).

Under gunicorn every worker writes its samples to PROMETHEUS_MULTIPROC_DIR (set by `reactor
serve` before any worker starts); `api/metrics.py` serves them at /metrics, merged.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
