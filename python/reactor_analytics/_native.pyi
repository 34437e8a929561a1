"""Type stubs for the Rust core (native/py → reactor-core).

Python hands whole request bodies across in one call; the core validates, normalises and
encodes every event, and answers with COPY text rows plus per-index rejections.
"""

import os
from typing import Final, Literal

RequestKindName = Literal["track", "batch", "identify", "alias"]

#: The columns of `events` that ingest writes, in the order of `EncodedBatch.copy_rows`.
EVENT_COLUMNS: Final[tuple[str, ...]]
#: The text columns the query engine holds per row (a slice of `EVENT_COLUMNS`, in order): a
#: filter or group_by `{"prop": name}` on one of them reads the column before the property.
HOT_COLUMNS: Final[tuple[str, ...]]
#: `$` event names that are allowed; any other `$` name is rejected as `system_reserved`.
SYSTEM_EVENTS: Final[tuple[str, ...]]

class IngestError(ValueError):
    """The whole body was refused; nothing in it is stored.

    ``args == (code, message)``. Codes: ``analytics.invalid_json``,
    ``analytics.invalid_request``, ``analytics.batch.too_many_events``.
    """

    code: str
    message: str

class EncodedBatch:
    #: COPY text-format rows (tab separated, ``\\N`` for NULL), one line per accepted event,
    #: columns as in `EVENT_COLUMNS`.
    copy_rows: bytes
    accepted: int
    #: Sorted by index: ``{"index": i, "reason": code, "message": text, **extras}``;
    #: extras are ``field`` (unknown_field, missing_field, invalid_field, invalid_timestamp)
    #: ``limit_bytes`` (properties_too_large) and ``hostname`` (invalid_source).
    rejected: list[dict[str, str | int]]
    #: (anonymous_id, user_id) identity links from accepted ``$identify`` / ``$alias`` events.
    links: list[tuple[str, str]]
    #: (user_id, traits as compact JSON object text) from accepted ``$identify`` events.
    traits: list[tuple[str, str]]
    #: The user_ids of accepted events, sorted, each once: ids that are users from now on.
    users: list[str]
    #: One per error group of the accepted ``$error`` events, sorted by fingerprint:
    #: (fingerprint, type, message, count, first ts, last ts), times in epoch microseconds.
    errors: list[tuple[str, str, str, int, int, int]]
    #: Page hostnames accepted because the project registers sources as they report.
    new_sources: list[str]

class ParsedRequest:
    #: Top-level ``project_id`` of the body (the event's own for track/identify/alias,
    #: the envelope's for batch).
    project_id: str | None
    #: Top-level ``key`` or ``api_key`` of the body (a project public key, for sendBeacon).
    key: str | None
    #: Distinct anonymous_ids of the events that passed validation, first-seen order.
    anonymous_ids: list[str]
    #: The same as a PostgreSQL ``text[]`` literal, for a query parameter cast with ``::text[]``.
    anonymous_ids_array: str
    #: Number of events in the request (1 for track/identify/alias).
    event_count: int
    #: Whether an event is cookieless (no ids, ``context.cookieless: true``): ``encode`` then
    #: needs ``cookieless_salt``.
    cookieless: bool

    def encode(self, project_id: str, project_slug: str, opted_out: list[str], *,
               sources: list[str] = ..., auto_register_sources: bool = False,
               cookieless_salt: bytes | None = None) -> EncodedBatch:
        """COPY rows for the project the request was authorised for.

        Events naming another project (neither ``project_id`` nor ``project_slug``) are
        rejected ``project_mismatch``; with ``sources`` (lowercase hostnames), events whose
        page hostname is not one of them are rejected ``invalid_source`` (``hostname``) unless
        ``auto_register_sources``, which takes them and lists the hostname in ``new_sources``;
        cookieless events get an anonymous_id keyed with ``cookieless_salt`` (without it they
        are rejected ``missing_field``); events whose anonymous_id is in ``opted_out`` are
        rejected ``opted_out``.
        """

def batch_body_from_proto(data: bytes) -> bytes:
    """The `/batch` JSON body of a serialized gRPC `BatchRequest`: its events with empty fields
    left out (the name always stays), `sent_at`, and `project` as `project_id`. Properties and
    context are embedded as sent and must each be one JSON value (`analytics.invalid_json`);
    bytes that are not a `BatchRequest` raise `IngestError` `analytics.invalid_request`."""

def dropin_body(
    source: Literal["posthog", "segment"] | str,
    body: bytes,
    *,
    received_at_ms: int,
    sent_at_ms: int | None = None,
    call: str | None = None,
) -> tuple[bytes, str | None]:
    """A PostHog or Segment capture body (decompressed) as the `/batch` JSON body, and the project
    key it carries (PostHog `api_key` / `token`, Segment `writeKey`). PostHog takes a `{batch}`
    envelope, a bare list or one event; `sent_at_ms` is a `sent_at` sent in the URL. Segment takes
    a batch (`call` None) or one message of `call` (`track`/`t`, `identify`/`i`, `alias`/`a`,
    `page`/`p`, `screen`/`s`, `group`/`g`). Raises `IngestError` (`analytics.invalid_json`,
    `analytics.invalid_request`) for a body that is neither."""

