"""Schemathesis hooks for the dashboard's routes, registered by `schemathesis_hooks.py`.

Valid cases need what no answer of the document can hand over: `GET /dashboard/api/session` a
live session cookie (a cookie is not a value an OpenAPI link passes), `POST
/dashboard/api/share/{token}/session` the secret of a live link (shown only inside the link's
`url`), `POST /dashboard/api/session` a token that signs in, and revoking a link one that exists
(a spare one: revoking it again is no error), deleting a segment one that exists, and saving a segment
a filter the engine reads (the document says only "an object"). They are made with the admin token,
for the test's project: once per run, but a segment once per delete.
"""

from __future__ import annotations

import functools
import json
import os

import requests
import schemathesis

from conftest import ADMIN_TOKEN

TARGET = json.loads(os.environ.get("REACTOR_SCHEMATHESIS_TARGET", "{}"))


@functools.cache
def _session_id(base_url: str) -> str:
    answer = requests.post(base_url + "/dashboard/api/session", json={"token": ADMIN_TOKEN}, timeout=10)
    answer.raise_for_status()
    return answer.cookies["reactor_session"]


@functools.cache
def _share(base_url: str, name: str) -> dict:
    answer = requests.post(f"{base_url}/analytics/v1/projects/{TARGET['project_id']}/shares", json={"name": name},
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    answer.raise_for_status()
    return answer.json()["data"]


def _segment(base_url: str) -> dict:
    """A segment made for one delete: a second delete of the same one would rightly be 404."""
    answer = requests.post(f"{base_url}/analytics/v1/projects/{TARGET['project_id']}/segments",
                           json={"name": "to-delete", "filter": _SEGMENT_FILTER},
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    answer.raise_for_status()
    return answer.json()["data"]


_SEGMENT_FILTER = {"prop": {"page": {"eq": "/"}}}


@schemathesis.hook
def map_case(ctx, case):
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    label = f"{case.method.upper()} {case.operation.path}"
    base_url = case.operation.schema.get_base_url()
    if label == "GET /dashboard/api/session":
        case.cookies = {**(case.cookies or {}), "reactor_session": _session_id(base_url)}
    if label == "POST /dashboard/api/share/{token}/session":
        case.path_parameters["token"] = _share(base_url, "opened")["url"].removeprefix("/share/")
    if label == "DELETE /analytics/v1/projects/{project_ref}/shares/{share_id}":
        case.path_parameters["share_id"] = _share(base_url, "to-revoke")["id"]
    if label == "DELETE /analytics/v1/projects/{project_ref}/segments/{segment_id}":
        case.path_parameters["segment_id"] = _segment(base_url)["id"]
    if label == "POST /analytics/v1/projects/{project_ref}/segments" and isinstance(case.body, dict):
        case.body["filter"] = _SEGMENT_FILTER  # any object is a valid body; the engine reads the filter
    if label == "POST /dashboard/api/session" and isinstance(case.body, dict) and "token" in case.body:
        case.body["token"] = ADMIN_TOKEN
    return case
