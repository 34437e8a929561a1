"""Checks of request fields that every transport shares: text PostgreSQL can hold, and bounded
non-empty strings (gRPC's fields; HTTP bodies are validated by their models in `schemas/`)."""

from __future__ import annotations

from .errors import invalid


def storable(text: str) -> bool:
    """Whether PostgreSQL can hold the text: JSON can escape a NUL or a lone UTF-16 surrogate into a
    Python string, and either would make the query fail (a 500) instead of answering the client."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def string_field(body: dict, name: str, required: bool = True, max_len: int = 200) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid("analytics.invalid_request", f"{name} is required", field=name)
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len or not storable(value):
        raise invalid("analytics.invalid_request", f"{name} must be a non-empty string of at most {max_len} characters",
                      field=name)
    return value
