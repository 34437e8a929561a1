"""Server reflection answers under grpc.reflection.v1 (what grpcurl and current tools ask first) and
grpc.reflection.v1alpha, listing the same services and describing ours."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2

from conftest import LiveServer


@pytest.fixture(scope="module")
def channel(postgres, tmp_path_factory):
    live = LiveServer(postgres, tmp_path_factory.mktemp("reflection")).start()
    with grpc.insecure_channel(live.grpc_target) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        yield ch
    live.stop()


def _ask(channel, package: str, request: reflection_pb2.ServerReflectionRequest):
    call = channel.stream_stream(f"/{package}.ServerReflection/ServerReflectionInfo",
                                 request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                 response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    return next(call(iter([request]), timeout=10))


@pytest.mark.parametrize("package", ["grpc.reflection.v1", "grpc.reflection.v1alpha"])
def test_reflection_lists_every_service(channel, package):
    answer = _ask(channel, package, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {s.name for s in answer.list_services_response.service}
    assert names == {"reactor.analytics.v1.Analytics", "grpc.health.v1.Health",
                     "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}


@pytest.mark.parametrize("package", ["grpc.reflection.v1", "grpc.reflection.v1alpha"])
@pytest.mark.parametrize("symbol", ["reactor.analytics.v1.Analytics", "grpc.reflection.v1.ServerReflection"])
def test_reflection_describes_services(channel, package, symbol):
    answer = _ask(channel, package, reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol))
    assert not answer.HasField("error_response"), answer.error_response
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
             for raw in answer.file_descriptor_response.file_descriptor_proto]
    service_package, _, service_name = symbol.rpartition(".")
    assert any(f.package == service_package and any(s.name == service_name for s in f.service) for f in files)
