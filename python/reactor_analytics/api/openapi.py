"""The service's OpenAPI 3.1 document, served at GET /analytics/v1/openapi.json (no auth).

Every body and answer schema comes from its model in `schemas/` (the one the view validates
with); this module only says which paths take and answer which, with what credentials and
error statuses. `tests/test_openapi.py` holds the running service to it.
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from .. import __version__
from ..schemas import admin, dashboard, errors, governance, ingest, operations, query, sites
from ..schemas.types import Id, JsonObject, JsonValue

blueprint = Blueprint("openapi", __name__)

# The schemas named in the document, each from its model.
_MODELS = {
    "Error": operations.Error, "JsonValue": JsonValue, "JsonObject": JsonObject,
    "Event": ingest.Event, "TrackRequest": ingest.TrackRequest, "BatchRequest": ingest.BatchRequest,
    "IdentifyRequest": ingest.IdentifyRequest, "AliasRequest": ingest.AliasRequest,
    "IngestResult": ingest.IngestResult, "OptOutRequest": ingest.OptOutRequest,
    "ConsentStatus": ingest.ConsentStatus,
    "QueryRequest": query.QueryRequest, "QueryResult": query.QueryResult,
    "EraseRequest": governance.EraseRequest, "EraseResult": governance.EraseResult,
    "ProjectRequest": admin.ProjectRequest, "ProjectUpdate": admin.ProjectUpdate, "Project": admin.Project,
    "KeyRequest": admin.KeyRequest, "Key": admin.Key, "NewKey": admin.NewKey,
    "TokenRequest": admin.TokenRequest, "Token": admin.Token,
    "ErrorGroup": errors.ErrorGroup, "ErrorGroupState": errors.ErrorGroupState,
    "ErrorStateRequest": errors.ErrorStateRequest, "SourceRequest": sites.SourceRequest, "Source": sites.Source,
    "PixelRequest": sites.PixelRequest, "Pixel": sites.Pixel,
    "Health": operations.Health, "Doctor": operations.Doctor, "Version": operations.Version,
    "SessionRequest": dashboard.SessionRequest, "SessionInfo": dashboard.SessionInfo,
    "ShareSessionRequest": dashboard.ShareSessionRequest, "DashboardConfig": dashboard.DashboardConfig,
    "ShareRequest": dashboard.ShareRequest, "Share": dashboard.Share, "NewShare": dashboard.NewShare,
    "SegmentRequest": dashboard.SegmentRequest, "Segment": dashboard.Segment,
}


class _Generator(GenerateJsonSchema):
    """Pydantic's JSON Schema (2020-12, OpenAPI 3.1's own dialect) without a title per field."""

    def field_title_should_be_set(self, schema) -> bool:
        return False


def _tidy(node):
    """Leave out `"default": null` (a left-out field is described by its text, not by null)."""
    if isinstance(node, dict):
        return {k: _tidy(v) for k, v in node.items() if not (k == "default" and v is None)}
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    return node


def _components() -> dict:
    keyed = [(name, "validation", TypeAdapter(model)) for name, model in _MODELS.items()]
    tops, definitions = TypeAdapter.json_schemas(keyed, ref_template="#/components/schemas/{model}",
                                                 schema_generator=_Generator)
    schemas = dict(definitions["$defs"])
    for (name, _), schema in tops.items():
        if schema != {"$ref": f"#/components/schemas/{name}"}:
            schemas[name] = schema  # a union (QueryRequest) or a model named otherwise
    return _tidy(schemas)


def _param(model, name: str) -> dict:
    """A query parameter's schema, from its field in `model`."""
    return TypeAdapter(model.model_fields[name].annotation).json_schema(schema_generator=_Generator)


def _query_param(model, name: str, field: str) -> dict:
    """An optional query parameter from a field of `model` (a query string has no null)."""
    schema = dict(model.model_json_schema(by_alias=True, schema_generator=_Generator)["properties"][name])
    schema.pop("default", None)
    schema = next((b for b in schema.pop("anyOf", []) if b.get("type") != "null"), schema)
    description = model.model_fields[field].description or schema.get("description")
    return {"name": name, "in": "query", "required": False, "schema": schema,
            **({"description": description} if description else {})}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _data(schema: dict) -> dict:
    """The success envelope `{"data": …}`."""
    return {"type": "object", "required": ["data"], "properties": {"data": schema}, "additionalProperties": False}


