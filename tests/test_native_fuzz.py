"""Fuzzing the Rust ingest validator directly: hostile bodies never crash, hang or escape as
anything but `IngestError` with an `analytics.` code, and what is accepted encodes to sane COPY rows.

tests/test_ingest_fuzz.py sends small random JSON through HTTP /track and /batch. This file goes
under HTTP, to `_native.parse_request` and `ParsedRequest.encode`, for every kind, with what those
tests rarely reach: invalid UTF-8, mutated valid bodies, nesting thousands deep, numbers outside
every range, NUL and lone-surrogate escapes, bidi controls, COPY metacharacters and 1 MB strings.

Each property runs in a child process, so an abort, a stack overflow or a hang in the native
code fails its test instead of taking pytest down with it. A hang is an example that does not
finish within STALL_S (the child reports each example as it starts one); the property as a
whole has no time limit of its own, so a loaded machine makes it slower, not failed.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from reactor_analytics import _native

EXAMPLES = int(os.environ.get("REACTOR_NATIVE_FUZZ_EXAMPLES", "200"))
STALL_S = float(os.environ.get("REACTOR_NATIVE_FUZZ_STALL_S", "60"))  # one example, seconds
PROGRESS_FD = os.environ.get("REACTOR_NATIVE_FUZZ_PROGRESS_FD")
KINDS = ("track", "batch", "identify", "alias")
RECEIVED_AT_MS = 1_767_225_600_000  # 2026-01-01
REASONS = {"invalid_event", "unknown_field", "missing_field", "invalid_field", "invalid_name", "system_reserved",
           "properties_too_large", "invalid_timestamp", "project_mismatch", "opted_out"}
PG_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}\+00$")
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))

examples = 0


# --- the oracle --------------------------------------------------------------------------------

def _copy_unescape(field: bytes) -> str | None:
    if field == b"\\N":
        return None
    escapes = {b"\\": "\\", b"t": "\t", b"n": "\n", b"r": "\r", b"b": "\b", b"v": "\v", b"f": "\f"}
    text = field.decode("utf-8")  # every row must be UTF-8
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            out.append(escapes[text[i + 1].encode()])  # KeyError: an escape PostgreSQL would misread
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _assert_jsonb_text(text: str) -> None:
    """What PostgreSQL's jsonb accepts: an object, no NUL, no lone surrogates."""
    value = json.loads(text)
    assert isinstance(value, dict), text[:200]
    dumped = json.dumps(value, ensure_ascii=False)
    assert "\x00" not in dumped
    dumped.encode("utf-8")  # UnicodeEncodeError on a lone surrogate


def check(body: bytes, kind: str) -> str:
    """Parse and encode; returns "parsed" or the error code. Raises on anything the service could not answer."""
    global examples
    examples += 1
    if PROGRESS_FD is not None:
        os.write(int(PROGRESS_FD), b".")
    try:
        parsed = _native.parse_request(body, kind, received_at_ms=RECEIVED_AT_MS, ip="203.0.113.9",
                                       user_agent="Mozilla/5.0", accept_language="en-US",
                                       max_properties_bytes=32768, max_batch_events=100)
    except _native.IngestError as exc:
        assert exc.args[0] == exc.code and exc.code.startswith("analytics."), exc.args
        assert isinstance(exc.message, str) and exc.message
        return exc.code
    count = parsed.event_count
    assert 1 <= count <= 100
    assert parsed.project_id is None or isinstance(parsed.project_id, str)
    assert parsed.key is None or isinstance(parsed.key, str)
    ids = parsed.anonymous_ids
    assert len(ids) == len(set(ids)) and all(isinstance(i, str) and i for i in ids)
    encoded = parsed.encode("p_fuzz", "fuzz", ids[:1])
    indices = [r["index"] for r in encoded.rejected]
    assert indices == sorted(set(indices)) and all(0 <= i < count for i in indices)
    assert all(r["reason"] in REASONS and isinstance(r["message"], str) for r in encoded.rejected)
    assert encoded.accepted + len(indices) == count
    data = encoded.copy_rows
    assert data == b"" or data.endswith(b"\n")
    rows = data.split(b"\n")[:-1]
    assert len(rows) == encoded.accepted and b"\x00" not in data
    for row in rows:
        fields = dict(zip(_native.EVENT_COLUMNS, map(_copy_unescape, row.split(b"\t")), strict=True))
        assert fields["project_id"] == "p_fuzz"
        assert PG_TIMESTAMP.match(fields["ts"]) and PG_TIMESTAMP.match(fields["received_at"]), fields["ts"]
        assert "1970" <= fields["ts"][:4] <= "9999"
        for name in ("message_id", "event", "distinct_id", "anonymous_id", "user_id"):
            value = fields[name]
            assert value is None or value and not any(unicodedata.category(c) == "Cc" for c in value), name
        assert fields["message_id"] and fields["event"] and fields["distinct_id"]
        _assert_jsonb_text(fields["properties"])
        if fields["context"] is not None:
            _assert_jsonb_text(fields["context"])
    for anonymous_id, user_id in encoded.links:
        assert anonymous_id and user_id and anonymous_id != user_id
    for user_id, traits in encoded.traits:
        assert user_id
        _assert_jsonb_text(traits)
    return "parsed"


