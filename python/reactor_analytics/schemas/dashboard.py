"""The dashboard's bodies and answers: sign-in, its session, shared read-only links and saved segments."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import Field, StringConstraints

from . import Answer, Model
from .admin import Timestamp
from .types import text

Password = Annotated[str, StringConstraints(min_length=1, max_length=200), Field(
    description="1 to 200 characters.")]


class SessionRequest(Model):
    token: Annotated[str, StringConstraints(min_length=1, max_length=8192), Field(
        description="The admin token or a JWT; verified once, never kept.")]


class ShareSessionRequest(Model):
    password: Optional[Password] = Field(None, description="The link's password, when it has one.")


class SessionPrincipal(Answer):
    kind: Literal["admin", "jwt", "oidc", "share"]
    subject: str
    org_id: Optional[str] = Field(None, description="The org a JWT or OIDC session acts in.")
    permissions: Optional[list[str]] = Field(None, description="What a JWT or OIDC session may do (the admin "
                                                               "may do everything).")
    project_id: Optional[str] = Field(None, description="A shared link's project, the only one it may query.")


class SessionInfo(Answer):
    csrf_token: str = Field(description="Send it as `X-CSRF-Token` with every write that the cookie authenticates.")
    principal: SessionPrincipal
    expires_at: Timestamp


class DashboardConfig(Answer):
    oidc: bool = Field(description="Whether sign-in with the OIDC provider is offered.")


class ShareRequest(Model):
    name: Optional[text(200)] = None
    password: Optional[Password] = Field(None, description="Asked for when the link is opened; stored as a "
                                                           "salted scrypt hash.")


class Share(Answer):
    id: str = Field(pattern="^sh_")
    name: Optional[str] = None
    has_password: bool
    created_at: Timestamp

    @classmethod
    def of(cls, row: dict) -> "Share":
        return cls(id=row["id"], name=row["name"], has_password=row["has_password"], created_at=row["created_at"])


class NewShare(Share):
    url: str = Field(pattern=r"^/share/[A-Za-z0-9_-]+$", description="The link (its secret is shown this once).")


class SegmentRequest(Model):
    name: text(200)
    filter: dict[str, Any] = Field(description="A query filter (README \"Queries\"), checked as a `web` query's "
                                              "`filter`; its refusal answers the engine's code.")


class Segment(Answer):
    id: str = Field(pattern="^sg_")
    name: str
    filter: dict[str, Any]
    created_by: str
    created_at: Timestamp

    @classmethod
    def of(cls, row: dict) -> "Segment":
        return cls(id=row["id"], name=row["name"], filter=row["filter"], created_by=row["created_by"],
                   created_at=row["created_at"])
