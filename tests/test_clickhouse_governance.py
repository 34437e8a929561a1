"""The ClickHouse store keeps PostgreSQL's promises: every committed row delivered once whatever
happens to the forwarder (a restart from an old position, a seq committed after a higher one),
erasure gone from ClickHouse's tables before the erase answers, retention applied to them."""

from __future__ import annotations

import json
import time
import uuid

import psycopg

from clickhouse_fixtures import LIMITS, ch_app, ch_client, ch_config, ch_store, clickhouse, raw_client  # noqa: F401
from conftest import ADMIN, Project
from reactor_analytics import _native
from reactor_analytics.clickhouse import forward

DAY = 86400
BASE = (int(time.time()) // DAY - 10) * DAY


def at(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(BASE + seconds))


WINDOW = {"from": at(0), "to": at(DAY)}


def count(ch_store, project_id: str, **body) -> list:
    raw = json.dumps({"kind": "aggregate", "time_range": WINDOW, **body}).encode()
    return json.loads(ch_store.query(raw, project_id, time.time_ns() // 1000, LIMITS)[1])


def send(ch_client, project: Project, *events: dict) -> None:
    answer = ch_client.post("/analytics/v1/batch", json={"batch": list(events)}, headers=project.key_headers)
    assert answer.status_code == 200 and answer.get_json()["data"]["accepted"] == len(events), answer.get_json()


def stored(clickhouse, table: str, project_id: str, final: bool = False) -> int:
    """Rows a table physically holds for the project (no FINAL: copies count)."""
    return raw_client(clickhouse).query(f"SELECT count() FROM {table} {'FINAL' if final else ''} "
                                        "WHERE project_id = {p:String}", parameters={"p": project_id}).result_rows[0][0]


def test_a_forwarder_that_starts_again_from_an_old_position_sends_copies_that_no_query_counts(
        ch_client, ch_store, clickhouse):
    project = Project(ch_client)
    send(ch_client, project, *({"event": "A", "anonymous_id": f"a{i % 3}", "timestamp": at(60 * i),
                                "properties": {"amount": i}} for i in range(6)))
    before = count(ch_store, project.id), count(ch_store, project.id, measure={"sum": "amount"}), \
        count(ch_store, project.id, measure="unique_users")
    assert before[0] == [{"value": 6}]
    # As after a kill -9 between an insert and the position's write: everything is sent again.
    forwarder = ch_store._forwarder
    with forwarder.lock:
        raw_client(clickhouse).insert("forward_positions", [("events", 0, _now())], column_names=["tail", "position", "at"])
        forwarder._tails = None
    assert count(ch_store, project.id) == [{"value": 6}]
    assert stored(clickhouse, "events", project.id) == 12  # the copies are there...
    assert stored(clickhouse, "events", project.id, final=True) == 6
    after = count(ch_store, project.id), count(ch_store, project.id, measure={"sum": "amount"}), \
        count(ch_store, project.id, measure="unique_users")
    assert after == before  # ...and no answer counts them


def test_a_forwarder_does_not_send_again_what_another_process_delivered(ch_client, ch_store, ch_config, clickhouse):
    """The service's forwarder process and every worker forward; each moves up to the positions
    the others wrote before it reads, so a row is sent once, not once per process."""
    from reactor_analytics.query import store as event_store

    other = event_store.for_config(ch_config)  # as in another process
    other.sync()
    ch_store.sync()
    project = Project(ch_client)
    send(ch_client, project, *({"event": "A", "anonymous_id": f"o{i}", "timestamp": at(60 * i)} for i in range(5)))
    assert ch_store.sync() == 5
    # The position written covers every seq up to the oldest one still awaited: seqs other tests
    # left behind (rolled back, deleted) may hold it below the new rows for a while, and then
    # those rows are sent again (and counted once). Without such a gap nothing is sent again.
    with psycopg.connect(ch_config.database.url) as conn:
        seqs = [s for (s,) in conn.execute("SELECT seq FROM events WHERE project_id = %s", (project.id,))]
    covered = ch_store._forwarder._tails["events"].low_water()
    again = sum(seq > covered for seq in seqs)
    assert other.sync() == again
    assert stored(clickhouse, "events", project.id) == 5 + again
    send(ch_client, project, {"event": "B", "anonymous_id": "o9", "timestamp": at(900)})
    sent = other.sync()
    assert 1 <= sent <= 1 + again
    assert ch_store.sync() <= 1 + again
    assert count(ch_store, project.id) == [{"value": 6}]


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def test_a_seq_committed_after_a_higher_one_is_still_delivered(ch_client, ch_store, postgres):
    """Ingest takes a seq at insert; a transaction still open when a later one commits leaves a
    gap the forwarder reads past, then fills when it commits."""
    project = Project(ch_client)
    ch_store.sync()

    def row(message_id: str) -> bytes:
        parsed = _native.parse_request(json.dumps({"event": "late", "anonymous_id": "x", "message_id": message_id,
                                                   "timestamp": at(60)}).encode(), "track",
                                       received_at_ms=int(time.time() * 1000), ip=None, user_agent=None,
                                       accept_language=None)
        return parsed.encode(project.id, project.slug, []).copy_rows

    from reactor_analytics.store import queries

    with psycopg.connect(postgres.url) as slow, psycopg.connect(postgres.url, autocommit=False) as quick:
        queries.copy_events(slow, row("first"))  # takes the lower seq, not committed
        queries.copy_events(quick, row("second"))
        quick.commit()
        assert count(ch_store, project.id) == [{"value": 1}]
        slow.commit()
    assert count(ch_store, project.id) == [{"value": 2}]
    # Neither row is still awaited (seqs other tests left behind, rolled back, may be).
    with psycopg.connect(postgres.url) as conn:
        seqs = [s for (s,) in conn.execute("SELECT seq FROM events WHERE project_id = %s", (project.id,))]
    assert len(seqs) == 2
    assert not set(seqs) & set(ch_store._forwarder._tails["events"].missing)


def test_missing_seqs_are_given_up_after_a_while_and_the_position_moves_on():
    tail = forward.Tail(10)
    tail.take([11, 14, 15], now=0.0)
    assert tail.position == 15 and sorted(tail.missing) == [12, 13] and tail.low_water() == 11
    tail.take([13], now=1.0)
    assert sorted(tail.missing) == [12] and tail.low_water() == 11
    tail.take([16], now=forward.MISSING_FOR_S + 1)
    assert tail.missing == {} and tail.low_water() == 16
    tail.take([16 + forward.MAX_GAP + 5], now=0.0)  # rows deleted, not transactions open
    assert tail.missing == {}


def test_erase_removes_the_person_from_clickhouse_before_it_answers(ch_client, ch_store, clickhouse):
    project = Project(ch_client)
    marker = uuid.uuid4().hex[:10]
    person, other = f"anon_{marker}", f"keep_{marker}"
    send(ch_client, project, {"event": "A", "anonymous_id": person, "timestamp": at(60), "properties": {"mail": marker}},
         {"event": "B", "anonymous_id": other, "timestamp": at(70)})
    answer = ch_client.post("/analytics/v1/identify", json={"user_id": f"u_{marker}", "anonymous_id": person,
                                                            "traits": {"mail": f"{marker}@example.com"},
                                                            "timestamp": at(80)}, headers=project.key_headers)
    assert answer.status_code == 200
    send(ch_client, project, {"event": "C", "user_id": f"u_{marker}", "timestamp": at(90)})
    assert count(ch_store, project.id, measure="unique_users") == [{"value": 2}]
    assert ch_store.mentions(project.id, marker)

    erased = ch_client.post("/analytics/v1/erase", json={"user_id": f"u_{marker}"},
                            headers={**ADMIN, "X-Reactor-Project": project.id})
    assert erased.status_code == 200, erased.get_json()
    assert erased.get_json()["data"]["events"] == 3
    # At once, in the tables themselves (no FINAL, no delete mask left to apply later).
    raw = raw_client(clickhouse)
    for table, column in (("events", "properties"), ("person_map", "anonymous_id"), ("person_traits", "traits")):
        left = raw.query(f"SELECT count() FROM {table} WHERE project_id = {{p:String}} AND position(toString(tuple(*)), "
                         "{m:String}) > 0", parameters={"p": project.id, "m": marker}).result_rows[0][0]
        assert left == 0 or (table == "events" and _only_other(raw, project.id, other)), (table, column)
    assert raw.query("SELECT count() FROM system.mutations WHERE NOT is_done").result_rows[0][0] == 0
    assert not ch_store.mentions(project.id, person) and not ch_store.mentions(project.id, f"u_{marker}")
    assert ch_store.mentions(project.id, other)
    assert count(ch_store, project.id) == [{"value": 1}]
    # Erasing again is harmless.
    again = ch_client.post("/analytics/v1/erase", json={"user_id": f"u_{marker}"},
                           headers={**ADMIN, "X-Reactor-Project": project.id})
    assert again.status_code == 200 and again.get_json()["data"]["events"] == 0


def _only_other(raw, project_id: str, other: str) -> bool:
    ids = raw.query("SELECT groupUniqArray(distinct_id) FROM events WHERE project_id = {p:String}",
                    parameters={"p": project_id}).result_rows[0][0]
    return ids == [other]


def test_retention_removes_expired_events_from_clickhouse(ch_client, ch_store, clickhouse, postgres):
    project = Project(ch_client)
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 40 * DAY))
    send(ch_client, project, {"event": "old", "anonymous_id": "a", "timestamp": old},
         {"event": "new", "anonymous_id": "a", "timestamp": at(60)})
    ch_store.sync()
    assert stored(clickhouse, "events", project.id, final=True) == 2
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("UPDATE projects SET retention_days = 30 WHERE id = %s", (project.id,))
    removed = ch_store.sweep_retention()
    assert removed >= 1
    assert stored(clickhouse, "events", project.id) == 1
    names = raw_client(clickhouse).query("SELECT groupArray(event) FROM events WHERE project_id = {p:String}",
                                         parameters={"p": project.id}).result_rows[0][0]
    assert names == ["new"]


def test_rows_read_before_an_erasure_and_sent_after_it_do_not_come_back(ch_client, ch_store, clickhouse, postgres,
                                                                         monkeypatch):
    """Another process's forwarder read the person's rows, then the erasure forgot them in
    PostgreSQL and ClickHouse, then that forwarder's insert landed: the forwarder sees the erasure
    happened meanwhile and forgets what it sent that PostgreSQL no longer holds."""
    from reactor_analytics.store import queries

    project = Project(ch_client)
    ch_store.sync()
    marker = uuid.uuid4().hex[:10]
    send(ch_client, project, {"event": "A", "anonymous_id": f"gone_{marker}", "timestamp": at(60)},
         {"event": "A", "anonymous_id": f"kept_{marker}", "timestamp": at(60)})
    real = queries.forward_rows

    def read_then_erase(conn, name, after, missing, limit):
        names, rows = real(conn, name, after, missing, limit)
        if name == "events" and rows:
            monkeypatch.setattr(queries, "forward_rows", real)
            with psycopg.connect(postgres.url) as other:
                queries.erase_person(other, project.id, [f"gone_{marker}"])
                queries.audit(other, project.id, "erase", {"events": 1})
            raw_client(clickhouse).command("ALTER TABLE events DELETE WHERE distinct_id = {d:String}",
                                           parameters={"d": f"gone_{marker}"}, settings={"mutations_sync": 2})
        return names, rows

    monkeypatch.setattr(queries, "forward_rows", read_then_erase)
    ch_store.sync()
    assert queries.forward_rows is real  # the erasure happened in the middle of that sync
    ids = raw_client(clickhouse).query("SELECT groupArray(distinct_id) FROM events WHERE project_id = {p:String}",
                                       parameters={"p": project.id}).result_rows[0][0]
    assert ids == [f"kept_{marker}"]
    assert not ch_store.mentions(project.id, f"gone_{marker}")


KILLED_FORWARDER = """
import sys
from reactor_analytics.clickhouse import forward
from reactor_analytics.clickhouse.store import ClickHouseStore
forward.BATCH = 1000
ClickHouseStore(sys.argv[1], sys.argv[2], 60.0).sync()
print("done", flush=True)
"""


def test_a_forwarder_killed_mid_backlog_loses_nothing_and_counts_nothing_twice(ch_client, ch_store, clickhouse,
                                                                               postgres, tmp_path):
    """kill -9 of a forwarder while it sends a backlog (inserts done, positions not all written):
    the next forwarder starts from the position ClickHouse holds and every query counts each
    event once."""
    import signal
    import subprocess
    import sys

    from conftest import wait_for

    project = Project(ch_client)
    total = 20_000
    with psycopg.connect(postgres.url) as conn:
        conn.execute(
            "INSERT INTO events (project_id, message_id, event, ts, received_at, distinct_id, properties) "
            "SELECT %s, 'bulk-' || n, 'bulk', %s::timestamptz + n * interval '1 second', now(), 'd' || (n %% 97), "
            "jsonb_build_object('n', n) FROM generate_series(1, %s) AS n",
            (project.id, at(0), total))
    script = tmp_path / "forwarder.py"
    script.write_text(KILLED_FORWARDER)
    proc = subprocess.Popen([sys.executable, str(script), clickhouse.url, postgres.url],
                            stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: stored(clickhouse, "events", project.id) >= 2000 or proc.poll() is not None, timeout=120,
                 what="the forwarder's first inserts")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert stored(clickhouse, "events", project.id) < total, "the forwarder finished before it was killed"
    from reactor_analytics.clickhouse.store import ClickHouseStore

    again = ClickHouseStore(clickhouse.url, postgres.url, 60.0)
    again.sync()
    assert stored(clickhouse, "events", project.id, final=True) == total
    assert count(again, project.id) == [{"value": total}]
    assert count(ch_store, project.id, measure="unique_users") == [{"value": 97}]


def test_reactor_clickhouse_load_moves_an_installs_events_across(client, clickhouse, postgres):
    """Events stored while the install ran on the native store only: `reactor clickhouse-load`
    copies them (and the links) into ClickHouse, where the project's answers are PostgreSQL's."""
    import os
    import subprocess

    from conftest import VENV_BIN
    from reactor_analytics.clickhouse.store import ClickHouseStore

    project = Project(client)  # the native store's app: nothing forwards while these are stored
    send(client, project, *({"event": "moved", "anonymous_id": f"m{i % 4}", "timestamp": at(60 + i)} for i in range(9)))
    answer = client.post("/analytics/v1/alias", json={"previous_id": "m1", "user_id": "m0", "timestamp": at(30)},
                         headers=project.key_headers)
    assert answer.status_code == 200
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTOR_")}
    env.update(REACTOR_DATABASE_URL=postgres.url, REACTOR_CLICKHOUSE_URL=clickhouse.url)
    done = subprocess.run([str(VENV_BIN / "reactor"), "clickhouse-load"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data"]["rows"] >= 10
    assert stored(clickhouse, "events", project.id, final=True) == 10  # 9 + the $alias event
    store = ClickHouseStore(clickhouse.url, postgres.url, 30.0)
    assert count(store, project.id, measure="unique_users", filter={"event": {"eq": "moved"}}) == [{"value": 3}]


def test_reactor_clickhouse_load_without_a_url_is_a_configuration_error(tmp_path):
    import os
    import subprocess

    from conftest import VENV_BIN

    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTOR_")}
    env.update(REACTOR_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run([str(VENV_BIN / "reactor"), "clickhouse-load"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "needs [clickhouse] url" in done.stderr and "Traceback" not in done.stderr


def test_a_retention_sweep_run_elsewhere_reaches_clickhouse(ch_client, ch_store, clickhouse, postgres):
    """The sweep that runs on schedule (in the engine process, on PostgreSQL) records itself in
    the audit log; the forwarder's next sync removes the same expired events from ClickHouse,
    and keeps what PostgreSQL kept."""
    from reactor_analytics.governance.retention import Retention

    project = Project(ch_client)
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 50 * DAY))
    send(ch_client, project, {"event": "old", "anonymous_id": "a", "timestamp": old},
         {"event": "new", "anonymous_id": "a", "timestamp": at(60)})
    ch_store.sync()
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("UPDATE projects SET retention_days = 45 WHERE id = %s", (project.id,))

    class Elsewhere:  # the native engine's part of the sweep, not this store's
        def drop_before(self, project_id, cutoff_us):
            return 0

    assert Retention(postgres.url, Elsewhere(), 0).sweep() >= 1
    assert stored(clickhouse, "events", project.id, final=True) == 2  # not yet...
    ch_store.sync()
    names = raw_client(clickhouse).query("SELECT groupArray(event) FROM events WHERE project_id = {p:String}",
                                         parameters={"p": project.id}).result_rows[0][0]
    assert names == ["new"]  # ...then gone, without a copy left
