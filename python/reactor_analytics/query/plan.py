"""A query request (SPEC "Query"), validated and normalised into the plan the engine runs.

Everything a client can get wrong is caught here and answered 400 with a code; the engine
receives only well-formed plans with times already resolved to epoch microseconds.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..config import AnalyticsConfig
from ..errors import invalid

KINDS = ("events", "aggregate", "funnel", "retention", "breakdown", "path")
OPERATORS = ("eq", "neq", "in", "gt", "gte", "lt", "lte", "contains", "exists")
MEASURES = ("count", "unique_users")
PROPERTY_MEASURES = ("sum", "avg", "min", "max", "percentile")
BUCKETS = ("1h", "1d", "1w", "1mo")
_DURATION = re.compile(r"^(\d{1,5})(s|m|h|d|w)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_COMMON = {"project_id", "kind", "time_range", "timezone", "filter"}
_FIELDS = {
    "events": {"limit"},
    "aggregate": {"measure", "group_by", "time_bucket"},
    "funnel": {"steps", "conversion_window", "group_by", "order"},
    "retention": {"cohort_event", "return_event", "period", "periods"},
    "breakdown": {"prop", "measure", "limit"},
    "path": {"start_event", "end_event", "depth", "limit"},
}
MAX_STEPS = 20
MAX_FILTER_DEPTH = 12
MAX_FILTER_NODES = 200
MAX_GROUP_BY = 3
DEFAULT_WINDOW = "14d"


def _bad(code: str, message: str, **extra) -> Exception:
    return invalid(f"analytics.query.{code}", message, **extra)


def duration_seconds(value: object, field: str) -> int:
    if not isinstance(value, str) or not (m := _DURATION.match(value.strip())):
        raise _bad("invalid_duration", f"{field} must be a duration such as 30m, 12h, 7d or 4w", field=field)
    seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if seconds <= 0:
        raise _bad("invalid_duration", f"{field} must be positive", field=field)
    return seconds


def _instant(value: object, field: str) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise _bad("invalid_time_range", f"time_range.{field} must be an ISO-8601 time", field=f"time_range.{field}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _bad("invalid_time_range", f"time_range.{field} must be an ISO-8601 time",
                   field=f"time_range.{field}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _string(body: dict, name: str, required: bool = True, max_len: int = 200) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise _bad("invalid_field", f"{name} must be a non-empty string", field=name)
    return value


def _int(body: dict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _bad("invalid_field", f"{name} must be an integer from {low} to {high}", field=name)
    return value


class FilterCompiler:
    """`{"all": […]}`, `{"any": […]}`, `{"not": f}`, `{"event": {op: v}}`,
    `{"prop": {name: {op: v}}}`, `{"trait": {name: {op: v}}}` → the engine's tagged form."""

    def __init__(self) -> None:
        self.conditions = 0

    def compile(self, node: object, depth: int = 0, where: str = "filter") -> dict:
        # The limit is on conditions (event, prop, trait), as documented: all/any/not around them
        # do not count (the depth limit bounds them by 12 per condition), so an `all` of 200 passes.
        if isinstance(node, dict) and len(node) == 1 and next(iter(node)) in ("event", "prop", "trait"):
            self.conditions += 1
        if depth > MAX_FILTER_DEPTH or self.conditions > MAX_FILTER_NODES:
            raise _bad("filter_too_complex", f"filters may nest {MAX_FILTER_DEPTH} deep and hold "
                       f"{MAX_FILTER_NODES} conditions", field=where)
        if not isinstance(node, dict) or len(node) != 1:
            raise _bad("invalid_filter", "each filter is an object with exactly one key", field=where)
        (key, value), = node.items()
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise _bad("invalid_filter", f"{key} takes a non-empty list", field=where)
            return {key: [self.compile(v, depth + 1, f"{where}.{key}[{i}]") for i, v in enumerate(value)]}
        if key == "not":
            return {"not": self.compile(value, depth + 1, f"{where}.not")}
        if key == "event":
            op, operand = self._condition(value, f"{where}.event", event=True)
            return {"event": {"op": op, "value": operand}}
        if key in ("prop", "trait"):
            if not isinstance(value, dict) or len(value) != 1:
                raise _bad("invalid_filter", f"{key} takes one property name with its condition", field=where)
            (name, condition), = value.items()
            if not name or len(name) > 200:
                raise _bad("invalid_filter", "property names are 1 to 200 characters", field=where)
            op, operand = self._condition(condition, f"{where}.{key}.{name}")
            return {key: {"name": name, "op": op, "value": operand}}
        raise _bad("invalid_filter", f"unknown filter key {key[:40]!r}; use all, any, not, event, prop or trait",
                   field=where)

    @staticmethod
    def _condition(value: object, where: str, event: bool = False) -> tuple[str, object]:
        if not isinstance(value, dict) or len(value) != 1:
            raise _bad("invalid_filter", "a condition is one operator with its operand", field=where)
        (op, operand), = value.items()
        allowed = ("eq", "neq", "in") if event else OPERATORS
        if op not in allowed:
            raise _bad("unknown_operator", f"unknown operator {op[:20]!r}; use {', '.join(allowed)}", field=where)
        scalar = (str, int, float, bool)
        if op in ("eq", "neq") and (not isinstance(operand, scalar) or (event and not isinstance(operand, str))):
            raise _bad("invalid_filter", f"{op} takes a string, number or boolean", field=where)
        if op == "in" and (not isinstance(operand, list) or not operand or len(operand) > 1000
                           or not all(isinstance(v, scalar) for v in operand)):
            raise _bad("invalid_filter", "in takes a list of 1 to 1000 values", field=where)
        if op in ("gt", "gte", "lt", "lte") and (not isinstance(operand, (int, float)) or isinstance(operand, bool)):
            raise _bad("invalid_filter", f"{op} takes a number", field=where)
        if op == "contains" and not isinstance(operand, str):
            raise _bad("invalid_filter", "contains takes a string", field=where)
        if op == "exists" and not isinstance(operand, bool):
            raise _bad("invalid_filter", "exists takes true or false", field=where)
        return op, operand


