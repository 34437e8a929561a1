"""The store of events the queries run on: `[events] store`, "native" by default; "clickhouse"
without `[clickhouse] url` is refused at startup with a configuration error (the ClickHouse store
itself: tests/test_clickhouse_store.py)."""

from __future__ import annotations

import inspect
import os
import subprocess

import pytest

from conftest import VENV_BIN, events_of
from reactor_analytics import config as config_module
from reactor_analytics.query import store
from reactor_analytics.query.engine import EngineClient


def test_the_default_store_is_the_native_engine():
    config = config_module.load(env={})
    assert config.events.store == "native"
    chosen = store.for_config(config)
    assert isinstance(chosen, EngineClient) and isinstance(chosen, store.EventStore)


def test_the_store_is_read_from_the_toml_and_the_environment(tmp_path):
    path = tmp_path / "reactor.toml"
    path.write_text('[events]\nstore = "clickhouse"\n')
    assert config_module.load(env={}, path=str(path)).events.store == "clickhouse"
    assert config_module.load(env={"REACTOR_EVENTS_STORE": "native"}, path=str(path)).events.store == "native"


@pytest.mark.parametrize("name, says", [("clickhouse", r"needs \[clickhouse\] url"),
                                        ("duckdb", "expected one of native, clickhouse")])
def test_a_store_this_build_does_not_have_is_a_configuration_error(name, says):
    with pytest.raises(config_module.ConfigError, match=says):
        store.for_config(config_module.load(env={"REACTOR_EVENTS_STORE": name}))


def test_reactor_serve_refuses_to_start_with_the_clickhouse_store_and_no_url(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTOR_")}
    env.update(REACTOR_DATA_DIR=str(tmp_path / "data"), REACTOR_EVENTS_STORE="clickhouse")
    done = subprocess.run([str(VENV_BIN / "reactor"), "serve"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    assert 'configuration error: [events] store = "clickhouse" needs [clickhouse] url' in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was started or made


def test_the_engine_client_has_every_operation_of_the_store_with_its_signature():
    operations = [name for name, member in vars(store.EventStore).items()
                  if inspect.isfunction(member) and not name.startswith("_")]
    assert sorted(operations) == ["erase", "mentions", "ping", "query", "sweep_retention", "sync"]
    for name in operations:
        assert inspect.signature(getattr(EngineClient, name)) == inspect.signature(getattr(store.EventStore, name))


def test_the_native_store_answers_each_operation(engine, project, client, postgres):
    assert client.post("/analytics/v1/track", json={"event": "seen", "anonymous_id": "a-store-1"},
                       headers=project.key_headers).status_code == 200
    engine.sync()
    assert engine.ping()["rows"] >= 1
    assert engine.mentions(project.id, "a-store-1") is True
    seqs = [row["seq"] for row in events_of(postgres, project.id, "seq")]
    assert len(seqs) == 1
    assert engine.erase(project.id, ["a-store-1"], seqs)["rows"] == 1
    assert engine.mentions(project.id, "a-store-1") is False
    assert isinstance(engine.sweep_retention(), int)
