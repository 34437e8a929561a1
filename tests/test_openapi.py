"""The OpenAPI document is served and valid, and the running service keeps to it.

`schemathesis run` with every check on generates requests from the served document (its
examples, its coverage of each keyword's edges, then random valid and invalid cases) and sends
them to `reactor serve` under gunicorn with a real PostgreSQL, authenticated as each operation
needs. Valid requests must be accepted and invalid ones refused, every answer must be
documented (status, media type, headers, schema), and credentials must be enforced; the run
must end with no failure of any kind. `schemathesis_hooks.py` says what JSON Schema cannot.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
import schemathesis

from conftest import ADMIN_TOKEN, VENV_BIN, LiveServer, unique_slug
from reactor_analytics.api.openapi import DOCUMENT

# Random cases per operation (each mode); REACTOR_SCHEMATHESIS_EXAMPLES raises them for a long run.
EXAMPLES = int(os.environ.get("REACTOR_SCHEMATHESIS_EXAMPLES", "60"))


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
    settings = requests.post(f"{server.url}/analytics/v1/projects", json={"slug": unique_slug("oas-settings")},
                             headers=admin, timeout=10)
    assert settings.status_code == 201, settings.text
    pixels = [requests.post(f"{server.url}/analytics/v1/projects/{project_id}/pixels", json={"name": name},
                            headers=admin, timeout=10) for name in ("loaded", "to-delete")]
    assert all(p.status_code == 201 for p in pixels), [p.text for p in pixels]
    error = requests.post(f"{server.url}/analytics/v1/track", timeout=10,
                          headers={"X-Reactor-Project-Key": key.json()["data"]["key"]},
                          json={"event": "$error", "anonymous_id": "oas", "properties": {"type": "Error"}})
    assert error.status_code == 200, error.text
    groups = requests.get(f"{server.url}/analytics/v1/errors", params={"project_id": project_id}, headers=admin,
                          timeout=10)
    assert groups.status_code == 200 and len(groups.json()["data"]) == 1, groups.text
    token = requests.post(f"{server.url}/_admin/tokens", headers=admin, timeout=10, json={
        "sub": "schemathesis", "ttl_seconds": 3600,
        "permissions": ["analytics:project:create", "analytics:*:ingest", "analytics:*:query", "analytics:*:erase"]})
    assert token.status_code == 201, token.text
    return {"project_id": project_id, "slug": slug, "spare_key_id": spare.json()["data"]["id"],
            "settings_project_id": settings.json()["data"]["id"], "pixel_id": pixels[0].json()["data"]["id"],
            "spare_pixel_id": pixels[1].json()["data"]["id"], "fingerprint": groups.json()["data"][0]["fingerprint"],
            "admin": admin, "jwt": {"Authorization": f"Bearer {token.json()['data']['token']}"},
            "key": {"X-Reactor-Project-Key": key.json()["data"]["key"]}, "none": {}}


def test_document_is_served_and_is_valid_openapi(server):
    answer = requests.get(f"{server.url}/analytics/v1/openapi.json", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json() == json.loads(json.dumps(DOCUMENT))
    schema = schemathesis.openapi.from_url(f"{server.url}/analytics/v1/openapi.json")
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    for label in ("POST /analytics/v1/track", "POST /analytics/v1/batch", "POST /analytics/v1/identify",
                  "POST /analytics/v1/alias", "POST /analytics/v1/consent/opt-out", "GET /analytics/v1/consent/status",
                  "POST /analytics/v1/query", "POST /analytics/v1/erase", "POST /analytics/v1/projects",
                  "GET /analytics/v1/projects", "POST /analytics/v1/projects/{project_ref}/keys",
                  "DELETE /analytics/v1/projects/{project_ref}/keys/{key_id}", "POST /_admin/tokens", "GET /health",
                  "GET /_admin/doctor", "GET /_admin/version", "GET /_admin/logs", "GET /analytics/v1/errors",
                  "PATCH /analytics/v1/errors/{fingerprint}", "POST /analytics/v1/projects/{project_ref}/pixels",
                  "GET /analytics/v1/projects/{project_ref}/pixels",
                  "DELETE /analytics/v1/projects/{project_ref}/pixels/{pixel_id}", "GET /analytics/v1/pixel/{pixel_id}.gif",
                  "POST /analytics/v1/projects/{project_ref}/sources", "GET /analytics/v1/projects/{project_ref}/sources",
                  "DELETE /analytics/v1/projects/{project_ref}/sources/{hostname}",
                  "POST /analytics/v1/projects/{project_ref}/shares", "GET /analytics/v1/projects/{project_ref}/shares",
                  "DELETE /analytics/v1/projects/{project_ref}/shares/{share_id}",
                  "POST /analytics/v1/projects/{project_ref}/segments", "GET /analytics/v1/projects/{project_ref}/segments",
                  "DELETE /analytics/v1/projects/{project_ref}/segments/{segment_id}", "GET /dashboard/api/config",
                  "POST /dashboard/api/session", "GET /dashboard/api/session", "DELETE /dashboard/api/session",
                  "GET /dashboard/api/projects", "POST /dashboard/api/share/{token}/session"):
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


def _operation_config(credentials: dict) -> str:
    """schemathesis.toml: the credentials each operation needs (a JWT names its project too)."""
    jwt = {**credentials["jwt"], "X-Reactor-Project": credentials["project_id"]}
    by_operation = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method == "parameters" or not operation.get("security"):
                continue
            schemes = {name for requirement in operation["security"] for name in requirement}
            if "adminToken" in schemes:
                headers = credentials["admin"]
            elif "projectKey" in schemes:
                headers = credentials["key"]
            else:
                headers = jwt
            by_operation.append((f"{method.upper()} {path}", headers))
    return "\n".join(f"[[operations]]\ninclude-name = {json.dumps(name)}\nheaders = {{ "
                     + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in headers.items()) + " }\n"
                     for name, headers in by_operation)


@pytest.mark.timeout(1200)
def test_service_conforms_to_its_document(server, credentials, tmp_path, capsys):
    config = tmp_path / "schemathesis.toml"
    config.write_text(_operation_config(credentials))
    log = tmp_path / "answers.tsv"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks", "REACTOR_SCHEMATHESIS_LOG": str(log),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]),
           "REACTOR_SCHEMATHESIS_TARGET": json.dumps({name: credentials[name] for name in (
               "project_id", "spare_key_id", "settings_project_id", "pixel_id", "spare_pixel_id", "fingerprint")})}
    started = time.monotonic()
    run = subprocess.run(
        [str(VENV_BIN / "schemathesis"), "--config-file", str(config), "run",
         f"{server.url}/analytics/v1/openapi.json", "--checks", "all", "--mode", "all",
         "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", str(EXAMPLES),
         "--generation-with-security-parameters", "false", "--request-timeout", "10", "--workers", "1",
         "--seed", str(int(time.time())), "--no-color", "--output-truncate", "false"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    took = time.monotonic() - started
    answers = [line.split("\t") for line in log.read_text().splitlines()] if log.exists() else []
    calls = Counter(label for label, _ in answers)
    successes = Counter(label for label, status in answers if status.startswith("2"))
    # Schemathesis leaves out the operation that serves the document it loaded (the first test
    # fetches that one).
    operations = {f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items()
                  for method in item if method != "parameters"} - {"GET /analytics/v1/openapi.json"}
    with capsys.disabled():
        print(f"\nschemathesis: {len(answers)} requests over {len(calls)} operations in {took:.0f}s, "
              f"{sum(successes.values())} answered 2xx; exit {run.returncode}")
        print("\n".join(run.stdout.splitlines()[-12:]))
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert set(calls) == operations, f"never called: {sorted(operations - set(calls))}"
    # Every operation answered 2xx at least once: generated cases reach past validation and
    # authentication into each handler, rather than only exercising its refusals.
    assert set(successes) == operations, f"never answered 2xx: {sorted(operations - set(successes))}"
