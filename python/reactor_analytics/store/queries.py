"""Every SQL statement the service runs, parameterised, in one place."""

from __future__ import annotations

from typing import Any, Sequence

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from .. import _native

# The columns ingest writes, in COPY order: declared once, in the native core (`columns.rs`).
EVENT_COLUMNS = ", ".join(_native.EVENT_COLUMNS)

# Used only when a batch repeats a stored message_id: created and dropped in that transaction,
# with the types of the same columns of events.
_STAGING = f"CREATE TEMP TABLE ingest_staging ON COMMIT DROP AS SELECT {EVENT_COLUMNS} FROM events WITH NO DATA"


# --- projects and keys ---------------------------------------------------------------------

_PROJECT_FIELDS = "id, org_id, slug, name, retention_days, auto_register_sources, created_at"
# Which of the anonymous ids (one `text[]` literal parameter, built by the native parser) opted
# out of project `p`, and the project's sources: what ingest needs of a project, in one round trip.
_OPTED_OUT = ("ARRAY(SELECT o.anonymous_id FROM consent_opt_outs o "
              "WHERE o.project_id = p.id AND o.anonymous_id = ANY(%s::text[])) AS opted_out, "
              "ARRAY(SELECT s.hostname FROM project_sources s WHERE s.project_id = p.id) AS sources, "
              "p.auto_register_sources")


def insert_project(conn, project_id: str, org_id: str, slug: str, name: str, retention_days: int) -> dict | None:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(
        f"INSERT INTO projects (id, org_id, slug, name, retention_days) VALUES (%s, %s, %s, %s, %s) "
        f"ON CONFLICT (slug) DO NOTHING RETURNING {_PROJECT_FIELDS}",
        (project_id, org_id, slug, name, retention_days)).fetchone()


def list_projects(conn, org_id: str | None) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    if org_id is None:
        return cur.execute(f"SELECT {_PROJECT_FIELDS} FROM projects ORDER BY created_at, id").fetchall()
    return cur.execute(
        f"SELECT {_PROJECT_FIELDS} FROM projects WHERE org_id = %s ORDER BY created_at, id", (org_id,)).fetchall()


def find_project(conn, id_or_slug: str, anonymous_ids_array: str | None = None) -> dict | None:
    """A project by id or slug; with `anonymous_ids_array` (a `text[]` literal), also which of
    those ids opted out of it (`opted_out`), so ingest learns both in one round trip."""
    cur = conn.cursor(row_factory=dict_row)
    if anonymous_ids_array is None:
        return cur.execute(f"SELECT {_PROJECT_FIELDS} FROM projects WHERE id = %s OR slug = %s",
                           (id_or_slug, id_or_slug)).fetchone()
    return cur.execute(f"SELECT p.id, p.org_id, p.slug, p.name, p.retention_days, p.created_at, {_OPTED_OUT} "
                       "FROM projects p WHERE id = %s OR slug = %s",
                       (anonymous_ids_array, id_or_slug, id_or_slug)).fetchone()


def insert_key(conn, key_id: str, project_id: str, name: str, prefix: str, key_hash: bytes) -> dict:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(
        "INSERT INTO project_keys (id, project_id, name, prefix, key_hash) VALUES (%s, %s, %s, %s, %s) "
        "RETURNING id, name, prefix, created_at, revoked_at",
        (key_id, project_id, name, prefix, key_hash)).fetchone()


def list_keys(conn, project_id: str) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(
        "SELECT id, name, prefix, created_at, revoked_at FROM project_keys WHERE project_id = %s "
        "ORDER BY created_at, id", (project_id,)).fetchall()


def revoke_key(conn, project_id: str, key_id: str) -> bool:
    cur = conn.execute(
        "UPDATE project_keys SET revoked_at = coalesce(revoked_at, now()) WHERE project_id = %s AND id = %s",
        (project_id, key_id))
    return cur.rowcount == 1