def parse_request(
    body: bytes,
    kind: RequestKindName | str,
    *,
    received_at_ms: int,
    ip: str | None,
    user_agent: str | None,
    accept_language: str | None,
    max_properties_bytes: int = 32768,
    max_batch_events: int = 100,
    geo: GeoDb | None = None,
) -> ParsedRequest:
    """Parse and validate an ingest body; raises `IngestError` for whole-body problems.

    Per-event problems do not raise: they become rejections in `ParsedRequest.encode`'s
    result, with reasons ``invalid_event``, ``unknown_field``, ``missing_field``,
    ``invalid_field``, ``invalid_name``, ``system_reserved``, ``properties_too_large``,
    ``invalid_timestamp`` (and, at encode time, ``project_mismatch``, ``opted_out``).
    With `geo`, an event's country is that of its address (``context.ip``, else `ip`) when the
    database holds it, else that of its reported timezone. The GIL is released while parsing.
    """

class GeoDb:
    """A MaxMind DB (``.mmdb``: GeoLite2-Country, GeoIP2-Country, DB-IP country lite), read and
    verified once; raises `GeoDbError` for a missing, unreadable or corrupt file."""

    def __init__(self, path: str | os.PathLike[str]) -> None: ...
    @property
    def database_type(self) -> str: ...
    def country(self, ip: str) -> str | None:
        """ISO code of the country of `ip` (``country.iso_code``, else
        ``registered_country.iso_code``); None for private addresses and addresses not held."""

class GeoDbError(ValueError):
    """``args == (code, message)``: ``analytics.geo_db.unreadable`` or ``analytics.geo_db.invalid``."""

def truncate_ip(ip: str) -> str | None:
    """IPv4 → /24 (``203.0.113.0``), IPv6 → /48 (``2001:db8:abcd::``); None if unparsable."""

class QueryError(ValueError):
    """A query was refused (400) or ran over its row budget (504, ``analytics.query.timeout``).

    ``args == (code, message)``. Codes are README's: ``analytics.query.unknown_kind``,
    ``unknown_field``, ``invalid_field``, ``invalid_time_range``, ``invalid_duration``,
    ``range_too_large``, ``invalid_timezone``, ``invalid_filter``, ``unknown_operator``,
    ``filter_too_complex``, ``invalid_measure``, ``invalid_steps``, ``too_many_buckets``,
    ``timeout``; ``analytics.invalid_json`` and ``analytics.invalid_request`` for a body that is
    not a JSON object.
    """

    code: str
    message: str
    #: ``field`` (where the fault is: ``steps[1].event``) when known, and ``limit_days``
    #: (range_too_large) or ``limit`` (invalid_steps).
    extra: dict[str, str | int]

class QueryPlan:
    """A query body read and validated for one project (`plan_query`), ready to run."""

    kind: Literal["events", "aggregate", "funnel", "retention", "breakdown", "path"]
    project_id: str

def plan_query(
    body: bytes,
    project_id: str,
    *,
    now_us: int,
    events_max_days: int,
    max_days: int,
    max_rows_scanned: int,
) -> QueryPlan:
    """Read and validate a query body (SPEC "Query") for `project_id`, which the caller has
    authorised (the body's own ``project_id`` is not read). The time range is resolved against
    `now_us`; `events` queries cover at most `events_max_days`, others `max_days`;
    `max_rows_scanned` (0 = none) is the row budget. Raises `QueryError`; releases the GIL."""

class Engine:
    """The query engine's columnar store of every project's events (one per engine process)."""

    def __init__(self, map_min_rows: int = 16384) -> None:
        """`map_min_rows`: projects with fewer rows in segments are read into memory, not mapped."""
    def tail_position(self, name: str) -> tuple[int, list[int]]:
        """(highest seq read, seqs still missing below it) of the tail "events", "links" or "traits"."""
    def append(self, name: str, data: bytes) -> int:
        """Append COPY text rows read from a tail; returns how many rows were read."""
    def erase_person(self, project_id: str, ids: list[str], seqs: list[int]) -> tuple[int, int]:
        """Forget a person (every id linked to `ids`) and the rows `seqs`: (rows, ids) forgotten."""
    def drop_before(self, project_id: str, cutoff_us: int) -> int:
        """Retention: forget rows older than `cutoff_us` (epoch µs)."""
    def mentions(self, project_id: str, needle: str) -> bool:
        """Whether anything the project holds contains `needle`."""
    def execute(self, plan: QueryPlan) -> tuple[bytes, int, bytes | None]:
        """Run a plan: (its rows as a JSON array, the rows of the range it examined, the same rows
        over the earlier range as a JSON array for a `web` query with `compare`, else None).
        Raises `QueryError` ``analytics.query.timeout`` over the plan's row budget."""
    def stats(self) -> dict[str, int]:
        """{"projects", "rows", "bytes", "mapped_bytes", "sealed_rows"}: rows held, bytes of their
        columns in the process's memory, bytes mapped from segment files, rows in segments."""
    def open_segments(self, dir: os.PathLike | str) -> bool:
        """Replace what is held with the segments in `dir`: True when opened, False when there are
        none. Raises OSError when they cannot be used."""
    def reset(self) -> None:
        """Forget everything held."""
    @staticmethod
    def clear_segments(dir: os.PathLike | str) -> None:
        """Remove every segment file in `dir`."""
    def seal(self, dir: os.PathLike | str, mark: int) -> tuple[int, int, int]:
        """Write what is not yet in a segment to `dir`: (pieces, rows, bytes) written; `mark` is
        kept with them."""
    def segments_mark(self) -> int | None:
        """The mark the segments were last sealed or opened with."""
    @staticmethod
    def keep_one_heap() -> None:
        """Have every thread of the process allocate from one heap, whose free pages
        `release_free_memory` can give back (call first thing in the engine's process)."""
    @staticmethod
    def release_free_memory() -> None:
        """Give the heap's free pages back to the system (a query's working memory, once freed)."""
    def unsaved_derived(self) -> int:
        """Property columns and visits queries derived that the next seal would save beside the pieces."""
    def unsealed_rows(self) -> int:
        """Rows held in memory only."""
