"""Who may do what to which project, for every transport: credentials become a `Principal`, and a
principal gets a project only if it may act on it.

HTTP and gRPC hand in what their request carried (a bearer token, a project key, the project
named in a header or metadata and in the body); nothing here reads a request itself.
"""

from __future__ import annotations

from ..errors import forbidden, invalid, not_found, unauthenticated
from ..fields import storable
from ..store import queries
from . import keys
from .tokens import ADMIN, Principal, TokenVerifier


def bearer_of(authorization: str) -> str | None:
    """The token of an `Authorization` header (or gRPC metadata) value; None when it is empty."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def bearer_principal(verifier: TokenVerifier, token: str | None) -> Principal:
    if token is None:
        raise unauthenticated()
    return verifier.verify(token)


def admin_principal(verifier: TokenVerifier, token: str | None) -> Principal:
    if token is None or not verifier.is_admin_token(token):
        raise unauthenticated("the admin token is required")
    return ADMIN


def key_principal(conn, key: str, anonymous_ids_array: str = "{}") -> tuple[Principal, dict]:
    """The principal and project of a project public key; unknown and revoked keys are refused alike.
    The project carries `opted_out`: which ids of `anonymous_ids_array` (a `text[]` literal) opted
    out of it."""
    if not isinstance(key, str) or not keys.looks_like_key(key):  # a body's "key" can be any JSON value
        raise unauthenticated("invalid project key")
    project = queries.project_for_key(conn, keys.key_hash(key), anonymous_ids_array)
    if project is None:
        raise unauthenticated("invalid or revoked project key")
    return Principal(subject=f"key:{key[:keys.SHOWN_PREFIX]}", key_project=project["id"]), project


def _project_names(named: tuple) -> set[str]:
    """The project names a request gives (header, body, query string); absent or empty ones are skipped."""
    names = set()
    for name in named:
        if name is None or name == "":
            continue
        if not isinstance(name, str):
            raise invalid("analytics.invalid_request", "project_id must be a string", field="project_id")
        names.add(name)
    return names


def check_key_project(project: dict, *named: str | None) -> None:
    """A project key acts only on its own project: any project named beside it must be that one."""
    if _project_names(named) - {project["id"], project["slug"]}:
        raise forbidden("this project key belongs to another project")


def project_for(conn, principal: Principal, action: str, *named: str | None,
                anonymous_ids_array: str | None = None) -> dict:
    """The project named by the request (header and body must agree) if the principal may act on it.

    A project that does not exist and one the caller may not touch get the same answer, so a
    credential learns nothing about other projects. With `anonymous_ids_array` (ingest), the project
    carries `opted_out` as `key_principal`'s does.
    """
    names = _project_names(named)
    if not all(storable(n) for n in names):  # no project has such a name: the answer for an unknown one
        raise forbidden(f"this credential may not {action} in that project")
    if len(names) > 1:
        # Two names may still denote one project (its id and its slug).
        found = {(queries.find_project(conn, n) or {}).get("id") for n in names}
        if len(found) != 1 or None in found:
            raise forbidden("X-Reactor-Project and project_id name different projects")
    if not names:
        if principal.key_project:
            names = {principal.key_project}
        else:
            raise invalid("analytics.project.missing", "name the project with X-Reactor-Project or project_id")
    project = queries.find_project(conn, next(iter(names)), anonymous_ids_array)
    if project is None or not principal.can(action, project):
        raise forbidden(f"this credential may not {action} in that project")
    return project


def project_or_404(conn, principal: Principal, id_or_slug: str) -> dict:
    """The project an admin call names, if the principal may administer it; a project of another
    org gets the answer of one that does not exist."""
    project = queries.find_project(conn, id_or_slug) if storable(id_or_slug) else None
    if project is None or not principal.can_administer(project):
        raise not_found("no such project")
    return project


def project_to_manage(conn, principal: Principal, id_or_slug: str) -> dict:
    """The project whose settings a call changes (sources, pixels), if the principal administers
    it (`project_or_404`) or holds `analytics:{project}:manage`; else the answer of one that does
    not exist."""
    project = queries.find_project(conn, id_or_slug) if storable(id_or_slug) else None
    if project is None or not (principal.can_administer(project) or principal.can("manage", project)):
        raise not_found("no such project")
    return project
