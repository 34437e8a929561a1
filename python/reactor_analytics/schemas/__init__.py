"""Every HTTP body and answer, declared once as a pydantic model (`types` holds the fields they
share). The views validate request bodies with `parse`, and `api/openapi.py` builds the OpenAPI
document from the same models, so the rule a client reads is the rule the service applies.

Two bodies are declared here for the document only: the ingest bodies (`ingest`), which the
native core validates (`tests/test_ingest_schema.py` holds the two together), and the query
(`query`), which the native query plan validates.
"""

from __future__ import annotations

from functools import cache
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import invalid


class Model(BaseModel):
    """A request body: JSON types exactly (no "5" for 5, no 1.0 for 1) and no unknown fields."""
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Answer(BaseModel):
    """An answer's shape; the service builds it, nothing is coerced."""
    model_config = ConfigDict(strict=True, extra="forbid")


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], body: dict) -> M:
    """The body as `model`, or the service's 400 `analytics.invalid_request` naming the first
    field at fault."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise _invalid(model, exc) from None


@cache
def _rules(model: type[BaseModel]) -> dict[str, str]:
    """Each field's rule in words (its description), to say what a value that broke it lacks."""
    rules = {}
    for name, prop in model.model_json_schema().get("properties", {}).items():
        described = [*prop.get("anyOf", []), prop]  # the type's rule before the field's note
        rules[name] = next((p["description"] for p in described if p.get("description")), "")
    return rules


def _invalid(model: type[BaseModel], exc: ValidationError):
    error = exc.errors(include_url=False, include_input=False)[0]
    loc = [str(part)[:64] for part in error["loc"]]
    message = error["msg"].removeprefix("Value error, ")
    if not loc:  # a rule over several fields (a `model_validator`)
        return invalid("analytics.invalid_request", message)
    field, path = loc[0], ".".join(loc)
    if error["type"] == "extra_forbidden":
        return invalid("analytics.invalid_request", f"unknown field {path!r}", field=field)
    if error["type"] == "missing":
        return invalid("analytics.invalid_request", f"{path} is required", field=field)
    if error["type"] == "string_pattern_mismatch" and _rules(model).get(field):
        message = _rules(model)[field]  # the pattern itself says little to a person
    return invalid("analytics.invalid_request", f"{path}: {message}", field=field)
