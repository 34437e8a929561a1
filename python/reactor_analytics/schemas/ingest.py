"""The ingest bodies (/track, /batch, /identify, /alias) as the native core validates them
(`native/core/src/validate.rs`), and the consent bodies, which the service validates with these
models.

The ingest models feed only the OpenAPI document: a body is parsed and checked once, in Rust.
`tests/test_ingest_schema.py` sends documents generated from them to `_native.parse_request`
and known-invalid ones too, so the two cannot drift. Throughout, `null` is the same as leaving
the field out, as the core reads it.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from . import Answer, Model
from .types import EventName, Id, JsonObject, Time

_KEY = Field(None, description="A project key in the body, where a browser cannot set headers (sendBeacon).")
_API_KEY = Field(None, description="Another name for `key`, read only when `key` is not given.")
# `key` wins: `api_key` is read, and must then be a string, only when `key` is not a string.
_KEY_RULE = {"anyOf": [{"required": ["key"], "properties": {"key": {"type": "string"}}},
                       {"properties": {"api_key": {"type": ["string", "null"]}}}]}
_PROJECT = Field(None, description="Project id (`p_…`) or slug; must agree with X-Reactor-Project and with "
                                   "the project of a project key.")


def _one_of_ids(*names: str) -> dict:
    """At least one of `names` given as a string (null counts as left out)."""
    return {"anyOf": [{"required": [n], "properties": {n: {"type": "string"}}} for n in names]}


class Event(Model):
    """One event; `anonymous_id` or `user_id` is required. Properties and context together are at
    most 32 KiB of compact JSON."""
    model_config = ConfigDict(json_schema_extra=_one_of_ids("anonymous_id", "user_id"))

    event: EventName
    anonymous_id: Optional[Id] = None
    user_id: Optional[Id] = None
    properties: Optional[JsonObject] = Field(None, description="Free-form; properties + context ≤ 32 KiB.")
    context: Optional[JsonObject] = Field(None, description="page, referrer, utm, user_agent, locale, "
                                                            "timezone, library, …")
    timestamp: Optional[Time] = Field(None, description="When it happened (client clock); default: now.")
    sent_at: Optional[Time] = Field(None, description="When the client sent it: corrects the client's clock.")
    message_id: Optional[Id] = Field(None, description="Idempotency key: a retried event is stored once.")
    project_id: Optional[Id] = _PROJECT


class TrackRequest(Event):
    """One event, plus the project key where a browser cannot send headers."""
    model_config = ConfigDict(json_schema_extra={"allOf": [_one_of_ids("anonymous_id", "user_id"), _KEY_RULE]})

    key: Optional[str] = _KEY
    api_key: Any = _API_KEY


# What a batch holds: events, though an element that is not one is only rejected by itself.
_Element = Annotated[Any, WithJsonSchema({"anyOf": [{"$ref": "#/components/schemas/Event"}, {}]})]


class BatchRequest(Model):
    """Up to `max_batch_events` events (`batch`, or `events`: send one of the two); the body is
    at most `max_body_bytes`. An element that is not a valid event is rejected alone, by index,
    and the others are kept."""
    model_config = ConfigDict(json_schema_extra={"allOf": [{"oneOf": [
        {"required": ["batch"], "properties": {"batch": {"type": "array"}, "events": {"type": "null"}}},
        {"required": ["events"], "properties": {"events": {"type": "array"}, "batch": {"type": "null"}}}]},
        _KEY_RULE]})

    batch: Optional[list[_Element]] = Field(None, min_length=1, max_length=100)
    events: Optional[list[_Element]] = Field(None, min_length=1, max_length=100,
                                        description="Another name for `batch`.")
    sent_at: Optional[Time] = Field(None, description="The default `sent_at` of every event.")
    project_id: Optional[str] = _PROJECT
    key: Optional[str] = _KEY
    api_key: Any = _API_KEY


class IdentifyRequest(Model):
    """Assert a user's identity and traits; with `anonymous_id`, link it to `user_id`."""
    model_config = ConfigDict(json_schema_extra=_KEY_RULE)

    user_id: Id
    anonymous_id: Optional[Id] = None
    traits: Optional[JsonObject] = None
    timestamp: Optional[Time] = None
    sent_at: Optional[Time] = None
    message_id: Optional[Id] = None
    context: Optional[JsonObject] = None
    project_id: Optional[Id] = _PROJECT
    key: Optional[str] = _KEY
    api_key: Any = _API_KEY


class AliasRequest(Model):
    """Link `previous_id` to `user_id`, which must differ."""
    model_config = ConfigDict(json_schema_extra=_KEY_RULE)

    previous_id: Id = Field(description="1 to 200 characters, no control characters; not `user_id`.")
    user_id: Id
    timestamp: Optional[Time] = None
    sent_at: Optional[Time] = None
    message_id: Optional[Id] = None
    context: Optional[JsonObject] = None
    project_id: Optional[Id] = _PROJECT
    key: Optional[str] = _KEY
    api_key: Any = _API_KEY


class Rejection(Answer):
    index: int = Field(ge=0)
    reason: str = Field(description="invalid_event, unknown_field, missing_field, invalid_field, invalid_name, "
                                    "system_reserved, properties_too_large, invalid_timestamp, project_mismatch, "
                                    "opted_out")
    message: str
    field: Optional[str] = None
    limit_bytes: Optional[int] = None


class IngestResult(Answer):
    accepted: int = Field(ge=0)
    rejected: list[Rejection] = Field(description="Per-index rejections (for /batch; a single event that is "
                                                  "refused is the request's 400).")


class OptOutRequest(Model):
    anonymous_id: Id
    project_id: Optional[str] = _PROJECT
    key: Optional[str] = _KEY
    api_key: Optional[str] = _KEY


class ConsentQuery(BaseModel):
    """The query string of GET /consent/status (other parameters, such as `key`, are read elsewhere)."""
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    anonymous_id: Id
    project_id: str = Field(None, description="Project id or slug.")


class ConsentStatus(Answer):
    anonymous_id: str
    opted_out: bool
