"""The ingest bodies' schema in the OpenAPI document (declared once, in `schemas/ingest.py`)
says what the native core accepts: a body the schema allows is accepted by
`_native.parse_request`, one it refuses is refused, for generated documents of every endpoint
and for known cases at the edges of each rule.

The one rule JSON Schema cannot state, `previous_id` differing from `user_id` in /alias, is in
the document's words and checked here by hand.
"""

from __future__ import annotations

import json

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from schemathesis import GenerationMode

from reactor_analytics import _native
from reactor_analytics.api.openapi import DOCUMENT

KINDS = {"track": "TrackRequest", "batch": "BatchRequest", "identify": "IdentifyRequest", "alias": "AliasRequest"}
SCHEMA = schemathesis.openapi.from_dict(json.loads(json.dumps(DOCUMENT)))
MAX_PROPERTIES_BYTES = 32 * 1024


def _validator(name: str):
    return jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{name}", **DOCUMENT})


VALIDATORS = {name: _validator(name) for name in {*KINDS.values(), "Event"}}


def _native_verdict(kind: str, body) -> tuple[bool, set[int]]:
    """(whether the body as a whole is accepted, the indexes of the events refused)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8", "surrogatepass")
    try:
        parsed = _native.parse_request(raw, kind, received_at_ms=1_700_000_000_000, ip=None, user_agent=None,
                                       accept_language=None)
    except _native.IngestError:
        return False, set()
    # Naming another project is the caller's credential's business, not the body's validity.
    encoded = parsed.encode("p_schema", "schema", [])
    return True, {r["index"] for r in encoded.rejected if r["reason"] != "project_mismatch"}


def _events_of(body) -> list:
    if isinstance(body, dict) and ("batch" in body or "events" in body):
        listed = body.get("batch") if body.get("batch") is not None else body.get("events")
        return listed if isinstance(listed, list) else []
    return [body]


def _small_enough(body) -> bool:
    """Within the documented 32 KiB of properties and context (a limit stated in words)."""
    for event in _events_of(body):
        if isinstance(event, dict):
            stored = sum(len(json.dumps(event[f], separators=(",", ":"), ensure_ascii=False).encode())
                         for f in ("properties", "traits", "context") if isinstance(event.get(f), dict))
            if stored > MAX_PROPERTIES_BYTES - 64:
                return False
    return True


def check_agreement(kind: str, body) -> None:
    name = KINDS[kind]
    valid = VALIDATORS[name].is_valid(body)
    if kind == "alias" and isinstance(body, dict) and body.get("previous_id") == body.get("user_id"):
        return  # the rule in words: test_alias_to_itself_is_refused_as_the_document_says
    if not _small_enough(body):
        return
    whole, refused = _native_verdict(kind, body)
    if kind != "batch":
        assert (whole and not refused) == valid, (valid, whole, refused, body)
        return
    assert whole == valid, (valid, body)
    if whole:
        for index, event in enumerate(_events_of(body)):
            assert (index not in refused) == VALIDATORS["Event"].is_valid(event), (index, event, refused)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("kind", list(KINDS))
def test_generated_bodies_are_judged_alike(kind, mode):
    operation = SCHEMA[f"/analytics/v1/{kind}"]["POST"]

    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def judged_alike(case):
        assume(case.body is not None and not isinstance(case.body, (bytes, str)))
        check_agreement(kind, case.body)

    judged_alike()


EDGES = [
    # ids: 1 to 200 characters, no control characters (spaces are fine)
    ("track", {"event": "e", "anonymous_id": "a" * 200}),
    ("track", {"event": "e", "anonymous_id": "a" * 201}),
    ("track", {"event": "e", "anonymous_id": "é" * 200}),
    ("track", {"event": "e", "anonymous_id": ""}),
    ("track", {"event": "e", "anonymous_id": " "}),
    ("track", {"event": "e", "anonymous_id": "a\u0007b"}),
    ("track", {"event": "e", "anonymous_id": "a\u0085b"}),
    ("track", {"event": "e", "anonymous_id": "a\u00a0b"}),
    ("track", {"event": "e", "user_id": "u\tv"}),
    ("track", {"event": "e", "user_id": "u", "message_id": "m\n"}),
    # one of anonymous_id and user_id; null is left out
    ("track", {"event": "e"}),
    ("track", {"event": "e", "anonymous_id": None, "user_id": "u"}),
    ("track", {"event": "e", "anonymous_id": None, "user_id": None}),
    ("track", {"event": None, "anonymous_id": "a"}),
    # names: `$` only for the system events
    ("track", {"event": "$pageview", "anonymous_id": "a"}),
    ("track", {"event": "$custom", "anonymous_id": "a"}),
    ("track", {"event": "a$", "anonymous_id": "a"}),
    ("track", {"event": "\u0000", "anonymous_id": "a"}),
    # times: RFC 3339 or epoch milliseconds, after the epoch
    ("track", {"event": "e", "anonymous_id": "a", "timestamp": "2024-05-01T10:00:00Z"}),
    ("track", {"event": "e", "anonymous_id": "a", "timestamp": "2024-05-01 10:00:00.123456789+02:00"}),
    ("track", {"event": "e", "anonymous_id": "a", "timestamp": "2024-05-01T10:00:00.1234567890Z"}),
    ("track", {"event": "e", "anonymous_id": "a", "timestamp": "2024-13-01T10:00:00Z"}),
    ("track", {"event": "e", "anonymous_id": "a", "timestamp": "2024-05-01T10:00:60Z"}),
    ("track", {"event": "e", "anonymous_id": "a", "timestamp": "1969-12-31T23:59:59Z"}),
    ("track", {"event": "e", "anonymous_id": "a", "timestamp": 1714557600000}),
    ("track", {"event": "e", "anonymous_id": "a", "timestamp": 1714557600000.5}),
    ("track", {"event": "e", "anonymous_id": "a", "timestamp": -1}),
    ("track", {"event": "e", "anonymous_id": "a", "timestamp": "soon"}),
    # free-form objects: anything but NUL
    ("track", {"event": "e", "anonymous_id": "a", "properties": {"a": [1, {"b": None}], "c": "d"}}),
    ("track", {"event": "e", "anonymous_id": "a", "properties": {"a": "\u0000"}}),
    ("track", {"event": "e", "anonymous_id": "a", "context": {"\u0000": 1}}),
    ("track", {"event": "e", "anonymous_id": "a", "properties": []}),
    ("track", {"event": "e", "anonymous_id": "a", "properties": None}),
    ("track", {"event": "e", "anonymous_id": "a", "colour": "red"}),
    ("track", {"event": "e", "anonymous_id": "a", "key": 5}),
    ("track", {"event": "e", "anonymous_id": "a", "traits": {}}),
    ("identify", {"user_id": "u", "traits": {"plan": "pro"}}),
    ("identify", {"user_id": "u", "properties": {}}),
    ("identify", {"anonymous_id": "a"}),
    ("alias", {"previous_id": "a", "user_id": "u"}),
    ("alias", {"previous_id": "a", "user_id": "a"}),
    ("alias", {"previous_id": "a"}),
    # batch: one of batch and events, 1 to 100 elements, each judged by itself
    ("batch", {"batch": [{"event": "e", "anonymous_id": "a"}, {"event": "$x", "anonymous_id": "a"}, 3]}),
    ("batch", {"events": [{"event": "e", "anonymous_id": "a"}], "batch": None}),
    ("batch", {"batch": [{"event": "e", "anonymous_id": "a"}], "events": [{"event": "e", "anonymous_id": "a"}]}),
    ("batch", {"batch": []}),
    ("batch", {"batch": [{"event": "e", "anonymous_id": "a"}] * 100}),
    ("batch", {"batch": [{"event": "e", "anonymous_id": "a"}] * 101}),
    ("batch", {"batch": [{"event": "e", "anonymous_id": "a", "key": "k"}]}),
    ("batch", {"sent_at": "2024-05-01T10:00:00Z"}),
    ("batch", {"batch": [{"event": "e", "anonymous_id": "a"}], "colour": "red"}),
    ("batch", [{"event": "e", "anonymous_id": "a"}]),
]


@pytest.mark.parametrize("kind,body", EDGES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(EDGES)])
def test_edges_of_each_rule_are_judged_alike(kind, body):
    check_agreement(kind, body)


def test_alias_to_itself_is_refused_as_the_document_says():
    assert "not `user_id`" in json.dumps(DOCUMENT["components"]["schemas"]["AliasRequest"])
    whole, refused = _native_verdict("alias", {"previous_id": "a", "user_id": "a"})
    assert whole and refused == {0}
