"""The engine's segments, through `reactor serve`: a restart maps what was sealed and reads only
what was committed since, answering exactly what an engine that read every row answers; a
`kill -9` at any moment of a seal, or a damaged segment, never gives a wrong answer; an erased
person does not come back from old segments, even when the erasure happened while the engine was
down."""

from __future__ import annotations

import json
import random
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import requests

from conftest import ADMIN_TOKEN, VENV_BIN, LiveServer, make_project
from reactor_analytics.query.engine import EngineClient, socket_path
from reactor_analytics.store import queries

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
T0 = "2026-11-01T00:00:00Z"
RANGE = {"from": "2026-10-25T00:00:00Z", "to": "2026-11-20T00:00:00Z"}
QUERIES = [
    {"kind": "aggregate", "time_range": RANGE, "measure": "unique_users", "group_by": [{"prop": "plan"}]},
    {"kind": "aggregate", "time_range": RANGE, "measure": {"sum": "n"}, "time_bucket": "1d"},
    {"kind": "breakdown", "time_range": RANGE, "prop": "path", "limit": 20},
    {"kind": "funnel", "time_range": RANGE, "steps": [{"event": "$pageview"}, {"event": "signup"}],
     "conversion_window": "7d"},
    {"kind": "retention", "time_range": RANGE, "cohort_event": "signup", "return_event": "$pageview",
     "period": "day", "periods": 5},
    {"kind": "web", "time_range": RANGE, "dimension": "page"},
    {"kind": "web", "time_range": RANGE},
    {"kind": "aggregate", "time_range": RANGE, "measure": "count",
     "filter": {"trait": {"tier": {"eq": "gold"}}}},
]


class Install:
    """`reactor serve` over the session database, with a data directory (and segments) of its own."""

    def __init__(self, postgres, data_dir: Path):
        self.postgres = postgres
        self.data_dir = data_dir
        self.server = LiveServer(postgres, data_dir, workers=1).start()
        self.project_id, self.key = make_project(self.server.url, "seg")

    @property
    def segments(self) -> Path:
        return self.data_dir / "segments"

    def send(self, events: list[dict]) -> None:
        for at in range(0, len(events), 100):
            answer = requests.post(f"{self.server.url}/analytics/v1/batch", json={"batch": events[at:at + 100]},
                                   headers={"X-Reactor-Project-Key": self.key}, timeout=30)
            assert answer.status_code == 200, answer.text

    def answers(self) -> list:
        out = []
        for body in QUERIES:
            answer = requests.post(f"{self.server.url}/analytics/v1/query", json=body,
                                   headers={**ADMIN, "X-Reactor-Project": self.project_id}, timeout=60)
            assert answer.status_code == 200, (body, answer.text)
            out.append(answer.json()["data"]["rows"])
        return out

    def seal(self) -> None:
        """Seal now (the engine does on its own after a while)."""
        EngineClient(socket_path(str(self.data_dir)), 60.0).call({"op": "seal"}, timeout_s=60.0)
        stats = self.stats()
        assert stats["sealed_rows"] == stats["rows"]

    def stats(self) -> dict:
        return EngineClient(socket_path(str(self.data_dir)), 10.0).ping()

    def restart(self, kill: bool = True) -> None:
        if kill:
            self.server.kill9()
        else:
            self.server.stop()
        self.server.start()

    def erase(self, user_id: str) -> dict:
        answer = requests.post(f"{self.server.url}/analytics/v1/erase", json={"user_id": user_id},
                               headers={**ADMIN, "X-Reactor-Project": self.project_id}, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]

    def mentions(self, needle: str) -> bool:
        client = EngineClient(socket_path(str(self.data_dir)), 10.0)
        return client.call({"op": "mentions", "project": self.project_id, "needle": needle})["mentions"]

    def stop(self) -> None:
        self.server.stop()


