"""GDPR erasure: who to erase, and what was deleted."""

from __future__ import annotations

from typing import Optional

from pydantic import ConfigDict, Field, model_validator

from . import Answer, Model
from .types import Id

ONE_PERSON = "name exactly one of user_id or anonymous_id"


class EraseRequest(Model):
    """Exactly one of `user_id` and `anonymous_id`; every id linked to it is erased too."""
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": ["user_id"], "properties": {"user_id": {"type": "string"}, "anonymous_id": {"type": "null"}}},
        {"required": ["anonymous_id"], "properties": {"anonymous_id": {"type": "string"},
                                                      "user_id": {"type": "null"}}}]})

    user_id: Optional[Id] = None
    anonymous_id: Optional[Id] = None
    project_id: Optional[str] = Field(None, description="Project id (`p_…`) or slug; must agree with "
                                                        "X-Reactor-Project.")

    @model_validator(mode="after")
    def _one_person(self) -> "EraseRequest":
        if (self.user_id is None) == (self.anonymous_id is None):
            raise ValueError(ONE_PERSON)
        return self


class EraseResult(Answer):
    events: int = Field(ge=0)
    identity_links: int = Field(ge=0)
    traits: int = Field(ge=0)
