"""The native decoder of gRPC `BatchRequest` bytes (native/core/src/proto_wire.rs) reads the field
numbers of proto/: every field of a message built by the generated protobuf classes, each set to a
value of its own, lands under its own name in the `/batch` body. If proto/ renumbers or adds a field
(and `make proto` regenerates rpc/gen), this fails until the decoder follows."""

from __future__ import annotations

import json

from reactor_analytics import _native
from reactor_analytics.rpc.gen import analytics_pb2 as pb


def test_every_batch_and_event_field_is_read_under_its_proto_number():
    event_fields = {f.name for f in pb.Event.DESCRIPTOR.fields}
    request_fields = {f.name for f in pb.BatchRequest.DESCRIPTOR.fields}
    assert event_fields == {"event", "anonymous_id", "user_id", "properties", "context", "timestamp",
                            "message_id"}, "proto/ changed: teach proto_wire.rs the new fields, then this test"
    assert request_fields == {"project", "events", "sent_at"}, "proto/ changed: see proto_wire.rs"
    event = pb.Event(event="signup", anonymous_id="anon-1", user_id="user-1",
                     properties=b'{"plan": "pro"}', context=b'{"locale": "de-DE"}',
                     timestamp="2026-11-29T10:00:00Z", message_id="m-1")
    request = pb.BatchRequest(project="web-prod", events=[event, pb.Event(event="second")],
                              sent_at="2026-11-29T10:00:01Z")
    body = json.loads(_native.batch_body_from_proto(request.SerializeToString()))
    assert body == {
        "project_id": "web-prod",
        "sent_at": "2026-11-29T10:00:01Z",
        "batch": [
            {"event": "signup", "anonymous_id": "anon-1", "user_id": "user-1", "properties": {"plan": "pro"},
             "context": {"locale": "de-DE"}, "timestamp": "2026-11-29T10:00:00Z", "message_id": "m-1"},
            {"event": "second"},
        ],
    }


def test_unknown_fields_are_skipped_like_a_protobuf_parser_does():
    known = pb.BatchRequest(project="p", events=[pb.Event(event="e")]).SerializeToString()
    # Field 15 (varint) and field 14 (length-delimited) are not in the proto (keys under 128: one byte).
    unknown = bytes([15 << 3 | 0, 1, 14 << 3 | 2, 2]) + b"xy"
    assert json.loads(_native.batch_body_from_proto(known + unknown)) == json.loads(
        _native.batch_body_from_proto(known))