# --- bodies ------------------------------------------------------------------------------------

SEEDS = {
    "track": {"event": "signup", "anonymous_id": "a1", "user_id": "u1", "properties": {"plan": "pro", "n": 1},
              "context": {"page": {"url": "https://example.com/p?utm_source=x", "path": "/p"}, "timezone": "UTC"},
              "timestamp": "2025-12-31T23:00:00Z", "sent_at": 1767225000000, "message_id": "m1", "key": "rapk_x"},
    "batch": {"batch": [{"event": "$pageview", "anonymous_id": "a1", "properties": {"$set": {"x": 1}}},
                        {"event": "$identify", "anonymous_id": "a1", "user_id": "u1",
                         "properties": {"$set": {"plan": "pro"}}},
                        {"event": "$alias", "user_id": "u2", "properties": {"previous_id": "a2"}}],
              "sent_at": "2026-01-01T00:00:00Z", "project_id": "fuzz"},
    "identify": {"user_id": "u1", "anonymous_id": "a1", "traits": {"email": "x@example.com"},
                 "context": {"library": {"name": "fuzz"}}, "timestamp": 1767225000000},
    "alias": {"previous_id": "a1", "user_id": "u1", "message_id": "m2", "project_id": "p_fuzz"},
}
FIELDS = {kind: sorted(set(seed) | {"project_id", "key", "api_key", "message_id", "sent_at", "timestamp", "context",
                                    "nope"}) for kind, seed in SEEDS.items()}
FIELDS["batch"] = ["batch", "events", "sent_at", "project_id", "key", "api_key", "nope"]
EVENT_FIELDS = ["event", "anonymous_id", "user_id", "properties", "context", "timestamp", "sent_at", "message_id",
                "project_id", "traits", "previous_id", "nope"]


