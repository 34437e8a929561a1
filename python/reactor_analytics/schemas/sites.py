"""A project's sources (the page hostnames it accepts) and its tracking pixels."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from . import Answer, Model
from .admin import Timestamp
from .types import text

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = rf"^{_LABEL}(?:\.{_LABEL})*\.?$"
Hostname = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=HOSTNAME), Field(
    description="A DNS hostname (letters, digits, `-` and dots; no scheme, port or path), matched "
                "case-insensitively and exactly: `www.example.com` and `example.com` are two sources.")]

MAX_METADATA_BYTES = 4096


def hostname(value: str) -> str:
    """The form a hostname is stored and matched in: lowercase, no trailing dot."""
    return value.lower().rstrip(".")


def _storable_metadata(value: dict) -> dict:
    text_ = json.dumps(value, ensure_ascii=False)
    if "\\u0000" in text_:
        raise ValueError("must not contain NUL (\\u0000) characters")
    if len(text_.encode("utf-8")) > MAX_METADATA_BYTES:
        raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes as JSON")
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(_storable_metadata), WithJsonSchema({
    "type": "object", "propertyNames": {"type": "string", "pattern": r"^[^\u0000]*$"},
    "additionalProperties": {"$ref": "#/components/schemas/JsonValue"},
    "description": f"A JSON object of at most {MAX_METADATA_BYTES} bytes; no key or string holds a NUL. "
                   "Recorded with every open."})]


class SourceRequest(Model):
    hostname: Hostname


class Source(Answer):
    hostname: str
    created_at: Timestamp


class PixelRequest(Model):
    name: text(200)
    metadata: Optional[Metadata] = None


class Pixel(Answer):
    id: str = Field(pattern="^px_")
    name: str
    metadata: dict[str, Any]
    url: str = Field(pattern=r"^/analytics/v1/pixel/px_[a-z0-9]+\.gif$", description="Where the pixel is served.")
    created_at: Timestamp

    @classmethod
    def of(cls, row: dict) -> "Pixel":
        return cls(id=row["id"], name=row["name"], metadata=row["metadata"],
                   url=f"/analytics/v1/pixel/{row['id']}.gif", created_at=row["created_at"])
