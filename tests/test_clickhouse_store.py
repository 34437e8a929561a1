"""The ClickHouse store (`[events] store = "clickhouse"`) through the real clickhouse-connect
client, over ClickHouse's HTTP interface (tests/clickhouse_front.py, chdb behind it): the
forwarder delivers what PostgreSQL committed exactly once, queries answer through the API,
erasure and retention reach ClickHouse, and an unreachable ClickHouse is a 503."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from clickhouse_fixtures import LIMITS, ch_app, ch_client, ch_config, ch_store, clickhouse, raw_client  # noqa: F401
from conftest import ADMIN, Project, free_port
from reactor_analytics.config import ClickHouseConfig
from reactor_analytics.errors import AppError
from reactor_analytics.query import store as event_store

DAY = 86400
BASE = (int(time.time()) // DAY - 10) * DAY


def at(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(BASE + seconds))


WINDOW = {"from": at(0), "to": at(DAY)}


def send(ch_client, project: Project, *events: dict) -> None:
    answer = ch_client.post("/analytics/v1/batch", json={"batch": list(events)}, headers=project.key_headers)
    assert answer.status_code == 200 and answer.get_json()["data"]["accepted"] == len(events), answer.get_json()


def ask(ch_client, project: Project, body: dict):
    return ch_client.post("/analytics/v1/query", json={**body, "project_id": project.id}, headers=ADMIN)


def rows_of(ch_client, project: Project, body: dict) -> list:
    answer = ask(ch_client, project, body)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["data"]["rows"]


def test_the_store_is_chosen_by_the_configuration(ch_config):
    from reactor_analytics.clickhouse.store import ClickHouseStore

    chosen = event_store.for_config(ch_config)
    assert isinstance(chosen, ClickHouseStore) and isinstance(chosen, event_store.EventStore)


def test_an_acknowledged_event_is_counted_by_the_next_query(ch_client, ch_store):
    project = Project(ch_client)
    send(ch_client, project, {"event": "A", "anonymous_id": "a1", "timestamp": at(60), "properties": {"plan": "pro"}},
         {"event": "A", "anonymous_id": "a2", "timestamp": at(120)},
         {"event": "B", "user_id": "u1", "timestamp": at(180), "properties": {"amount": 7}})
    assert rows_of(ch_client, project, {"kind": "aggregate", "time_range": WINDOW}) == [{"value": 3}]
    assert rows_of(ch_client, project, {"kind": "breakdown", "prop": "plan", "time_range": WINDOW}) == [
        {"key": "(none)", "value": 2}, {"key": "pro", "value": 1}]
    events = rows_of(ch_client, project, {"kind": "events", "time_range": WINDOW})
    assert [e["event"] for e in events] == ["B", "A", "A"] and events[0]["properties"] == {"amount": 7}


def test_a_link_merges_persons_retroactively(ch_client, ch_store):
    project = Project(ch_client)
    send(ch_client, project, {"event": "A", "anonymous_id": "anon", "timestamp": at(60)},
         {"event": "B", "user_id": "user", "timestamp": at(120)})
    body = {"kind": "aggregate", "measure": "unique_users", "time_range": WINDOW, "filter": {"event": {"in": ["A", "B"]}}}
    assert rows_of(ch_client, project, body) == [{"value": 2}]
    answer = ch_client.post("/analytics/v1/identify", json={"user_id": "user", "anonymous_id": "anon", "timestamp": at(90)},
                            headers=project.key_headers)
    assert answer.status_code == 200
    assert rows_of(ch_client, project, body) == [{"value": 1}]


def test_a_kind_not_translated_is_a_documented_400(ch_client, ch_store, monkeypatch):
    """Every kind of this build is translated; one a build would add to the native planner first
    is refused so, not answered with a 500."""
    from reactor_analytics.clickhouse import kinds

    monkeypatch.delitem(kinds.TRANSLATED, "path")
    project = Project(ch_client)
    answer = ask(ch_client, project, {"kind": "path", "start_event": "A", "time_range": WINDOW})
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "analytics.query.unsupported_by_store" and error["kind"] == "path"


def test_a_bad_body_gets_the_native_planners_code(ch_client, ch_store):
    project = Project(ch_client)
    answer = ask(ch_client, project, {"kind": "aggregate", "measure": "nope", "time_range": WINDOW})
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "analytics.query.invalid_measure"


def test_values_reach_clickhouse_as_parameters_only(ch_client, ch_store):
    """Quotes, backslashes and SQL in names and values are data: they match themselves."""
    project = Project(ch_client)
    nasty = "x' OR 1=1 --\\'); DROP TABLE events; {v0:String}"
    send(ch_client, project, {"event": nasty, "anonymous_id": "a", "timestamp": at(60), "properties": {nasty: nasty}},
         {"event": "other", "anonymous_id": "b", "timestamp": at(60), "properties": {"k": "v"}})
    body = {"kind": "breakdown", "prop": nasty, "time_range": WINDOW,
            "filter": {"all": [{"event": {"eq": nasty}}, {"prop": {nasty: {"contains": "DROP"}}}]}}
    assert rows_of(ch_client, project, body) == [{"key": nasty, "value": 1}]


def test_a_query_over_its_row_budget_is_a_504(ch_config, ch_store):
    from reactor_analytics.app import create_app

    small = create_app(replace(ch_config, analytics=replace(ch_config.analytics, query_max_rows_scanned=1)))
    client = small.test_client()
    project = Project(client)
    send(client, project, *({"event": "A", "anonymous_id": f"a{i}", "timestamp": at(60 + i)} for i in range(5)))
    answer = ask(client, project, {"kind": "aggregate", "measure": "unique_users", "time_range": WINDOW})
    assert answer.status_code == 504 and answer.get_json()["error"]["code"] == "analytics.query.timeout"
    small.extensions["reactor"].db.close()


def test_clickhouse_unreachable_is_a_503_and_nothing_acknowledged_is_lost(ch_config, ch_store, postgres):
    from reactor_analytics.app import create_app

    dead = create_app(replace(ch_config, clickhouse=ClickHouseConfig(url=f"http://127.0.0.1:{free_port()}")))
    client = dead.test_client()
    project = Project(client)
    send(client, project, {"event": "kept", "anonymous_id": "a", "timestamp": at(60)})
    answer = ask(client, project, {"kind": "aggregate", "time_range": WINDOW})
    assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "analytics.unavailable"
    assert "Traceback" not in answer.get_data(as_text=True)
    dead.extensions["reactor"].db.close()
    # The event is in PostgreSQL, and the store that reaches ClickHouse delivers it.
    assert ch_store.query(json.dumps({"kind": "aggregate", "time_range": WINDOW}).encode(), project.id,
                          time.time_ns() // 1000, LIMITS)[1] == b'[{"value":1}]'


def test_a_store_that_does_not_answer_raises_503_for_every_operation(ch_config):
    from reactor_analytics.clickhouse.store import ClickHouseStore

    store = ClickHouseStore(f"http://127.0.0.1:{free_port()}", ch_config.database.url, 2.0)
    for call in (store.ping, store.sync, lambda: store.mentions("p", "x"), lambda: store.erase("p", ["x"], []),
                 lambda: store.query(b'{"kind": "aggregate"}', "p", time.time_ns() // 1000, LIMITS)):
        with pytest.raises(AppError) as refused:
            call()
        assert (refused.value.status, refused.value.code) == (503, "analytics.unavailable")


def test_the_service_under_gunicorn_answers_from_clickhouse(postgres, clickhouse, tmp_path):
    """`reactor serve` with REACTOR_EVENTS_STORE=clickhouse and REACTOR_CLICKHOUSE_URL runs the
    forwarder where the engine would run (no engine process, no engine socket): events sent over
    HTTP reach ClickHouse with no query asking for them, and are answered from it by any worker."""
    import requests

    from clickhouse_fixtures import raw_client
    from conftest import LiveServer, make_project, wait_for

    server = LiveServer(postgres, tmp_path / "data", workers=2, REACTOR_EVENTS_STORE="clickhouse",
                        REACTOR_CLICKHOUSE_URL=clickhouse.url).start()
    try:
        parts = _commands_in_group(server.proc.pid)
        assert any(c[-1:] == ["forward"] for c in parts), parts
        assert not any(c[-1:] == ["engine"] for c in parts), parts
        assert not (tmp_path / "data" / "engine.sock").exists()
        project_id, key = make_project(server.url, "ch")
        sent = requests.post(f"{server.url}/analytics/v1/batch", headers={"X-Reactor-Project-Key": key}, timeout=10,
                             json={"batch": [{"event": "served", "anonymous_id": f"s{i}", "timestamp": at(60 + i)}
                                             for i in range(7)]})
        assert sent.status_code == 200
        held = raw_client(clickhouse)
        wait_for(lambda: held.query("SELECT count() FROM events FINAL WHERE project_id = {p:String}",
                                    parameters={"p": project_id}).result_rows[0][0] == 7,
                 what="the forwarder's delivery", timeout=30)
        for _ in range(4):  # whichever worker answers
            answer = requests.post(f"{server.url}/analytics/v1/query", headers=ADMIN, timeout=30,
                                   json={"project_id": project_id, "kind": "aggregate", "measure": "unique_users",
                                         "time_range": WINDOW})
            assert answer.status_code == 200, answer.text
            assert answer.json()["data"]["rows"] == [{"value": 7}]
        held = raw_client(clickhouse).query("SELECT count() FROM events FINAL WHERE project_id = {p:String}",
                                            parameters={"p": project_id}).result_rows[0][0]
        assert held == 7
    finally:
        server.stop()


def _commands_in_group(group: int) -> list[list[str]]:
    """The command lines of the processes of a process group."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.getpgid(int(entry.name)) == group:
                found.append((entry / "cmdline").read_bytes().decode().split("\0")[:-1])
        except (OSError, ProcessLookupError):
            continue
    return found


def test_the_front_takes_an_insert_of_many_blocks_whole(clickhouse):
    """clickhouse-connect sends a large insert as several blocks, each compressed on its own."""
    import clickhouse_connect

    for compress in ("lz4", "zstd", False):
        client = clickhouse_connect.get_client(dsn=clickhouse.url, autogenerate_session_id=False, compress=compress)
        table = f"front_blocks_{compress or 'plain'}"
        client.command(f"CREATE TABLE IF NOT EXISTS {table} (n UInt64, s String, m Map(String, String)) "
                       "ENGINE = MergeTree ORDER BY n")
        client.insert(table, [(n, "x" * 50, {"k": str(n)}) for n in range(60_000)], column_names=["n", "s", "m"])
        assert client.query(f"SELECT count(), sum(n) FROM {table}").result_rows == [(60_000, sum(range(60_000)))]