def project_for_key(conn, key_hash: bytes, anonymous_ids_array: str = "{}") -> dict | None:
    """The project of a live (not revoked) key, with which of the ids in `anonymous_ids_array`
    (a `text[]` literal) opted out of it: the ingest hot path learns both in one round trip."""
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(
        f"SELECT p.id, p.org_id, p.slug, {_OPTED_OUT} "
        "FROM project_keys k JOIN projects p ON p.id = k.project_id "
        "WHERE k.key_hash = %s AND k.revoked_at IS NULL", (anonymous_ids_array, key_hash)).fetchone()


# --- ingest --------------------------------------------------------------------------------

def copy_events(conn, copy_rows: bytes) -> int:
    """Bulk-load native-encoded rows straight into events. Raises UniqueViolation when a
    message_id is already stored; the caller then rolls back and uses merge_events."""
    cur = conn.cursor()
    with cur.copy(f"COPY events ({EVENT_COLUMNS}) FROM STDIN") as copy:
        copy.write(copy_rows)
    return cur.rowcount


def merge_events(conn, copy_rows: bytes) -> int:
    """Bulk-load rows, skipping message_ids already stored (a retried event is stored once)."""
    cur = conn.cursor()
    cur.execute(_STAGING)
    with cur.copy(f"COPY ingest_staging ({EVENT_COLUMNS}) FROM STDIN") as copy:
        copy.write(copy_rows)
    cur.execute(
        f"INSERT INTO events ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM ingest_staging "
        "ON CONFLICT (project_id, message_id) DO NOTHING")
    return cur.rowcount


def store_links(conn, project_id: str, links: Sequence[tuple[str, str]], users: Sequence[str] = ()) -> None:
    """Record `users` (the user_ids of the stored events) as users and link anonymous ids to users.

    An id is a user once it has sent an event as user_id (the user side of a link did: its
    $identify or $alias event), and a user is never linked to another user, whichever arrived
    first. `identity_links` holds one row per id, keyed by it: a user's own row (anonymous_id =
    user_id) or the first link of an anonymous id. A link of an id that has its own row finds
    that key taken and is dropped; an id that becomes a user turns the link it had into its own
    row, with a new seq so the query engine reads the change. Writers of one id meet on its key
    (rows go in in key order, so two requests never wait on each other in a cycle), and the
    UPDATE, a statement of its own, sees a link committed while the INSERT waited for it.

    Both statements look each id up by the primary key, one probe per id (a LATERAL subquery the
    planner cannot turn into a scan of the project's rows, whatever its statistics say), and the
    INSERT proposes only ids not stored yet, once each, so an id already stored takes no `seq`
    (a `seq` taken and never committed is a gap the query engine asks for again for a minute).
    """
    users = sorted(set(users).union(u for _, u in links))
    if not users:
        return
    rows = [(u, u) for u in users] + [(a, u) for a, u in links if a != u]
    conn.execute(
        "INSERT INTO identity_links (project_id, anonymous_id, user_id) "
        "SELECT DISTINCT ON (t.a) %(p)s, t.a, t.u "
        "FROM unnest(%(a)s::text[], %(u)s::text[]) WITH ORDINALITY AS t(a, u, n) "
        "LEFT JOIN LATERAL (SELECT true AS taken FROM identity_links l "
        "                   WHERE l.project_id = %(p)s AND l.anonymous_id = t.a LIMIT 1) AS s ON true "
        "WHERE s.taken IS NULL ORDER BY t.a, t.n ON CONFLICT (project_id, anonymous_id) DO NOTHING",
        {"p": project_id, "a": [a for a, _ in rows], "u": [u for _, u in rows]})
    conn.execute(
        "UPDATE identity_links AS l SET user_id = l.anonymous_id, seq = DEFAULT "
        "FROM unnest(%(users)s::text[]) AS u(id) "
        "CROSS JOIN LATERAL (SELECT i.anonymous_id FROM identity_links i WHERE i.project_id = %(p)s "
        "                    AND i.anonymous_id = u.id AND i.user_id <> i.anonymous_id LIMIT 1) AS linked "
        "WHERE l.project_id = %(p)s AND l.anonymous_id = linked.anonymous_id AND l.user_id <> l.anonymous_id",
        {"p": project_id, "users": users})


