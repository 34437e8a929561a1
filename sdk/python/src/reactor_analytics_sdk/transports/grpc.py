"""The reactor destination over gRPC: `Batch` on `reactor.analytics.v1.Analytics`.

`url` is `grpc://host:port` (or `grpcs://` for TLS, or a bare `host:port`); the token goes in
the `authorization` metadata as `Bearer <token>`. Events keep their message_id, so a retried
batch is stored once. Status codes map onto the sender's retry rule: UNAVAILABLE,
DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED and INTERNAL are worth another try; the rest
(bad credentials, a refused body) are not. Needs the `grpc` extra (grpcio, protobuf); the
message classes are the SDK's own, generated from the service's proto/ (`gen/`).
"""

from __future__ import annotations

import datetime as dt
import logging

import grpc

from ..errors import PermanentError, RetryableError
from ..messages import dumps
from .gen import analytics_pb2 as pb
from .gen import analytics_pb2_grpc as pb_grpc

log = logging.getLogger("reactor_analytics_sdk")
MAX_BATCH_EVENTS = 100
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
              grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


def target_of(url: str) -> tuple[str, bool]:
    """(host:port, tls) of a grpc://, grpcs:// or bare host:port url."""
    for scheme, tls in (("grpcs://", True), ("grpc://", False)):
        if url.startswith(scheme):
            return url[len(scheme):].rstrip("/"), tls
    return url.rstrip("/"), False


def _timestamp(ms) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="microseconds")


def _message(event: dict) -> pb.Event:
    return pb.Event(
        event=event.get("event", ""), anonymous_id=event.get("anonymous_id") or "",
        user_id=event.get("user_id") or "", message_id=event.get("message_id") or "",
        timestamp=_timestamp(event.get("timestamp")),
        properties=dumps(event["properties"]) if event.get("properties") else b"",
        context=dumps(event["context"]) if event.get("context") else b"")


def _messages(events: list[dict]) -> list[pb.Event]:
    """Each event as a message; one that cannot be encoded (a cycle, a huge int) is dropped with a
    log line, as over HTTP, instead of failing its whole batch forever."""
    messages = []
    for event in events:
        try:
            messages.append(_message(event))
        except Exception as exc:
            log.warning("analytics destination reactor: dropped an event that is not JSON-encodable: %s", exc)
    return messages


class GrpcTransport:
    def __init__(self, *, url: str, token: str | None = None, project: str | None = None, timeout: float = 10.0):
        target, tls = target_of(url)
        self.channel = grpc.secure_channel(target, grpc.ssl_channel_credentials()) if tls \
            else grpc.insecure_channel(target)
        self.stub = pb_grpc.AnalyticsStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.project = project or ""
        self.timeout = timeout

    def send_batch(self, events: list[dict]) -> int:
        messages = _messages(events)
        refused = len(events) - len(messages)
        for start in range(0, len(messages), MAX_BATCH_EVENTS):
            refused += self._send(messages[start:start + MAX_BATCH_EVENTS])
        return refused

    def _send(self, messages: list[pb.Event]) -> int:
        sent_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        try:
            reply = self.stub.Batch(pb.BatchRequest(project=self.project, events=messages, sent_at=sent_at),
                                    metadata=self.metadata, timeout=self.timeout)
        except grpc.RpcError as exc:
            message = f"reactor (gRPC) answered {exc.code().name}: {exc.details()}"
            if exc.code() in _RETRYABLE:
                raise RetryableError(message) from None
            raise PermanentError(message) from None
        for rejection in reply.rejected:
            log.warning("analytics destination reactor: event %s refused: %s %s", rejection.index, rejection.reason,
                        rejection.message)
        return len(reply.rejected)

    def close(self) -> None:
        self.channel.close()
