"""The Analytics servicer: each call becomes the transport-free call the HTTP API makes, and runs
the same code, with no Flask app in sight.

Ingest builds the JSON body HTTP would receive (properties, context and traits are embedded as
the caller's JSON bytes, untouched) into an `IngestCall` and runs `ingest.pipeline`; Query runs
`query.service`; Erase runs `governance.erase`. Credentials come from the `authorization`
metadata, the project from the request or the `x-reactor-project` metadata. A call past its
deadline does no work.
"""

from __future__ import annotations

import functools
import time

import grpc
import orjson
import structlog

from .. import _native, fields
from ..auth import access
from ..errors import AppError, invalid, unauthenticated
from ..governance import erase as erasure
from ..ingest import pipeline
from ..observability import metrics
from ..query import service as query_service
from ..services import Services
from .errors import to_status
from .gen import analytics_pb2, analytics_pb2_grpc

SERVICE = analytics_pb2.DESCRIPTOR.services_by_name["Analytics"].full_name
log = structlog.get_logger(target="reactor_analytics.grpc")


def _metadata(ctx: grpc.ServicerContext) -> dict[str, str]:
    return {k.lower(): v for k, v in ctx.invocation_metadata() if isinstance(v, str)}


def _bearer(metadata: dict[str, str]) -> str:
    token = access.bearer_of(metadata.get("authorization", ""))
    if token is None:
        raise unauthenticated("send authorization: Bearer <token> metadata")
    return token


def _json(raw: bytes):
    return orjson.Fragment(raw) if raw else None


def _clean(body: dict) -> dict:
    """Proto3 leaves unset fields empty; the HTTP body leaves them out."""
    return {k: v for k, v in body.items() if v not in (None, "")}


def _event(e: analytics_pb2.Event) -> dict:
    # `event` stays even when empty, so an empty name is refused as over HTTP.
    return {"event": e.event, **_clean({
        "anonymous_id": e.anonymous_id, "user_id": e.user_id, "properties": _json(e.properties),
        "context": _json(e.context), "timestamp": e.timestamp, "message_id": e.message_id})}


def _body(body: dict, project: str) -> bytes:
    """The HTTP body of a call; the project may be named twice (request and metadata), and both
    must agree, as over HTTP."""
    if project:
        body["project_id"] = project
    return orjson.dumps(body)


def _rpc(kind: str):
    """Run a handler; AppError leaves as a gRPC status, anything else as INTERNAL."""
    def wrap(handler):
        @functools.wraps(handler)
        def call(self, request, ctx: grpc.ServicerContext):
            remaining = ctx.time_remaining()
            if remaining is not None and remaining <= 0:
                ctx.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed before the call started")
            status = None
            try:
                answer = handler(self, request, ctx, _metadata(ctx))
            except AppError as exc:
                status = to_status(exc)
            except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
                log.error("unhandled gRPC error", method=kind, error_type=type(exc).__name__, exc_info=exc)
                status = to_status(AppError(500, "analytics.internal", "internal error"))
            if status is None:
                metrics.GRPC_REQUESTS.labels(kind, "OK").inc()
                return answer
            metrics.GRPC_REQUESTS.labels(kind, status.code.name).inc()
            ctx.abort_with_status(status)
        return call
    return wrap


class AnalyticsService(analytics_pb2_grpc.AnalyticsServicer):
    def __init__(self, services: Services) -> None:
        self.services = services

    def _ingest(self, kind: str, body: bytes, metadata: dict, ctx) -> analytics_pb2.IngestReply:
        remaining = ctx.time_remaining()
        call = pipeline.IngestCall(kind=kind, body=body, bearer=_bearer(metadata),
                                   project_header=metadata.get("x-reactor-project"),
                                   deadline=None if remaining is None else time.monotonic() + remaining)
        result = pipeline.ingest(self.services, call)
        return analytics_pb2.IngestReply(accepted=result.accepted, rejected=[
            analytics_pb2.Rejection(index=r.get("index", 0), reason=r["reason"], message=r.get("message", ""),
                                    field=str(r.get("field", ""))) for r in result.rejected])

    @_rpc("track")
    def Track(self, request, ctx, metadata):
        return self._ingest("track", _body(_event(request.event), request.project), metadata, ctx)

    @_rpc("batch")
    def Batch(self, request: bytes, ctx, metadata):
        # The serialized BatchRequest goes to the native core as it came off the wire (see `register`).
        try:
            body = _native.batch_body_from_proto(request)
        except _native.IngestError as exc:
            raise invalid(exc.code, exc.message) from None
        return self._ingest("batch", body, metadata, ctx)

    @_rpc("identify")
    def Identify(self, request, ctx, metadata):
        body = _clean({"anonymous_id": request.anonymous_id, "user_id": request.user_id,
                       "traits": _json(request.traits), "timestamp": request.timestamp,
                       "message_id": request.message_id})
        return self._ingest("identify", _body(body, request.project), metadata, ctx)

    @_rpc("alias")
    def Alias(self, request, ctx, metadata):
        body = _clean({"previous_id": request.previous_id, "user_id": request.user_id,
                       "timestamp": request.timestamp, "message_id": request.message_id})
        return self._ingest("alias", _body(body, request.project), metadata, ctx)

    @_rpc("query")
    def Query(self, request, ctx, metadata):
        principal = self.services.verifier.verify(_bearer(metadata))
        query = request.query or b"{}"
        try:
            body = orjson.loads(query)
        except orjson.JSONDecodeError:
            raise invalid("analytics.invalid_json", "query is not valid JSON") from None
        if not isinstance(body, dict):
            raise invalid("analytics.invalid_request", "query must be a JSON object")
        # The body's project_id, else the request's; the engine reads the bytes themselves.
        answer = query_service.run(self.services, principal, query, metadata.get("x-reactor-project"),
                                   body.get("project_id", request.project or None), timeout_s=ctx.time_remaining())
        comparison = orjson.dumps(answer.comparison) if answer.comparison is not None else b""
        return analytics_pb2.QueryReply(kind=answer.kind, rows=answer.rows, took_ms=answer.took_ms,
                                        rows_scanned=answer.rows_scanned, comparison=comparison)

    @_rpc("erase")
    def Erase(self, request, ctx, metadata):
        principal = self.services.verifier.verify(_bearer(metadata))
        which = request.WhichOneof("person")
        if which is None:
            raise invalid("analytics.invalid_request", "name exactly one of user_id or anonymous_id")
        value = getattr(request, which)
        fields.string_field({which: value}, which)
        erased = erasure.erase_named(self.services, principal, metadata.get("x-reactor-project"), request.project,
                                     **{which: value})
        return analytics_pb2.EraseReply(**erased.as_dict())


def register(servicer: AnalyticsService, server: grpc.Server) -> None:
    """The generated registration, except that `Batch` takes its request as the serialized bytes:
    the native core reads them without a Python object per event."""
    pb = analytics_pb2
    calls = {"Track": pb.TrackRequest, "Batch": None, "Identify": pb.IdentifyRequest, "Alias": pb.AliasRequest,
             "Query": pb.QueryRequest, "Erase": pb.EraseRequest}
    replies = {"Query": pb.QueryReply, "Erase": pb.EraseReply}
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name), request_deserializer=request.FromString if request else None,
            response_serializer=replies.get(name, pb.IngestReply).SerializeToString)
        for name, request in calls.items()}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)
