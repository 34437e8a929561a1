"""The ingest pipeline, one code path for both transports (HTTP and gRPC).

A transport turns its request into an `IngestCall` (HTTP: `api/ingest.py`, which also checks the
media type and honours DNT / Sec-GPC; gRPC: `rpc/service.py`), then `ingest` runs these steps in
order; each either enriches the call or stops it with a typed error, and the list below is the
whole path from body to durable row:

    parse_natively -> authenticate -> resolve_project -> check_quota -> drop_opted_out ->
    salt_cookieless -> encode_rows -> write_durably

Python never touches events one by one: the native core parses, validates and normalises the
whole body and encodes the accepted rows in PostgreSQL's COPY format; Python hands those bytes
to PostgreSQL and acknowledges only after the transaction holding them commits. Concurrent
requests of a process share that transaction (`group_commit`); `write_durably` is the path of a
request written alone.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from dataclasses import dataclass, field

import psycopg

from .. import _native
from ..auth import access
from ..auth.tokens import Principal
from ..config import Config
from ..errors import AppError, invalid, unauthenticated
from ..governance import quota
from ..observability import metrics
from ..store import queries
from .group_commit import GroupCommitter


@dataclass
class IngestResult:
    accepted: int
    rejected: list[dict] = field(default_factory=list)
    stored: int = 0


@dataclass(frozen=True)
class IngestCall:
    """One ingest request, whichever transport brought it. `body` is the HTTP API's JSON body."""
    kind: str
    body: bytes
    key: str | None = None
    bearer: str | None = None
    project_header: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    accept_language: str | None = None
    deadline: float | None = None  # a time.monotonic() instant (gRPC): past it, nothing is stored
    # A project the transport itself vouches for (a pixel's own project): no credentials are read.
    trusted_project: str | None = None


def parse_natively(call: IngestCall, config: Config, geo=None):
    try:
        return _native.parse_request(
            call.body, call.kind,
            received_at_ms=int(time.time() * 1000),
            ip=call.ip,
            user_agent=call.user_agent,
            accept_language=call.accept_language,
            max_properties_bytes=config.analytics.max_properties_bytes,
            max_batch_events=config.analytics.max_batch_events,
            geo=geo,
        )
    except _native.IngestError as exc:
        code, message = exc.args[0], exc.args[1]
        extra = {"limit": config.analytics.max_batch_events} if code == "analytics.batch.too_many_events" else {}
        raise invalid(code, message, **extra) from None


def authenticate(conn, verifier, call: IngestCall, parsed) -> tuple[Principal | None, dict | None]:
    """A project key wins for browsers; otherwise a JWT bearer with ingest permission. A call for
    a trusted project (a pixel) carries no credentials: its project is the pixel's."""
    if call.trusted_project is not None:
        project = queries.find_project(conn, call.trusted_project, parsed.anonymous_ids_array)
        if project is None:
            raise AppError(404, "analytics.not_found", "no such project")
        return None, project
    key = call.key or parsed.key
    if key:
        return access.key_principal(conn, key, parsed.anonymous_ids_array)
    if call.bearer is None:
        raise unauthenticated("send X-Reactor-Project-Key or an Authorization bearer token")
    return verifier.verify(call.bearer), None


def resolve_project(conn, call: IngestCall, principal: Principal | None, key_project: dict | None, parsed) -> dict:
    if call.trusted_project is not None:
        return key_project
    if key_project is not None:
        access.check_key_project(key_project, call.project_header, parsed.project_id)
        return key_project
    return access.project_for(conn, principal, "ingest", call.project_header, parsed.project_id,
                              anonymous_ids_array=parsed.anonymous_ids_array)


def check_quota(project: dict, config: Config) -> None:
    quota.check(project["org_id"], config.analytics.quota_per_org_monthly)


def drop_opted_out(project: dict) -> list[str]:
    return project["opted_out"]  # looked up with the project, in the same round trip