def store_traits(conn, project_id: str, traits: Sequence[tuple[str, str]]) -> None:
    """Merge traits into each person's record; later values win key by key."""
    if not traits:
        return
    conn.execute(
        "INSERT INTO person_traits AS pt (project_id, user_id, traits) "
        "SELECT %(p)s, x.u, jsonb_merge_agg(x.j ORDER BY x.n) "
        "FROM unnest(%(u)s::text[], %(j)s::jsonb[]) WITH ORDINALITY AS x(u, j, n) GROUP BY x.u "
        "ON CONFLICT (project_id, user_id) DO UPDATE SET traits = pt.traits || excluded.traits, updated_at = now(), "
        "seq = excluded.seq",  # the seq the proposed row took: an update leaves no gap
        {"p": project_id, "u": [u for u, _ in traits], "j": [j for _, j in traits]})


def store_errors(conn, project_id: str, errors: Sequence[tuple[str, str, str, int, int, int]]) -> None:
    """Keep the error groups of the stored `$error` events (native `EncodedBatch.errors`, sorted
    by fingerprint, so writers of one group never wait on each other in a cycle): first and last
    occurrence, the last type and message; a resolved group that occurs again is unresolved again,
    an ignored one stays ignored. No result is read, so it can be pipelined with COMMIT."""
    if not errors:
        return
    conn.execute(
        "INSERT INTO error_groups AS g (project_id, fingerprint, type, message, first_seen, last_seen) "
        "SELECT %(p)s, e.f, e.t, e.m, to_timestamp(e.first / 1e6), to_timestamp(e.last / 1e6) "
        "FROM unnest(%(f)s::text[], %(t)s::text[], %(m)s::text[], %(first)s::bigint[], %(last)s::bigint[]) "
        "    AS e(f, t, m, first, last) "
        "ON CONFLICT (project_id, fingerprint) DO UPDATE SET "
        "first_seen = least(g.first_seen, excluded.first_seen), last_seen = greatest(g.last_seen, excluded.last_seen), "
        "type = excluded.type, message = excluded.message, updated_at = now(), "
        "state = CASE WHEN g.state = 'resolved' THEN 'unresolved' ELSE g.state END",
        {"p": project_id, "f": [e[0] for e in errors], "t": [e[1] for e in errors], "m": [e[2] for e in errors],
         "first": [e[4] for e in errors], "last": [e[5] for e in errors]})


def error_groups(conn, project_id: str, start, end, limit: int) -> list[dict]:
    """The project's error groups with an occurrence in [start, end), the most recently seen first,
    with how often and to how many persons (distinct ids) they happened in that range. Counted
    from the partial index `events_errors` (project, ts), so the range bounds the work."""
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(
        "SELECT g.fingerprint, g.type, g.message, c.count, c.users, g.first_seen, g.last_seen, g.state "
        "FROM (SELECT fingerprint, count(*) AS count, count(DISTINCT distinct_id) AS users FROM events "
        "      WHERE project_id = %(p)s AND fingerprint IS NOT NULL AND ts >= %(start)s AND ts < %(end)s "
        "      GROUP BY fingerprint) c "
        "JOIN error_groups g ON g.project_id = %(p)s AND g.fingerprint = c.fingerprint "
        "ORDER BY g.last_seen DESC, g.fingerprint LIMIT %(limit)s",
        {"p": project_id, "start": start, "end": end, "limit": limit}).fetchall()


def set_error_state(conn, project_id: str, fingerprint: str, state: str) -> dict | None:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(
        "UPDATE error_groups SET state = %s, updated_at = now() WHERE project_id = %s AND fingerprint = %s "
        "RETURNING fingerprint, type, message, state, first_seen, last_seen",
        (state, project_id, fingerprint)).fetchone()


# --- sources, pixels, cookieless salts -------------------------------------------------------

