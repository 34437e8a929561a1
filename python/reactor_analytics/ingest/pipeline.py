"""The ingest pipeline.

A request runs these steps in order; each either enriches the request or stops it with a
typed error, and the list below is the whole path from HTTP body to durable row:

    check_content_type -> honour_do_not_track -> read_body -> parse_natively ->
    authenticate -> resolve_project -> drop_opted_out -> encode_rows -> write_durably

Python never touches events one by one: the native core parses, validates and normalises the
whole body and encodes the accepted rows in PostgreSQL's COPY format; Python hands those bytes
to PostgreSQL in one transaction and acknowledges only after it commits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psycopg
from flask import Request

from .. import _native
from ..api import context
from ..auth.tokens import Principal
from ..config import Config
from ..errors import AppError, invalid, unauthenticated
from ..store import queries
from . import client_ip

_MEDIA_TYPES = {"application/json", "text/plain"}


class DoNotTrack(Exception):
    """The client asked not to be tracked: answer 204 and store nothing."""


@dataclass
class IngestResult:
    accepted: int
    rejected: list[dict] = field(default_factory=list)
    stored: int = 0


def check_content_type(request: Request) -> None:
    if request.mimetype not in _MEDIA_TYPES:
        raise AppError(415, "analytics.unsupported_media_type",
                       "send application/json (or text/plain, as navigator.sendBeacon does)")


def honour_do_not_track(request: Request, config: Config) -> None:
    if config.analytics.honor_dnt and (request.headers.get("DNT") == "1" or request.headers.get("Sec-GPC") == "1"):
        raise DoNotTrack()


def read_body(request: Request) -> bytes:
    # MAX_CONTENT_LENGTH makes an oversize body raise 413 here, before anything is parsed.
    return request.get_data(cache=False)


def parse_natively(body: bytes, kind: str, request: Request, config: Config, key_auth: bool):
    try:
        return _native.parse_request(
            body, kind,
            received_at_ms=int(time.time() * 1000),
            ip=client_ip.of(request, config.analytics.trust_proxy),
            user_agent=request.headers.get("User-Agent") if key_auth else None,
            accept_language=request.headers.get("Accept-Language") if key_auth else None,
            max_properties_bytes=config.analytics.max_properties_bytes,
            max_batch_events=config.analytics.max_batch_events,
        )
    except _native.IngestError as exc:
        code, message = exc.args[0], exc.args[1]
        extra = {"limit": config.analytics.max_batch_events} if code == "analytics.batch.too_many_events" else {}
        raise invalid(code, message, **extra) from None


def presented_key(parsed) -> str | None:
    return context.request_key() or parsed.key


def authenticate(conn, request: Request, key: str | None, parsed) -> tuple[Principal, dict | None]:
    """A project key wins for browsers; otherwise a JWT bearer with ingest permission."""
    if key:
        return context.key_principal(conn, key, parsed.anonymous_ids)
    token = context.bearer()
    if token is None:
        raise unauthenticated("send X-Reactor-Project-Key or an Authorization bearer token")
    return context.services().verifier.verify(token), None


def resolve_project(conn, request: Request, principal: Principal, key_project: dict | None, parsed) -> dict:
    header = request.headers.get("X-Reactor-Project")
    if key_project is not None:
        context.check_key_project(key_project, header, parsed.project_id)
        return key_project
    return context.project_for(conn, principal, "ingest", header, parsed.project_id)


def drop_opted_out(conn, project: dict, parsed) -> list[str]:
    if "opted_out" in project:  # looked up with the project key, in the same round trip
        return project["opted_out"]
    return queries.opted_out(conn, project["id"], parsed.anonymous_ids)


def encode_rows(project: dict, parsed, opted_out: list[str]):
    return parsed.encode(project["id"], project["slug"], opted_out)


def write_durably(conn, project: dict, encoded) -> int:
    """One transaction: events, identity links and traits. It commits before we answer.

    Events are COPYed straight into the table; only when a message_id is already stored (a
    client retry) does the transaction start over with the slower merge that skips it.
    """
    try:
        stored = queries.copy_events(conn, encoded.copy_rows) if encoded.accepted else 0
    except psycopg.errors.UniqueViolation:
        conn.rollback()
        stored = queries.merge_events(conn, encoded.copy_rows)
    queries.store_links(conn, project["id"], encoded.links)
    queries.store_traits(conn, project["id"], encoded.traits)
    conn.commit()
    return stored


def run(request: Request, kind: str) -> IngestResult:
    services = context.services()
    config = services.config
    check_content_type(request)
    honour_do_not_track(request, config)
    body = read_body(request)
    key_auth = bool(context.request_key()) or not request.headers.get("Authorization")
    parsed = parse_natively(body, kind, request, config, key_auth=key_auth)
    with services.db.connection() as conn:
        principal, key_project = authenticate(conn, request, presented_key(parsed), parsed)
        project = resolve_project(conn, request, principal, key_project, parsed)
        opted_out = drop_opted_out(conn, project, parsed)
        encoded = encode_rows(project, parsed, opted_out)
        stored = write_durably(conn, project, encoded)
    return IngestResult(accepted=encoded.accepted, rejected=list(encoded.rejected), stored=stored)
