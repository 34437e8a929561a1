"""The `reactor` CLI against a real service under gunicorn."""

from __future__ import annotations

import json
import os
import subprocess

import psycopg

from conftest import VENV_BIN, unique_slug


def reactor(live_server, *args, token=None):
    env = {**os.environ, "REACTOR_URL": live_server.url, "REACTOR_DATA_DIR": live_server.env["REACTOR_DATA_DIR"]}
    env.pop("REACTOR_TOKEN", None)
    env.pop("REACTOR_ADMIN_TOKEN", None)
    if token:
        env["REACTOR_TOKEN"] = token
    return subprocess.run([str(VENV_BIN / "reactor"), *args], env=env, capture_output=True, text=True, timeout=60)


def test_projects_keys_and_track_work_as_in_the_reference(live_server, postgres):
    admin = live_server.env["REACTOR_ADMIN_TOKEN"]
    slug = unique_slug("web-prod")
    created = reactor(live_server, "analytics", "projects", "create", slug, "--name", "Production Web", token=admin)
    assert created.returncode == 0, created.stderr + created.stdout
    project = json.loads(created.stdout)["data"]
    assert project["name"] == "Production Web"
    listed = reactor(live_server, "analytics", "projects", "list", token=admin)
    assert slug in listed.stdout

    key = reactor(live_server, "analytics", "keys", "create", slug, "--name", "browser-key", token=admin)
    assert key.returncode == 0
    rapk = key.stdout.strip()
    assert rapk.startswith("rapk_")

    tracked = reactor(live_server, "analytics", "track", "--key", rapk, "--event", "signup_completed",
                      "--properties", '{"plan":"pro"}')
    assert tracked.returncode == 0, tracked.stdout
    assert json.loads(tracked.stdout) == {"data": {"accepted": 1, "rejected": []}}
    with psycopg.connect(postgres.url) as conn:
        row = conn.execute("SELECT event, properties FROM events WHERE project_id = %s", (project["id"],)).fetchone()
    assert row == ("signup_completed", {"plan": "pro"})

    keys = json.loads(reactor(live_server, "analytics", "keys", "list", slug, token=admin).stdout)["data"]
    assert [k["name"] for k in keys] == ["browser-key"] and rapk not in json.dumps(keys)
    revoked = reactor(live_server, "analytics", "keys", "revoke", slug, keys[0]["id"], token=admin)
    assert revoked.returncode == 0
    refused = reactor(live_server, "analytics", "track", "--key", rapk, "--event", "after_revoke")
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"]["code"] == "analytics.auth.unauthenticated"


def test_token_mint_gives_a_working_jwt(live_server):
    admin = live_server.env["REACTOR_ADMIN_TOKEN"]
    slug = unique_slug()
    reactor(live_server, "analytics", "projects", "create", slug, token=admin)
    minted = reactor(live_server, "token", "mint", "--sub", "ci", "--permission", f"analytics:{slug}:ingest",
                     token=admin)
    assert minted.returncode == 0, minted.stdout
    jwt = minted.stdout.strip()
    tracked = reactor(live_server, "analytics", "track", "--project", slug, "--event", "server_side",
                      "--user-id", "u_1", token=jwt)
    assert tracked.returncode == 0, tracked.stdout


def test_cli_errors_are_clear(live_server):
    answer = reactor(live_server, "analytics", "projects", "create", "Bad Slug", token="wrong")
    assert answer.returncode == 1
    assert json.loads(answer.stdout)["error"]["code"] == "analytics.auth.unauthenticated"


def test_query_file_prints_the_answer(live_server, tmp_path):
    admin = live_server.env["REACTOR_ADMIN_TOKEN"]
    slug = unique_slug("web-prod")
    reactor(live_server, "analytics", "projects", "create", slug, token=admin)
    rapk = reactor(live_server, "analytics", "keys", "create", slug, "--name", "k", token=admin).stdout.strip()
    for plan in ("pro", "pro", "free"):
        reactor(live_server, "analytics", "track", "--key", rapk, "--event", "checkout_completed",
                "--properties", json.dumps({"plan": plan}))
    query = tmp_path / "query.json"
    query.write_text(json.dumps({"kind": "aggregate", "time_range": {"last": "30d"},
                                 "filter": {"all": [{"event": {"eq": "checkout_completed"}}]},
                                 "measure": "count", "group_by": [{"prop": "plan"}]}))
    answer = reactor(live_server, "analytics", "query", "--project", slug, "--file", str(query), token=admin)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    rows = json.loads(answer.stdout)["data"]["rows"]
    assert sorted((r["group"]["plan"], r["value"]) for r in rows) == [("free", 1), ("pro", 2)]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "nope"}))
    refused = reactor(live_server, "analytics", "query", "--project", slug, "--file", str(bad), token=admin)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"]["code"] == "analytics.query.unknown_kind"
