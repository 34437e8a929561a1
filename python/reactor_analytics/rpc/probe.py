"""The gRPC health probe, for `/health`, `reactor doctor` and `reactor serve`'s supervisor."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ..config import local_address
from .service import SERVICE


def probe(bind: str, timeout_s: float = 1.0) -> str:
    """The health status the server reports for the Analytics service."""
    host, port = local_address(bind)
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with grpc.insecure_channel(target) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SERVICE),
                                                           timeout=timeout_s)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
