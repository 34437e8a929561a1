"""The committed gRPC modules (rpc/gen) are what proto/ compiles to: same messages, fields and
services. `make proto` regenerates them after a change to proto/."""

from __future__ import annotations

import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2

from reactor_analytics.rpc.gen import analytics_pb2, analytics_pb2_grpc

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


def test_the_generated_messages_match_proto():
    committed = descriptor_pb2.FileDescriptorProto.FromString(analytics_pb2.DESCRIPTOR.serialized_pb)
    compiled = _compiled()
    assert committed == compiled, "rpc/gen is out of date: run `make proto`"


def test_the_generated_services_match_proto():
    compiled = _compiled()
    for service in compiled.service:
        stub = getattr(analytics_pb2_grpc, f"{service.name}Stub")
        servicer = getattr(analytics_pb2_grpc, f"{service.name}Servicer")
        for method in service.method:
            assert hasattr(servicer, method.name), method.name
            assert method.name in stub.__init__.__code__.co_names or method.name in \
                Path(analytics_pb2_grpc.__file__).read_text(), method.name