def events(count: int, seed: int, marker: str) -> list[dict]:
    """Page views, signups and identifications of a few hundred visitors over ten days."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        visitor = rng.randrange(400)
        ts = f"2026-11-{1 + rng.randrange(10):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"
        event = {"anonymous_id": f"{marker}-a{visitor}", "timestamp": ts, "message_id": str(uuid.uuid4()),
                 "properties": {"plan": rng.choice(["free", "pro", None]), "n": rng.randrange(100),
                                "note": "tab\there \"quoted\" ünï"}}
        kind = rng.random()
        if kind < 0.6:
            event.update(event="$pageview", context={"page": {"url": f"https://ex.com/p{rng.randrange(9)}"}})
        elif kind < 0.8:
            event.update(event="signup")
        else:
            event.update(event="$identify", user_id=f"{marker}-u{visitor % 150}",
                         traits={"tier": rng.choice(["gold", "lead"])})
        out.append(event)
    return out


def fresh_answers(postgres, tmp_path: Path, project_id: str) -> list:
    """What an engine that reads every row from PostgreSQL answers (no segments)."""
    server = LiveServer(postgres, tmp_path / f"fresh-{uuid.uuid4().hex[:6]}", workers=1).start()
    try:
        install = Install.__new__(Install)
        install.server, install.project_id = server, project_id
        return install.answers()
    finally:
        server.stop()


def test_a_restart_maps_the_segments_and_answers_exactly_what_a_full_read_answers(postgres, tmp_path):
    install = Install(postgres, tmp_path / "data")
    try:
        # More than the rows a project needs to be mapped rather than read into memory.
        install.send(events(25_000, seed=1, marker="r"))
        before = install.answers()
        install.seal()
        install.restart()
        stats = install.stats()
        # ($identify events are links and traits, not rows.)
        assert stats["opened_rows"] == stats["rows"] >= 15_000
        assert stats["mapped_bytes"] > 0
        assert install.answers() == before
        # Rows committed while the engine was down, and after it started, are read on top.
        install.server.kill9()
        install.server.start()
        install.send(events(700, seed=2, marker="r"))
        after = install.answers()
        assert after != before
        assert after == fresh_answers(postgres, tmp_path, install.project_id)
    finally:
        install.stop()


def test_kill_9_during_seals_never_leaves_a_segment_that_is_used_wrongly(postgres, tmp_path):
    install = Install(postgres, tmp_path / "data")
    rng = random.Random(7)
    try:
        install.send(events(30_000, seed=3, marker="k"))
        for round_ in range(8):
            # A start opens the segments, reads what is newer and seals it: kill it at some
            # moment of that (the rows sent since the last seal are waiting to be sealed).
            install.send(events(3_000, seed=10 + round_, marker="k"))
            install.server.kill9()
            install.server.proc = subprocess.Popen([str(VENV_BIN / "reactor"), "serve"], env=install.server.env,
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                   start_new_session=True)
            time.sleep(rng.uniform(0.2, 3.0))
            install.server.kill9()
            install.server.start()
        assert install.answers() == fresh_answers(postgres, tmp_path, install.project_id)
        # A damaged piece is never read: the engine reads every row again.
        pieces = sorted(install.segments.glob("*.seg"))
        assert pieces
        install.server.kill9()
        damaged = pieces[0].read_bytes()
        at = len(damaged) // 2
        pieces[0].write_bytes(damaged[:at] + bytes([damaged[at] ^ 0xFF]) + damaged[at + 1:])
        install.server.start()
        assert install.stats()["opened_rows"] == 0
        assert install.answers() == fresh_answers(postgres, tmp_path, install.project_id)
        # And it seals again: the next start maps them.
        install.seal()
        install.restart()
        assert install.stats()["opened_rows"] == install.stats()["rows"]
    finally:
        install.stop()


def test_an_erased_person_does_not_come_back_from_old_segments(postgres, tmp_path):
    install = Install(postgres, tmp_path / "data")
    try:
        install.send(events(20_000, seed=4, marker="e"))
        install.send([{"event": "signup", "user_id": "e-forget-me", "timestamp": T0,
                       "properties": {"email": "forget-me@example.com"}}])
        install.answers()
        install.seal()
        assert install.mentions("forget-me@example.com")
        install.erase("e-forget-me")
        assert not install.mentions("forget-me@example.com")
        install.restart()
        assert install.stats()["opened_rows"] > 0
        assert not install.mentions("forget-me@example.com")
        assert not any("forget-me" in p.read_bytes().decode("latin-1") for p in install.segments.glob("*.seg"))

        # Erased in PostgreSQL while the engine is down (its erase call never arrived): the
        # segments sealed before are not trusted.
        install.send([{"event": "signup", "user_id": "e-second", "timestamp": T0,
                       "properties": {"email": "second@example.com"}}])
        install.answers()
        install.seal()
        install.server.kill9()
        with psycopg.connect(postgres.url) as conn:
            ids = queries.person_ids(conn, install.project_id, "e-second", None)
            queries.erase_person(conn, install.project_id, ids)
            queries.audit(conn, install.project_id, "erase", {"events": 1})
            conn.commit()
        install.server.start()
        assert install.stats()["opened_rows"] == 0
        assert not install.mentions("second@example.com")
        assert json.dumps(install.answers()) == json.dumps(fresh_answers(postgres, tmp_path, install.project_id))
    finally:
        install.stop()