def _group_by(value: object) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_GROUP_BY:
        raise _bad("invalid_field", f"group_by is a list of at most {MAX_GROUP_BY} entries", field="group_by")
    out = []
    for entry in value:
        if not isinstance(entry, dict) or len(entry) != 1 or next(iter(entry)) not in ("prop", "trait"):
            raise _bad("invalid_field", 'group_by entries are {"prop": name} or {"trait": name}', field="group_by")
        (source, name), = entry.items()
        if not isinstance(name, str) or not name or len(name) > 200:
            raise _bad("invalid_field", "group_by names are non-empty strings", field="group_by")
        out.append({"source": source, "name": name})
    return out


def _measure(value: object) -> dict:
    if value is None:
        return {"kind": "count"}
    if isinstance(value, str) and value in MEASURES:
        return {"kind": value}
    if isinstance(value, dict) and len(value) == 1:
        (kind, arg), = value.items()
        if kind in ("sum", "avg", "min", "max") and isinstance(arg, str) and arg:
            return {"kind": kind, "prop": arg}
        if kind == "percentile" and isinstance(arg, dict) and set(arg) == {"prop", "p"} \
                and isinstance(arg["prop"], str) and isinstance(arg["p"], (int, float)) \
                and not isinstance(arg["p"], bool) and 0 <= arg["p"] <= 1:
            return {"kind": "percentile", "prop": arg["prop"], "p": float(arg["p"])}
    raise _bad("invalid_measure", 'measure is "count", "unique_users", {"sum"|"avg"|"min"|"max": prop} or '
               '{"percentile": {"prop": name, "p": 0.9}}', field="measure")


def build(body: dict, project_id: str, limits: AnalyticsConfig, now: float | None = None) -> dict:
    """The engine plan for a request body whose project was already authorised."""
    kind = body.get("kind")
    if kind not in KINDS:
        raise _bad("unknown_kind", f"kind must be one of {', '.join(KINDS)}", field="kind")
    for name in body:
        if name not in _COMMON | _FIELDS[kind]:
            raise _bad("unknown_field", f"unknown field {name[:60]!r} for kind {kind}", field=name[:60])
    now = time.time() if now is None else now
    now_dt = datetime.fromtimestamp(now, timezone.utc)
    time_range = body.get("time_range", {"last": "30d"})
    if not isinstance(time_range, dict):
        raise _bad("invalid_time_range", 'time_range is {"last": "30d"} or {"from": …, "to": …}', field="time_range")
    if set(time_range) == {"last"}:
        start, end = now - duration_seconds(time_range["last"], "time_range.last"), now
    elif "from" in time_range and set(time_range) <= {"from", "to"}:
        start = _instant(time_range["from"], "from").timestamp()
        end = _instant(time_range["to"], "to").timestamp() if "to" in time_range else now
    else:
        raise _bad("invalid_time_range", 'time_range is {"last": "30d"} or {"from": …, "to": …}', field="time_range")
    if end <= start:
        raise _bad("invalid_time_range", "time_range must end after it starts", field="time_range")
    max_days = limits.raw_query_max_days if kind == "events" else limits.query_max_days
    if end - start > max_days * 86400:
        raise _bad("range_too_large", f"{kind} queries cover at most {max_days} days", field="time_range",
                   limit_days=max_days)
    tz = body.get("timezone", "UTC")
    try:
        if not isinstance(tz, str) or len(tz) > 64:
            raise ZoneInfoNotFoundError
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad("invalid_timezone", "timezone must be an IANA name such as Europe/Berlin", field="timezone") \
            from None
    plan: dict = {"project": project_id, "kind": kind, "from_us": int(start * 1e6), "to_us": int(end * 1e6),
                  "now_us": int(now_dt.timestamp() * 1e6), "timezone": tz,
                  "max_rows_scanned": limits.query_max_rows_scanned}
    if body.get("filter") is not None:
        plan["filter"] = FilterCompiler().compile(body["filter"])
    getattr(_Kinds, kind)(body, plan)
    return plan


