"""The committed gRPC modules, the service's (rpc/gen) and the Python SDK's own copy
(reactor_analytics_sdk/transports/gen), are what proto/ compiles to: same messages, fields and
services. `make proto` regenerates them after a change to proto/."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from reactor_analytics.rpc.gen import analytics_pb2, analytics_pb2_grpc
from reactor_analytics_sdk.transports.gen import analytics_pb2 as sdk_pb2
from reactor_analytics_sdk.transports.gen import analytics_pb2_grpc as sdk_pb2_grpc

GENERATED = pytest.mark.parametrize("pb2, pb2_grpc", [(analytics_pb2, analytics_pb2_grpc), (sdk_pb2, sdk_pb2_grpc)],
                                    ids=["service", "sdk"])

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "reactor/analytics/v1/analytics.proto"


def _compiled() -> descriptor_pb2.FileDescriptorProto:
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        args = ["protoc", f"-I{ROOT / 'proto'}", f"-I{Path(protoc.__file__).parent / '_proto'}",
                f"--descriptor_set_out={out}", SOURCE]
        assert protoc.main(args) == 0
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    (compiled,) = [f for f in files.file if f.name == SOURCE]
    # protoc fills in json_name for a descriptor set; the generated module leaves it out.
    for message in compiled.message_type:
        for field in message.field:
            field.ClearField("json_name")
    return compiled


@GENERATED
def test_the_generated_messages_match_proto(pb2, pb2_grpc):
    committed = descriptor_pb2.FileDescriptorProto.FromString(pb2.DESCRIPTOR.serialized_pb)
    compiled = _compiled()
    assert committed == compiled, f"{pb2.__name__} is out of date: run `make proto`"


@GENERATED
def test_the_generated_services_match_proto(pb2, pb2_grpc):
    compiled = _compiled()
    for service in compiled.service:
        stub = getattr(pb2_grpc, f"{service.name}Stub")
        servicer = getattr(pb2_grpc, f"{service.name}Servicer")
        for method in service.method:
            assert hasattr(servicer, method.name), method.name
            assert method.name in stub.__init__.__code__.co_names or method.name in \
                Path(pb2_grpc.__file__).read_text(), method.name


def test_the_service_and_the_sdk_carry_the_same_descriptor():
    """Both register the file in protobuf's default pool: in one process (a service that also
    tracks) the second registration must be the very same bytes, or it fails."""
    assert sdk_pb2.DESCRIPTOR.serialized_pb == analytics_pb2.DESCRIPTOR.serialized_pb