_ERROR_TEXT = {
    400: "Invalid request (bad JSON, a field out of range, a refused event).",
    401: "No credentials, or invalid / expired / revoked ones (`analytics.auth.session_expired` for a "
         "dashboard session that ended).",
    403: "The credential may not act on that project, or a write with the session cookie lacks its "
         "`X-CSRF-Token` (`analytics.auth.csrf`).",
    404: "No such resource (or one the credential may not see).",
    409: "Conflict with an existing resource.",
    413: "The request body is larger than the limit (`limit_bytes`).",
    415: "Neither application/json nor text/plain.",
    429: "Rate limited (`analytics.rate_limited`, with Retry-After) or monthly quota exhausted "
         "(`analytics.quota.exceeded`).",
    503: "The database is unavailable; retry shortly.",
    504: "The query went over its time or row budget (`analytics.query.timeout`).",
}


def _errors(*statuses: int) -> dict:
    out = {}
    for status in statuses:
        response = {"description": _ERROR_TEXT[status], "content": _json(_ref("Error"))}
        if status == 429:
            response["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                                   "schema": {"type": "integer", "minimum": 0}}}
        out[str(status)] = response
    return out


def _body(schema: dict, *, beacon: bool = False) -> dict:
    content = _json(schema)
    if beacon:
        # What navigator.sendBeacon sends: the same JSON document, labelled text/plain.
        content["text/plain"] = {"schema": schema}
    return {"required": True, "content": content}


_PROJECT_HEADER = {"name": "X-Reactor-Project", "in": "header", "required": False,
                   "description": "Project id or slug the request acts on (JWT callers).",
                   "schema": {"type": "string"}}
_KEY_QUERY = [{"name": name, "in": "query", "required": False, "description": "A project key, for beacons and "
               "pixels that cannot set headers.", "schema": {"type": "string"}} for name in ("key", "api_key")]
_ID = TypeAdapter(Id).json_schema()
_PROJECT_REF = {"name": "project_ref", "in": "path", "required": True, "description": "Project id or slug.",
                "schema": {"type": "string", "minLength": 1}}

_INGEST_SECURITY = [{"projectKey": []}, {"projectKeyQuery": []}, {"bearerJwt": []}]
_JWT = [{"bearerJwt": []}]
_ADMIN_API = [{"bearerJwt": []}, {"adminToken": []}]
_ADMIN_ONLY = [{"adminToken": []}]
_SESSION = [{"sessionCookie": []}]
_SESSION_COOKIE = {"Set-Cookie": {
    "description": "`reactor_session=<opaque id>; HttpOnly; SameSite=Lax; Path=/` (and `Secure` over TLS).",
    "schema": {"type": "string"}}}


def _ingest(summary: str, schema: str, *, beacon: bool = True) -> dict:
    """An ingest path: POST with a key or a JWT, plus the CORS preflight."""
    post = {
        "summary": summary, "tags": ["ingest"], "security": _INGEST_SECURITY,
        "parameters": [_PROJECT_HEADER, *_KEY_QUERY],
        "requestBody": _body(_ref(schema), beacon=beacon),
        "responses": {"200": {"description": "Accepted (and durable) events; per-index rejections for /batch.",
                              "content": _json(_data(_ref("IngestResult")))},
                      "204": {"description": "DNT: 1 or Sec-GPC: 1 — dropped, nothing stored."},
                      **_errors(400, 401, 403, 413, 415, 429, 503)},
    }
    return {"post": post, "options": _preflight()}


def _preflight() -> dict:
    return {"summary": "CORS preflight.", "tags": ["ingest"], "security": [],
            "responses": {"204": {"description": "Allowed methods and headers for browsers."}}}


PATHS: dict = {
    "/analytics/v1/track": _ingest("Track one event.", "TrackRequest"),
    "/analytics/v1/batch": _ingest("Track up to 100 events; accepted ones are kept even when others are "
                                   "rejected.", "BatchRequest"),
    "/analytics/v1/identify": _ingest("Assert a user's identity and traits.", "IdentifyRequest"),
    "/analytics/v1/alias": _ingest("Link previous_id to user_id.", "AliasRequest"),
    "/analytics/v1/consent/opt-out": {
        "post": {
            "summary": "Opt an anonymous_id out of the project; its later events are dropped.",
            "tags": ["consent"], "security": _INGEST_SECURITY, "parameters": [_PROJECT_HEADER, *_KEY_QUERY],
            "requestBody": _body(_ref("OptOutRequest"), beacon=True),
            "responses": {"200": {"description": "Opted out.", "content": _json(_data(_ref("ConsentStatus")))},
                          **_errors(400, 401, 403, 413, 415, 429, 503)},
        },
        "options": _preflight(),
    },
    "/analytics/v1/consent/status": {
        "get": {
            "summary": "Whether an anonymous_id opted out.",
            "tags": ["consent"], "security": _INGEST_SECURITY,
            "parameters": [{"name": "anonymous_id", "in": "query", "required": True, "schema": _ID},
                           {"name": "project_id", "in": "query", "required": False,
                            "schema": {"type": "string"}, "description": "Project id or slug."},
                           _PROJECT_HEADER, *_KEY_QUERY],
            "responses": {"200": {"description": "The opt-out state.", "content": _json(_data(_ref("ConsentStatus")))},
                          **_errors(400, 401, 403, 429, 503)},
        },
        "options": _preflight(),
    },
    "/analytics/v1/query": {
        "post": {
            "summary": "Run an events, aggregate, funnel, retention, breakdown or path query.",
            "description": "Needs `analytics:{project}:query`.",
            "tags": ["query"], "security": _JWT, "parameters": [_PROJECT_HEADER],
            "requestBody": _body(_ref("QueryRequest")),
            "responses": {"200": {"description": "Rows by kind.", "content": _json(_data(_ref("QueryResult")))},
                          **_errors(400, 401, 403, 413, 415, 429, 503, 504)},
        },
    },
    "/analytics/v1/erase": {
        "post": {
            "summary": "GDPR erasure: every event, identity link and trait of a person (all linked ids).",
            "description": "Needs `analytics:{project}:erase`. Idempotent; leaves an audit record without "
                           "personal data.",
            "tags": ["governance"], "security": _JWT, "parameters": [_PROJECT_HEADER],
            "requestBody": _body(_ref("EraseRequest")),
            "responses": {"200": {"description": "What was deleted.", "content": _json(_data(_ref("EraseResult")))},
                          **_errors(400, 401, 403, 413, 415, 429, 503)},
        },
    },
    "/analytics/v1/projects": {
        "post": {
            "summary": "Create a project.", "description": "Admin token or `analytics:project:create`.",
            "tags": ["admin"], "security": _ADMIN_API, "requestBody": _body(_ref("ProjectRequest")),
            "responses": {"201": {"description": "Created.", "content": _json(_data(_ref("Project")))},
                          **_errors(400, 401, 403, 409, 413, 415, 429, 503)},
        },
        "get": {
            "summary": "List the projects the caller may see.",
            "tags": ["admin"], "security": _ADMIN_API,
            "responses": {"200": {"description": "Projects.",
                                  "content": _json(_data({"type": "array", "items": _ref("Project")}))},
                          **_errors(401, 403, 429, 503)},
        },
    },
    "/analytics/v1/projects/{project_ref}": {
        "parameters": [_PROJECT_REF],
        "patch": {
            "summary": "Change a project's retention (the next retention sweep applies it) and whether it "
                       "registers page hostnames as sources as they report (`auto_register_sources`).",
            "description": "Admin token, `analytics:project:create` or `analytics:{project}:manage`.",
            "tags": ["admin"], "security": _ADMIN_API,
            "requestBody": _body(_ref("ProjectUpdate")),
            "responses": {"200": {"description": "The updated project.", "content": _json(_data(_ref("Project")))},
                          **_errors(400, 401, 404, 413, 415, 429, 503)},
        },
    },
    "/analytics/v1/projects/{project_ref}/keys": {
        "parameters": [_PROJECT_REF],
        "post": {
            "summary": "Create a project public key; the key is shown only in this answer.",
            "tags": ["admin"], "security": _ADMIN_API, "requestBody": _body(_ref("KeyRequest")),
            "responses": {"201": {"description": "Created.", "content": _json(_data(_ref("NewKey")))},
                          **_errors(400, 401, 404, 409, 413, 415, 429, 503)},
        },
        "get": {
            "summary": "List a project's keys (name and prefix only).",
            "tags": ["admin"], "security": _ADMIN_API,
            "responses": {"200": {"description": "Keys.",
                                  "content": _json(_data({"type": "array", "items": _ref("Key")}))},
                          **_errors(401, 404, 429, 503)},
        },
    },
    "/analytics/v1/projects/{project_ref}/keys/{key_id}": {
        "parameters": [_PROJECT_REF, {"name": "key_id", "in": "path", "required": True,
                                      "schema": {"type": "string", "minLength": 1}}],
        "delete": {
            "summary": "Revoke a key.", "tags": ["admin"], "security": _ADMIN_API,
            "responses": {"204": {"description": "Revoked (or already revoked)."},
                          **_errors(401, 404, 429, 503)},
        },
    },
    "/analytics/v1/errors": {
        "get": {
            "summary": "Error groups of `$error` events with an occurrence in the range, the most recently seen first.",
            "description": "Needs `analytics:{project}:query`. `count` and `users` are over the range; `first_seen` "
                           "and `last_seen` over all time. Default range: the last 7 days.",
            "tags": ["errors"], "security": _JWT,
            "parameters": [
                *(_query_param(errors.ErrorsQuery, name, field)
                  for name, field in (("project_id", "project_id"), ("last", "last"), ("from", "from_"),
                                      ("to", "to"), ("limit", "limit"))),
                _PROJECT_HEADER],
            "responses": {"200": {"description": "Error groups.",
                                  "content": _json(_data({"type": "array", "items": _ref("ErrorGroup")}))},
                          **_errors(400, 401, 403, 429, 503)},
        },
    },
    "/analytics/v1/errors/{fingerprint}": {
        "parameters": [{"name": "fingerprint", "in": "path", "required": True,
                        "schema": {"type": "string", "minLength": 1}}],
        "patch": {
            "summary": "Triage an error group: resolved (a new occurrence reopens it), ignored or unresolved.",
            "description": "Needs `analytics:{project}:manage` or the admin token; the project is named by "
                           "X-Reactor-Project and/or `project_id`.",
            "tags": ["errors"], "security": _ADMIN_API, "parameters": [_PROJECT_HEADER],
            "requestBody": _body(_ref("ErrorStateRequest")),
            "responses": {"200": {"description": "The group.", "content": _json(_data(_ref("ErrorGroupState")))},
                          **_errors(400, 401, 403, 404, 413, 415, 429, 503)},
        },
    },
    "/analytics/v1/projects/{project_ref}/sources": {
        "parameters": [_PROJECT_REF],
        "post": {
            "summary": "Add a source: a page hostname the project accepts. A project with sources refuses "
                       "events of other hostnames (`invalid_source`).",
            "description": "Admin token, `analytics:project:create` or `analytics:{project}:manage`.",
            "tags": ["sources"], "security": _ADMIN_API, "requestBody": _body(_ref("SourceRequest")),
            "responses": {"201": {"description": "Added (or already there).", "content": _json(_data(_ref("Source")))},
                          **_errors(400, 401, 404, 413, 415, 429, 503)},
        },
        "get": {
            "summary": "List a project's sources.", "tags": ["sources"], "security": _ADMIN_API,
            "responses": {"200": {"description": "Sources.",
                                  "content": _json(_data({"type": "array", "items": _ref("Source")}))},
                          **_errors(401, 404, 429, 503)},
        },
    },
    "/analytics/v1/projects/{project_ref}/sources/{hostname}": {
        "parameters": [_PROJECT_REF, {"name": "hostname", "in": "path", "required": True,
                                      "schema": TypeAdapter(sites.Hostname).json_schema()}],
        "delete": {
            "summary": "Remove a source (204 also when the project does not list it).", "tags": ["sources"],
            "security": _ADMIN_API,
            "responses": {"204": {"description": "Removed."}, **_errors(401, 404, 429, 503)},
        },
    },
    "/analytics/v1/projects/{project_ref}/pixels": {
        "parameters": [_PROJECT_REF],
        "post": {
            "summary": "Create a tracking pixel; each load of its `url` records a `$pixel_open` event.",
            "description": "Admin token, `analytics:project:create` or `analytics:{project}:manage`.",
            "tags": ["pixels"], "security": _ADMIN_API, "requestBody": _body(_ref("PixelRequest")),
            "responses": {"201": {"description": "Created.", "content": _json(_data(_ref("Pixel")))},
                          **_errors(400, 401, 404, 413, 415, 429, 503)},
        },
        "get": {
            "summary": "List a project's pixels (not the deleted ones).", "tags": ["pixels"], "security": _ADMIN_API,
            "responses": {"200": {"description": "Pixels.",
                                  "content": _json(_data({"type": "array", "items": _ref("Pixel")}))},
                          **_errors(401, 404, 429, 503)},
        },
    },
    "/analytics/v1/projects/{project_ref}/pixels/{pixel_id}": {
        "parameters": [_PROJECT_REF, {"name": "pixel_id", "in": "path", "required": True,
                                      "schema": {"type": "string", "minLength": 1}}],
        "delete": {
            "summary": "Delete a pixel: it answers 404 from now on (deleting it again is no error).",
            "tags": ["pixels"], "security": _ADMIN_API,
            "responses": {"204": {"description": "Deleted."}, **_errors(401, 404, 429, 503)},
        },
    },
    "/analytics/v1/pixel/{pixel_id}.gif": {
        "get": {
            "summary": "A tracking pixel: a 1×1 GIF; records a `$pixel_open` event (query parameters as "
                       "properties) unless DNT: 1 or Sec-GPC: 1.",
            "tags": ["pixels"], "security": [],
            "parameters": [{"name": "pixel_id", "in": "path", "required": True,
                            "schema": {"type": "string", "minLength": 1}},
                           {"name": "message_id", "in": "query", "required": False, "schema": _ID,
                            "description": "The open's idempotency key: a reload with the same one counts once."}],
            "responses": {"200": {"description": "The 43-byte GIF (`Cache-Control: no-store`).",
                                  "headers": {"Cache-Control": {"schema": {"type": "string", "const": "no-store"}}},
                                  "content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}}},
                          **_errors(400, 404, 429, 503)},
        },
    },
    "/analytics/v1/projects/{project_ref}/shares": {
        "parameters": [_PROJECT_REF],
        "post": {
            "summary": "Create a shared read-only link of the project's dashboard; the link (`url`, holding its "
                       "secret) is shown only in this answer.",
            "description": "Admin token, `analytics:project:create` or `analytics:{project}:manage`. Opening the "
                           "link gives a session that may only query this project.",
            "tags": ["dashboard"], "security": _ADMIN_API, "requestBody": _body(_ref("ShareRequest")),
            "responses": {"201": {"description": "Created.", "content": _json(_data(_ref("NewShare")))},
                          **_errors(400, 401, 403, 404, 413, 415, 429, 503)},
        },
        "get": {
            "summary": "List a project's shared links that were not revoked (no secrets).", "tags": ["dashboard"],
            "security": _ADMIN_API,
            "responses": {"200": {"description": "Shared links.",
                                  "content": _json(_data({"type": "array", "items": _ref("Share")}))},
                          **_errors(401, 403, 404, 429, 503)},
        },
    },
    "/analytics/v1/projects/{project_ref}/shares/{share_id}": {
        "parameters": [_PROJECT_REF, {"name": "share_id", "in": "path", "required": True,
                                      "schema": {"type": "string", "minLength": 1}}],
        "delete": {
            "summary": "Revoke a shared link: it and its open sessions answer 404 / 401 at once (revoking it "
                       "again is no error).",
            "tags": ["dashboard"], "security": _ADMIN_API,
            "responses": {"204": {"description": "Revoked."}, **_errors(401, 403, 404, 429, 503)},
        },
    },
    "/analytics/v1/projects/{project_ref}/segments": {
        "parameters": [_PROJECT_REF],
        "post": {
            "summary": "Save a segment: a named filter of the project's dashboard.",
            "description": "Admin token, `analytics:project:create` or `analytics:{project}:manage`. The filter is "
                           "read as a `web` query's; a filter the engine refuses answers 400 with its code "
                           "(`analytics.query.invalid_filter`, `.unknown_operator`, `.filter_too_complex`).",
            "tags": ["dashboard"], "security": _ADMIN_API, "requestBody": _body(_ref("SegmentRequest")),
            "responses": {"201": {"description": "Saved.", "content": _json(_data(_ref("Segment")))},
                          **_errors(400, 401, 403, 404, 413, 415, 429, 503)},
        },
        "get": {
            "summary": "List a project's saved segments (oldest first).",
            "description": "As for saving, or `analytics:{project}:query`.", "tags": ["dashboard"],
            "security": _ADMIN_API,
            "responses": {"200": {"description": "Saved segments.",
                                  "content": _json(_data({"type": "array", "items": _ref("Segment")}))},
                          **_errors(401, 403, 404, 429, 503)},
        },
    },
    "/analytics/v1/projects/{project_ref}/segments/{segment_id}": {
        "parameters": [_PROJECT_REF, {"name": "segment_id", "in": "path", "required": True,
                                      "schema": {"type": "string", "minLength": 1}}],
        "delete": {
            "summary": "Delete a saved segment (a segment of another project is not found).",
            "tags": ["dashboard"], "security": _ADMIN_API,
            "responses": {"204": {"description": "Deleted."}, **_errors(401, 403, 404, 429, 503)},
        },
    },
    "/dashboard/api/config": {
        "get": {
            "summary": "What the sign-in page offers.", "tags": ["dashboard"], "security": [],
            "responses": {"200": {"description": "Sign-in options.", "content": _json(_data(_ref("DashboardConfig")))},
                          **_errors(429)},
        },
    },
    "/dashboard/api/session": {
        "post": {
            "summary": "Sign in to the dashboard with the admin token or a JWT: sets the session cookie.",
            "description": "`application/json` only. The token is verified once and never kept; the session "
                           "lasts 12 hours (less when the JWT expires sooner). Every API route then takes the "
                           "cookie as its credential; writes need `X-CSRF-Token`.",
            "tags": ["dashboard"], "security": [], "requestBody": _body(_ref("SessionRequest")),
            "responses": {"200": {"description": "Signed in.", "headers": _SESSION_COOKIE,
                                  "content": _json(_data(_ref("SessionInfo")))},
                          **_errors(400, 401, 413, 415, 429, 503)},
        },
        "get": {
            "summary": "The cookie's session (its CSRF token, principal and end).", "tags": ["dashboard"],
            "security": _SESSION,
            "responses": {"200": {"description": "The session.", "content": _json(_data(_ref("SessionInfo")))},
                          **_errors(401, 429, 503)},
        },
        "delete": {
            "summary": "Sign out: end the cookie's session (with its `X-CSRF-Token`) and clear the cookie.",
            "description": "204 also when there is no live session.",
            "tags": ["dashboard"], "security": [],
            "responses": {"204": {"description": "Signed out."}, **_errors(403, 429, 503)},
        },
    },
    "/dashboard/api/projects": {
        "get": {
            "summary": "The projects the caller may query, manage or administer (the dashboard's picker).",
            "tags": ["dashboard"], "security": [*_ADMIN_API, *_SESSION],
            "responses": {"200": {"description": "Projects.",
                                  "content": _json(_data({"type": "array", "items": _ref("Project")}))},
                          **_errors(401, 403, 429, 503)},
        },
    },
    "/dashboard/api/share/{token}/session": {
        "parameters": [{"name": "token", "in": "path", "required": True, "description": "The link's secret.",
                        "schema": {"type": "string", "minLength": 1}}],
        "post": {
            "summary": "Open a shared link (with its password): a session that may only query the link's "
                       "project.",
            "tags": ["dashboard"], "security": [], "requestBody": _body(_ref("ShareSessionRequest")),
            "responses": {"200": {"description": "Opened.", "headers": _SESSION_COOKIE,
                                  "content": _json(_data(_ref("SessionInfo")))},
                          **_errors(400, 401, 404, 413, 415, 429, 503)},
        },
    },
    "/_admin/tokens": {
        "post": {
            "summary": "Mint an HS256 JWT, so a local install needs no identity provider.",
            "tags": ["admin"], "security": _ADMIN_ONLY, "requestBody": _body(_ref("TokenRequest")),
            "responses": {"201": {"description": "Minted.", "content": _json(_data(_ref("Token")))},
                          **_errors(400, 401, 413, 415, 429)},
        },
    },
    "/health": {
        "get": {
            "summary": "200 only when every part (database, migrations, native core, query engine) is ok.",
            "tags": ["operations"], "security": [],
            "responses": {"200": {"description": "Healthy.", "content": _json(_ref("Health"))},
                          "503": {"description": "A part is failing (named in `failing`).",
                                  "content": _json(_ref("Health"))}},
        },
    },
    "/_admin/doctor": {
        "get": {
            "summary": "Per-part probes with latency.", "tags": ["operations"], "security": _ADMIN_ONLY,
            "responses": {"200": {"description": "Probe results.", "content": _json(_ref("Doctor"))},
                **_errors(401, 429)},
        },
    },
    "/_admin/version": {
        "get": {
            "summary": "Service and capability versions.", "tags": ["operations"], "security": _ADMIN_ONLY,
            "responses": {"200": {"description": "Versions.", "content": _json(_ref("Version"))},
                **_errors(401, 429)},
        },
    },
    "/_admin/logs": {
        "get": {
            "summary": "Server-sent events of JSON log lines.", "tags": ["operations"], "security": _ADMIN_ONLY,
            "parameters": [
                *({"name": name, "in": "query", "required": False, "schema": _param(operations.LogsQuery, name),
                   "description": operations.LogsQuery.model_fields[name].description}
                  for name in operations.LogsQuery.model_fields),
                {"name": "Last-Event-ID", "in": "header", "required": False,
                 "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}, "description": "Resume from a log offset."},
            ],
            "responses": {"200": {"description": "Server-sent events, one per log line; `id` is the log offset "
                                                 "to resume from.",
                                  "content": {"text/event-stream": {"schema": {
                                      "type": "object", "description": "One event of the stream.",
                                      "properties": {"id": {"type": "string", "pattern": "^[0-9]+$"},
                                                     "event": {"type": "string"},
                                                     "data": {"type": "string", "description": "A JSON log line."}}}}}},
                          **_errors(400, 401, 429)},
        },
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics of every worker.", "tags": ["operations"],
            "description": "Public unless `[analytics] metrics_token` is set; then the bearer must be that token.",
            "security": [{}, {"metricsToken": []}],
            "responses": {"200": {"description": "Prometheus text format.",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}},
                          **_errors(401)},
        },
    },
    "/analytics/v1/openapi.json": {
        "get": {
            "summary": "This document.", "tags": ["operations"], "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1.", "content": _json({"type": "object"})}},
        },
    },
}