class _Kinds:
    @staticmethod
    def events(body: dict, plan: dict) -> None:
        plan["limit"] = _int(body, "limit", 100, 1, 1000)

    @staticmethod
    def aggregate(body: dict, plan: dict) -> None:
        plan["measure"] = _measure(body.get("measure"))
        plan["group_by"] = _group_by(body.get("group_by"))
        bucket = body.get("time_bucket")
        if bucket is not None and bucket not in BUCKETS:
            raise _bad("invalid_field", f"time_bucket must be one of {', '.join(BUCKETS)}", field="time_bucket")
        plan["time_bucket"] = bucket
        if bucket == "1h" and plan["to_us"] - plan["from_us"] > 31 * 86400 * 10**6:
            raise _bad("too_many_buckets", "hourly buckets cover at most 31 days", field="time_bucket")

    @staticmethod
    def funnel(body: dict, plan: dict) -> None:
        steps = body.get("steps")
        if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
            raise _bad("invalid_steps", f"steps is a list of 1 to {MAX_STEPS} steps", field="steps",
                       limit=MAX_STEPS)
        compiled = []
        for i, step in enumerate(steps):
            if not isinstance(step, dict) or not set(step) <= {"event", "filter"} or "event" not in step:
                raise _bad("invalid_steps", 'each step is {"event": name, "filter"?: …}', field=f"steps[{i}]")
            if not isinstance(step["event"], str) or not step["event"] or len(step["event"]) > 200:
                raise _bad("invalid_steps", "a step's event is a non-empty string", field=f"steps[{i}].event")
            entry = {"event": step["event"]}
            if step.get("filter") is not None:
                entry["filter"] = FilterCompiler().compile(step["filter"], where=f"steps[{i}].filter")
            compiled.append(entry)
        plan["steps"] = compiled
        plan["window_us"] = duration_seconds(body.get("conversion_window", DEFAULT_WINDOW), "conversion_window") \
            * 10**6
        if plan["window_us"] > 365 * 86400 * 10**6:
            raise _bad("invalid_duration", "conversion_window is at most 365d", field="conversion_window")
        order = body.get("order", "sequential")
        if order not in ("sequential", "strict"):
            raise _bad("invalid_field", "order is sequential or strict", field="order")
        plan["strict"] = order == "strict"
        plan["group_by"] = _group_by(body.get("group_by"))

    @staticmethod
    def retention(body: dict, plan: dict) -> None:
        plan["cohort_event"] = _string(body, "cohort_event")
        plan["return_event"] = _string(body, "return_event", required=False) or plan["cohort_event"]
        period = body.get("period", "week")
        if period not in ("day", "week"):
            raise _bad("invalid_field", "period is day or week", field="period")
        plan["period"] = period
        plan["periods"] = _int(body, "periods", 4, 1, 90)

    @staticmethod
    def breakdown(body: dict, plan: dict) -> None:
        plan["prop"] = _string(body, "prop")
        plan["measure"] = _measure(body.get("measure"))
        plan["limit"] = _int(body, "limit", 10, 1, 1000)

    @staticmethod
    def path(body: dict, plan: dict) -> None:
        start, end = body.get("start_event"), body.get("end_event")
        if (start is None) == (end is None):
            raise _bad("invalid_field", "name exactly one of start_event and end_event", field="start_event")
        if start is not None:
            plan["start_event"] = _string(body, "start_event")
        else:
            plan["end_event"] = _string(body, "end_event")
        plan["depth"] = _int(body, "depth", 5, 1, 20)
        plan["limit"] = _int(body, "limit", 10, 1, 1000)