def dumps(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8", "surrogatepass")


def seed_body(kind: str) -> bytes:
    return dumps(SEEDS[kind])


# JSON text that Python's json module would not write: escapes PostgreSQL refuses, numbers out of range.
HOSTILE_ESCAPES = [r"\u0000", r"a\u0000b", r"\ud800", r"\udfff", r"\udc00\ud800", r"x\ud83d", r"\ud83d\ude00",
                   r"\u202e\u202d\u2066\u2067\u2068\u2069\u200f\u200e", r"\ufeff", r"\uffff\ufffe", r"\u200b",
                   r"\u0001\u001f\u007f\u0085", r"\u2028\u2029", r"\t\n\r\b\f", r"\\", r"\\N", r"\\\\N", r"\/",
                   "e\u0301\u0301\u0301", "\u202egnp.exe", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "𝔘𝔫𝔦",
                   "\uffff", "", " ", "$pageview", "$bogus", "rapk_" + "A" * 40]
BIG_NUMBERS = ["0", "-0", "0e0", "-0.0", "1e999999", "-1e999999", "1E-400", "1.7976931348623157e308", "-1.8e308",
               "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
               "18446744073709551615", "18446744073709551616", "253402300799999", "253402300800000",
               "1767225600000.5", "1767225600000e0", "17672256000000000000000000", "1e19", "-1", "0.1e-99999"]

hostile_json_string = st.one_of(
    st.sampled_from(HOSTILE_ESCAPES),
    st.text(st.characters(codec="utf-8", exclude_characters='"\\'), max_size=40),
    st.builds(lambda unit, n: unit * (n or 1_048_576 // len(unit.encode())),  # n=0: about 1 MB
              st.sampled_from(["a", "\u202e", r"\u0000", "\U0001f600", "\\t", "é"]),
              st.sampled_from([199, 200, 201, 32_769, 0])),
).map(lambda s: f'"{s}"')
big_number = st.one_of(st.sampled_from(BIG_NUMBERS),
                       st.integers(1, 5000).map(lambda n: "9" * n),
                       st.builds(lambda m, e: f"{m}e{e}", st.integers(-10**6, 10**6), st.integers(-10**6, 10**6)),
                       st.floats(allow_nan=False, allow_infinity=False).map(repr))
hostile_json_scalar = st.one_of(hostile_json_string, big_number, st.sampled_from(["true", "false", "null"]))
hostile_json = st.recursive(
    hostile_json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.lists(st.tuples(hostile_json_string, inner), max_size=4).map(
            lambda kvs: "{" + ",".join(f"{k}:{v}" for k, v in kvs) + "}")),
    max_leaves=12)


def splice(kind: str, field: str, raw_value: str, in_event: bool) -> bytes:
    """The seed body of `kind` with `field` (of the body or, for a batch, of its first event) set to raw JSON."""
    seed = dict(SEEDS[kind])
    marker = "\x01FUZZ\x01"
    if kind == "batch" and in_event:
        seed["batch"] = [{**seed["batch"][0], field: marker}, *seed["batch"][1:]]
    else:
        seed[field] = marker
    return dumps(seed).replace(dumps(marker), raw_value.encode("utf-8", "surrogatepass"))


# --- properties, each run in a child process ----------------------------------------------------

@FUZZ
@given(raw=st.binary(max_size=4096), bom=st.booleans(), kind=st.sampled_from(KINDS))
def property_arbitrary_bytes(raw, bom, kind):
    check((b"\xef\xbb\xbf" if bom else b"") + raw, kind)


# Mostly JSON tokens, so that many mutants are still JSON and reach validation and encoding.
_JSON_TOKENS = [b'"', b"{", b"}", b"[", b"]", b",", b":", b"\\", b"\\u", b"\\u0000", b"\\ud800", b"0", b"-", b"e9",
                b"null", b"true", b'""', b"{}", b"[]", b'"$bogus"', b'"x":1,', b"\t", b"\xc3\xa9"]
_mutation = st.tuples(st.sampled_from(["insert", "delete", "replace", "duplicate", "truncate"]), st.floats(0, 1),
                      st.one_of(st.sampled_from(_JSON_TOKENS), st.binary(min_size=1, max_size=4)))


@FUZZ
@given(seed=st.sampled_from(KINDS), kind=st.sampled_from(KINDS), mutations=st.lists(_mutation, min_size=1, max_size=3))
def property_mutated_valid_bodies(seed, kind, mutations):
    body = bytearray(seed_body(seed))
    for op, where, data in mutations:
        at = int(where * len(body))
        if op == "insert":
            body[at:at] = data
        elif op == "delete":
            del body[at:at + len(data)]
        elif op == "replace":
            body[at:at + len(data)] = data
        elif op == "duplicate":
            body[at:at] = body[at:at + 64]
        else:
            del body[at:]
    check(bytes(body), kind)


INVALID_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xc3", b"\xe2\x82", b"\xe0\x80\xaf",
                b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80",
                b"\xfc\x84\x80\x80\x80\x80"]


@FUZZ
@given(kind=st.sampled_from(KINDS), bad=st.sampled_from(INVALID_UTF8), where=st.floats(0, 1))
def property_invalid_utf8_is_invalid_json(kind, bad, where):
    body = seed_body(kind)
    at = int(where * len(body))
    assert check(body[:at] + bad + body[at:], kind) == "analytics.invalid_json"


@FUZZ
@given(data=st.data(), kind=st.sampled_from(KINDS), value=hostile_json, in_event=st.booleans())
def property_hostile_values_in_every_field(data, kind, value, in_event):
    fields = EVENT_FIELDS if kind == "batch" and in_event else FIELDS[kind]
    field = data.draw(st.sampled_from(fields))
    check(splice(kind, field, value, in_event), kind)


@FUZZ
@given(data=st.data(), kind=st.sampled_from(KINDS), value=hostile_json_string)
def property_hostile_strings_in_stored_json(data, kind, value):
    """Strings as property names and values, context hot fields, traits: what ends up in COPY rows."""
    where = data.draw(st.sampled_from(["traits" if kind == "identify" else "properties", "context", "$set"]))
    if where == "context":
        sub = data.draw(st.sampled_from(["page.url", "page.path", "page.referrer", "campaign.source", "timezone",
                                         "locale", "library.name", "user_agent", "userAgent", "ip",
                                         "session_id", "sessionId"]))
        head, _, tail = sub.partition(".")
        raw = "{" + (f'"{head}":{{"{tail}":{value}}}' if tail else f'"{head}":{value}') + "}"
    elif where == "$set":  # $identify traits and $alias previous_id, read from a batch event's properties
        raw, where = f'{{"$set":{{{value}:{value}}},"previous_id":{value}}}', "properties"
    else:
        raw = f'{{{value}:{value},"ok":[{value}]}}'
    check(splice(kind, where, raw, in_event=True), kind)


