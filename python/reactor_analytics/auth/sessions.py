"""Dashboard sessions: what a browser signed in with, kept on the server.

The browser holds only an opaque random id (256 bits) in an HttpOnly cookie; the database keeps
its SHA-256 with the principal that was verified at sign-in (never the token itself), a CSRF
token, and the end: 12 hours after sign-in, or sooner when the JWT signed in with expires sooner.
A shared link's session is ended with its link. Nothing here knows HTTP: the transport reads the
cookie and the CSRF header and hands them in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..errors import AppError
from ..store import queries
from .tokens import ADMIN, Principal

COOKIE = "reactor_session"
CSRF_HEADER = "X-CSRF-Token"
LIFETIME = timedelta(hours=12)
KINDS = ("admin", "jwt", "oidc", "share")
_MAX_ID_CHARS = 128  # the ids made here are 43 characters


@dataclass(frozen=True)
class Session:
    kind: str
    principal: Principal
    csrf_token: str
    expires_at: datetime
    # A shared link's session: the link and its project (id and slug).
    share_id: str | None = None
    project_id: str | None = None
    project_slug: str | None = None

    def describe(self) -> dict:
        """The principal as the dashboard shows it (no secret)."""
        out: dict = {"kind": self.kind, "subject": self.principal.subject}
        if self.kind == "share":
            out["project_id"] = self.project_id
        else:
            if self.principal.org_id is not None:
                out["org_id"] = self.principal.org_id
            out["permissions"] = sorted(self.principal.permissions)
        return out


def session_expired(message: str = "no session, or it ended: sign in again") -> AppError:
    return AppError(401, "analytics.auth.session_expired", message)


def csrf_refused(message: str) -> AppError:
    return AppError(403, "analytics.auth.csrf", message)


def id_hash(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).digest()


def share_principal(share_id: str, project_id: str, org_id: str) -> Principal:
    """A shared link's principal: queries of its one project."""
    return Principal(subject=f"share:{share_id}", permissions=frozenset({f"analytics:{project_id}:query"}),
                     org_id=org_id)


def start(conn, kind: str, principal: Principal, *, ends_by: float | None = None,
          share: dict | None = None) -> tuple[str, Session]:
    """A new session for a verified principal: its id (for the cookie, shown nowhere else) and
    the session. `ends_by` (epoch seconds) ends it earlier than 12 hours (a JWT's expiry);
    `share` is the link row (`queries.live_share`) of a shared link's session."""
    assert kind in KINDS
    now = datetime.now(timezone.utc)
    expires = now + LIFETIME
    if ends_by is not None:
        expires = min(expires, datetime.fromtimestamp(ends_by, timezone.utc))
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    queries.delete_ended_sessions(conn)
    queries.insert_session(conn, id_hash(session_id), kind, principal.subject, sorted(principal.permissions),
                           principal.org_id, share["id"] if share else None, csrf, expires)
    session = Session(kind, principal, csrf, expires, share_id=share["id"] if share else None,
                      project_id=share["project_id"] if share else None,
                      project_slug=share["project_slug"] if share else None)
    return session_id, session


def find(conn, session_id: str | None) -> Session | None:
    """The live session of a cookie's id; None when there is none, it ended, or its link was revoked."""
    if not session_id or len(session_id) > _MAX_ID_CHARS:
        return None
    row = queries.live_session(conn, id_hash(session_id))
    if row is None:
        return None
    kind = row["kind"]
    if kind == "admin":
        principal = ADMIN
    elif kind == "share":
        principal = share_principal(row["share_id"], row["share_project_id"], row["share_org_id"])
    else:
        principal = Principal(subject=row["subject"], permissions=frozenset(row["permissions"]), org_id=row["org_id"])
    return Session(kind, principal, row["csrf_token"], row["expires_at"], share_id=row["share_id"],
                   project_id=row["share_project_id"], project_slug=row["share_project_slug"])


def end(conn, session_id: str | None) -> bool:
    if not session_id or len(session_id) > _MAX_ID_CHARS:
        return False
    return queries.delete_session(conn, id_hash(session_id))


def check_csrf(session: Session, sent: str | None) -> None:
    """A write authenticated by the cookie must echo the session's CSRF token."""
    if not sent:
        raise csrf_refused(f"a write with the session cookie needs the {CSRF_HEADER} header")
    if not hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), session.csrf_token.encode()):
        raise csrf_refused(f"the {CSRF_HEADER} header does not match the session")
