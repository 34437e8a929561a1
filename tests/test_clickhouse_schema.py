"""The ClickHouse tables are declared once (clickhouse/schema.py): the cluster file in deploy/ is
rendered from the declaration and parses as ClickHouse SQL, the single-server tables it renders
are made by ClickHouse with the declared columns, and the forwarder sends every column."""

from __future__ import annotations

from pathlib import Path

import pytest

from reactor_analytics.clickhouse import schema
from reactor_analytics.store import queries

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "clickhouse" / "schema.sql"


def test_the_deploy_file_is_rendered_from_the_declaration():
    assert DEPLOY.read_text() == schema.deploy_sql(), (
        "deploy/clickhouse/schema.sql is stale: "
        "python -m reactor_analytics.clickhouse.schema > deploy/clickhouse/schema.sql")


def test_the_cluster_file_is_clickhouse_sql_with_replicated_sharded_tables():
    chdb = pytest.importorskip("chdb")
    text = DEPLOY.read_text()
    sql = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    statements = [s.strip() for s in sql.split(";") if s.strip()]
    assert len(statements) == 1 + len(schema.TABLES) + sum(1 for t in schema.TABLES if t.sharded_by)
    for statement in statements:
        # A query parameter's value is in the escaped text format.
        escaped = statement.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
        formatted = chdb.query("SELECT formatQuery({q:String})", "TSVRaw", params={"q": escaped}).bytes().decode()
        assert "ON CLUSTER" in formatted, statement
    assert "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/reactor/events'" in text
    assert "ENGINE = Distributed('{cluster}', reactor, events_local, cityHash64(project_id, distinct_id))" in text
    assert "PARTITION BY toYYYYMM(ts)" in text and "TTL toDateTime(ts) + toIntervalDay(retention_days)" in text


def test_the_single_server_tables_have_the_declared_columns(tmp_path):
    from chdb import session

    db = session.Session(str(tmp_path / "ch"))
    for statement in schema.render(None, "default"):
        db.query(statement)
    for table in schema.TABLES:
        made = db.query("SELECT name, type FROM system.columns WHERE database = 'default' AND table = {t:String} "
                        "ORDER BY position", "TSVRaw", params={"t": table.name}).bytes().decode().splitlines()
        assert [tuple(line.split("\t")) for line in made] == [(n, k) for n, k in
                                                              table.columns], table.name
        engine = db.query("SELECT engine FROM system.tables WHERE database = 'default' AND name = {t:String}",
                          "TSVRaw", params={"t": table.name}).bytes().decode().strip()
        assert engine == table.engine
    db.close()


def test_the_forwarder_sends_every_column_of_each_table():
    for tail, target in (("events", "events"), ("links", "person_map"), ("traits", "person_traits")):
        names = queries._FORWARD_COLUMNS[tail][0]
        assert sorted(names) == sorted(schema.TABLE[target].column_names), tail
