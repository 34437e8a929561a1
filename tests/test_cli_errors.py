"""`reactor analytics errors list|resolve|ignore` against a real service under gunicorn."""

from __future__ import annotations

import json
import os
import subprocess

import requests

from conftest import ADMIN, VENV_BIN, unique_slug


def reactor(live_server, *args, token):
    env = {**os.environ, "REACTOR_URL": live_server.url, "REACTOR_DATA_DIR": live_server.env["REACTOR_DATA_DIR"],
           "REACTOR_TOKEN": token}
    env.pop("REACTOR_ADMIN_TOKEN", None)
    return subprocess.run([str(VENV_BIN / "reactor"), *args], env=env, capture_output=True, text=True, timeout=60)


def test_list_resolve_and_ignore(live_server):
    url, admin = live_server.url, live_server.env["REACTOR_ADMIN_TOKEN"]
    slug = unique_slug("errs")
    project = requests.post(f"{url}/analytics/v1/projects", json={"slug": slug}, headers=ADMIN, timeout=10).json()["data"]
    key = requests.post(f"{url}/analytics/v1/projects/{slug}/keys", json={"name": "k"}, headers=ADMIN,
                        timeout=10).json()["data"]["key"]
    errors = [{"event": "$error", "anonymous_id": "a", "properties": {"type": kind, "message": "m",
                                                                      "stack": f"at {fn} (https://x.io/a.js:1:2)"}}
              for kind, fn in (("TypeError", "f"), ("RangeError", "g"))]
    assert requests.post(f"{url}/analytics/v1/batch", json={"batch": errors}, headers={"X-Reactor-Project-Key": key},
                         timeout=10).json()["data"]["accepted"] == 2

    listed = reactor(live_server, "analytics", "errors", "list", slug, "--last", "1d", token=admin)
    assert listed.returncode == 0, listed.stderr + listed.stdout
    groups = json.loads(listed.stdout)["data"]
    assert sorted(g["type"] for g in groups) == ["RangeError", "TypeError"]
    first, second = (g["fingerprint"] for g in groups)

    resolved = reactor(live_server, "analytics", "errors", "resolve", slug, first, token=admin)
    assert resolved.returncode == 0, resolved.stderr + resolved.stdout
    assert json.loads(resolved.stdout)["data"]["state"] == "resolved"
    ignored = reactor(live_server, "analytics", "errors", "ignore", second, "--project", project["id"], token=admin)
    assert json.loads(ignored.stdout)["data"]["state"] == "ignored"
    states = {g["fingerprint"]: g["state"] for g in json.loads(reactor(
        live_server, "analytics", "errors", "list", "--project", slug, token=admin).stdout)["data"]}
    assert states == {first: "resolved", second: "ignored"}

    unknown = reactor(live_server, "analytics", "errors", "resolve", slug, "0" * 32, token=admin)
    assert unknown.returncode == 1 and "analytics.not_found" in unknown.stdout
    missing = reactor(live_server, "analytics", "errors", "list", token=admin)
    assert missing.returncode == 1 and "name the project" in missing.stderr
