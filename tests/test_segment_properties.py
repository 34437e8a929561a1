"""Property-based: any rows (any text in any column, escapes, NULLs, odd JSON, links and traits,
several projects) appended to the engine, sealed to segments and opened again in another engine,
answer every query kind exactly as the engine that read them; so do rows appended on top and
sealed again (a project's short last piece rewritten), and a store reopened after that."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from reactor_analytics import _native

HOT = len(_native.HOT_COLUMNS)
T0 = 1_767_571_200 * 1_000_000  # 2026-01-05, µs
DAY = 86_400 * 1_000_000
NOW = T0 + 20 * DAY

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
small = st.sampled_from(["a", "b", "pro", "free", "/", "/x", "ünï", "tab\there", "line\nbreak", "back\\slash", ""])
value = st.one_of(st.none(), small, text, st.integers(-3, 30), st.floats(allow_nan=False, allow_infinity=False),
                  st.booleans(), st.lists(st.integers(0, 3), max_size=2))


def copy_field(v: str | None) -> str:
    if v is None:
        return "\\N"
    return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


@st.composite
def event_row(draw) -> tuple:
    project = draw(st.sampled_from(["p", "p", "q"]))
    name = draw(st.one_of(st.sampled_from(["$pageview", "signup", "buy", "$pageleave"]), text))
    ts = T0 + draw(st.integers(0, 15 * 24)) * 3_600_000_000 + draw(st.integers(0, 59)) * 60_000_000
    who = draw(st.sampled_from(["a1", "a2", "a3", "u1", "u2", "x y", "ü"]))
    hot = [draw(st.one_of(st.none(), small, text)) if i in (1, 2, 3, 4) else draw(st.one_of(st.none(), small))
           for i in range(HOT)]
    props = draw(st.dictionaries(st.sampled_from(["plan", "n", "path", "duration_ms", "k\"q", "ü"]), value,
                                 max_size=4))
    return project, name, ts, who, hot, json.dumps(props, ensure_ascii=draw(st.booleans()))


@st.composite
def batches(draw) -> list[tuple[str, list]]:
    """Appends in order: ("events", rows) / ("links", pairs) / ("traits", pairs)."""
    out = []
    for _ in range(draw(st.integers(1, 4))):
        out.append(("events", draw(st.lists(event_row(), min_size=1, max_size=60))))
        if draw(st.booleans()):
            out.append(("links", draw(st.lists(st.tuples(st.sampled_from(["p", "q"]),
                                                         st.sampled_from(["a1", "a2", "a3", "u2"]),
                                                         st.sampled_from(["u1", "u2"])), max_size=3))))
        if draw(st.booleans()):
            out.append(("traits", draw(st.lists(st.tuples(st.sampled_from(["p", "q"]), st.sampled_from(["u1", "u2"]),
                                                          st.sampled_from(["gold", "lead", "x"])), max_size=2))))
    return out


class Feeder:
    """Turns batches into the COPY text the tails read, numbering seqs as PostgreSQL would."""

    def __init__(self):
        self.seq = 0

    def text(self, kind: str, items: list) -> bytes:
        lines = []
        for item in items:
            self.seq += 1
            if kind == "events":
                project, name, ts, who, hot, props = item
                fields = [str(self.seq), project, copy_field(name), str(ts), copy_field(who),
                          *(copy_field(h) for h in hot), copy_field(props)]
            elif kind == "links":
                project, anon, user = item
                fields = [str(self.seq), project, anon, user]
            else:
                project, user, tier = item
                fields = [str(self.seq), project, user, copy_field(json.dumps({"tier": tier}))]
            lines.append("\t".join(fields))
        return ("\n".join(lines) + "\n").encode()


RANGE = {"from": "2026-01-04T00:00:00Z", "to": "2026-01-25T00:00:00Z"}
BODIES = [
    {"kind": "aggregate", "measure": "count", "group_by": [{"prop": "plan"}], "time_bucket": "1d"},
    {"kind": "aggregate", "measure": "unique_users", "group_by": [{"trait": "tier"}]},
    {"kind": "aggregate", "measure": {"sum": "n"}, "filter": {"prop": {"path": {"exists": True}}}},
    {"kind": "breakdown", "prop": "path", "limit": 50},
    {"kind": "breakdown", "prop": "k\"q", "limit": 50},
    {"kind": "funnel", "steps": [{"event": "$pageview"}, {"event": "signup"}], "conversion_window": "1d"},
    {"kind": "retention", "cohort_event": "signup", "return_event": "$pageview", "period": "day", "periods": 4},
    {"kind": "path", "start_event": "$pageview", "depth": 3, "limit": 20},
    {"kind": "events", "limit": 1000},
    {"kind": "web", "dimension": "page"},
    {"kind": "web"},
]


def answers(engine: _native.Engine) -> list:
    out = []
    for project in ("p", "q"):
        for body in BODIES:
            plan = _native.plan_query(json.dumps({**body, "time_range": RANGE}).encode(), project, now_us=NOW,
                                      events_max_days=90, max_days=730, max_rows_scanned=0)
            rows, scanned, comparison = engine.execute(plan)
            out.append((project, body["kind"], json.loads(rows), scanned))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(first=batches(), second=batches())
def test_rows_sealed_and_mapped_answer_exactly_as_the_rows_read(first, second):
    feeder = Feeder()
    read = _native.Engine()
    with tempfile.TemporaryDirectory() as tmp:
        segments = Path(tmp)
        # Every project mapped, however small: short pieces, pages shared by nothing else.
        sealed = _native.Engine(map_min_rows=0)
        for kind, items in first:
            data = feeder.text(kind, items)
            read.append(kind, data)
            sealed.append(kind, data)
        sealed.seal(segments, 1)
        opened = _native.Engine(map_min_rows=0)
        assert opened.open_segments(segments)
        assert opened.stats()["rows"] == read.stats()["rows"]
        assert answers(opened) == answers(read) == answers(sealed)
        for name in ("events", "links", "traits"):
            assert opened.tail_position(name)[0] == read.tail_position(name)[0]
        # The visits the web queries derived are saved by this seal; the next one, within 30 s,
        # keeps that file and the persons the links below move, derived again after the restart.
        opened.seal(segments, 1)
        # On top: rows appended to the opened store, sealed again, opened again.
        for kind, items in second:
            data = feeder.text(kind, items)
            read.append(kind, data)
            opened.append(kind, data)
        assert answers(opened) == answers(read)
        opened.seal(segments, 2)
        again = _native.Engine(map_min_rows=0)
        assert again.open_segments(segments)
        assert again.stats()["mapped_bytes"] > 0
        assert again.segments_mark() == 2
        assert answers(again) == answers(read)
