"""Governance against real parts: erasure, retention, the org quota and per-IP rate limits."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
import requests

from conftest import ADMIN, ADMIN_TOKEN, LiveServer, Project, unique_slug
from test_cli import reactor


def _token(client, project: Project, *actions: str) -> dict:
    minted = client.post("/_admin/tokens", json={"sub": "ops", "permissions": [
        f"analytics:{project.id}:{a}" for a in actions]}, headers=ADMIN)
    return {"Authorization": f"Bearer {minted.get_json()['data']['token']}", "X-Reactor-Project": project.id}


def _count(client, project: Project, headers: dict) -> int:
    answer = client.post("/analytics/v1/query", json={
        "kind": "aggregate", "time_range": {"last": "30d"}}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["data"]["rows"][0]["value"]


def _person_story(client, project: Project, marker: str) -> None:
    """anon_<m> browses, signs up as u_<m> (identify with traits), then acts as the user."""
    h = project.key_headers
    anon, user = f"anon_{marker}", f"u_{marker}"
    for event in ("view", "view"):
        assert client.post("/analytics/v1/track", json={
            "event": event, "anonymous_id": anon, "properties": {"url": f"https://x.test/{marker}-secret"}},
            headers=h).status_code == 200
    assert client.post("/analytics/v1/identify", json={
        "anonymous_id": anon, "user_id": user, "traits": {"email": f"{marker}@mail.test"}}, headers=h).status_code == 200
    assert client.post("/analytics/v1/track", json={"event": "purchase", "user_id": user,
                                                    "properties": {"note": f"{marker}-note"}},
                       headers=h).status_code == 200


def _tables_mentioning(postgres, needle: str) -> list[str]:
    """Every table of the database whose rows mention `needle` anywhere."""
    found = []
    with psycopg.connect(postgres.url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
        for table in tables:
            hit = conn.execute(f'SELECT 1 FROM "{table}" t WHERE strpos(row_to_json(t)::text, %s) > 0 LIMIT 1',
                               (needle,)).fetchone()
            if hit:
                found.append(table)
    return found


def test_erase_forgets_a_person_everywhere_and_keeps_others(client, project, postgres, engine):
    marker, other = uuid.uuid4().hex[:10], uuid.uuid4().hex[:10]
    _person_story(client, project, marker)
    _person_story(client, project, other)
    query = _token(client, project, "query")
    assert _count(client, project, query) == 8  # 3 tracks + 1 identify event each

    erased = client.post("/analytics/v1/erase", json={"user_id": f"u_{marker}"},
                         headers=_token(client, project, "erase"))
    assert erased.status_code == 200, erased.get_json()
    assert erased.get_json()["data"] == {"events": 4, "identity_links": 1, "traits": 1}
    # The very next query no longer counts them; the other person is untouched.
    assert _count(client, project, query) == 4
    for needle in (marker, f"u_{marker}", f"anon_{marker}"):
        assert _tables_mentioning(postgres, needle) == []
        assert engine.call({"op": "mentions", "project": project.id, "needle": needle})["mentions"] is False
    assert engine.call({"op": "mentions", "project": project.id, "needle": f"{other}-secret"})["mentions"] is True
    # That the person is never logged: test_nothing_that_names_a_person_is_logged_even_at_debug.
    with psycopg.connect(postgres.url) as conn:
        detail = conn.execute("SELECT detail FROM audit_log WHERE project_id = %s AND action = 'erase'",
                              (project.id,)).fetchone()[0]
    assert detail["events"] == 4 and detail["by"] == "ops"

    again = client.post("/analytics/v1/erase", json={"user_id": f"u_{marker}"},
                        headers=_token(client, project, "erase"))
    assert again.get_json()["data"] == {"events": 0, "identity_links": 0, "traits": 0}


def test_erase_by_anonymous_id_reaches_the_linked_user(client, project):
    marker = uuid.uuid4().hex[:10]
    _person_story(client, project, marker)
    erased = client.post("/analytics/v1/erase", json={"anonymous_id": f"anon_{marker}"},
                         headers=_token(client, project, "erase"))
    assert erased.get_json()["data"] == {"events": 4, "identity_links": 1, "traits": 1}
    assert _count(client, project, _token(client, project, "query")) == 0


def _log_records(text: str) -> list[dict]:
    records = []
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # gunicorn's own lines are plain text
    return records


def test_nothing_that_names_a_person_is_logged_even_at_debug(postgres, tmp_path):
    """At the most verbose filter, a person's ids, traits and properties, sent in bodies, query
    strings, the page path and url they visited and the User-Agent, over HTTP and gRPC, through
    ingest, consent, query, erasure and refusals, appear in no log output (the service's stdout and
    stderr, its children's, and `<data_dir>/logs`) while every request was logged. Request lines
    carry the request path by design (no endpoint takes a person in its path): a separate marker
    in a path shows up there, and only there, without its query string."""
    from reactor_analytics_sdk import Analytics

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    server = LiveServer(postgres, data_dir, workers=1, REACTOR_TRACING_FILTER="debug").start()
    marker, in_path = uuid.uuid4().hex, f"pathmark{uuid.uuid4().hex[:12]}"
    anon, user = f"anon_{marker}", f"u_{marker}"
    sent: list[tuple[str, str, str, int]] = []  # (request id, method, path, status)

    def call(method: str, path: str, headers: dict | None = None, **options) -> requests.Response:
        request_id = f"logcheck-{len(sent)}-{uuid.uuid4().hex[:8]}"
        answer = requests.request(method, server.url + path, timeout=30, headers={
            "X-Request-Id": request_id, "User-Agent": f"Mozilla/5.0 (X11; {marker}) Firefox/128.0", **(headers or {})},
            **options)
        sent.append((request_id, method, path.partition("?")[0], answer.status_code))
        return answer

    try:
        created = call("POST", "/analytics/v1/projects", ADMIN, json={"slug": unique_slug()})
        project_id, slug = created.json()["data"]["id"], created.json()["data"]["slug"]
        key = call("POST", f"/analytics/v1/projects/{project_id}/keys", ADMIN, json={"name": "web"}).json()["data"]["key"]
        token = call("POST", "/_admin/tokens", ADMIN, json={"sub": "ops", "permissions": [
            f"analytics:{slug}:{a}" for a in ("ingest", "query", "erase")]}).json()["data"]["token"]
        by_key = {"X-Reactor-Project-Key": key}
        bearer = {"Authorization": f"Bearer {token}", "X-Reactor-Project": slug}
        page = {"url": f"https://shop.test/account/{marker}?email={marker}%40mail.test", "path": f"/account/{marker}"}
        context = {"page": page, "user_agent": f"Agent/{marker}", "ip": "203.0.113.77", "locale": "de-DE"}

        # In bodies (and the page visited, and the User-Agent of every request):
        assert call("POST", "/analytics/v1/track", by_key, json={
            "event": "page_viewed", "anonymous_id": anon, "properties": {"note": f"{marker}-note"},
            "context": context}).status_code == 200
        assert call("POST", "/analytics/v1/identify", by_key, json={
            "anonymous_id": anon, "user_id": user, "traits": {"email": f"{marker}@mail.test"}}).status_code == 200
        assert call("POST", "/analytics/v1/batch", bearer, json={"batch": [
            {"event": "purchase", "user_id": user, "properties": {"order": f"order-{marker}"}, "context": context},
            {"event": f"$not_allowed_{marker}", "user_id": user}]}).status_code == 200
        assert call("POST", "/analytics/v1/alias", by_key, json={
            "previous_id": f"old_{marker}", "user_id": user}).status_code == 200
        # Refused, with the marker in what was refused:
        assert call("POST", "/analytics/v1/track", {**by_key, "Content-Type": "application/json"},
                    data=f'{{"event": "x", "anonymous_id": "{marker}"').status_code == 400
        assert call("POST", "/analytics/v1/track", {"X-Reactor-Project-Key": f"rapk_{marker}"}, json={
            "event": "e", "anonymous_id": anon}).status_code == 401
        assert call("POST", "/analytics/v1/erase", {"Authorization": f"Bearer {marker}"},
                    json={"user_id": user}).status_code == 401
        # In query strings:
        assert call("GET", f"/analytics/v1/consent/status?anonymous_id={anon}&project_id={project_id}",
                    by_key).status_code == 200
        assert call("POST", f"/analytics/v1/track?user={user}&email={marker}%40mail.test", by_key, json={
            "event": "e", "anonymous_id": anon}).status_code == 200
        assert call("POST", "/analytics/v1/consent/opt-out", by_key, json={"anonymous_id": f"optout_{marker}"}
                    ).status_code == 200
        counted = call("POST", "/analytics/v1/query", bearer, json={
            "kind": "aggregate", "time_range": {"last": "1d"}, "filter": {"any": [
                {"prop": {"path": {"eq": f"/account/{marker}"}}}, {"trait": {"email": {"eq": f"{marker}@mail.test"}}}]}})
        assert counted.status_code == 200, counted.text
        assert call("POST", "/analytics/v1/query", bearer, json={
            "kind": "aggregate", "time_range": {"last": "1d"}, "filter": {"prop": {"note": {marker: 1}}}}
                    ).status_code == 400
        # Over gRPC:
        grpc_client = Analytics(url=f"grpc://{server.grpc_target}", token=token, project=slug, env={}, flush_at=10)
        grpc_client.track("rpc_event", {"note": f"{marker}-rpc"}, user_id=f"rpc_{marker}")
        assert grpc_client.flush(30) and grpc_client.stats()["destinations"]["reactor"]["sent"] == 1
        grpc_client.close(5)
        # The erasure itself:
        assert call("POST", "/analytics/v1/erase", bearer, json={"user_id": user}).status_code == 200
        # A path, for the control: logged as the path, its query string not.
        assert call("GET", f"/analytics/v1/projects/{in_path}/keys?who={marker}", ADMIN).status_code == 404
    finally:
        server.stop()

    outputs = {"stdout": server.log.read_text(errors="replace")}
    outputs.update({str(f.relative_to(data_dir)): f.read_text(errors="replace")
                    for f in (data_dir / "logs").rglob("*") if f.is_file()})
    assert "logs/reactor.jsonl" in outputs
    for name, text in outputs.items():
        assert marker not in text, (name, [line for line in text.splitlines() if marker in line][:3])
        assert "203.0.113" not in text, name
    # Every request was logged, in the shared file and on stdout, as a request line.
    for name in ("logs/reactor.jsonl", "stdout"):
        lines = {r["fields"].get("request_id"): r for r in _log_records(outputs[name])
                 if r.get("fields", {}).get("message") == "request completed"}
        for request_id, method, path, status in sent:
            assert request_id in lines, (name, request_id, path)
            fields = lines[request_id]["fields"]
            assert (fields["method"], fields["path"], fields["status"]) == (method, path, status), fields
    assert sum(in_path in text for text in outputs.values()) == 2  # the control: in both, as its path


def _vacuum_counts(postgres) -> dict[str, int]:
    with psycopg.connect(postgres.url) as conn:
        return dict(conn.execute("SELECT relname, vacuum_count FROM pg_stat_user_tables WHERE relname = ANY(%s)",
                                 (["events", "identity_links", "person_traits"],)).fetchall())


def test_an_erasure_vacuums_the_tables_it_deleted_from(client, project, postgres):
    """The erased rows' space is vacuumed at once (and their index entries with it), not whenever
    autovacuum comes by; what stays in WAL and backups is in the README."""
    marker = uuid.uuid4().hex[:10]
    _person_story(client, project, marker)
    before = _vacuum_counts(postgres)
    erased = client.post("/analytics/v1/erase", json={"user_id": f"u_{marker}"},
                         headers=_token(client, project, "erase"))
    assert erased.get_json()["data"] == {"events": 4, "identity_links": 1, "traits": 1}
    after = _vacuum_counts(postgres)
    assert set(after) == set(before) == {"events", "identity_links", "person_traits"}
    assert all(after[table] > before[table] for table in after), (before, after)


@pytest.mark.parametrize("body", [{}, {"user_id": "a", "anonymous_id": "b"}, {"user_id": ""}, {"user_id": 42},
                                  {"user_id": "a", "email": "x"}, ["user_id"]])
def test_bad_erase_requests_are_400(client, project, body):
    answer = client.post("/analytics/v1/erase", json=body, headers=_token(client, project, "erase"))
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"].startswith("analytics.")


def test_erase_needs_the_erase_permission_on_that_project(client, project, postgres):
    marker = uuid.uuid4().hex[:10]
    _person_story(client, project, marker)
    other = Project(client)
    for headers in (_token(client, project, "query", "ingest"), {**_token(client, other, "erase"),
                                                                 "X-Reactor-Project": project.id}):
        assert client.post("/analytics/v1/erase", json={"user_id": f"u_{marker}"},
                           headers=headers).status_code == 403
    assert client.post("/analytics/v1/erase", json={"user_id": f"u_{marker}"},
                       headers=project.key_headers).status_code == 401
    # Erasing in another project finds nobody there and leaves this one alone.
    assert client.post("/analytics/v1/erase", json={"user_id": f"u_{marker}"},
                       headers=_token(client, other, "erase")).get_json()["data"]["events"] == 0
    assert _tables_mentioning(postgres, f"u_{marker}")


def test_cli_erase_and_retention_setting(live_server, postgres):
    admin = live_server.env["REACTOR_ADMIN_TOKEN"]
    slug = unique_slug("web-prod")
    created = reactor(live_server, "analytics", "projects", "create", slug, "--retention-days", "30", token=admin)
    assert json.loads(created.stdout)["data"]["retention_days"] == 30
    changed = reactor(live_server, "analytics", "projects", "set", slug, "--retention-days", "7", token=admin)
    assert json.loads(changed.stdout)["data"]["retention_days"] == 7
    key = reactor(live_server, "analytics", "keys", "create", slug, "--name", "k", token=admin).stdout.strip()
    reactor(live_server, "analytics", "track", "--key", key, "--event", "signup", "--user-id", "u_42")
    erased = reactor(live_server, "analytics", "erase", slug, "--user-id", "u_42", token=admin)
    assert erased.returncode == 0, erased.stdout + erased.stderr
    assert json.loads(erased.stdout)["data"]["events"] == 1
    refused = reactor(live_server, "analytics", "erase", slug, "--user-id", "u_42", token="not-a-token")
    assert refused.returncode == 1 and "analytics.auth.unauthenticated" in refused.stdout


def test_retention_removes_expired_events_from_the_record_and_the_engine(client, project, postgres, engine):
    assert client.patch(f"/analytics/v1/projects/{project.id}", json={"retention_days": 2},
                        headers=ADMIN).get_json()["data"]["retention_days"] == 2
    now = dt.datetime.now(dt.timezone.utc)
    batch = [{"event": "old", "anonymous_id": "a", "timestamp": (now - dt.timedelta(days=3)).isoformat()},
             {"event": "new", "anonymous_id": "a", "timestamp": (now - dt.timedelta(hours=1)).isoformat()}]
    assert client.post("/analytics/v1/batch", json={"batch": batch}, headers=project.key_headers).status_code == 200
    query = _token(client, project, "query")
    assert _count(client, project, query) == 2
    engine.call({"op": "retention"})  # sweeps every project; its total says nothing of this one
    with psycopg.connect(postgres.url) as conn:
        left = [r[0] for r in conn.execute("SELECT event FROM events WHERE project_id = %s", (project.id,))]
        audited = [r[0] for r in conn.execute("SELECT detail FROM audit_log WHERE project_id = %s "
                                              "AND action = 'retention'", (project.id,))]
    assert left == ["new"]
    assert audited == [{"events": 1, "retention_days": 2}]
    assert _count(client, project, query) == 1


@pytest.mark.parametrize("days", [0, 3651, "7", None, True])
def test_bad_retention_is_400(client, project, days):
    answer = client.patch(f"/analytics/v1/projects/{project.id}", json={"retention_days": days}, headers=ADMIN)
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == "retention_days"


def _app_with_quota(config, quota: int):
    """An app whose orgs may store `quota` events a month, and a new org with one project:
    (app, its test client, org id, project id, the project key's headers)."""
    from reactor_analytics.app import create_app

    small = create_app(replace(config, analytics=replace(config.analytics, quota_per_org_monthly=quota)))
    client = small.test_client()
    org = f"org_{uuid.uuid4().hex[:8]}"
    project_id = client.post("/analytics/v1/projects", json={"slug": unique_slug(), "org_id": org},
                             headers=ADMIN).get_json()["data"]["id"]
    key = client.post(f"/analytics/v1/projects/{project_id}/keys", json={"name": "k"},
                      headers=ADMIN).get_json()["data"]["key"]
    return small, client, org, project_id, {"X-Reactor-Project-Key": key}


@pytest.fixture()
def june(monkeypatch) -> dt.date:
    """The quota's month pinned to June 2026, so a test never runs across the real month's end."""
    from reactor_analytics.governance import quota

    monkeypatch.setattr(quota, "this_month", lambda: dt.date(2026, 6, 1))
    return dt.date(2026, 6, 1)


def test_quota_counts_exactly_and_refuses_with_429(app, config, postgres, june):
    from reactor_analytics.observability import metrics

    small, client, org, project_id, h = _app_with_quota(config, 25)
    batch = [{"event": "e", "anonymous_id": "a", "message_id": f"m{i}"} for i in range(10)]
    before = metrics.QUOTA_EXCEEDED.labels(org)._value.get()
    assert client.post("/analytics/v1/batch", json={"batch": batch}, headers=h).status_code == 200
    # A retry of stored events counts nothing.
    assert client.post("/analytics/v1/batch", json={"batch": batch}, headers=h).status_code == 200
    more = [{"event": "e", "anonymous_id": "a", "message_id": f"n{i}"} for i in range(10)]
    assert client.post("/analytics/v1/batch", json={"batch": more}, headers=h).status_code == 200
    over = [{"event": "e", "anonymous_id": "a", "message_id": f"o{i}"} for i in range(10)]
    refused = client.post("/analytics/v1/batch", json={"batch": over}, headers=h)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "analytics.quota.exceeded"
    five = client.post("/analytics/v1/batch", json={"batch": over[:5]}, headers=h)
    assert five.status_code == 200
    assert client.post("/analytics/v1/track", json=over[5], headers=h).status_code == 429
    assert metrics.QUOTA_EXCEEDED.labels(org)._value.get() == before + 2
    with psycopg.connect(postgres.url) as conn:
        stored = conn.execute("SELECT count(*) FROM events WHERE project_id = %s", (project_id,)).fetchone()[0]
        used = conn.execute("SELECT month, events FROM org_usage WHERE org_id = %s", (org,)).fetchall()
    assert stored == 25 and used == [(june, 25)]
    small.extensions["reactor"].db.close()


def test_a_refused_identify_or_alias_leaves_no_link_and_no_traits(config, postgres, june):
    """Links and traits go to the database in the round trip that counts the quota: a refusal
    there rolls them back with the event."""
    small, client, org, project_id, h = _app_with_quota(config, 3)
    assert client.post("/analytics/v1/identify", json={"user_id": "u1", "anonymous_id": "a1", "traits": {"plan": "pro"}},
                       headers=h).status_code == 200
    batch = [{"event": "e", "anonymous_id": "a1", "message_id": f"m{i}"} for i in range(2)]
    assert client.post("/analytics/v1/batch", json={"batch": batch}, headers=h).status_code == 200
    refused = client.post("/analytics/v1/identify", json={"user_id": "u2", "anonymous_id": "a2",
                                                          "traits": {"plan": "team"}}, headers=h)
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "analytics.quota.exceeded"
    assert client.post("/analytics/v1/alias", json={"previous_id": "a3", "user_id": "u3"}, headers=h).status_code == 429
    with psycopg.connect(postgres.url) as conn:
        links = conn.execute("SELECT anonymous_id, user_id FROM identity_links WHERE project_id = %s "
                             "AND anonymous_id <> user_id", (project_id,)).fetchall()
        traits = conn.execute("SELECT user_id, traits FROM person_traits WHERE project_id = %s",
                              (project_id,)).fetchall()
        used = conn.execute("SELECT month, events FROM org_usage WHERE org_id = %s", (org,)).fetchall()
    assert links == [("a1", "u1")]
    assert traits == [("u1", {"plan": "pro"})]
    assert used == [(june, 3)]
    small.extensions["reactor"].db.close()


def _a_month_that_lasts(seconds: float) -> dt.date:
    """This UTC month, once at least `seconds` of it are left (a live server's month cannot be
    pinned: within `seconds` of its end, wait for the next one)."""
    now = dt.datetime.now(dt.timezone.utc)
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    if (following - now).total_seconds() < seconds:
        time.sleep((following - now).total_seconds() + 1)
        return following.date()
    return first.date()


def test_quota_is_exact_across_gunicorn_workers(postgres, tmp_path):
    month = _a_month_that_lasts(120)
    server = LiveServer(postgres, tmp_path, workers=3, REACTOR_ANALYTICS_QUOTA_PER_ORG_MONTHLY="300").start()
    try:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        org = f"org_{uuid.uuid4().hex[:8]}"
        project_id = requests.post(server.url + "/analytics/v1/projects", json={"slug": unique_slug(), "org_id": org},
                                   headers=admin, timeout=10).json()["data"]["id"]
        key = requests.post(f"{server.url}/analytics/v1/projects/{project_id}/keys", json={"name": "k"},
                            headers=admin, timeout=10).json()["data"]["key"]
        statuses: list[int] = []

        def send(worker: int) -> None:
            with requests.Session() as session:
                for n in range(8):
                    batch = [{"event": "e", "anonymous_id": "a", "message_id": f"{worker}-{n}-{i}"} for i in range(10)]
                    statuses.append(session.post(server.url + "/analytics/v1/batch", json={"batch": batch},
                                                 headers={"X-Reactor-Project-Key": key}, timeout=30).status_code)

        threads = [threading.Thread(target=send, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(set(statuses)) == [200, 429]
        assert statuses.count(200) == 30
        with psycopg.connect(postgres.url) as conn:
            stored = conn.execute("SELECT count(*) FROM events WHERE project_id = %s", (project_id,)).fetchone()[0]
            used = conn.execute("SELECT month, events FROM org_usage WHERE org_id = %s", (org,)).fetchall()
        assert stored == 300 and used == [(month, 300)]
        scraped = requests.get(server.url + "/metrics", timeout=10).text
        refused = [line for line in scraped.splitlines()
                   if line.startswith("reactor_quota_exceeded_total") and org in line]
        assert refused and float(refused[0].split()[-1]) == statuses.count(429)
    finally:
        server.stop()


def test_rate_limit_is_shared_across_workers_and_keeps_no_address(postgres, tmp_path):
    server = LiveServer(postgres, tmp_path, workers=3, REACTOR_ANALYTICS_RATE_LIMIT_PER_SECOND="0.5",
                        REACTOR_ANALYTICS_RATE_LIMIT_BURST="6").start()
    try:
        answers = []
        for _ in range(12):
            # A new connection each time, so the requests spread over the workers.
            answers.append(requests.post(server.url + "/analytics/v1/track", json={"event": "e", "anonymous_id": "a"},
                                         headers={"X-Reactor-Project-Key": "rapk_" + "x" * 40,
                                                  "Connection": "close"}, timeout=10))
        statuses = [a.status_code for a in answers]
        assert statuses[:6] == [401] * 6
        assert set(statuses[6:]) == {429}
        refused = answers[-1]
        assert refused.json()["error"]["code"] == "analytics.rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 2
        # The probes stay open; an address that spent its tokens may not try credentials either.
        assert requests.get(server.url + "/health", timeout=10).status_code == 200
        assert requests.get(server.url + "/analytics/v1/projects", headers={"Authorization": "Bearer nope"},
                            timeout=10).status_code == 429
        table = Path(server.env["REACTOR_DATA_DIR"], "ratelimit.bin").read_bytes()
        assert b"127.0.0.1" not in table and b"\x7f\x00\x00\x01" not in table
        time.sleep(2.2)
        assert requests.post(server.url + "/analytics/v1/track", json={"event": "e", "anonymous_id": "a"},
                             headers={"X-Reactor-Project-Key": "rapk_" + "x" * 40}, timeout=10).status_code == 401
    finally:
        server.stop()
