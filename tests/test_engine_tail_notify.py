"""The query engine reads new rows when PostgreSQL notifies it, not by polling: an event ingested
through the API reaches the engine with no query made, an idle engine reads nothing, and the
notifications keep coming after the listening connection is killed or the database restarts."""

from __future__ import annotations

import shutil
import time
import uuid

import psycopg
import pytest
import requests

from conftest import LiveServer, database_root, make_project, wait_for
from reactor_analytics.query.engine import EngineClient, socket_path
from reactor_analytics.store import migrate, queries
from reactor_analytics.store.embedded import EmbeddedPostgres

# Well under the engine's fallback read (every 30 s without a notification): an event seen within
# this long was read because of its notification.
SEEN_WITHIN_S = 20.0


class Install:
    """A database of its own (restarted by a test) and `reactor serve` over it."""

    def __init__(self, tmp_path):
        self.root = database_root("reactor-test-pg-notify-")
        self.database = EmbeddedPostgres(self.root)
        self.database.start()
        migrate.migrate(self.database.url)
        self.server = LiveServer(self.database, tmp_path, workers=1).start()
        self.engine = EngineClient(socket_path(str(tmp_path)), 5.0)
        self.project_id, self.key = make_project(self.server.url, "notify")

    def rows(self) -> int:
        return self.engine.ping()["rows"]

    def track(self, event: str = "notified") -> bool:
        """One event through the API; True once acknowledged."""
        try:
            answer = requests.post(f"{self.server.url}/analytics/v1/track",
                                   json={"event": event, "anonymous_id": f"a-{uuid.uuid4().hex[:8]}"},
                                   headers={"X-Reactor-Project-Key": self.key}, timeout=10)
        except requests.RequestException:
            return False
        return answer.status_code == 200

    def sql(self, statement: str, params=()) -> list[tuple]:
        with psycopg.connect(self.database.url, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def listener(self) -> int | None:
        """The pid of the engine's listening backend while the engine sleeps on it: it holds the
        tails' lock then (ingest notifies only while it is held)."""
        found = self.sql("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid = %s "
                         "AND mode = 'ExclusiveLock' AND granted", (queries.TAIL_LOCK,))
        return found[0][0] if found else None

    def seen_after_track(self) -> None:
        """An event tracked now reaches the engine without a query."""
        before = self.rows()
        assert wait_for(self.track, timeout=30, every=0.2, what="the event acknowledged")
        wait_for(lambda: self.rows() == before + 1, timeout=SEEN_WITHIN_S, every=0.1,
                 what="the event read by the engine with no query made")

    def close(self) -> None:
        self.server.stop()
        self.database.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture()
def install(tmp_path):
    made = Install(tmp_path)
    yield made
    made.close()


def test_an_ingested_event_reaches_the_engine_without_a_query_and_an_idle_engine_reads_nothing(install):
    wait_for(install.listener, what="the engine listening")
    install.seen_after_track()
    install.seen_after_track()
    wait_for(install.listener, what="the engine asleep again")
    # Idle, the engine does not read: its tail connection's last statement (a tail read) ended
    # well before now. A 10 Hz poll would have read within the last 0.1 s.
    time.sleep(2.0)
    idle = install.sql("SELECT clock_timestamp() - state_change FROM pg_stat_activity "
                       "WHERE query LIKE 'COPY (SELECT seq%%'")
    assert idle and all(since.total_seconds() > 1.5 for (since,) in idle), idle


def test_the_engine_keeps_waking_after_its_listening_connection_is_killed(install):
    first = wait_for(install.listener, what="the engine listening")
    install.seen_after_track()
    assert install.sql("SELECT pg_terminate_backend(%s)", (first,)) == [(True,)]
    second = wait_for(lambda: (pid := install.listener()) not in (None, first) and pid,
                      what="the engine listening again")
    assert second != first
    install.seen_after_track()
    install.seen_after_track()


def test_the_engine_keeps_waking_after_the_database_restarts(install):
    first = wait_for(install.listener, what="the engine listening")
    install.seen_after_track()
    install.database.stop("fast")
    install.database.start()
    wait_for(lambda: (pid := install.listener()) not in (None, first) and pid, timeout=60,
             what="the engine listening again")
    install.seen_after_track()  # the first ingest may answer 503 while the pool reconnects
    install.seen_after_track()


def test_a_row_committed_after_a_later_seq_is_still_read_on_its_notification(install):
    """A transaction that took its seq before another committed is read when it commits."""
    wait_for(install.listener, what="the engine listening")
    install.seen_after_track()
    before = install.rows()
    insert = ("INSERT INTO events (project_id, message_id, event, ts, received_at, distinct_id, anonymous_id) "
              "VALUES (%s, %s, 'slow', now(), now(), 'slow-a', 'slow-a') RETURNING seq")
    with psycopg.connect(install.database.url) as slow:
        (early,) = slow.execute(insert, (install.project_id, str(uuid.uuid4()))).fetchone()
        install.seen_after_track()  # a later seq, committed and read first
        assert install.sql("SELECT max(seq) FROM events")[0][0] > early
        assert install.rows() == before + 1
        slow.commit()
    wait_for(lambda: install.rows() == before + 2, timeout=SEEN_WITHIN_S, every=0.1,
             what="the earlier seq read once committed")


def test_rows_added_while_no_engine_slept_are_read_before_the_engine_sleeps(install):
    """A statement that finds no engine asleep notifies nothing and holds the tails' lock shared:
    the engine, going to sleep, waits for its transaction to end and reads its rows first."""
    first = wait_for(install.listener, what="the engine listening")
    install.seen_after_track()
    before = install.rows()
    insert = ("INSERT INTO events (project_id, message_id, event, ts, received_at, distinct_id, anonymous_id) "
              "VALUES (%s, %s, 'unnoticed', now(), now(), 'quiet-a', 'quiet-a')")
    holds_shared = ("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory' "
                    "AND classid = 0 AND objid = %s AND mode = 'ShareLock' AND granted")
    with psycopg.connect(install.database.url) as quiet:
        install.sql("SELECT pg_terminate_backend(%s)", (first,))  # the engine is awake, without the lock
        wait_for(lambda: install.listener() is None, what="the lock given back")
        quiet.execute(insert, (install.project_id, str(uuid.uuid4())))
        assert quiet.execute(holds_shared, (queries.TAIL_LOCK,)).fetchone()[0] == 1
        time.sleep(3.0)  # the engine is back and asks for the lock: not granted while this runs
        assert install.listener() is None
        assert install.rows() == before
        quiet.commit()
    wait_for(lambda: install.rows() == before + 1, timeout=SEEN_WITHIN_S, every=0.1,
             what="the unnoticed row read")
    wait_for(install.listener, what="the engine asleep again")