def insert_source(conn, project_id: str, hostname: str) -> dict:
    conn.execute("INSERT INTO project_sources (project_id, hostname) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                 (project_id, hostname))
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute("SELECT hostname, created_at FROM project_sources WHERE project_id = %s AND hostname = %s",
                       (project_id, hostname)).fetchone()


def store_sources(conn, project_id: str, hostnames: Sequence[str]) -> None:
    """Register hostnames that reported to a project that adds its sources as they report."""
    if hostnames:
        conn.execute("INSERT INTO project_sources (project_id, hostname) SELECT %s, unnest(%s::text[]) "
                     "ON CONFLICT DO NOTHING", (project_id, list(hostnames)))


def list_sources(conn, project_id: str) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute("SELECT hostname, created_at FROM project_sources WHERE project_id = %s ORDER BY hostname",
                       (project_id,)).fetchall()


def delete_source(conn, project_id: str, hostname: str) -> bool:
    return conn.execute("DELETE FROM project_sources WHERE project_id = %s AND hostname = %s",
                        (project_id, hostname)).rowcount == 1


_PIXEL_FIELDS = "id, name, metadata, created_at"


def insert_pixel(conn, pixel_id: str, project_id: str, name: str, metadata: dict) -> dict:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(f"INSERT INTO pixels (id, project_id, name, metadata) VALUES (%s, %s, %s, %s) "
                       f"RETURNING {_PIXEL_FIELDS}", (pixel_id, project_id, name, Jsonb(metadata))).fetchone()


def list_pixels(conn, project_id: str) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(f"SELECT {_PIXEL_FIELDS} FROM pixels WHERE project_id = %s AND deleted_at IS NULL "
                       "ORDER BY created_at, id", (project_id,)).fetchall()


def delete_pixel(conn, project_id: str, pixel_id: str) -> bool:
    """Delete a pixel of the project (it answers 404 from now on); False when it has no such pixel.
    Deleting one again is no error."""
    return conn.execute("UPDATE pixels SET deleted_at = coalesce(deleted_at, now()) WHERE project_id = %s AND id = %s",
                        (project_id, pixel_id)).rowcount == 1


def live_pixel(conn, pixel_id: str) -> dict | None:
    """A pixel that was not deleted, with its project's id."""
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute("SELECT id, project_id, name, metadata FROM pixels WHERE id = %s AND deleted_at IS NULL",
                       (pixel_id,)).fetchone()


def cookieless_salt(conn, day, fresh: bytes) -> bytes:
    """The salt of `day` (a UTC date), made from `fresh` if the day has none yet. When a day's
    salt is made, those of the days before yesterday are deleted, so none lives longer than 48
    hours (the retention sweep deletes them too)."""
    found = conn.execute("SELECT salt FROM cookieless_salts WHERE day = %s", (day,)).fetchone()
    if found is not None:
        return found[0]
    conn.execute("DELETE FROM cookieless_salts WHERE day < %s::date - 1", (day,))
    conn.execute("INSERT INTO cookieless_salts (day, salt) VALUES (%s, %s) ON CONFLICT DO NOTHING", (day, fresh))
    # A statement of its own: it sees the salt another request made while this one waited.
    return conn.execute("SELECT salt FROM cookieless_salts WHERE day = %s", (day,)).fetchone()[0]


def forget_old_salts(conn, today) -> int:
    return conn.execute("DELETE FROM cookieless_salts WHERE day < %s::date - 1", (today,)).rowcount


def insert_opt_out(conn, project_id: str, anonymous_id: str) -> None:
    conn.execute(
        "INSERT INTO consent_opt_outs (project_id, anonymous_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (project_id, anonymous_id))


def is_opted_out(conn, project_id: str, anonymous_id: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM consent_opt_outs WHERE project_id = %s AND anonymous_id = %s",
        (project_id, anonymous_id)).fetchone() is not None


def audit(conn, project_id: str | None, action: str, detail: dict[str, Any]) -> None:
    conn.execute("INSERT INTO audit_log (project_id, action, detail) VALUES (%s, %s, %s)",
                 (project_id, action, Jsonb(detail)))


# --- governance: quota, erasure, retention ---------------------------------------------------

# The SQLSTATE of count_org_usage (migration 0004) when the events would pass the org's quota.
QUOTA_EXCEEDED = "RA429"


def count_usage(conn, org_id: str, month, events: int, quota: int) -> None:
    """Add stored events to the org's monthly usage, in the transaction that stored them; the
    statement fails with QUOTA_EXCEEDED when that would pass `quota`. The row lock orders
    concurrent writers of one org. No result is read, so it can be pipelined with COMMIT."""
    conn.execute("SELECT count_org_usage(%s, %s, %s, %s)", (org_id, month, events, quota))


def usage(conn, org_id: str, month) -> int:
    row = conn.execute("SELECT events FROM org_usage WHERE org_id = %s AND month = %s", (org_id, month)).fetchone()
    return row[0] if row else 0


def person_ids(conn, project_id: str, user_id: str | None, anonymous_id: str | None) -> list[str]:
    """Every id of one person: the user (the one an anonymous id is linked to, if any) and all the
    anonymous ids linked to them."""
    return [row[0] for row in conn.execute(
        "WITH person AS (SELECT coalesce(%(u)s, (SELECT user_id FROM identity_links "
        "    WHERE project_id = %(p)s AND anonymous_id = %(a)s), %(a)s) AS id) "
        "SELECT id FROM person UNION "
        "SELECT l.anonymous_id FROM identity_links l, person WHERE l.project_id = %(p)s AND l.user_id = person.id",
        {"p": project_id, "u": user_id, "a": anonymous_id}).fetchall()]


def erase_person(conn, project_id: str, ids: list[str]) -> tuple[list[int], int, int]:
    """Delete the events, identity links and traits of these ids: (event seqs, links, traits)."""
    seqs = [row[0] for row in conn.execute(
        "DELETE FROM events WHERE project_id = %(p)s AND (distinct_id = ANY(%(ids)s) OR anonymous_id = ANY(%(ids)s) "
        "OR user_id = ANY(%(ids)s)) RETURNING seq", {"p": project_id, "ids": ids}).fetchall()]
    # Counted: the links, not the users' own rows (anonymous_id = user_id, see store_links).
    links = conn.execute(
        "WITH gone AS (DELETE FROM identity_links WHERE project_id = %(p)s "
        "    AND (anonymous_id = ANY(%(ids)s) OR user_id = ANY(%(ids)s)) RETURNING anonymous_id <> user_id AS link) "
        "SELECT count(*) FILTER (WHERE link) FROM gone",
        {"p": project_id, "ids": ids}).fetchone()[0]
    traits = conn.execute("DELETE FROM person_traits WHERE project_id = %s AND user_id = ANY(%s)",
                          (project_id, ids)).rowcount
    return seqs, links, traits


def retention_policies(conn) -> list[tuple[str, int]]:
    return [(row[0], row[1]) for row in conn.execute("SELECT id, retention_days FROM projects ORDER BY id")]


def delete_expired(conn, project_id: str, cutoff, limit: int) -> int:
    """Delete up to `limit` events older than `cutoff`: small batches, so ingest never waits long."""
    return conn.execute(
        "DELETE FROM events WHERE ctid = ANY(ARRAY(SELECT ctid FROM events WHERE project_id = %s AND ts < %s "
        "LIMIT %s))", (project_id, cutoff, limit)).rowcount


def set_retention(conn, project_id: str, days: int) -> dict | None:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(f"UPDATE projects SET retention_days = %s WHERE id = %s RETURNING {_PROJECT_FIELDS}",
                       (days, project_id)).fetchone()


def set_auto_register_sources(conn, project_id: str, on: bool) -> dict | None:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(f"UPDATE projects SET auto_register_sources = %s WHERE id = %s RETURNING {_PROJECT_FIELDS}",
                       (on, project_id)).fetchone()


# Erasure deletes from these tables; VACUUM follows it on each (see governance/erase.py).
ERASED_TABLES = "events, identity_links, person_traits"


def vacuum_erased(conn) -> None:
    """VACUUM the tables erasure deletes from, so the erased rows' space is reclaimed for reuse
    now rather than at the next autovacuum, index entries included (INDEX_CLEANUP ON: below ~2 %
    of pages with dead rows, VACUUM would otherwise leave index entries, which hold the ids).
    VACUUM cannot run in a transaction: the connection is switched to autocommit for it."""
    conn.commit()
    conn.autocommit = True
    try:
        conn.execute(f"VACUUM (INDEX_CLEANUP ON) {ERASED_TABLES}")
    finally:
        conn.autocommit = False


# --- the query engine's tails ---------------------------------------------------------------
# Each reads the seqs still missing below the last one seen (transactions that had taken a seq
# but not yet committed at the last read), then the rows above it in seq order. Two statements,
# so the range read is a plain index scan on seq.

_TAIL_COLUMNS = {
    # The layout the engine loads (native/core/src/engine/load.rs): ts as epoch µs, then the hot columns.
    "events": ("seq, project_id, event, (extract(epoch FROM ts) * 1000000)::bigint, distinct_id, "
               f"{', '.join(_native.HOT_COLUMNS)}, properties::text", "events"),
    "links": ("seq, project_id, anonymous_id, user_id", "identity_links"),
    "traits": ("seq, project_id, user_id, traits::text", "person_traits"),
}
ENGINE_TAILS = {
    name: (f"COPY (SELECT {columns} FROM {table} WHERE seq = ANY(%s) ORDER BY seq) TO STDOUT",
           f"COPY (SELECT {columns} FROM {table} WHERE seq > %s ORDER BY seq LIMIT %s) TO STDOUT")
    for name, (columns, table) in _TAIL_COLUMNS.items()
}


def read_tail(conn, name: str, after: int, missing: list[int], limit: int) -> bytes:
    """COPY text rows of one tail, seq first: the missing ones, then up to `limit` newer ones."""
    missing_sql, after_sql = ENGINE_TAILS[name]
    chunks = []
    for sql, params in (((missing_sql, (missing,)),) if missing else ()) + ((after_sql, (after, limit)),):
        with conn.cursor().copy(sql, params) as copy:
            for chunk in copy:
                chunks.append(bytes(chunk))
    return b"".join(chunks)


_EVENT_ROW = f"seq, {EVENT_COLUMNS}"


# --- the ClickHouse store's forwarder (clickhouse/forward.py) --------------------------------
# Each tail's rows as the ClickHouse tables hold them (clickhouse/schema.py), seq-ordered: the
# columns named, JSON as text, an event with its project's retention.

# A JSON object's members as text the way queries read a value (a string as is, anything else as
# PostgreSQL writes it: `2.0`, `[1, 2]`), nulls left out.
def _member_texts(column: str) -> str:
    return ("(SELECT coalesce(jsonb_object_agg(m.k, CASE jsonb_typeof(m.v) WHEN 'string' THEN m.v #>> '{}' "
            f"ELSE m.v::text END) FILTER (WHERE jsonb_typeof(m.v) <> 'null'), '{{}}') FROM jsonb_each({column}) AS m(k, v))")


_FORWARD_COLUMNS = {
    "events": (("seq", "retention_days", *(c for c in _native.EVENT_COLUMNS), "props"),
               "e.seq, p.retention_days, " + ", ".join(
                   f"e.{c}::text" if c in ("properties", "context") else f"e.{c}" for c in _native.EVENT_COLUMNS)
               + f", {_member_texts('e.properties')}",
               "events e JOIN projects p ON p.id = e.project_id", "e.seq"),
    "links": (("seq", "project_id", "anonymous_id", "user_id"), "seq, project_id, anonymous_id, user_id",
              "identity_links", "seq"),
    "traits": (("seq", "project_id", "user_id", "traits", "trait_values"),
               f"seq, project_id, user_id, traits::text, {_member_texts('traits')}", "person_traits", "seq"),
}


def forward_rows(conn, name: str, after: int, missing: list[int], limit: int) -> tuple[tuple[str, ...], list[tuple]]:
    """A tail's rows for ClickHouse: (column names, rows in seq order), the seqs still missing
    among `missing` that are committed now, then up to `limit` rows above `after`."""
    names, columns, table, seq = _FORWARD_COLUMNS[name]
    rows = []
    if missing:
        rows += conn.execute(f"SELECT {columns} FROM {table} WHERE {seq} = ANY(%s) ORDER BY {seq}",
                             (missing,)).fetchall()
    rows += conn.execute(f"SELECT {columns} FROM {table} WHERE {seq} > %s ORDER BY {seq} LIMIT %s",
                         (after, limit)).fetchall()
    return names, rows


_FORWARD_TABLES = {"events": "events", "links": "identity_links", "traits": "person_traits"}


def present_seqs(conn, name: str, seqs: list[int]) -> set[int]:
    """Which of `seqs` a tail's table still holds (the others were forgotten since: erasure,
    retention, or a link or traits row given a new seq)."""
    return {row[0] for row in conn.execute(f"SELECT seq FROM {_FORWARD_TABLES[name]} WHERE seq = ANY(%s)", (seqs,))}


def retention_sweeps_since(conn, after_id: int) -> list[tuple[int, str, Any]]:
    """Retention sweeps recorded after audit record `after_id`: per project its newest, (audit id,
    project id, the instant before which the sweep's events had expired)."""
    return [tuple(row) for row in conn.execute(
        "SELECT DISTINCT ON (project_id) id, project_id, "
        "created_at - make_interval(days => (detail->>'retention_days')::int) "
        "FROM audit_log WHERE action = 'retention' AND id > %s ORDER BY project_id, id DESC", (after_id,))]


# Migration 0015's triggers notify this channel, with the tail's name, when a tail has new rows,
# and (0016) only while an engine holds TAIL_LOCK: while it sleeps on the channel.
TAIL_CHANNEL = "reactor_tail"
TAIL_LOCK = 0x5EAC7A11


def forget_mark(conn) -> int:
    """The newest audit record of rows forgotten (erasure, retention): segments sealed before it
    may hold them."""
    return conn.execute("SELECT coalesce(max(id), 0) FROM audit_log WHERE action IN ('erase', 'retention')"
                        ).fetchone()[0]


def listen_tails(conn, arm_wait_s: float) -> None:
    """Ask for the tails' notifications on `conn` (an autocommit connection kept for them); taking
    TAIL_LOCK there waits at most `arm_wait_s`."""
    conn.execute(f"SET lock_timeout = {max(1, int(arm_wait_s * 1000))}")
    conn.execute(f"LISTEN {TAIL_CHANNEL}")


def arm_tails(conn) -> bool:
    """Take TAIL_LOCK: from now on a transaction that adds tail rows notifies. It is granted once
    every transaction that added rows without notifying has ended; False when one still runs
    after the connection's lock_timeout."""
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (TAIL_LOCK,))
    except psycopg.errors.LockNotAvailable:
        return False
    return True


def disarm_tails(conn) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s)", (TAIL_LOCK,))


