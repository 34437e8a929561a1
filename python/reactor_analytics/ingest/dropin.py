"""Drop-in capture for PostHog's and Segment's SDKs: their request bodies decoded (gzip, the
`data=` form, base64) and handed to the native core, which turns them into the `/batch` body
that `pipeline.ingest` runs like any other. No transport here: the HTTP views pass bytes and
header values in.

A gzip body is inflated in steps with a cap: one that would grow past the body limit is refused
with 413 before more than the limit is ever held in memory.
"""

from __future__ import annotations

import base64
import binascii
import time
import zlib
from urllib.parse import parse_qsl

from .. import _native
from ..errors import AppError, invalid
from .pipeline import IngestCall

GZIP_MAGIC = b"\x1f\x8b"


def too_large(limit: int) -> AppError:
    return AppError(413, "analytics.payload_too_large", "the request body is larger than the limit",
                    limit_bytes=limit)


def inflate(body: bytes, limit: int) -> bytes:
    """A gzip body's content, at most `limit` bytes of it."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        content = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise invalid("analytics.invalid_request", "the body is not valid gzip") from None
    if len(content) > limit:
        raise too_large(limit)
    if not inflater.eof:
        raise invalid("analytics.invalid_request", "the gzip body is truncated")
    return content


def _unbase64(value: str) -> bytes:
    text = value.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise invalid("analytics.invalid_request", "'data' is not base64") from None


def decode(body: bytes, *, gzip: bool, form: bool, compression: str | None, limit: int) -> bytes:
    """The JSON text of a capture body: gzip (by `Content-Encoding` or its magic bytes), a
    `data=` form field (JSON, or base64 of JSON or of gzip, as posthog-js sends it), or JSON."""
    if gzip or body[:2] == GZIP_MAGIC:
        return inflate(body, limit)
    if form or body[:5] == b"data=":
        fields = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        if "data" not in fields:
            raise invalid("analytics.invalid_request", "the form has no 'data' field")
        return decode_data(fields["data"], compression, limit)
    return body


def decode_data(data: str, compression: str | None, limit: int) -> bytes:
    """A `data` field (form or query string): JSON, or base64 of JSON or of gzip."""
    if compression != "base64" and data.lstrip()[:1] in ("{", "["):
        return data.encode("utf-8")
    raw = _unbase64(data)
    return inflate(raw, limit) if raw[:2] == GZIP_MAGIC else raw


def sent_at_ms(value: str | None) -> int | None:
    """posthog-js may send its clock in the URL (`sent_at=<epoch ms>`) instead of the body."""
    if value is None or not value.isdigit() or len(value) > 15:
        return None
    return int(value)


def capture_call(source: str, content: bytes, *, call: str | None = None, key: str | None = None,
                 sent_at: int | None = None, ip: str | None = None, user_agent: str | None = None,
                 accept_language: str | None = None) -> IngestCall:
    """The `IngestCall` of a decoded drop-in body: its events as the native `/batch` body, and the
    project key (a key sent outside the body, such as Segment's Basic auth, wins)."""
    try:
        body, body_key = _native.dropin_body(source, content, received_at_ms=int(time.time() * 1000),
                                             sent_at_ms=sent_at, call=call)
    except _native.IngestError as exc:
        raise invalid(exc.args[0], exc.args[1]) from None
    return IngestCall(kind="batch", body=body, key=key or body_key, ip=ip, user_agent=user_agent,
                      accept_language=accept_language)
