"""A project's sources (the page hostnames it accepts) and its tracking pixels."""

from __future__ import annotations

from typing import Annotated, Any, Optional, Union

from pydantic import Field, StringConstraints, WithJsonSchema

from . import Answer, Model
from .admin import Timestamp
from .types import text

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = rf"^{_LABEL}(?:\.{_LABEL})*\.?$"
Hostname = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=HOSTNAME), Field(
    description="A DNS hostname (letters, digits, `-` and dots; no scheme, port or path), matched "
                "case-insensitively and exactly: `www.example.com` and `example.com` are two sources.")]

def hostname(value: str) -> str:
    """The form a hostname is stored and matched in: lowercase, no trailing dot."""
    return value.lower().rstrip(".")


_NO_NUL = r"^[^\u0000]*$"
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_NO_NUL)]
MetadataValue = Union[Annotated[str, StringConstraints(max_length=500, pattern=_NO_NUL)], int, float, bool, None]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=20), WithJsonSchema({
    "type": "object", "maxProperties": 20,
    "propertyNames": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": _NO_NUL},
    "additionalProperties": {"anyOf": [{"type": "string", "maxLength": 500, "pattern": _NO_NUL},
                                       {"type": ["number", "boolean", "null"]}]},
    "description": "Up to 20 flat values (text, number, true/false, null), recorded with every open."})]


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
