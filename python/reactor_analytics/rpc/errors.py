"""AppError -> gRPC status, with the HTTP API's error code in a google.rpc.ErrorInfo detail."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from ..errors import AppError

DOMAIN = "reactor.analytics"
_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    404: code_pb2.NOT_FOUND,
    413: code_pb2.INVALID_ARGUMENT,
    415: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
    504: code_pb2.DEADLINE_EXCEEDED,
}


def to_status(error: AppError) -> grpc.Status:
    info = error_details_pb2.ErrorInfo(reason=error.code, domain=DOMAIN,
                                       metadata={k: str(v) for k, v in error.extra.items()})
    detail = any_pb2.Any()
    detail.Pack(info)
    return rpc_status.to_status(status_pb2.Status(code=_CODES.get(error.status, code_pb2.INTERNAL),
                                                  message=error.message, details=[detail]))


def error_info(rpc_error: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    """The ErrorInfo of a failed call (what clients read to learn the error code)."""
    status = rpc_status.from_call(rpc_error)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return None
