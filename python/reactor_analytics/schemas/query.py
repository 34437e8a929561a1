"""The query body, one schema per `kind`, for the OpenAPI document only: the native query plan
(`native/core/src/engine/plan/`) reads and validates the body, and these models say what it
takes (`null` stands for a left-out field where the plan reads it so).

What JSON Schema cannot say is said in the descriptions: a range may not end before it starts,
reaches back at most `[analytics] query_max_days` (`raw_query_max_days` for `events`), and
hourly buckets cover at most 31 days; a filter nests at most 12 deep with at most 200
conditions.
"""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import ConfigDict, Field, StringConstraints, WithJsonSchema
from typing_extensions import TypeAliasType

from . import Answer, Model
from .types import DATE_TIME

Name = Annotated[str, StringConstraints(min_length=1, max_length=200), Field(description="1 to 200 characters.")]


def _up_to(n: int) -> str:
    """A regex of the integers 1..n written without leading zeros."""
    digits = str(n)
    parts = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for i, d in enumerate(digits):  # same length as n: a prefix of n, then a smaller digit, then anything
        low = "1" if i == 0 else "0"
        if int(d) > int(low):
            rest = len(digits) - i - 1
            parts.append(f"{digits[:i]}[{low}-{int(d) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    parts.append(digits)
    return "(?:" + "|".join(parts) + ")"


_DURATION = r"^[1-9][0-9]{0,4}[smhdw]$"
# A conversion window is at most 365 days.
_WINDOW = rf"^(?:[1-9][0-9]{{0,4}}[sm]|{_up_to(365 * 24)}h|{_up_to(365)}d|{_up_to(52)}w)$"
Duration = Annotated[str, StringConstraints(pattern=_DURATION), Field(
    description="1 to 5 digits and s, m, h, d or w, such as 30m, 12h, 7d or 4w.")]
Window = Annotated[str, StringConstraints(pattern=_WINDOW), Field(description="A duration of at most 365 days.")]
# A day, a day and a time to the minute, or a full date-time, as `Instant::parse` reads them.
_SECONDS = r":[0-5][0-9](?:[.,][0-9]{1,9})?"
_INSTANT = (DATE_TIME.replace(":[0-5][0-9]" + _SECONDS, f":[0-5][0-9](?:{_SECONDS})?")
            .replace("[Tt ]", "(?:[Tt ]", 1).removesuffix("$") + ")?$")
Instant = Annotated[str, StringConstraints(pattern=_INSTANT), Field(
    description="A day (`2026-01-31`, midnight UTC) or an RFC 3339 date-time; no zone means UTC.")]
TimeZone = TypeAliasType("TimeZone", Annotated[str, WithJsonSchema({
    "type": "string", "enum": sorted(zoneinfo.available_timezones() - {"Factory", "localtime"}),
    "description": "An IANA time zone name; default UTC."})])


class Last(Model):
    last: Duration


class Between(Model):
    from_: Instant = Field(alias="from")
    to: Instant = Field(None, description="Default: now.")


TimeRange = Annotated[Union[Last, Between], Field(description='Default {"last": "30d"}. Ends after it starts.')]

Scalar = Union[str, float, bool]
Values = Annotated[list[Scalar], Field(min_length=1, max_length=1000)]


def _op(prefix: str, name: str, operand: Any) -> type:
    """`{name: operand}`, one operator of a condition (`in` is no Python name: hence a made class)."""
    namespace = {"__annotations__": {name: operand}, "__module__": __name__}
    return type(f"{prefix}{name.capitalize()}", (Model,), namespace)


_OPERATORS = tuple(_op("Op", name, operand) for name, operand in (
    ("eq", Scalar), ("neq", Scalar), ("in", Values), ("gt", float), ("gte", float), ("lt", float), ("lte", float),
    ("contains", str), ("exists", bool)))
_EVENT_OPERATORS = tuple(_op("Event", name, operand) for name, operand in (("eq", str), ("neq", str), ("in", Values)))
Cond = Annotated[Union[_OPERATORS], Field(description="One operator and its operand.")]
EventCond = Union[_EVENT_OPERATORS]
Named = Annotated[dict[Name, Cond], Field(min_length=1, max_length=1, description="{name: {op: value}}")]

class All(Model):
    all: list[Filter] = Field(min_length=1)


class AnyOf(Model):
    any: list[Filter] = Field(min_length=1)


class Not(Model):
    not_: Filter = Field(alias="not")


class EventIs(Model):
    event: EventCond


class PropIs(Model):
    prop: Named


class TraitIs(Model):
    trait: Named


Filter = TypeAliasType("Filter", Annotated[Union[All, AnyOf, Not, EventIs, PropIs, TraitIs], Field(
    description="At most 12 deep and 200 conditions (event, prop, trait).")])


class ByProp(Model):
    prop: Name


class ByTrait(Model):
    trait: Name


GroupBy = Annotated[list[Union[ByProp, ByTrait]], Field(max_length=3)]


class Percentile(Model):
    prop: Name
    p: float = Field(ge=0, le=1)


class Sum(Model):
    sum: Name


class Avg(Model):
    avg: Name


class Min(Model):
    min: Name


class Max(Model):
    max: Name


class PercentileOf(Model):
    percentile: Percentile


Measure = Annotated[Union[Literal["count", "unique_users"], Sum, Avg, Min, Max, PercentileOf], Field(
    description='"count" (default), "unique_users", {"sum"|"avg"|"min"|"max": prop} or '
                '{"percentile": {"prop": name, "p": 0.9}}')]
AggregateMeasure = Annotated[Union[Literal["count", "unique_users", "dau", "wau", "mau"], Sum, Avg, Min, Max,
                                   PercentileOf], Field(
    description='A breakdown measure, or "dau" / "wau" / "mau": persons active in the 1 / 7 / 30 days ending at '
                'each bucket\'s end (with time_bucket "1d" only).')]
Limit = Annotated[int, Field(ge=1, le=1000)]


class _Query(Model):
    project_id: Optional[str] = Field(None, description="Project id (`p_…`) or slug; must agree with "
                                                        "X-Reactor-Project.")
    time_range: TimeRange = None
    timezone: TimeZone = None
    filter: Optional[Filter] = None


class EventsQuery(_Query):
    """Raw events, newest first."""
    kind: Literal["events"]
    limit: Limit = Field(None, description="Default 100.")


class AggregateQuery(_Query):
    kind: Literal["aggregate"]
    measure: Optional[AggregateMeasure] = None
    group_by: Optional[GroupBy] = None
    time_bucket: Optional[Literal["1h", "1d", "1w", "1mo"]] = None


class Step(Model):
    event: Name
    filter: Optional[Filter] = None


class FunnelQuery(_Query):
    kind: Literal["funnel"]
    steps: list[Step] = Field(min_length=1, max_length=20)
    conversion_window: Window = Field(None, description="Default 14d; at most 365 days.")
    order: Literal["sequential", "strict"] = None
    group_by: Optional[GroupBy] = None


class RetentionQuery(_Query):
    kind: Literal["retention"]
    cohort_event: Name
    return_event: Optional[Name] = Field(None, description="Default: the cohort event.")
    period: Literal["day", "week"] = Field(None, description="Default week.")
    periods: int = Field(None, ge=1, le=90, description="Default 4.")


class BreakdownQuery(_Query):
    kind: Literal["breakdown"]
    prop: Name
    measure: Optional[Measure] = None
    limit: Limit = Field(None, description="Default 10.")


class PathQuery(_Query):
    """Journeys after the first `start_event` or up to the first `end_event`: exactly one of them."""
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": ["start_event"], "properties": {"start_event": {"type": "string"}, "end_event": {"type": "null"}}},
        {"required": ["end_event"], "properties": {"end_event": {"type": "string"}, "start_event": {"type": "null"}}}]})

    kind: Literal["path"]
    start_event: Optional[Name] = None
    end_event: Optional[Name] = None
    depth: int = Field(None, ge=1, le=20, description="Default 5.")
    limit: Limit = Field(None, description="Default 10.")