def salt_cookieless(conn, parsed) -> bytes | None:
    """The salt of the day when the request has cookieless events (README "Cookieless persons").
    Committed at once: the events are encoded with it whatever becomes of this transaction."""
    if not parsed.cookieless:
        return None
    salt = queries.cookieless_salt(conn, dt.datetime.now(dt.timezone.utc).date(), os.urandom(16))
    conn.commit()
    return salt


def encode_rows(project: dict, parsed, opted_out: list[str], salt: bytes | None = None):
    return parsed.encode(project["id"], project["slug"], opted_out, sources=project["sources"],
                         auto_register_sources=project["auto_register_sources"], cookieless_salt=salt)


def write_durably(conn, project: dict, encoded, quota_per_org: int, deadline: float | None = None) -> int:
    """One transaction: events, identity links, traits, error groups, new sources and the org's
    usage. It commits before we answer.

    Events are COPYed straight into the table; only when a message_id is already stored (a
    client retry) does the transaction start over with the slower merge that skips it. A call
    whose deadline passed meanwhile (it may have waited for a lock) is rolled back, not committed.
    """
    try:
        stored = queries.copy_events(conn, encoded.copy_rows) if encoded.accepted else 0
    except psycopg.errors.UniqueViolation:
        conn.rollback()
        stored = queries.merge_events(conn, encoded.copy_rows)
    if deadline is not None and time.monotonic() >= deadline:
        conn.rollback()
        raise AppError(504, "analytics.deadline_exceeded", "the call's deadline passed; nothing was stored")
    # The rest leaves in one round trip (a pipeline), so the org's usage row, which every writer
    # of the org locks, is held only while the transaction commits.
    with quota.enforced(conn, project["org_id"], quota_per_org), conn.pipeline():
        queries.store_links(conn, project["id"], encoded.links, encoded.users)
        queries.store_traits(conn, project["id"], encoded.traits)
        queries.store_errors(conn, project["id"], encoded.errors)
        queries.store_sources(conn, project["id"], encoded.new_sources)
        quota.count(conn, project["org_id"], stored, quota_per_org)
        conn.commit()
    return stored


def settle(kind: str, result: IngestResult) -> IngestResult:
    """Count the outcome. A single event (track, identify, alias) that was refused is the
    request's error; a batch reports its refused events and goes on."""
    metrics.EVENTS_ACCEPTED.labels(kind).inc(result.accepted)
    for rejection in result.rejected:
        metrics.EVENTS_REJECTED.labels(rejection["reason"]).inc()
    if kind != "batch" and result.rejected and result.rejected[0]["reason"] != "opted_out":
        first = result.rejected[0]
        raise invalid(f"analytics.event.{first['reason']}", first["message"],
                      **{k: v for k, v in first.items() if k not in ("index", "reason", "message")})
    return result


_committer_lock = threading.Lock()


def committer(services) -> GroupCommitter:
    """The process's group committer (see `group_commit`), made on the first ingest."""
    if services.committer is None:
        with _committer_lock:
            if services.committer is None:
                analytics = services.config.analytics
                services.committer = GroupCommitter(
                    lambda conn, job: write_durably(conn, job.project, job.encoded, analytics.quota_per_org_monthly,
                                                    job.deadline),
                    analytics.batch_interval_ms, analytics.batch_max_rows, analytics.quota_per_org_monthly)
    return services.committer


def ingest(services, call: IngestCall) -> IngestResult:
    config = services.config
    parsed = parse_natively(call, config, services.geo)
    group = committer(services)
    with services.db.connection() as conn:
        ticket = group.arrive()
        try:
            principal, key_project = authenticate(conn, services.verifier, call, parsed)
            project = resolve_project(conn, call, principal, key_project, parsed)
            check_quota(project, config)
            opted_out = drop_opted_out(project)
            salt = salt_cookieless(conn, parsed)
            encoded = encode_rows(project, parsed, opted_out, salt)
        except BaseException:
            group.leave(ticket)
            raise
        stored = group.write(ticket, conn, project, encoded, call.deadline)
    return settle(call.kind, IngestResult(accepted=encoded.accepted, rejected=list(encoded.rejected), stored=stored))
