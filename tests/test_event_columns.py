"""The columns of `events` are declared once, in the native core (`_native.EVENT_COLUMNS`); the
migrations create the table, and the two must agree."""

from __future__ import annotations

import psycopg

from reactor_analytics import _native
from reactor_analytics.store import queries


def test_the_events_table_has_the_native_columns_in_copy_order(postgres):
    with psycopg.connect(postgres.url) as conn:
        names = [row[0] for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = 'events' ORDER BY ordinal_position")]
    assert names == ["seq", *_native.EVENT_COLUMNS]


def test_the_hot_columns_are_a_run_of_the_event_columns():
    hot = _native.HOT_COLUMNS
    start = _native.EVENT_COLUMNS.index(hot[0])
    assert _native.EVENT_COLUMNS[start:start + len(hot)] == hot
    assert queries.EVENT_COLUMNS == ", ".join(_native.EVENT_COLUMNS)
