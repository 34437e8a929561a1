"""Schemathesis hooks for `tests/test_openapi.py`, loaded by `schemathesis run` through
SCHEMATHESIS_HOOKS.

They teach the generator the few rules that JSON Schema cannot state, and only for cases meant
to be valid (a negative case is never touched, so it stays invalid):

- aim at the test's real project, so handlers run past their project lookups;
- `previous_id` differs from `user_id` in /alias (a rule between two fields);
- a query's time range lies within the configured days and ends after it starts (a rule
  against the clock and between two fields), and so does the errors answer's;
- paths name things that exist: a pixel, a spare pixel to delete, an error group.

Everything else a valid case must satisfy is in the document itself. They also read text/plain
bodies as JSON (what sendBeacon sends) and record each answer's status for the test.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import schemathesis

import schemathesis_dashboard  # noqa: F401  (the dashboard's hooks)

TARGET = json.loads(os.environ.get("REACTOR_SCHEMATHESIS_TARGET", "{}"))


@schemathesis.serializer("text/plain")
def beacon_body(ctx, value):
    """The ingest endpoints read a text/plain body as the same JSON document (navigator.sendBeacon)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode("utf-8", "surrogatepass")


def _valid_case(case) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_positive


@schemathesis.hook
def map_case(ctx, case):
    if not _valid_case(case):
        return case
    body = case.body if isinstance(case.body, dict) else None
    label = f"{case.method.upper()} {case.operation.path}"
    if "project_ref" in (case.path_parameters or {}):
        # A project's settings and sources change on a project of their own, so that the events
        # generated for the others are never refused for their page's hostname.
        settings = label == "PATCH /analytics/v1/projects/{project_ref}" or "/sources" in case.operation.path
        case.path_parameters["project_ref"] = TARGET["settings_project_id" if settings else "project_id"]
    if "key_id" in (case.path_parameters or {}):
        case.path_parameters["key_id"] = TARGET["spare_key_id"]  # revoking is idempotent: 204 every time
    if "pixel_id" in (case.path_parameters or {}):
        # Deleting is idempotent (204 every time); the pixel that is loaded is another one.
        spare = label.startswith("DELETE ")
        case.path_parameters["pixel_id"] = TARGET["spare_pixel_id" if spare else "pixel_id"]
    if "fingerprint" in (case.path_parameters or {}):
        case.path_parameters["fingerprint"] = TARGET["fingerprint"]
        case.headers = {**(case.headers or {}), "X-Reactor-Project": TARGET["project_id"]}
    if label == "GET /analytics/v1/errors" and isinstance(case.query, dict):
        _errors_range(case.query)
    if body is not None and isinstance(body.get("project_id"), str):
        body["project_id"] = TARGET["project_id"]
    if isinstance(case.query, dict) and isinstance(case.query.get("project_id"), str):
        case.query["project_id"] = TARGET["project_id"]
    if label == "POST /analytics/v1/alias" and body is not None and body.get("previous_id") == body.get("user_id"):
        user = body["user_id"]
        body["user_id"] = user[:-1] + ("a" if user[-1] != "a" else "b")
    if label == "POST /analytics/v1/query" and body is not None and isinstance(body.get("time_range"), dict):
        body["time_range"] = _within_limits(body["time_range"])
    if label == "POST /analytics/v1/query" and body is not None:
        _one_shape(body)
    return case


def _errors_range(query: dict) -> None:
    """`last`, or `from` (and `to`) ending after it starts, within a week of now."""
    now = datetime.now(timezone.utc)
    if "from" in query or "to" in query:
        query.pop("last", None)
        query["from"] = (now - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if "to" in query:
            query["to"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    elif "last" in query:
        query["last"] = "7d"


def _one_shape(body: dict) -> None:
    """A web query has a dimension or a time bucket, and compares only a closed range; dau, wau
    and mau count daily buckets."""
    if body.get("kind") == "web":
        if body.get("dimension") is not None:
            body.pop("time_bucket", None)
        time_range = body.get("time_range")
        if body.get("compare") is not None and isinstance(time_range, dict) and "from" in time_range:
            time_range.setdefault("to", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    if body.get("kind") == "aggregate" and body.get("measure") in ("dau", "wau", "mau"):
        body["time_bucket"] = "1d"


def _within_limits(time_range: dict) -> dict:
    """The same shape of range, reaching a week back from now (within every kind's limit and
    the 31 days of hourly buckets)."""
    if "last" in time_range:
        return {"last": "7d"}
    now = datetime.now(timezone.utc)
    start = (now - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"from": start, **({"to": now.strftime("%Y-%m-%dT%H:%M:%SZ")} if "to" in time_range else {})}


@schemathesis.hook
def after_call(ctx, case, response):
    log = os.environ.get("REACTOR_SCHEMATHESIS_LOG")
    if log and case.method.upper() == case.operation.method.upper():  # not a probe with another method
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{case.operation.method.upper()} {case.operation.path}\t{response.status_code}\n")