def events_by_seq(conn, project_id: str, seqs: list[int]) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(f"SELECT {_EVENT_ROW} FROM events WHERE project_id = %s AND seq = ANY(%s)",
                       (project_id, seqs)).fetchall()


def ping(conn) -> None:
    conn.execute("SELECT 1")


# --- dashboard: sessions, OIDC sign-ins, shared links ----------------------------------------

_SESSION_FIELDS = ("s.kind, s.subject, s.permissions, s.org_id, s.share_id, s.csrf_token, s.expires_at, "
                   "h.project_id AS share_project_id, p.slug AS share_project_slug, p.org_id AS share_org_id")


def insert_session(conn, id_hash: bytes, kind: str, subject: str, permissions: Sequence[str], org_id: str | None,
                   share_id: str | None, csrf_token: str, expires_at) -> None:
    conn.execute("INSERT INTO dashboard_sessions (id_hash, kind, subject, permissions, org_id, share_id, csrf_token, "
                 "expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                 (id_hash, kind, subject, list(permissions), org_id, share_id, csrf_token, expires_at))


def live_session(conn, id_hash: bytes) -> dict | None:
    """A session that has not ended, and (for a shared link's) the link's project, if the link was
    not revoked."""
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(
        f"SELECT {_SESSION_FIELDS} FROM dashboard_sessions s "
        "LEFT JOIN dashboard_shares h ON h.id = s.share_id LEFT JOIN projects p ON p.id = h.project_id "
        "WHERE s.id_hash = %s AND s.expires_at > now() AND (s.share_id IS NULL OR h.revoked_at IS NULL)",
        (id_hash,)).fetchone()


def delete_session(conn, id_hash: bytes) -> bool:
    return conn.execute("DELETE FROM dashboard_sessions WHERE id_hash = %s", (id_hash,)).rowcount == 1


def delete_ended_sessions(conn) -> int:
    """Sessions past their end and OIDC sign-ins never finished."""
    ended = conn.execute("DELETE FROM dashboard_sessions WHERE expires_at <= now()").rowcount
    return ended + conn.execute("DELETE FROM dashboard_oidc_logins WHERE expires_at <= now()").rowcount


def insert_oidc_login(conn, state_hash: bytes, nonce: str, code_verifier: str, expires_at) -> None:
    conn.execute("INSERT INTO dashboard_oidc_logins (state_hash, nonce, code_verifier, expires_at) "
                 "VALUES (%s, %s, %s, %s)", (state_hash, nonce, code_verifier, expires_at))


def take_oidc_login(conn, state_hash: bytes) -> dict | None:
    """The sign-in of a state, removed so it is used once; None when unknown or too old."""
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute("DELETE FROM dashboard_oidc_logins WHERE state_hash = %s AND expires_at > now() "
                       "RETURNING nonce, code_verifier", (state_hash,)).fetchone()


_SHARE_FIELDS = "id, project_id, name, password_hash IS NOT NULL AS has_password, created_by, created_at"


def insert_share(conn, share_id: str, project_id: str, name: str | None, token_hash: bytes,
                 password_salt: bytes | None, password_hash: bytes | None, created_by: str) -> dict:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(
        "INSERT INTO dashboard_shares (id, project_id, name, token_hash, password_salt, password_hash, created_by) "
        f"VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_SHARE_FIELDS}",
        (share_id, project_id, name, token_hash, password_salt, password_hash, created_by)).fetchone()


def list_shares(conn, project_id: str) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(f"SELECT {_SHARE_FIELDS} FROM dashboard_shares WHERE project_id = %s AND revoked_at IS NULL "
                       "ORDER BY created_at, id", (project_id,)).fetchall()


def revoke_share(conn, project_id: str, share_id: str) -> bool:
    """Revoke a link of the project and end its sessions; False when the project has no such link.
    Revoking one again is no error."""
    found = conn.execute("UPDATE dashboard_shares SET revoked_at = coalesce(revoked_at, now()) "
                         "WHERE project_id = %s AND id = %s", (project_id, share_id)).rowcount == 1
    if found:
        conn.execute("DELETE FROM dashboard_sessions WHERE share_id = %s", (share_id,))
    return found


_SEGMENT_FIELDS = "id, name, filter, created_by, created_at"


def insert_segment(conn, segment_id: str, project_id: str, name: str, filter_json: str, created_by: str) -> dict:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(
        "INSERT INTO dashboard_segments (id, project_id, name, filter, created_by) "
        f"VALUES (%s, %s, %s, %s::jsonb, %s) RETURNING {_SEGMENT_FIELDS}",
        (segment_id, project_id, name, filter_json, created_by)).fetchone()


def list_segments(conn, project_id: str) -> list[dict]:
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(f"SELECT {_SEGMENT_FIELDS} FROM dashboard_segments WHERE project_id = %s "
                       "ORDER BY created_at, id", (project_id,)).fetchall()


def delete_segment(conn, project_id: str, segment_id: str) -> bool:
    """Delete a segment of the project; False when the project has no such segment."""
    return conn.execute("DELETE FROM dashboard_segments WHERE project_id = %s AND id = %s",
                        (project_id, segment_id)).rowcount == 1


def live_share(conn, token_hash: bytes) -> dict | None:
    """A link that was not revoked, by its secret's hash, with its password's salt and hash and its
    project's slug and org."""
    cur = conn.cursor(row_factory=dict_row)
    return cur.execute(
        "SELECT h.id, h.project_id, h.password_salt, h.password_hash, p.slug AS project_slug, p.name AS project_name, "
        "p.org_id FROM dashboard_shares h JOIN projects p ON p.id = h.project_id "
        "WHERE h.token_hash = %s AND h.revoked_at IS NULL", (token_hash,)).fetchone()