DOCUMENT: dict = {
    "openapi": "3.1.0",
    "info": {
        "title": "Reactor Analytics",
        "version": __version__,
        "description": "Self-hosted product analytics: ingest, identity stitching, queries, governance. Every "
                       'error is `{"error": {"code": "analytics.…", "message": "…", …}}`.',
    },
    "servers": [{"url": "/"}],
    "tags": [{"name": name} for name in ("ingest", "consent", "query", "errors", "governance", "admin",
                                                          "sources", "pixels", "dashboard", "operations")],
    "paths": PATHS,
    "components": {
        "schemas": _components(),
        "securitySchemes": {
            "projectKey": {"type": "apiKey", "in": "header", "name": "X-Reactor-Project-Key",
                           "description": "Project public key `rapk_…` (ingest only)."},
            "projectKeyQuery": {"type": "apiKey", "in": "query", "name": "key",
                                "description": "The project key in the query string (`key` or `api_key`), for "
                                               "sendBeacon and pixels; the body's `key` works the same."},
            "bearerJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                          "description": "HS256, RS256 or ES256 JWT with `sub`, `exp` and `permissions`."},
            "adminToken": {"type": "http", "scheme": "bearer",
                           "description": "The configured admin token (`REACTOR_ADMIN_TOKEN`)."},
            "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "reactor_session",
                              "description": "The dashboard's session (`POST /dashboard/api/session`). Every route "
                                             "that takes a bearer token, ingest aside, takes it too; a write with it "
                                             "must send the session's `X-CSRF-Token`."},
            "metricsToken": {"type": "http", "scheme": "bearer",
                             "description": "`[analytics] metrics_token`, when set (`REACTOR_ANALYTICS_METRICS_TOKEN`)."},
        },
    },
}


@blueprint.get("/analytics/v1/openapi.json")
def openapi_document():
    return jsonify(DOCUMENT)
