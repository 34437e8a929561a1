"""The service's OpenAPI 3.0 document, served at GET /analytics/v1/openapi.json (no auth).

It describes what the blueprints really do — bodies, credentials and the one error shape with
its statuses — so clients can be generated from it and `tests/test_openapi.py` can hold the
running service to it. Change it together with the endpoint it describes.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from .. import __version__

blueprint = Blueprint("openapi", __name__)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _data(schema: dict) -> dict:
    """The success envelope `{"data": …}`."""
    return {"type": "object", "required": ["data"], "properties": {"data": schema}}


_ERROR_TEXT = {
    400: "Invalid request (bad JSON, a field out of range, a refused event).",
    401: "No credentials, or invalid / expired / revoked ones.",
    403: "The credential may not act on that project.",
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


def _body(schema: dict, *, beacon: bool = False, required: bool = True) -> dict:
    content = _json(schema)
    if beacon:
        # What navigator.sendBeacon sends: the same JSON, labelled text/plain.
        content["text/plain"] = {"schema": {"type": "string", "description": "The JSON body, as text."}}
    return {"required": required, "content": content}


_STRING = {"type": "string", "minLength": 1, "maxLength": 200}
_ID = {"type": "string", "minLength": 1, "maxLength": 200, "description": "At most 200 characters, no control "
       "characters."}
_TIME = {"description": "RFC 3339 date-time or epoch milliseconds.",
         "oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}]}
_PROJECT_ID = {"type": "string", "maxLength": 200, "description": "Project id (`p_…`) or slug; must agree with "
               "X-Reactor-Project and with the project of a project key."}
_BODY_KEY = {"type": "string", "description": "A project key in the body, where a browser cannot set headers."}

_PROJECT_HEADER = {"name": "X-Reactor-Project", "in": "header", "required": False,
                   "description": "Project id or slug the request acts on (JWT callers).",
                   "schema": {"type": "string", "maxLength": 200}}
_KEY_QUERY = [{"name": name, "in": "query", "required": False, "description": "A project key, for beacons and "
               "pixels that cannot set headers.", "schema": {"type": "string"}} for name in ("key", "api_key")]
_PROJECT_REF = {"name": "project_ref", "in": "path", "required": True, "description": "Project id or slug.",
                "schema": {"type": "string", "minLength": 1}}

_EVENT_FIELDS = {
    "event": {"type": "string", "minLength": 1, "maxLength": 200,
              "description": "Custom name, or one of the system events `$pageview`, `$identify`, `$alias`, "
                             "`$session_start`, `$session_end`, `$autocapture`, `$error`."},
    "anonymous_id": _ID,
    "user_id": _ID,
    "properties": {"type": "object", "description": "Free-form; properties + context ≤ 32 KiB."},
    "context": {"type": "object", "description": "page, referrer, utm, user_agent, locale, timezone, library, …"},
    "timestamp": _TIME,
    "sent_at": _TIME,
    "message_id": {**_ID, "description": "Idempotency key: a retried event is stored once."},
    "project_id": _PROJECT_ID,
}

_ONE_ID_REQUIRED = [{"required": ["anonymous_id"]}, {"required": ["user_id"]}]
_DURATION = {"type": "string", "pattern": r"^\d{1,5}(s|m|h|d|w)$"}
_QUERY_COMMON = {
    "project_id": _PROJECT_ID,
    "time_range": {"description": 'Default {"last": "30d"}.', "oneOf": [
        {"type": "object", "required": ["last"], "additionalProperties": False, "properties": {"last": _DURATION}},
        {"type": "object", "required": ["from"], "additionalProperties": False,
         "properties": {"from": {"type": "string", "format": "date-time"},
                        "to": {"type": "string", "format": "date-time"}}}]},
    "timezone": {"type": "string", "description": "IANA name; default UTC."},
    "filter": _ref("Filter"),
}
_LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000}
# kind -> (required fields, the kind's own fields)
_QUERY_FIELDS: dict = {
    "events": ([], {"limit": _LIMIT}),
    "aggregate": ([], {"measure": _ref("Measure"), "group_by": _ref("GroupBy"),
                       "time_bucket": {"type": "string", "enum": ["1h", "1d", "1w", "1mo"]}}),
    "funnel": (["steps"], {"steps": {"type": "array", "minItems": 1, "maxItems": 20, "items": {
                               "type": "object", "required": ["event"], "additionalProperties": False,
                               "properties": {"event": _STRING, "filter": _ref("Filter")}}},
                           "conversion_window": _DURATION, "group_by": _ref("GroupBy"),
                           "order": {"type": "string", "enum": ["sequential", "strict"]}}),
    "retention": (["cohort_event"], {"cohort_event": _STRING, "return_event": _STRING,
                                     "period": {"type": "string", "enum": ["day", "week"]},
                                     "periods": {"type": "integer", "minimum": 1, "maximum": 90}}),
    "breakdown": (["prop"], {"prop": _STRING, "measure": _ref("Measure"), "limit": _LIMIT}),
    "path": ([], {"start_event": _STRING, "end_event": _STRING,
                  "depth": {"type": "integer", "minimum": 1, "maximum": 20}, "limit": _LIMIT}),
}
_QUERY_KINDS = {kind: f"{kind.capitalize()}Query" for kind in _QUERY_FIELDS}


def _query_kind(kind: str) -> dict:
    required, own = _QUERY_FIELDS[kind]
    schema = {"type": "object", "required": ["kind", *required], "additionalProperties": False,
              "properties": {**_QUERY_COMMON, "kind": {"type": "string", "enum": [kind]}, **own}}
    if kind == "path":
        schema["description"] = "Exactly one of start_event and end_event."
        schema["oneOf"] = [{"required": ["start_event"], "not": {"required": ["end_event"]}},
                           {"required": ["end_event"], "not": {"required": ["start_event"]}}]
    return schema


_INGEST_SECURITY = [{"projectKey": []}, {"projectKeyQuery": []}, {"bearerJwt": []}]
_JWT = [{"bearerJwt": []}]
_ADMIN_API = [{"bearerJwt": []}, {"adminToken": []}]
_ADMIN_ONLY = [{"adminToken": []}]

SCHEMAS: dict = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string", "pattern": r"^analytics\."}, "message": {"type": "string"},
                           "field": {"type": "string"}, "limit_bytes": {"type": "integer"},
                           "limit": {"type": "integer"}},
            "additionalProperties": True}},
    },
    "Event": {
        "type": "object", "properties": _EVENT_FIELDS,
        "description": "One event; `anonymous_id` or `user_id` is required (a batch rejects the event alone).",
    },
    "TrackRequest": {
        "type": "object", "required": ["event"], "anyOf": _ONE_ID_REQUIRED,
        "properties": {**_EVENT_FIELDS, "key": _BODY_KEY, "api_key": _BODY_KEY},
        "additionalProperties": False,
    },
    "BatchRequest": {
        "type": "object",
        "oneOf": [{"required": ["batch"], "not": {"required": ["events"]}},
                  {"required": ["events"], "not": {"required": ["batch"]}}],
        "properties": {"batch": {"type": "array", "minItems": 1, "maxItems": 100, "items": _ref("Event")},
                       "events": {"type": "array", "minItems": 1, "maxItems": 100, "items": _ref("Event"),
                                  "description": "Another name for `batch`; send one of the two."},
                       "sent_at": _TIME, "project_id": _PROJECT_ID, "key": _BODY_KEY, "api_key": _BODY_KEY},
        "additionalProperties": False,
        "description": "Up to 100 events; the body is at most 1 MiB.",
    },
    "IdentifyRequest": {
        "type": "object", "required": ["user_id"],
        "properties": {"user_id": _ID, "anonymous_id": _ID, "traits": {"type": "object"},
                       "timestamp": _TIME, "sent_at": _TIME, "message_id": _ID, "context": {"type": "object"},
                       "project_id": _PROJECT_ID, "key": _BODY_KEY, "api_key": _BODY_KEY},
        "additionalProperties": False,
    },
    "AliasRequest": {
        "type": "object", "required": ["previous_id", "user_id"],
        "properties": {"previous_id": _ID, "user_id": _ID, "timestamp": _TIME, "sent_at": _TIME,
                       "message_id": _ID, "context": {"type": "object"}, "project_id": _PROJECT_ID,
                       "key": _BODY_KEY, "api_key": _BODY_KEY},
        "additionalProperties": False,
    },
    "Rejection": {
        "type": "object", "required": ["index", "reason", "message"],
        "properties": {"index": {"type": "integer", "minimum": 0},
                       "reason": {"type": "string", "description": "invalid_event, unknown_field, missing_field, "
                                  "invalid_field, invalid_name, system_reserved, properties_too_large, "
                                  "invalid_timestamp, project_mismatch, opted_out"},
                       "message": {"type": "string"}, "field": {"type": "string"},
                       "limit_bytes": {"type": "integer"}},
    },
    "IngestResult": _data({
        "type": "object", "required": ["accepted", "rejected"],
        "properties": {"accepted": {"type": "integer", "minimum": 0},
                       "rejected": {"type": "array", "items": _ref("Rejection")}},
    }),
    "OptOutRequest": {
        "type": "object", "required": ["anonymous_id"],
        "properties": {"anonymous_id": _STRING, "project_id": _PROJECT_ID, "key": _BODY_KEY, "api_key": _BODY_KEY},
        "additionalProperties": False,
    },
    "ConsentStatus": _data({
        "type": "object", "required": ["anonymous_id", "opted_out"],
        "properties": {"anonymous_id": {"type": "string"}, "opted_out": {"type": "boolean"}},
    }),
    "Filter": {
        "type": "object", "minProperties": 1, "maxProperties": 1,
        "description": '`{"all": [f…]}`, `{"any": [f…]}`, `{"not": f}`, `{"event": {"eq"|"neq"|"in": v}}`, '
                       '`{"prop": {name: {op: v}}}`, `{"trait": {name: {op: v}}}`; ops eq, neq, in, gt, gte, lt, '
                       'lte, contains, exists. At most 12 deep and 200 conditions.',
    },
    "GroupBy": {
        "type": "array", "maxItems": 3,
        "items": {"type": "object", "minProperties": 1, "maxProperties": 1,
                  "properties": {"prop": _STRING, "trait": _STRING}, "additionalProperties": False},
    },
    "Measure": {
        "description": '"count", "unique_users", {"sum"|"avg"|"min"|"max": prop} or '
                       '{"percentile": {"prop": name, "p": 0.9}}',
        "oneOf": [{"type": "string", "enum": ["count", "unique_users"]},
                  {"type": "object", "minProperties": 1, "maxProperties": 1,
                   "properties": {"sum": _STRING, "avg": _STRING, "min": _STRING, "max": _STRING,
                                  "percentile": {"type": "object", "required": ["prop", "p"],
                                                 "properties": {"prop": _STRING,
                                                                "p": {"type": "number", "minimum": 0,
                                                                      "maximum": 1}},
                                                 "additionalProperties": False}},
                   "additionalProperties": False}],
    },
    "QueryRequest": {
        "description": "One endpoint, one schema per `kind`; the common fields are project_id, kind, "
                       "time_range, timezone and filter.",
        "oneOf": [_ref(name) for name in _QUERY_KINDS.values()],
        "discriminator": {"propertyName": "kind",
                          "mapping": {kind: f"#/components/schemas/{name}" for kind, name in _QUERY_KINDS.items()}},
    },
    **{name: _query_kind(kind) for kind, name in _QUERY_KINDS.items()},
    "QueryResult": _data({
        "type": "object", "required": ["kind", "rows", "meta"],
        "properties": {"kind": {"type": "string"},
                       "rows": {"type": "array", "items": {"type": "object"},
                                "description": "Shape by kind, see the spec's Query section."},
                       "meta": {"type": "object", "required": ["took_ms", "rows_scanned"],
                                "properties": {"took_ms": {"type": "number"},
                                               "rows_scanned": {"type": "integer"}}}},
    }),
    "EraseRequest": {
        "type": "object",
        "description": "Exactly one of `user_id` and `anonymous_id`.",
        "oneOf": [{"required": ["user_id"], "not": {"required": ["anonymous_id"]}},
                  {"required": ["anonymous_id"], "not": {"required": ["user_id"]}}],
        "properties": {"user_id": _ID, "anonymous_id": _ID, "project_id": _PROJECT_ID},
        "additionalProperties": False,
    },
    "EraseResult": _data({
        "type": "object", "required": ["events", "identity_links", "traits"],
        "properties": {name: {"type": "integer", "minimum": 0} for name in ("events", "identity_links", "traits")},
    }),
    "Project": {
        "type": "object", "required": ["id", "slug", "name", "org_id", "retention_days", "created_at"],
        "properties": {"id": {"type": "string", "pattern": "^p_"}, "slug": {"type": "string"},
                       "name": {"type": "string"}, "org_id": {"type": "string"},
                       "retention_days": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"}},
    },
    "ProjectRequest": {
        "type": "object", "required": ["slug"],
        "properties": {"slug": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}, "name": _STRING,
                       "retention_days": {"type": "integer", "minimum": 1, "maximum": 3650},
                       "org_id": {"type": "string", "maxLength": 100, "description": "Admin token only."}},
        "additionalProperties": False,
    },
    "Key": {
        "type": "object", "required": ["id", "name", "prefix", "created_at", "revoked_at"],
        "properties": {"id": {"type": "string", "pattern": "^k_"}, "name": {"type": "string"},
                       "prefix": {"type": "string", "pattern": "^rapk_"},
                       "created_at": {"type": "string", "format": "date-time"},
                       "revoked_at": {"type": "string", "format": "date-time", "nullable": True}},
    },
    "KeyRequest": {
        "type": "object", "required": ["name"], "properties": {"name": {**_STRING, "maxLength": 100}},
        "additionalProperties": False,
    },
    "TokenRequest": {
        "type": "object", "required": ["sub"],
        "properties": {"sub": _STRING,
                       "permissions": {"type": "array", "items": {"type": "string", "minLength": 1},
                                       "description": "analytics:project:create, analytics:{project}:ingest, "
                                                      "analytics:{project}:query, analytics:{project}:erase "
                                                      "(`*` for every project)."},
                       "ttl_seconds": {"type": "integer", "minimum": 1, "maximum": 365 * 86400},
                       "org_id": _STRING},
        "additionalProperties": False,
    },
    "Health": {
        "type": "object", "required": ["status", "capabilities", "parts"],
        "properties": {"status": {"type": "string", "enum": ["ok", "error"]},
                       "capabilities": {"type": "object", "properties": {"analytics": {"type": "string"}}},
                       "parts": {"type": "object", "additionalProperties": {"type": "string"}},
                       "failing": {"type": "array", "items": {"type": "string"}}},
    },
}


def _ingest(summary: str, schema: str, *, beacon: bool = True) -> dict:
    """An ingest path: POST with a key or a JWT, plus the CORS preflight."""
    post = {
        "summary": summary, "tags": ["ingest"], "security": _INGEST_SECURITY,
        "parameters": [_PROJECT_HEADER, *_KEY_QUERY],
        "requestBody": _body(_ref(schema), beacon=beacon),
        "responses": {"200": {"description": "Accepted (and durable) events; per-index rejections for /batch.",
                              "content": _json(_ref("IngestResult"))},
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
            "responses": {"200": {"description": "Opted out.", "content": _json(_ref("ConsentStatus"))},
                          **_errors(400, 401, 403, 413, 415, 429, 503)},
        },
        "options": _preflight(),
    },
    "/analytics/v1/consent/status": {
        "get": {
            "summary": "Whether an anonymous_id opted out.",
            "tags": ["consent"], "security": _INGEST_SECURITY,
            "parameters": [{"name": "anonymous_id", "in": "query", "required": True, "schema": _STRING},
                           {"name": "project_id", "in": "query", "required": False, "schema": _PROJECT_ID},
                           _PROJECT_HEADER, *_KEY_QUERY],
            "responses": {"200": {"description": "The opt-out state.", "content": _json(_ref("ConsentStatus"))},
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
            "responses": {"200": {"description": "Rows by kind.", "content": _json(_ref("QueryResult"))},
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
            "responses": {"200": {"description": "What was deleted.", "content": _json(_ref("EraseResult"))},
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
            "summary": "Change a project's retention; the next retention sweep applies it.",
            "tags": ["admin"], "security": _ADMIN_API,
            "requestBody": _body({"type": "object", "required": ["retention_days"], "additionalProperties": False,
                                  "properties": {"retention_days": {"type": "integer", "minimum": 1,
                                                                    "maximum": 3650}}}),
            "responses": {"200": {"description": "The updated project.", "content": _json(_data(_ref("Project")))},
                          **_errors(400, 401, 404, 413, 415, 429, 503)},
        },
    },
    "/analytics/v1/projects/{project_ref}/keys": {
        "parameters": [_PROJECT_REF],
        "post": {
            "summary": "Create a project public key; the key is shown only in this answer.",
            "tags": ["admin"], "security": _ADMIN_API, "requestBody": _body(_ref("KeyRequest")),
            "responses": {"201": {"description": "Created.", "content": _json(_data({
                "allOf": [_ref("Key"), {"type": "object", "required": ["key"],
                                        "properties": {"key": {"type": "string", "pattern": "^rapk_"}}}]}))},
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
    "/_admin/tokens": {
        "post": {
            "summary": "Mint an HS256 JWT, so a local install needs no identity provider.",
            "tags": ["admin"], "security": _ADMIN_ONLY, "requestBody": _body(_ref("TokenRequest")),
            "responses": {"201": {"description": "Minted.", "content": _json(_data({
                "type": "object", "required": ["token", "expires_in"],
                "properties": {"token": {"type": "string"}, "expires_in": {"type": "integer"}}}))},
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
            "responses": {"200": {"description": "Probe results.", "content": _json({
                "type": "object", "required": ["analytics"],
                "properties": {"analytics": {
                    "type": "object", "required": ["status", "version", "checks"],
                    "properties": {"status": {"type": "string", "enum": ["ok", "error"]},
                                   "version": {"type": "string"},
                                   "checks": {"type": "array", "items": {
                                       "type": "object", "required": ["name", "status", "latency_ms"],
                                       "properties": {"name": {"type": "string"},
                                                      "status": {"type": "string", "enum": ["ok", "error"]},
                                                      "latency_ms": {"type": "number"}}}}}}}})},
                **_errors(401, 429)},
        },
    },
    "/_admin/version": {
        "get": {
            "summary": "Service and capability versions.", "tags": ["operations"], "security": _ADMIN_ONLY,
            "responses": {"200": {"description": "Versions.", "content": _json({
                "type": "object", "required": ["reactor", "capabilities"],
                "properties": {"reactor": {"type": "string"},
                               "capabilities": {"type": "object", "additionalProperties": {"type": "string"}}}})},
                **_errors(401, 429)},
        },
    },
    "/_admin/logs": {
        "get": {
            "summary": "Server-sent events of JSON log lines.", "tags": ["operations"], "security": _ADMIN_ONLY,
            "parameters": [
                {"name": "follow", "in": "query", "required": False, "schema": {"type": "boolean"},
                 "description": "Keep the stream open (bounded by `[tracing] log_stream_seconds`)."},
                {"name": "since", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "ISO-8601 time or a duration such as 15m, 1h, 2d."},
                {"name": "capability", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "level", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["trace", "debug", "info", "warning", "warn", "error",
                                                       "critical"]}},
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
            "responses": {"200": {"description": "OpenAPI 3.0.", "content": _json({"type": "object"})}},
        },
    },
}

DOCUMENT: dict = {
    "openapi": "3.0.3",
    "info": {
        "title": "Reactor Analytics",
        "version": __version__,
        "description": "Self-hosted product analytics: ingest, identity stitching, queries, governance. Every "
                       'error is `{"error": {"code": "analytics.…", "message": "…", …}}`.',
    },
    "servers": [{"url": "/"}],
    "tags": [{"name": name} for name in ("ingest", "consent", "query", "governance", "admin", "operations")],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
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
            "metricsToken": {"type": "http", "scheme": "bearer",
                             "description": "`[analytics] metrics_token`, when set (`REACTOR_ANALYTICS_METRICS_TOKEN`)."},
        },
    },
}


@blueprint.get("/analytics/v1/openapi.json")
def openapi_document():
    return jsonify(DOCUMENT)
