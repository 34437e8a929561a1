"""The errors answer (error groups of `$error` events) and its triage."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal, Optional

from pydantic import Field, StringConstraints, model_validator

from . import Answer, Model
from .admin import Timestamp
from .types import integer

State = Literal["unresolved", "resolved", "ignored"]
Fingerprint = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$"), Field(
    description="32 lowercase hex digits.")]

# Days that every month has, and the 29th to 31st where they exist (no zone means UTC).
_DAY = (r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)")
_MOMENT = (rf"^(?:19(?:7[1-9]|[89][0-9])|2[0-9]{{3}})-{_DAY}"
           r"(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?$")
Moment = Annotated[str, StringConstraints(pattern=_MOMENT), Field(
    description="A day (`2026-01-31`, midnight UTC) or a date-time (`2026-01-31T12:00:00Z`; no zone means UTC).")]
Duration = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,3}[mhdw]$"), Field(
    description="1 to 4 digits and m, h, d or w, such as 30m, 24h, 7d or 4w.")]

_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def moment(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class ErrorsQuery(Model):
    """The query string of GET /analytics/v1/errors: `last`, or `from` (and `to`); default the last 7 days."""
    project_id: Optional[str] = Field(None, description="Project id (`p_…`) or slug; must agree with "
                                                        "X-Reactor-Project.")
    last: Optional[Duration] = None
    from_: Optional[Moment] = Field(None, alias="from")
    to: Optional[Moment] = Field(None, description="Default: now.")
    limit: integer(1, 1000, "Groups answered, the most recently seen first; default 100.") = 100

    @model_validator(mode="before")
    @classmethod
    def _limit_as_number(cls, data):
        """The query string holds text: `limit` is read as the integer it spells."""
        if isinstance(data, dict) and isinstance(data.get("limit"), str) and data["limit"].isdigit():
            data = {**data, "limit": int(data["limit"])}
        return data

    @model_validator(mode="after")
    def _one_range(self) -> "ErrorsQuery":
        if self.last is not None and (self.from_ is not None or self.to is not None):
            raise ValueError("give last, or from (and to), not both")
        if self.to is not None and self.from_ is None:
            raise ValueError("to needs from")
        return self

    def range(self, now: datetime) -> tuple[datetime, datetime]:
        if self.from_ is not None:
            return moment(self.from_), moment(self.to) if self.to else now
        last = self.last or "7d"
        return now - int(last[:-1]) * _UNITS[last[-1]], now


class ErrorStateRequest(Model):
    state: State
    project_id: Optional[str] = Field(None, description="Project id (`p_…`) or slug; must agree with "
                                                        "X-Reactor-Project.")


class ErrorGroup(Answer):
    fingerprint: str
    type: str
    message: str
    count: int = Field(ge=1, description="Occurrences in the range.")
    users: int = Field(ge=1, description="Distinct persons (distinct ids) it happened to in the range.")
    first_seen: Timestamp
    last_seen: Timestamp
    state: State

    @classmethod
    def of(cls, row: dict) -> "ErrorGroup":
        return cls(**{name: row[name] for name in cls.model_fields})


class ErrorGroupState(Answer):
    fingerprint: str
    type: str
    message: str
    first_seen: Timestamp
    last_seen: Timestamp
    state: State

    @classmethod
    def of(cls, row: dict) -> "ErrorGroupState":
        return cls(**{name: row[name] for name in cls.model_fields})
