"""The ClickHouse tables of the ClickHouse store, declared once and rendered two ways: for a
cluster (`deploy/clickhouse/schema.sql`: `ON CLUSTER`, `ReplicatedMergeTree` local tables and a
`Distributed` table over them) and for one server (plain MergeTree tables of the same names and
columns, what tests and a single-node install use).

* `events`: one row per event of PostgreSQL's `events`, with its `seq` and the project's
  `retention_days` when it was forwarded. A ReplacingMergeTree whose sorting key holds
  `message_id`: an event forwarded twice (after a crash between the insert and the forwarder's
  position) is the same row twice, and queries read it once (`FINAL`).
  Sorting key `(project_id, toDate(ts), distinct_id, ts, message_id)`: every query is one project
  over a time range, so a day first prunes the range to its granules inside a month partition;
  within a day a person's ids are together and in time order, which is how funnels, retention and
  paths read them. `distinct_id` (stable), not the person (which a later link changes).
  Partitioned by month; TTL `retention_days` after `ts` (the sweep applies a changed retention).
  On a cluster, sharded by `cityHash64(project_id, distinct_id)`: an id's events, and so the
  copies of one event, always land on one shard.
* `person_map`: PostgreSQL's `identity_links` (anonymous id → user id, one row per id, a user's
  own row included), the newest `seq` winning; a full copy on every node (not sharded), so each
  shard resolves persons locally and links are retroactive at query time.
* `person_traits`: PostgreSQL's `person_traits` (traits of a user as JSON text), newest `seq`
  winning; a full copy on every node.
* `forward_positions`: how far the forwarder has delivered each of PostgreSQL's tails.
"""

from __future__ import annotations

from dataclasses import dataclass

HOT = ("session_id", "url", "path", "referrer_host", "utm_source", "utm_medium", "utm_campaign", "utm_term",
       "utm_content", "browser", "os", "device_type", "country", "language", "timezone")

# (name, type) in insert order; the forwarder reads PostgreSQL's rows in this order.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("project_id", "LowCardinality(String)"),
    ("seq", "UInt64"),
    ("message_id", "String"),
    ("event", "LowCardinality(String)"),
    ("ts", "DateTime64(6, 'UTC')"),
    ("received_at", "DateTime64(6, 'UTC')"),
    ("distinct_id", "String"),
    ("anonymous_id", "Nullable(String)"),
    ("user_id", "Nullable(String)"),
    *((name, "Nullable(String)") for name in HOT),
    ("ip_prefix", "Nullable(String)"),
    ("library", "Nullable(String)"),
    ("properties", "String"),
    ("context", "Nullable(String)"),
    ("fingerprint", "Nullable(String)"),
    ("retention_days", "UInt16"),
    # `properties`' members as the text queries read (a string as is, a number as written).
    ("props", "Map(String, String)"),
)
LINK_COLUMNS = (("project_id", "LowCardinality(String)"), ("anonymous_id", "String"), ("user_id", "String"),
                ("seq", "UInt64"))
TRAIT_COLUMNS = (("project_id", "LowCardinality(String)"), ("user_id", "String"), ("traits", "String"),
                 ("trait_values", "Map(String, String)"), ("seq", "UInt64"))
POSITION_COLUMNS = (("tail", "String"), ("position", "UInt64"), ("at", "DateTime64(6, 'UTC')"))


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]
    engine: str  # the MergeTree family member: "ReplacingMergeTree"
    version: str  # its version column
    order_by: str
    partition_by: str = ""
    ttl: str = ""
    sharded_by: str = ""  # a sharding key: local table + Distributed on a cluster; else a full copy per node

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


TABLES = (
    Table("events", EVENT_COLUMNS, "ReplacingMergeTree", "seq",
          order_by="(project_id, toDate(ts), distinct_id, ts, message_id)",
          partition_by="toYYYYMM(ts)", ttl="toDateTime(ts) + toIntervalDay(retention_days)",
          sharded_by="cityHash64(project_id, distinct_id)"),
    Table("person_map", LINK_COLUMNS, "ReplacingMergeTree", "seq", order_by="(project_id, anonymous_id)"),
    Table("person_traits", TRAIT_COLUMNS, "ReplacingMergeTree", "seq", order_by="(project_id, user_id)"),
    Table("forward_positions", POSITION_COLUMNS, "ReplacingMergeTree", "at", order_by="tail"),
)
TABLE = {table.name: table for table in TABLES}


def local_name(table: Table, cluster: str | None) -> str:
    """The table that holds the rows, which mutations (DELETE) name: on a cluster, a sharded
    table's `<name>_local`."""
    return f"{table.name}_local" if cluster and table.sharded_by else table.name


def render(cluster: str | None = None, database: str = "default") -> list[str]:
    """The CREATE statements, for one server (`cluster` None) or for `cluster` (`{cluster}` for the
    server's macro)."""
    statements = []
    on = f" ON CLUSTER '{cluster}'" if cluster else ""
    for table in TABLES:
        columns = ",\n".join(f"    {name} {kind}" for name, kind in table.columns)
        engine = f"{table.engine}({table.version})"
        if cluster:
            path = (f"/clickhouse/tables/{{shard}}/{database}/{table.name}" if table.sharded_by
                    else f"/clickhouse/tables/all/{database}/{table.name}")
            engine = f"Replicated{table.engine}('{path}', '{{replica}}', {table.version})"
        clauses = [f"ENGINE = {engine}"]
        if table.partition_by:
            clauses.append(f"PARTITION BY {table.partition_by}")
        clauses.append(f"ORDER BY {table.order_by}")
        if table.ttl:
            clauses.append(f"TTL {table.ttl}")
        name = local_name(table, cluster)
        statements.append(f"CREATE TABLE IF NOT EXISTS {database}.{name}{on}\n(\n{columns}\n)\n" + "\n".join(clauses))
        if cluster and table.sharded_by:
            statements.append(f"CREATE TABLE IF NOT EXISTS {database}.{table.name}{on} AS {database}.{name}\n"
                              f"ENGINE = Distributed('{cluster}', {database}, {name}, {table.sharded_by})")
    return statements


def deploy_sql() -> str:
    """deploy/clickhouse/schema.sql, as rendered from the declaration above."""
    head = ("-- The ClickHouse store's tables on a cluster (`[events] store = \"clickhouse\"`, `[clickhouse]\n"
            "-- cluster`). Rendered from python/reactor_analytics/clickhouse/schema.py, the one\n"
            "-- declaration (tests/test_clickhouse_schema.py checks it is up to date):\n"
            "--   python -m reactor_analytics.clickhouse.schema > deploy/clickhouse/schema.sql\n"
            "-- Needs the macros {cluster}, {shard} and {replica} in each server's configuration; run it\n"
            "-- once on any node: `clickhouse-client --multiquery < schema.sql`.\n")
    create_db = "CREATE DATABASE IF NOT EXISTS reactor ON CLUSTER '{cluster}'"
    return head + "\n" + ";\n\n".join([create_db, *render("{cluster}", "reactor")]) + ";\n"


if __name__ == "__main__":
    print(deploy_sql(), end="")
