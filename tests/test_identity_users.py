"""Two users are never merged: an id is a user once it has sent an event as `user_id` (README,
"Identity"), whichever way the link comes ($identify, $alias, /identify, /alias) and whether the
link arrives before or after that event."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from conftest import ADMIN

LINKS = {
    "$identify": ("/track", {"event": "$identify", "anonymous_id": "u_b", "user_id": "u_a"}),
    "$alias": ("/track", {"event": "$alias", "user_id": "u_a", "properties": {"previous_id": "u_b"}}),
    "/identify": ("/identify", {"user_id": "u_a", "anonymous_id": "u_b"}),
    "/alias": ("/alias", {"previous_id": "u_b", "user_id": "u_a"}),
}


def at(minutes_ago: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).isoformat()


def post(client, project, path, body):
    answer = client.post(f"/analytics/v1{path}", json={"message_id": str(uuid.uuid4()), **body},
                         headers=project.key_headers)
    assert answer.status_code == 200 and answer.get_json()["data"]["accepted"] == 1, answer.get_json()


def query(client, project, body):
    answer = client.post("/analytics/v1/query", json={"project_id": project.id, "time_range": {"last": "1d"}, **body},
                         headers=ADMIN)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["data"]["rows"]


@pytest.mark.parametrize("order", ["events_first", "link_first"])
@pytest.mark.parametrize("how", list(LINKS))
def test_a_link_between_two_user_ids_never_merges_them(client, project, postgres, how, order):
    path, link = LINKS[how]
    events = [{"event": "view", "user_id": "u_a", "timestamp": at(30)},
              {"event": "view", "user_id": "u_b", "timestamp": at(20)},
              {"event": "purchase", "user_id": "u_b", "timestamp": at(10)}]
    if order == "link_first":
        post(client, project, path, link)
    for event in events:
        post(client, project, "/track", event)
    if order == "events_first":
        post(client, project, path, link)

    assert query(client, project, {"kind": "aggregate", "measure": "unique_users"}) == [{"value": 2}]
    [funnel] = query(client, project, {"kind": "funnel", "steps": [{"event": "view"}, {"event": "purchase"}],
                                       "conversion_window": "1h"})
    # Merged, u_a's view and u_b's purchase would be one person converting: [1, 1].
    assert [s["count"] for s in funnel["steps"]] == [2, 1]
    with psycopg.connect(postgres.url) as conn:
        links = conn.execute("SELECT anonymous_id, user_id FROM identity_links "
                             "WHERE project_id = %s AND anonymous_id <> user_id", (project.id,)).fetchall()
    assert links == []


def test_an_anonymous_id_is_still_stitched_to_its_user(client, project):
    post(client, project, "/track", {"event": "view", "anonymous_id": "anon-1", "timestamp": at(30)})
    post(client, project, "/track", {"event": "view", "user_id": "u_a", "timestamp": at(25)})
    post(client, project, "/identify", {"user_id": "u_a", "anonymous_id": "anon-1"})
    post(client, project, "/track", {"event": "purchase", "user_id": "u_a", "timestamp": at(10)})
    assert query(client, project, {"kind": "aggregate", "measure": "unique_users"}) == [{"value": 1}]
    [funnel] = query(client, project, {"kind": "funnel", "steps": [{"event": "view"}, {"event": "purchase"}],
                                       "conversion_window": "1h"})
    assert [s["count"] for s in funnel["steps"]] == [1, 1]


def test_the_migration_gives_each_stored_user_its_row_in_place_of_its_link(postgres):
    """Migration 0006 on links stored by the old rule: u_b, a user, had been linked to u_a."""
    from importlib import resources

    sql = (resources.files("reactor_analytics.store") / "migrations" / "0006_users_are_never_linked.sql").read_text()
    p = f"p_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.url) as conn:
        for n, (anonymous_id, user_id) in enumerate([(None, "u_a"), (None, "u_b"), ("x", None)]):
            conn.execute("INSERT INTO events (project_id, message_id, event, ts, received_at, distinct_id, "
                         "anonymous_id, user_id) VALUES (%s, %s, 'view', now(), now(), %s, %s, %s)",
                         (p, f"m{n}", user_id or anonymous_id, anonymous_id, user_id))
        conn.execute("INSERT INTO identity_links (project_id, anonymous_id, user_id) "
                     "VALUES (%(p)s, 'u_b', 'u_a'), (%(p)s, 'x', 'u_b')", {"p": p})
        [before] = conn.execute("SELECT max(seq) FROM identity_links").fetchone()
        conn.execute(sql)
        rows = conn.execute("SELECT anonymous_id, user_id, seq > %s FROM identity_links WHERE project_id = %s "
                            "ORDER BY anonymous_id", (before, p)).fetchall()
        conn.rollback()  # the shared test database keeps none of it
    assert rows == [("u_a", "u_a", True), ("u_b", "u_b", True), ("x", "u_b", False)]


def test_ids_already_stored_take_no_seq_so_the_engine_meets_no_gap(postgres):
    """A seq taken and never committed is a gap the query engine asks PostgreSQL for again for a
    minute: storing ids that are already stored takes none, and an update takes exactly one."""
    from reactor_analytics.store import queries

    p = f"p_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.url) as conn:
        sequences = {"identity_links": conn.execute("SELECT pg_get_serial_sequence('identity_links', 'seq')").fetchone()[0],
                     "person_traits": "person_traits_seq"}

        def last(table):
            return conn.execute(f"SELECT last_value FROM {sequences[table]}").fetchone()[0]

        queries.store_links(conn, p, [("anon-1", "u_1"), ("anon-1", "u_2"), ("anon-2", "u_2")], ["u_1"])
        stored = conn.execute("SELECT anonymous_id, user_id, seq FROM identity_links WHERE project_id = %s "
                              "ORDER BY anonymous_id", (p,)).fetchall()
        # The first link of an id wins; one seq per row, none skipped.
        assert [(a, u) for a, u, _ in stored] == [("anon-1", "u_1"), ("anon-2", "u_2"), ("u_1", "u_1"), ("u_2", "u_2")]
        assert sorted(s for *_, s in stored) == list(range(last("identity_links") - 3, last("identity_links") + 1))
        before = last("identity_links")
        for _ in range(3):
            queries.store_links(conn, p, [("anon-1", "u_2"), ("anon-2", "u_1")], ["u_1", "u_2"])
        assert last("identity_links") == before
        queries.store_links(conn, p, [], ["anon-2"])  # anon-2 sends an event as a user: its own row
        assert conn.execute("SELECT user_id, seq FROM identity_links WHERE project_id = %s AND anonymous_id = 'anon-2'",
                            (p,)).fetchone() == ("anon-2", before + 1)

        queries.store_traits(conn, p, [("u_1", '{"plan": "free"}')])
        queries.store_traits(conn, p, [("u_1", '{"seats": 3}'), ("u_1", '{"plan": "pro"}')])
        assert conn.execute("SELECT traits, seq FROM person_traits WHERE project_id = %s", (p,)).fetchone() == (
            {"plan": "pro", "seats": 3}, last("person_traits"))
        conn.rollback()  # the shared test database keeps none of it
