"""The pieces every translated query kind is made of: a query body read (time range, time zone,
filter), the rows of one project with each row's person, a property's value as text, and a
filter as a ClickHouse expression. Every value the client sent is a query parameter
(`{name:Type}`, bound by the server), never SQL text.

Values follow README "Queries" / "Semantics": a property's value is its text (a string as is,
`true` / `false`, a number as written, an object or array as compact JSON), a prop naming a hot
column reads the column and falls back to the property; a number is the text read as a finite
float; a person is the user an anonymous id is linked to (`person_map`, the newest link), else the
event's distinct id; a trait is the person's (`person_traits`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from .schema import HOT

US = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass
class Params:
    """The query's parameters: `add` returns the placeholder of a new one."""
    values: dict = field(default_factory=dict)

    def add(self, value, kind: str) -> str:
        name = f"v{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{kind}}}"


def instant_us(text: str) -> int:
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return (parsed - EPOCH) // timedelta(microseconds=1)


def duration_us(text: str) -> int:
    return int(text[:-1]) * UNIT_SECONDS[text[-1]] * US


@dataclass
class Body:
    """A query body the native planner has validated, read with the documented defaults; times in
    epoch µs, the range [lo, hi)."""
    raw: dict
    kind: str
    lo: int
    hi: int
    now: int
    tz: str
    filter: dict | None

    def get(self, name: str, default=None):
        value = self.raw.get(name)
        return default if value is None else value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


def read_body(raw: dict, now_us: int) -> Body:
    time_range = raw.get("time_range") or {"last": "30d"}
    if "last" in time_range:
        lo, hi = now_us - duration_us(time_range["last"]), now_us
    else:
        lo = instant_us(time_range["from"])
        hi = instant_us(time_range["to"]) if time_range.get("to") else now_us
    return Body(raw=raw, kind=raw["kind"], lo=lo, hi=hi, now=now_us, tz=raw.get("timezone") or "UTC",
                filter=raw.get("filter"))


# --- values ----------------------------------------------------------------------------------------

def member_text(members: str, key: str) -> str:
    """The text of member `key` of a `Map(String, String)` of a JSON object's members (`props`,
    `traits`), NULL when missing or null."""
    return f"if(mapContains({members}, {key}), {members}[{key}], NULL)"


def label(params: Params, source: str, name: str) -> str:
    """A row's value of `{"prop": name}` or `{"trait": name}` as Nullable(String)."""
    key = params.add(name, "String")
    if source == "trait":
        return member_text("traits", key)
    if name in HOT:
        return f"coalesce(nullIf({name}, ''), {member_text('props', key)})"
    return member_text("props", key)


def number(text_sql: str) -> str:
    """The text as a finite Float64, else NULL."""
    return f"(if(isFinite(toFloat64OrNull(trimBoth({text_sql}))), toFloat64OrNull(trimBoth({text_sql})), NULL))"


def value_text(value) -> str | None:
    """A filter operand as a property's value would read."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.1f}" if value == int(value) and abs(value) < 1e17 else repr(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _equals(params: Params, lab: str, value) -> str:
    text = value_text(value)
    same = "0" if text is None else f"({lab} = {params.add(text, 'String')})"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"(coalesce({number(lab)} = {params.add(float(value), 'Float64')}, 0) OR coalesce({same}, 0))"
    return f"coalesce({same}, 0)"


def condition(params: Params, lab: str, op: str, value) -> str:
    if op == "exists":
        return f"(({lab}) IS NOT NULL) = {1 if value else 0}"
    if op == "neq":
        return f"NOT ({condition(params, lab, 'eq', value)})"
    if op == "eq":
        return _equals(params, lab, value)
    if op == "in":
        return "(" + " OR ".join([_equals(params, lab, v) for v in value] or ["0"]) + ")"
    if op == "contains":
        return f"coalesce(position({lab}, {params.add(value_text(value) or '', 'String')}) > 0, 0)"
    sign = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
    return f"coalesce({number(lab)} {sign} {params.add(float(value), 'Float64')}, 0)"


def filter_sql(params: Params, f: dict | None, props: dict[str, str] | None = None) -> str:
    """A filter as written by the client, as a ClickHouse condition (0 or 1, never NULL).
    `props`: a value expression for some `prop` names, read instead of the event's (web queries
    read a visit's dimensions so)."""
    if f is None:
        return "1"
    (key, value), = f.items()
    if key == "all":
        return "(" + " AND ".join(filter_sql(params, x, props) for x in value) + ")"
    if key == "any":
        return "(" + " OR ".join(filter_sql(params, x, props) for x in value) + ")"
    if key == "not":
        return f"NOT ({filter_sql(params, value, props)})"
    if key == "event":
        (op, operand), = value.items()
        return condition(params, "event", op, operand)
    (name, cond), = value.items()
    (op, operand), = cond.items()
    if key == "prop" and props and name in props:
        return condition(params, props[name], op, operand)
    return condition(params, label(params, key, name), op, operand)


def uses_traits(*parts) -> bool:
    """Whether a filter or group_by names a trait."""
    return any('"trait"' in json.dumps(part) for part in parts if part is not None)


# --- rows --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tables:
    """The names queries read (on a cluster, `events` is the Distributed table)."""
    events: str = "events"
    person_map: str = "person_map"
    person_traits: str = "person_traits"


def rows(params: Params, tables: Tables, project_id: str, lo: int | None, hi: int | None,
         traits: bool = False, persons: bool = True) -> str:
    """A subquery of the project's events with `lo <= ts < hi` (µs; None: unbounded): each with
    its `person` (unless `persons` is False and no trait is read: the person map is not joined
    then), and its `traits` when asked, deduplicated (`FINAL`)."""
    project = params.add(project_id, "String")
    where = [f"e.project_id = {project}"]
    if lo is not None:
        where.append(f"e.ts >= fromUnixTimestamp64Micro({params.add(lo, 'Int64')}, 'UTC')")
    if hi is not None:
        where.append(f"e.ts < fromUnixTimestamp64Micro({params.add(hi, 'Int64')}, 'UTC')")
    columns = ", ".join(f"e.{name} AS {name}" for name in HOT)
    head = (f"SELECT e.seq AS seq, e.event AS event, e.ts AS ts, toUnixTimestamp64Micro(e.ts) AS ts_us, "
            f"e.distinct_id AS distinct_id, e.props AS props, {columns}")
    if not persons and not traits:
        return f"({head} FROM {tables.events} AS e FINAL WHERE {' AND '.join(where)})"
    base = (f"{head}, if(m.user_id = '', e.distinct_id, m.user_id) AS person "
            f"FROM {tables.events} AS e FINAL "
            f"LEFT JOIN (SELECT anonymous_id, argMax(user_id, seq) AS user_id FROM {tables.person_map} "
            f"WHERE project_id = {project} GROUP BY anonymous_id) AS m ON m.anonymous_id = e.distinct_id "
            f"WHERE {' AND '.join(where)}")
    if not traits:
        return f"({base})"
    return (f"(SELECT b.*, t.traits AS traits FROM ({base}) AS b "
            f"LEFT JOIN (SELECT user_id, argMax(trait_values, seq) AS traits FROM {tables.person_traits} "
            f"WHERE project_id = {project} GROUP BY user_id) AS t ON t.user_id = b.person)")
