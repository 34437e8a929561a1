"""How the reactor destination reaches this service: one transport per protocol.

A transport takes a batch of events already in the ingest API's fields (`event`,
`anonymous_id`, `user_id`, `properties`, `context`, `timestamp` in epoch milliseconds,
`message_id`) and delivers it:

    class Transport(Protocol):
        def __init__(self, *, url: str, token: str | None, project: str | None, timeout: float): ...
        def send_batch(self, events: list[dict]) -> int: ...   # how many the service refused
        def close(self) -> None: ...

`send_batch` raises `RetryableError` (network, 408/429/5xx, UNAVAILABLE…) or `PermanentError`
(bad credentials, a refused body); the sender retries with the same message_ids and the
service stores each once.

gRPC (`grpc.py`, Batch on `reactor.analytics.v1.Analytics`) is the default: a `grpc://host:port`
or bare `host:port` url picks it, an `http(s)://` url picks HTTP, and `transport=` overrides.
"""

from __future__ import annotations

import importlib
import importlib.util

# name -> "module:Class", the module relative to this package.
TRANSPORTS = {
    "http": "http:HttpTransport",
    "grpc": "grpc:GrpcTransport",
}


def default_name(url: str = "") -> str:
    """By the url: HTTP for http(s)://, else gRPC (grpc://, grpcs://, or a bare host:port) when
    the `grpc` extra (grpcio and protobuf) is installed."""
    if url.startswith(("http://", "https://")) or not _grpc_installed():
        return "http"
    return "grpc"


def _grpc_installed() -> bool:
    try:
        return importlib.util.find_spec("grpc") is not None and importlib.util.find_spec("google.protobuf") is not None
    except (ImportError, ValueError):  # no `google` package at all
        return False


def create(name: str | None, **options):
    name = name or default_name(options.get("url", ""))
    if name not in TRANSPORTS:
        raise ValueError(f"unknown transport {name!r} (known: {', '.join(TRANSPORTS)})")
    module_name, _, class_name = TRANSPORTS[name].partition(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, class_name)(**options)
