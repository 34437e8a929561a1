"""gRPC server reflection under both names clients ask for: `grpc.reflection.v1` (grpcurl and
current tools try it first) and `grpc.reflection.v1alpha` (older ones).

grpcio-reflection ships only v1alpha. The two services are the same protocol under another package
name (identical messages, field for field), so v1 is served by the same servicer through a second
method path, and its descriptor — v1alpha's, renamed — is added to the pool so that v1 can also
describe itself.
"""

from __future__ import annotations

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2

V1_SERVICE = "grpc.reflection.v1.ServerReflection"
V1ALPHA_SERVICE = reflection.SERVICE_NAME
_V1_FILE = "grpc/reflection/v1/reflection.proto"


def _add_v1_descriptor() -> None:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    source = descriptor_pb2.FileDescriptorProto.FromString(reflection_pb2.DESCRIPTOR.serialized_pb)
    old, new = ".grpc.reflection.v1alpha.", ".grpc.reflection.v1."
    source.name, source.package = _V1_FILE, "grpc.reflection.v1"
    for message in source.message_type:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = new + field.type_name[len(old):]
    for service in source.service:
        for method in service.method:
            method.input_type = new + method.input_type[len(old):]
            method.output_type = new + method.output_type[len(old):]
    pool.Add(source)


def enable(service_names: tuple[str, ...], server: grpc.Server) -> None:
    """Serve reflection (v1 and v1alpha) listing `service_names` and the reflection services."""
    _add_v1_descriptor()
    names = (*service_names, V1_SERVICE, V1ALPHA_SERVICE)
    servicer = reflection.ReflectionServicer(names)
    reflection.enable_server_reflection(names, server)
    v1 = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(V1_SERVICE,
                                                                          {"ServerReflectionInfo": v1}),))
