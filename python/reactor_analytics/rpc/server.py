"""`reactor grpc`: the gRPC server, started and supervised by `reactor serve` next to gunicorn.

It serves `reactor.analytics.v1.Analytics`, the standard health-checking service and server
reflection (v1 and v1alpha) on `[grpc] bind`. SIGTERM stops taking calls (health turns NOT_SERVING) and lets
calls in flight finish within the grace period.
"""

from __future__ import annotations

import signal
import threading
from concurrent import futures

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from .. import services as services_module
from ..config import Config
from ..observability import logging as reactor_logging
from ..services import Services
from . import reflection
from .service import SERVICE, AnalyticsService, register

log = structlog.get_logger(target="reactor_analytics.grpc")
GRACE_S = 30.0
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def build(config: Config, services: Services | None = None) -> tuple[grpc.Server, health.HealthServicer]:
    """The server over `services` (built from `config` when None); no Flask app is involved."""
    services = services or services_module.build(config)
    workers = max(4, config.database.pool_max)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
                         maximum_concurrent_rpcs=workers * 8,
                         options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                                  ("grpc.so_reuseport", 1 if config.grpc.workers > 1 else 0)])
    register(AnalyticsService(services), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in (SERVICE, ""):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable((SERVICE, health.SERVICE_NAME), server)
    if server.add_insecure_port(config.grpc.bind) == 0:
        raise RuntimeError(f"cannot bind gRPC to {config.grpc.bind}")
    return server, health_servicer


def serve_forever(config: Config) -> None:
    reactor_logging.configure_from(config)  # as the web workers do, with the log file's size limit
    server, health_servicer = build(config)
    server.start()
    log.info("grpc listening", port=config.grpc.bind.rpartition(":")[2])  # never an address in a log line
    stopping = threading.Event()

    def stop(signum, frame) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping.wait(0.5):
        pass
    health_servicer.enter_graceful_shutdown()
    server.stop(GRACE_S).wait()
    log.info("grpc stopped")
