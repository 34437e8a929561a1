"""Shared read-only links: a secret in the link (256 random bits, stored as its SHA-256, like a
project key), and an optional password stored as a salted scrypt hash.

Opening a link (with its password) starts a session that may only query the link's project
(`sessions.share_principal`); revoking the link ends it at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from ..errors import AppError
from ..store import queries
from . import keys

URL_PREFIX = "/share/"
_MAX_TOKEN_CHARS = 128
# scrypt's interactive-login cost (2^14, 8, 1): about 16 MiB and tens of milliseconds per guess.
_N, _R, _P, _LENGTH = 2 ** 14, 8, 1, 32


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def hash_password(password: str, salt: bytes | None = None) -> tuple[bytes, bytes]:
    """(salt, hash) of a password; a fresh 16-byte salt unless one is given."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=salt, n=_N, r=_R, p=_P, dklen=_LENGTH)
    return salt, digest


def password_matches(password: str, salt: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(hash_password(password, bytes(salt))[1], bytes(expected))


def not_found() -> AppError:
    return AppError(404, "analytics.share.not_found", "no such shared link, or it was revoked")


def create(conn, project_id: str, name: str | None, password: str | None, created_by: str) -> tuple[dict, str]:
    """A new link of the project: its row and its secret (shown once, in the link)."""
    token = new_token()
    salt, digest = hash_password(password) if password is not None else (None, None)
    row = queries.insert_share(conn, keys.new_id("sh"), project_id, name, token_hash(token), salt, digest, created_by)
    return row, token


def is_live(conn, token: str) -> bool:
    """Whether a secret names a link that was not revoked (its password aside)."""
    return bool(token) and len(token) <= _MAX_TOKEN_CHARS and queries.live_share(conn, token_hash(token)) is not None


def open_link(conn, token: str, password: str | None) -> dict:
    """The link of a secret, if it was not revoked and the password (when it has one) matches."""
    if not token or len(token) > _MAX_TOKEN_CHARS:
        raise not_found()
    share = queries.live_share(conn, token_hash(token))
    if share is None:
        raise not_found()
    if share["password_hash"] is not None:
        if password is None:
            raise AppError(401, "analytics.share.password_required", "this shared link needs its password")
        if not password_matches(password, share["password_salt"], share["password_hash"]):
            raise AppError(401, "analytics.share.wrong_password", "wrong password for this shared link")
    return share
