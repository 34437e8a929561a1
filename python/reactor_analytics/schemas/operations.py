"""What the operations endpoints answer, and the one error shape of every endpoint."""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from . import Answer

# `since`: empty (none), a duration (days at most 5 digits, so the time stays after year 1), or an ISO-8601 day
# or date-time with seconds, as `datetime.fromisoformat` reads it.
SINCE = (r"^(?:[0-9]{1,6}[smh]|[0-9]{1,5}d|(?:19|2[0-9])[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
         r"(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?)$")

Status = Literal["ok", "error"]


class ErrorDetail(Answer):
    model_config = ConfigDict(extra="allow")

    code: str = Field(pattern=r"^analytics\.")
    message: str
    field: Optional[str] = None
    limit_bytes: Optional[int] = None
    limit: Optional[int] = None


class Error(Answer):
    """`{"error": {"code": "analytics.…", "message": "…", …}}`, the answer of every refusal."""
    error: ErrorDetail


class Health(Answer):
    status: Status
    capabilities: dict[str, Status]
    parts: dict[str, Status]
    failing: Optional[list[str]] = Field(None, description="The parts that are not ok (only when some are not).")


class Check(Answer):
    model_config = ConfigDict(extra="allow")

    name: str
    status: Status
    latency_ms: float


class DoctorReport(Answer):
    status: Status
    version: str
    checks: list[Check]


class Doctor(Answer):
    analytics: DoctorReport


class Version(Answer):
    reactor: str
    capabilities: dict[str, str]


class LogsQuery(BaseModel):
    """The query string of GET /_admin/logs (other parameters are ignored)."""
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    follow: Literal["true", "false", "1", "0", "yes", "no"] = Field(
        "false", description="Keep the stream open (bounded by `[tracing] log_stream_seconds`).")
    since: Union[Literal[""], Annotated[str, StringConstraints(pattern=SINCE)]] = Field(
        None, description="A duration back from now (15m, 1h, 2d) or an ISO-8601 time (no zone means UTC).")
    capability: str = Field(None, description="Only lines of this capability (`analytics`, …).")
    level: Literal["trace", "debug", "info", "warning", "warn", "error", "critical"] = Field(
        None, description="Only lines at this level or above.")

    @property
    def following(self) -> bool:
        return self.follow in ("true", "1", "yes")
