"""JWT bearers and the admin token, resolved into a Principal with permissions.

HS256 tokens are checked against `[auth] jwt_secret`; RS256/ES256 tokens against the keys of
the JWKS file, chosen by `kid` and key type. The algorithm allowed for each key is fixed by the
key, never taken from the token, so `alg: none` and HS/RS confusion are refused.

What a principal may do is decided here, by `Principal`, for every transport (`access.py` finds
the project a call names and asks it): a JWT belongs to the org of its `org_id` claim, or to
`[auth] default_org` without one, and touches only that org's projects; the admin token touches
every project.
"""

from __future__ import annotations

import hmac
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from jwt import PyJWK

from ..errors import AppError, unauthenticated

ACTIONS = ("ingest", "query", "erase", "manage")
_TIME_CLAIMS = ("exp", "nbf", "iat")


@dataclass(frozen=True)
class Principal:
    subject: str
    permissions: frozenset[str] = field(default_factory=frozenset)
    # The org of a JWT (its claim, else the default org). None for the admin token and project
    # keys, which the checks below handle first; any other principal without an org touches nothing.
    org_id: str | None = None
    admin: bool = False
    # Set when authenticated by a project public key: ingest for that project only.
    key_project: str | None = None

    def in_org_of(self, project: dict) -> bool:
        """Whether the project belongs to the principal's org (the admin token's org is every org)."""
        return self.admin or (self.org_id is not None and self.org_id == project["org_id"])

    def can(self, action: str, project: dict) -> bool:
        """Whether the principal may `action` (ingest, query, erase; manage: its error groups, sources and
        pixels) in the project."""
        if self.admin:
            return True
        if self.key_project is not None:
            return action == "ingest" and self.key_project == project["id"]
        if not self.in_org_of(project):
            return False
        wanted = {f"analytics:{project['id']}:{action}", f"analytics:{project['slug']}:{action}",
                  f"analytics:*:{action}"}
        return bool(wanted & self.permissions)

    def can_create_projects(self) -> bool:
        return self.admin or "analytics:project:create" in self.permissions

    def can_administer(self, project: dict) -> bool:
        """Whether the principal may read and change the project itself: its keys and retention."""
        return self.can_create_projects() and self.in_org_of(project)


ADMIN = Principal(subject="admin", admin=True)
_REMEMBERED = 4096  # verified tokens kept per process


class TokenVerifier:
    def __init__(self, admin_token: str, jwt_secret: str, jwks_file: str = "", audience: str = "",
                 issuer: str = "", *, default_org: str) -> None:
        self._admin_token = admin_token.encode() if admin_token else b""
        self._default_org = default_org
        self._secret = jwt_secret
        self._audience = audience or None
        self._issuer = issuer or None
        self._jwks: list[PyJWK] = []
        self._verified: dict[str, tuple[Principal, float]] = {}
        if jwks_file:
            document = json.loads(Path(jwks_file).read_text())
            for entry in document.get("keys", []):
                try:
                    self._jwks.append(PyJWK(entry))
                except jwt.PyJWTError:
                    continue

    def is_admin_token(self, token: str) -> bool:
        return bool(self._admin_token) and hmac.compare_digest(token.encode("utf-8", "surrogatepass"),
                                                               self._admin_token)

    def _key_for(self, header: dict) -> tuple[object, str]:
        alg = header.get("alg")
        if alg == "HS256":
            if not self._secret:
                raise unauthenticated("HS256 tokens are not accepted: no jwt_secret is configured")
            return self._secret, "HS256"
        if alg in ("RS256", "ES256"):
            kty = "RSA" if alg == "RS256" else "EC"
            kid = header.get("kid")
            for jwk in self._jwks:
                if jwk.key_type != kty or (kid and jwk.key_id and jwk.key_id != kid):
                    continue
                if jwk.algorithm_name not in (None, alg):
                    continue
                return jwk.key, alg
            raise unauthenticated("no key in the JWKS file matches this token")
        raise unauthenticated("unsupported token algorithm")

    def verify(self, token: str) -> Principal:
        """The principal of a bearer token. A verified JWT is remembered until it expires, so a
        server caller reusing its token pays for the signature check once."""
        if self.is_admin_token(token):
            return ADMIN
        known = self._verified.get(token)
        if known is not None and known[1] > time.time():
            return known[0]
        principal, expires = self._verify_jwt(token)
        if len(self._verified) >= _REMEMBERED:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def verify_expiring(self, token: str) -> tuple[Principal, float | None]:
        """The principal of a token and when it expires (None for the admin token): a dashboard
        session signed in with a JWT ends no later than the JWT."""
        if self.is_admin_token(token):
            return ADMIN, None
        return self._verify_jwt(token)

    def _verify_jwt(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthenticated("malformed bearer token") from None
        key, alg = self._key_for(header)
        try:
            claims = jwt.decode(
                token, key, algorithms=[alg], audience=self._audience, issuer=self._issuer,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None})
        except jwt.ExpiredSignatureError:
            raise unauthenticated("token expired") from None
        except jwt.PyJWTError:
            raise unauthenticated("invalid token") from None
        for name in _TIME_CLAIMS:
            # PyJWT compares int(claim), so "9999999999" would pass; RFC 7519 dates are JSON numbers.
            value = claims.get(name, 0)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise unauthenticated(f"the {name} claim must be a number")
        permissions = claims.get("permissions", [])
        if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
            raise unauthenticated("the permissions claim must be a list of strings")
        org = claims.get("org_id")
        if org is not None and not isinstance(org, str):
            raise unauthenticated("the org_id claim must be a string")
        return Principal(subject=str(claims["sub"]), permissions=frozenset(permissions),
                         org_id=org or self._default_org), float(claims["exp"])

    def mint(self, subject: str, permissions: list[str], ttl_seconds: int, org_id: str | None = None) -> str:
        if not self._secret:
            raise AppError(400, "analytics.auth.no_secret", "no jwt_secret is configured to sign tokens")
        now = int(time.time())
        claims = {"sub": subject, "permissions": permissions, "iat": now, "exp": now + ttl_seconds}
        if org_id:
            claims["org_id"] = org_id
        if self._audience:
            claims["aud"] = self._audience
        if self._issuer:
            claims["iss"] = self._issuer
        return jwt.encode(claims, self._secret, algorithm="HS256")