WebMetric = Literal["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration",
                    "time_on_page"]
WebDimension = Literal["page", "entry_page", "exit_page", "hostname", "referrer", "source", "utm_source", "utm_medium",
                       "utm_campaign", "browser", "os", "device", "country", "language"]


class WebQuery(_Query):
    """Visits (30 minutes idle) and their metrics: one row, a row per `time_bucket`, or a row per
    `dimension` value (not both). In `filter`, a property named like a dimension is the visit's
    (`page` is the event's path). `compare` needs a closed range."""
    kind: Literal["web"]
    metrics: Optional[list[WebMetric]] = Field(None, min_length=1, max_length=7, json_schema_extra={"uniqueItems": True},
                                               description="Default: all seven.")
    dimension: Optional[WebDimension] = None
    time_bucket: Optional[Literal["1h", "1d", "1w", "1mo"]] = None
    limit: Limit = Field(None, description="Rows with a dimension; default 10.")
    compare: Optional[Literal["previous_period", "year_over_year"]] = None


class RealtimeQuery(_Query):
    """Persons with an event in the last five minutes and their top pages (`time_range` is ignored)."""
    kind: Literal["realtime"]


class SummaryQuery(_Query):
    """Total events, persons active in the range's last 1 / 7 / 30 days, the top 10 events."""
    kind: Literal["summary"]


QueryRequest = Annotated[Union[EventsQuery, AggregateQuery, FunnelQuery, RetentionQuery, BreakdownQuery, PathQuery,
                               WebQuery, RealtimeQuery, SummaryQuery], Field(discriminator="kind")]


class QueryMeta(Answer):
    took_ms: float
    rows_scanned: int


class QueryResult(Answer):
    kind: str
    rows: list[Any] = Field(description="Shape by kind: see the README's Queries section.")
    comparison: Optional[list[Any]] = Field(None, description="`web` with `compare`: the rows of the earlier range.")
    meta: QueryMeta
