"""GDPR erasure of one person: every event, identity link and trait of all their linked ids,
from PostgreSQL and from the query engine, with an audit record that holds no personal data.

PostgreSQL forgets first, in one transaction; then the engine forgets the same ids and rows, so
the very next query no longer counts them; then the tables are vacuumed, so the rows' space and
their index entries are reclaimed at once (what remains in free space, WAL and backups: README
"Governance"). Erasing again is harmless: it finds nothing in the record, and the engine, which
still knows the person's links, forgets anything left in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import structlog

from ..auth import access
from ..auth.tokens import Principal
from ..errors import AppError
from ..store import queries

log = structlog.get_logger(target="reactor_analytics.governance")


@dataclass(frozen=True)
class Erased:
    events: int
    identity_links: int
    traits: int

    def as_dict(self) -> dict:
        return {"events": self.events, "identity_links": self.identity_links, "traits": self.traits}


def erase(db, engine, project: dict, by: str, user_id: str | None = None,
          anonymous_id: str | None = None) -> Erased:
    if (user_id is None) == (anonymous_id is None):
        raise AppError(400, "analytics.invalid_request", "name exactly one of user_id or anonymous_id")
    with db.connection() as conn:
        ids = queries.person_ids(conn, project["id"], user_id, anonymous_id)
        seqs, links, traits = queries.erase_person(conn, project["id"], ids)
        erased = Erased(events=len(seqs), identity_links=links, traits=traits)
        queries.audit(conn, project["id"], "erase", {**erased.as_dict(), "by": by,
                                                     "by_id_kind": "user_id" if user_id else "anonymous_id"})
        conn.commit()
    engine.erase(project["id"], ids, seqs)
    try:
        with db.connection() as conn:
            queries.vacuum_erased(conn)
    except (AppError, psycopg.Error) as exc:
        # The erasure itself is committed and answered; autovacuum reclaims the space later.
        log.warning("vacuum after erasure failed", project=project["id"], error_type=type(exc).__name__)
    return erased


def erase_named(services, principal: Principal, *named: str | None, user_id: str | None = None,
                anonymous_id: str | None = None) -> Erased:
    """Erase a person from the project the call names (a header or metadata, and the body, which
    must agree) if the principal may erase there; HTTP and gRPC both come through here."""
    with services.db.connection() as conn:
        project = access.project_for(conn, principal, "erase", *named)
    return erase(services.db, services.engine, project, principal.subject, user_id, anonymous_id)
