"""Request bodies are validated by the models the OpenAPI document is built from (`schemas/`):
the rules the document states are the ones applied, refusals keep the service's one error shape
(400 `analytics.invalid_request` naming the field), and the rules that used to differ between
the two now agree."""

from __future__ import annotations

import pytest

from conftest import ADMIN, unique_slug
from reactor_analytics.api.openapi import DOCUMENT

SCHEMAS = DOCUMENT["components"]["schemas"]


def _refused(answer, field: str | None) -> None:
    assert answer.status_code == 400, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "analytics.invalid_request"
    assert error.get("field") == field


@pytest.mark.parametrize("name", ["tab\there", "line\nbreak", "bell\u0007", "next\u0085line", "   ", "\u3000"])
def test_names_with_control_characters_or_only_spaces_are_refused(client, name):
    answer = client.post("/analytics/v1/projects", json={"slug": unique_slug(), "name": name}, headers=ADMIN)
    _refused(answer, "name")
    assert "no control characters" in answer.get_json()["error"]["message"]


def test_a_name_with_spaces_inside_is_kept(client):
    answer = client.post("/analytics/v1/projects", json={"slug": unique_slug(), "name": " Web  prod\u00a0"},
                         headers=ADMIN)
    assert answer.status_code == 201 and answer.get_json()["data"]["name"] == " Web  prod\u00a0"


def test_org_id_is_a_string_or_null_as_the_document_says(client):
    assert {"type": "null"} in SCHEMAS["ProjectRequest"]["properties"]["org_id"]["anyOf"]  # the document: nullable
    slug = unique_slug()
    assert client.post("/analytics/v1/projects", json={"slug": slug, "org_id": None}, headers=ADMIN).status_code == 201
    _refused(client.post("/analytics/v1/projects", json={"slug": unique_slug(), "org_id": 5}, headers=ADMIN),
             "org_id")
    _refused(client.post("/analytics/v1/projects", json={"slug": unique_slug(), "org_id": ""}, headers=ADMIN),
             "org_id")


def test_an_integer_may_be_written_with_a_zero_fraction(client, project):
    """JSON Schema's integer is a number without a fractional part, however written."""
    answer = client.patch(f"/analytics/v1/projects/{project.id}", json={"retention_days": 30.0}, headers=ADMIN)
    assert answer.status_code == 200 and answer.get_json()["data"]["retention_days"] == 30
    _refused(client.patch(f"/analytics/v1/projects/{project.id}", json={"retention_days": 30.5}, headers=ADMIN),
             "retention_days")


def test_unknown_and_missing_fields_are_named(client, project):
    unknown = client.post(f"/analytics/v1/projects/{project.id}/keys", json={"name": "k", "colour": "red"},
                          headers=ADMIN)
    _refused(unknown, "colour")
    assert "unknown field 'colour'" in unknown.get_json()["error"]["message"]
    missing = client.post("/_admin/tokens", json={}, headers=ADMIN)
    _refused(missing, "sub")
    assert missing.get_json()["error"]["message"] == "sub is required"


def test_erase_names_exactly_one_person(client, project):
    token = client.post("/_admin/tokens", json={"sub": "e", "permissions": [f"analytics:{project.id}:erase"]},
                        headers=ADMIN).get_json()["data"]["token"]
    headers = {"Authorization": f"Bearer {token}", "X-Reactor-Project": project.id}
    for body in ({}, {"user_id": "u", "anonymous_id": "a"}, {"user_id": None, "anonymous_id": None}):
        _refused(client.post("/analytics/v1/erase", json=body, headers=headers), None)
    answer = client.post("/analytics/v1/erase", json={"user_id": "u", "anonymous_id": None}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    # The ids of people are the ids ingest takes: spaces yes, control characters no.
    assert client.post("/analytics/v1/erase", json={"anonymous_id": " "}, headers=headers).status_code == 200
    _refused(client.post("/analytics/v1/erase", json={"anonymous_id": "a\tb"}, headers=headers), "anonymous_id")


def test_log_stream_parameters_are_checked_before_the_stream_starts(client):
    for query, field in (("follow=maybe", "follow"), ("since=yesterday", "since"), ("level=loud", "level")):
        _refused(client.get(f"/_admin/logs?{query}", headers=ADMIN), field)
