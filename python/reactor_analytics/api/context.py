"""Request-scoped helpers shared by the blueprints: services, credentials, JSON answers."""

from __future__ import annotations

import json
import re

from flask import current_app, request

from ..app import Services
from ..auth import keys
from ..auth.tokens import ADMIN, Principal
from ..errors import AppError, forbidden, invalid, not_found, unauthenticated
from ..store import queries


def services() -> Services:
    return current_app.extensions["reactor"]


def bearer() -> str | None:
    return bearer_of(request.headers.get("Authorization", ""))


def bearer_of(authorization: str) -> str | None:
    """The token of an `Authorization` header (or gRPC metadata) value; None when it is empty."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def bearer_principal() -> Principal:
    token = bearer()
    if token is None:
        raise unauthenticated()
    return services().verifier.verify(token)


def admin_principal() -> Principal:
    token = bearer()
    if token is None or not services().verifier.is_admin_token(token):
        raise unauthenticated("the admin token is required")
    return ADMIN


def request_key() -> str | None:
    """A project key sent in the header, or in the query string where a browser cannot set headers
    (`navigator.sendBeacon`, pixels)."""
    return request.headers.get("X-Reactor-Project-Key") or request.args.get("key") or request.args.get("api_key")


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


def storable(text: str) -> bool:
    """Whether PostgreSQL can hold the text: JSON can escape a NUL or a lone UTF-16 surrogate into a
    Python string, and either would make the query fail (a 500) instead of answering the client."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")  # Python's parser would take NaN and Infinity


def json_body(required: bool = True) -> dict:
    """The request body as a JSON object (admin endpoints; ingest parses in the native core)."""
    content_type = request.mimetype
    if content_type not in ("application/json", "text/plain", ""):
        raise AppError(415, "analytics.unsupported_media_type", "send application/json")
    raw = request.get_data(cache=True)
    if not raw:
        if required:
            raise invalid("analytics.invalid_json", "the body must be a JSON object")
        return {}
    try:
        value = json.loads(raw, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise invalid("analytics.invalid_json", "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise invalid("analytics.invalid_request", "the body must be a JSON object")
    if _SURROGATE_ESCAPE.search(raw):
        try:  # an escaped lone UTF-16 surrogate parses, but no text can hold it
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise invalid("analytics.invalid_json", "the body holds a lone UTF-16 surrogate") from None
    return value


def reject_unknown(body: dict, allowed: set[str]) -> None:
    for name in body:
        if name not in allowed:
            raise invalid("analytics.invalid_request", f"unknown field {name[:64]!r}", field=name[:64])


def string_field(body: dict, name: str, required: bool = True, max_len: int = 200) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid("analytics.invalid_request", f"{name} is required", field=name)
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len or not storable(value):
        raise invalid("analytics.invalid_request", f"{name} must be a non-empty string of at most {max_len} characters",
                      field=name)
    return value


def project_or_404(conn, principal: Principal, id_or_slug: str) -> dict:
    """The project an admin call names, if the principal may administer it; a project of another
    org gets the answer of one that does not exist."""
    project = queries.find_project(conn, id_or_slug) if storable(id_or_slug) else None
    if project is None or not principal.can_administer(project):
        raise not_found("no such project")
    return project
