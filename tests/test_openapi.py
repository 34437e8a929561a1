"""The OpenAPI document is served and valid, and the running service keeps to it.

Schemathesis generates requests from the document (valid ones and, in negative mode, invalid
ones) and sends them to `reactor serve` under gunicorn with a real PostgreSQL, authenticated as
each operation needs; every answer must be a non-5xx that matches its documented schema.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from conftest import ADMIN_TOKEN, LiveServer, unique_slug
from reactor_analytics.api.openapi import DOCUMENT

# Examples per operation and generation mode; REACTOR_SCHEMATHESIS_EXAMPLES raises them for a long run.
EXAMPLES = int(os.environ.get("REACTOR_SCHEMATHESIS_EXAMPLES", "30"))
CHECKS = [not_a_server_error, response_schema_conformance]
EXTRA_ROUNDS = 8  # more rounds of positive cases for an operation without a 2xx yet
REQUEST_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory):
    live = LiveServer(postgres, tmp_path_factory.mktemp("openapi"), workers=2)
    # Generated traffic comes from one address: lift the per-IP limit so it does not hide the
    # endpoints behind 429s, and keep followed log streams short.
    live.env.update({"REACTOR_ANALYTICS_RATE_LIMIT_PER_SECOND": "100000",
                     "REACTOR_ANALYTICS_RATE_LIMIT_BURST": "100000",
                     "REACTOR_TRACING_LOG_STREAM_SECONDS": "2", "REACTOR_TRACING_FILTER": "warning"})
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def credentials(server) -> dict:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    slug = unique_slug("oas")
    project = requests.post(f"{server.url}/analytics/v1/projects", json={"slug": slug}, headers=admin, timeout=10)
    assert project.status_code == 201, project.text
    project_id = project.json()["data"]["id"]
    key = requests.post(f"{server.url}/analytics/v1/projects/{project_id}/keys", json={"name": "fuzz"},
                        headers=admin, timeout=10)
    assert key.status_code == 201, key.text
    spare = requests.post(f"{server.url}/analytics/v1/projects/{project_id}/keys", json={"name": "to-revoke"},
                          headers=admin, timeout=10)
    assert spare.status_code == 201, spare.text
    token = requests.post(f"{server.url}/_admin/tokens", headers=admin, timeout=10, json={
        "sub": "schemathesis", "ttl_seconds": 3600,
        "permissions": ["analytics:project:create", "analytics:*:ingest", "analytics:*:query", "analytics:*:erase"]})
    assert token.status_code == 201, token.text
    return {"project_id": project_id, "slug": slug, "spare_key_id": spare.json()["data"]["id"],
            "admin": admin, "jwt": {"Authorization": f"Bearer {token.json()['data']['token']}"},
            "key": {"X-Reactor-Project-Key": key.json()["data"]["key"]}, "none": {}}


def test_document_is_served_and_is_valid_openapi(server):
    answer = requests.get(f"{server.url}/analytics/v1/openapi.json", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json() == json.loads(json.dumps(DOCUMENT))
    schema = schemathesis.openapi.from_url(f"{server.url}/analytics/v1/openapi.json")
    schema.validate()  # against the OpenAPI 3.0 meta-schema
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    for label in ("POST /analytics/v1/track", "POST /analytics/v1/batch", "POST /analytics/v1/identify",
                  "POST /analytics/v1/alias", "POST /analytics/v1/consent/opt-out", "GET /analytics/v1/consent/status",
                  "POST /analytics/v1/query", "POST /analytics/v1/erase", "POST /analytics/v1/projects",
                  "GET /analytics/v1/projects", "POST /analytics/v1/projects/{project_ref}/keys",
                  "DELETE /analytics/v1/projects/{project_ref}/keys/{key_id}", "POST /_admin/tokens", "GET /health",
                  "GET /_admin/doctor", "GET /_admin/version", "GET /_admin/logs"):
        assert label in labels


def test_every_documented_route_exists(config):
    """Each documented path and method is routed (not a 404/405 from Flask itself)."""
    from reactor_analytics.app import create_app

    app = create_app(config)
    try:
        routed = {(rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods}
    finally:
        app.extensions["reactor"].db.close()
    for path, item in DOCUMENT["paths"].items():
        flask_path = path.replace("{", "<").replace("}", ">")
        for method in item:
            if method != "parameters":
                assert (flask_path, method.upper()) in routed, (path, method)


def _credentials_for(operation, credentials, draw) -> dict:
    """The headers an operation needs, sometimes the alternative it also accepts."""
    path, method = operation.path, operation.method.upper()
    if method == "OPTIONS" or path in ("/health", "/metrics", "/analytics/v1/openapi.json"):
        return {}
    if path.startswith("/_admin/"):
        return credentials["admin"]
    if path in ("/analytics/v1/query", "/analytics/v1/erase"):
        return credentials["jwt"]
    if path.startswith("/analytics/v1/projects"):
        return credentials[draw(st.sampled_from(["admin", "jwt"]))]
    return credentials[draw(st.sampled_from(["key", "jwt"]))]  # ingest and consent


_CREDENTIAL_HEADERS = ("Authorization", "X-Reactor-Project-Key")


def _steer(case, credentials, draw) -> None:
    """Half the cases go as generated (made-up keys and tokens included); the other half drop
    the made-up credentials and aim at the real project, so handlers run past their lookups."""
    if not draw(st.booleans()):
        return
    case.headers = {k: v for k, v in (case.headers or {}).items() if k not in _CREDENTIAL_HEADERS}
    case.query = {k: v for k, v in (case.query or {}).items() if k not in ("key", "api_key")}
    if isinstance(case.body, dict):
        case.body = {k: v for k, v in case.body.items() if k not in ("key", "api_key")}
        if "project_id" in case.body:
            case.body["project_id"] = credentials["project_id"]
    if "project_ref" in (case.path_parameters or {}):
        case.path_parameters["project_ref"] = draw(st.sampled_from([credentials["project_id"], credentials["slug"]]))
    if "key_id" in (case.path_parameters or {}):
        case.path_parameters["key_id"] = credentials["spare_key_id"]  # revoking is idempotent: 204 every time
    if any(p.name == "X-Reactor-Project" for p in case.operation.headers):
        case.headers["X-Reactor-Project"] = credentials["project_id"]


def _run(operation, mode: GenerationMode, base_url: str, credentials: dict, counts: Counter,
         successes: Counter) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def one_case(case, data):
        counts[operation.label] += 1
        _steer(case, credentials, data.draw)
        headers = _credentials_for(operation, credentials, data.draw)
        response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=REQUEST_TIMEOUT)
        successes[operation.label] += response.status_code < 300

    one_case()


def _nothing_to_make_invalid() -> set[str]:
    """Operations without parameters or a body: negative mode has nothing to generate for them."""
    labels = set()
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method != "parameters" and not (item.get("parameters") or operation.get("parameters")
                                               or operation.get("requestBody")):
                labels.add(f"{method.upper()} {path}")
    return labels


def test_service_conforms_to_its_document(server, credentials, capsys):
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(DOCUMENT)))
    counts: Counter = Counter()
    successes: Counter = Counter()  # 2xx answers: the steered cases do get past authentication
    failures: list[str] = []
    unsatisfiable: set[tuple[str, str]] = set()
    started = time.monotonic()

    def run(operation, mode: GenerationMode) -> bool:
        try:
            _run(operation, mode, server.url, credentials, counts, successes)
        except Unsatisfiable:
            unsatisfiable.add((operation.label, mode.value))
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect them all, report at the end
            failures.append(f"--- {operation.label} ({mode.value})\n{str(exc)[:3000]}")
            return False
        return True

    for result in schema.get_all_operations():
        operation = result.ok()
        ok = all([run(operation, mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)])
        # Few generated cases of some operations are valid (alias: half are text/plain strings, and
        # previous_id often equals user_id): one without a 2xx yet gets more rounds of positive cases.
        for _ in range(EXTRA_ROUNDS):
            if not ok or successes[operation.label]:
                break
            ok = run(operation, GenerationMode.POSITIVE)
    took = time.monotonic() - started
    never_2xx = sorted(set(counts) - set(+successes))
    with capsys.disabled():
        print(f"\nschemathesis: {sum(counts.values())} cases over {len(counts)} operations "
              f"({EXAMPLES} max examples per operation and mode) in {took:.1f}s, {sum(successes.values())} "
              f"answered 2xx; {len(failures)} failing; unsatisfiable: {sorted(unsatisfiable) or 'none'}; "
              f"never 2xx: {never_2xx or 'none'}")
    assert not failures, "\n".join(failures)
    # Only negative mode on an operation without parameters or body may find nothing to generate.
    assert unsatisfiable <= {(label, GenerationMode.NEGATIVE.value) for label in _nothing_to_make_invalid()}, \
        sorted(unsatisfiable)
    assert set(counts) == {result.ok().label for result in schema.get_all_operations()}, "an operation never ran"
    # Every operation answered 2xx at least once: the generated cases reach past validation and
    # authentication into each handler, rather than only exercising its refusals.
    assert never_2xx == [], f"never answered 2xx: {never_2xx}"
