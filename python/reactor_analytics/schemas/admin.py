"""The admin API's bodies and answers: projects, their public keys, minted tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Optional

from pydantic import ConfigDict, Field, PlainSerializer, StringConstraints, model_validator

from . import Answer, Model
from .types import integer, text

MAX_TTL_S = 365 * 86400
# Written as `datetime.isoformat` does (`+00:00`), as the service always has.
Timestamp = Annotated[datetime, PlainSerializer(datetime.isoformat, return_type=str)]
RetentionDays = integer(1, 3650, "Days events are kept, 1 to 3650.")
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$"), Field(
    description="Lowercase letters, digits and `-`, at most 63, not starting with `-`.")]


class ProjectRequest(Model):
    slug: Slug
    name: Optional[text(200)] = Field(None, description="Default: the slug.")
    # Left out: the configured default; null is not a number of days.
    retention_days: RetentionDays = Field(None, description="Default: `[analytics] retention_days_default`.")
    org_id: Optional[text(100)] = Field(None, description="Admin token only (a JWT acts in its own org).")


class ProjectUpdate(Model):
    """At least one setting."""
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    retention_days: RetentionDays = None
    auto_register_sources: bool = Field(None, description="Add a page hostname the project does "
                                                                    "not list to its sources as it reports.")

    @model_validator(mode="after")
    def _something(self) -> "ProjectUpdate":
        if self.retention_days is None and self.auto_register_sources is None:
            raise ValueError("name a setting: retention_days or auto_register_sources")
        return self


class KeyRequest(Model):
    name: text(100)


Subject = text(200, "The token's subject.")


class TokenRequest(Model):
    sub: Subject
    permissions: list[Annotated[str, StringConstraints(min_length=1)]] = Field(
        default_factory=list, description="analytics:project:create, analytics:{project}:ingest, "
                                          "analytics:{project}:query, analytics:{project}:erase, "
                                          "analytics:{project}:manage (`*` for every project).")
    ttl_seconds: integer(1, MAX_TTL_S) = 3600
    org_id: Optional[text(200)] = None


class Project(Answer):
    id: str = Field(pattern="^p_")
    slug: str
    name: str
    org_id: str
    retention_days: int
    auto_register_sources: bool
    created_at: Timestamp

    @classmethod
    def of(cls, row: dict) -> "Project":
        return cls(**{name: row[name] for name in cls.model_fields})


class Key(Answer):
    id: str = Field(pattern="^k_")
    name: str
    prefix: str = Field(pattern="^rapk_")
    created_at: Timestamp
    revoked_at: Optional[Timestamp]

    @classmethod
    def of(cls, row: dict) -> "Key":
        return cls(**{name: row[name] for name in cls.model_fields})


class NewKey(Key):
    key: str = Field(pattern="^rapk_", description="The key itself, shown only in this answer.")


class Token(Answer):
    token: str
    expires_in: int