@FUZZ
@given(data=st.data(), kind=st.sampled_from(KINDS),
       depth=st.one_of(st.integers(120, 136), st.integers(1, 20_000), st.sampled_from([100_000, 400_000])),
       opener=st.sampled_from(["[", '{"a":', '[{"a":', "mixed"]))
def property_deep_nesting(data, kind, depth, opener):
    if opener == "mixed":
        opens = data.draw(st.lists(st.sampled_from(["[", '{"a":']), min_size=depth, max_size=depth)
                          if depth <= 2000 else st.just(["[", '{"a":'] * (depth // 2)))
    else:
        opens = [opener] * depth
    closes = "".join("]" if o == "[" else ("}" if o == '{"a":' else "}]") for o in reversed(opens))
    nested = "".join(opens) + "1" + closes
    where = data.draw(st.sampled_from(["body", "properties", "context", "traits", "nope", "key", "timestamp",
                                       "inside"]))
    if where == "body":
        body = nested.encode()
    elif where == "inside":
        body = splice(kind, "properties", '{"p":' + nested + "}", in_event=kind == "batch")
    else:
        body = splice(kind, where, nested, in_event=kind == "batch")
    check(body, kind)


@FUZZ
@given(data=st.data(), kind=st.sampled_from(KINDS), number=big_number, in_event=st.booleans())
def property_numbers_out_of_range(data, kind, number, in_event):
    fields = ["timestamp", "sent_at", "message_id", "project_id", "key", "properties"]
    field = data.draw(st.sampled_from(fields + (["event", "anonymous_id", "user_id", "previous_id"])))
    raw = number if field != "properties" else f'{{"n":{number},"list":[{number}]}}'
    check(splice(kind, field, raw, in_event), kind)


@FUZZ
@given(kind=st.sampled_from(KINDS), count=st.sampled_from([0, 1, 99, 100, 101, 5000]),
       element=st.sampled_from(['{"event":"e","anonymous_id":"a"}', "null", "1", "[]", '"x"', "{}"]))
def property_batch_sizes_and_elements(kind, count, element):
    check(('{"batch":[' + ",".join([element] * count) + "]}").encode(), kind)


PROPERTIES = {name: fn for name, fn in globals().items() if name.startswith("property_")}


# --- the tests -----------------------------------------------------------------------------------

def _run_property(name: str) -> tuple[int, str, str]:
    """Run one property in a child; (returncode, stdout, stderr). Fails the test when no example
    starts or ends within STALL_S: a hang, whatever the machine's load."""
    progress, child_end = os.pipe()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([sys.executable, __file__, name], stdout=out, stderr=err, pass_fds=(child_end,),
                                 env={**os.environ, "REACTOR_NATIVE_FUZZ_PROGRESS_FD": str(child_end)})
        os.close(child_end)
        try:
            with os.fdopen(progress, "rb", buffering=0) as reports:
                while True:
                    ready, _, _ = select.select([reports], [], [], STALL_S)
                    if not ready:
                        child.kill()
                        child.wait()
                        out.seek(0)
                        pytest.fail(f"{name} hung: one example ran over {STALL_S} s\n{out.read()[-3000:]}")
                    if not reports.read(65536):
                        break  # the child closed its end: it has exited
            child.wait()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        out.seek(0)
        err.seek(0)
        return child.returncode, out.read(), err.read()


@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_native_parser_survives(name, capsys):
    started = time.monotonic()
    returncode, stdout, stderr = _run_property(name)
    output = (stdout + stderr)[-6000:]
    assert returncode >= 0, f"{name}: the process died of signal {-returncode}\n{output}"
    assert returncode == 0, f"{name} failed\n{output}"
    ran = json.loads(stdout.strip().splitlines()[-1])["examples"]
    with capsys.disabled():
        print(f"\n{name}: {ran} hypothesis examples in {time.monotonic() - started:.1f}s", end="")


if __name__ == "__main__":
    PROPERTIES[sys.argv[1]]()
    print(json.dumps({"examples": examples}))
