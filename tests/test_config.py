"""Configuration: defaults, reactor.toml, environment overrides and the pinned names."""

from __future__ import annotations

import shutil

import pytest

from reactor_analytics import config


def test_defaults_follow_the_reference():
    c = config.load(env={}, path=None)
    assert c.analytics.bind == "0.0.0.0:8006" and c.grpc.bind == "0.0.0.0:8007"
    assert c.analytics.retention_days_default == 90 and c.analytics.honor_dnt is True
    assert c.analytics.quota_per_org_monthly == 1_000_000 and c.analytics.max_properties_bytes == 32768
    assert c.analytics.query_timeout_ms == 30000 and c.data_dir == "./.reactor" and c.embedded_database


def test_toml_then_environment(tmp_path):
    path = tmp_path / "reactor.toml"
    path.write_text('[analytics]\nhonor_dnt = false\nquota_per_org_monthly = 5\n[database]\nurl = "postgresql://x/y"\n')
    c = config.load(env={"REACTOR_ANALYTICS_QUOTA_PER_ORG_MONTHLY": "7"}, path=str(path))
    assert c.analytics.honor_dnt is False and c.analytics.quota_per_org_monthly == 7
    assert c.database.url == "postgresql://x/y" and not c.embedded_database


def test_pinned_environment_names():
    c = config.load(env={"REACTOR_ANALYTICS_BIND": "127.0.0.1:9", "REACTOR_GRPC_BIND": "127.0.0.1:10",
                         "DATABASE_URL": "postgresql://a/b", "REACTOR_DATA_DIR": "/tmp/r",
                         "REACTOR_ADMIN_TOKEN": "adm", "REACTOR_JWT_SECRET": "sec",
                         "REACTOR_JWKS_FILE": "/k.json", "REACTOR_ANALYTICS_HONOR_DNT": "0"}, path=None)
    assert (c.analytics.bind, c.grpc.bind, c.database.url, c.data_dir) == (
        "127.0.0.1:9", "127.0.0.1:10", "postgresql://a/b", "/tmp/r")
    assert (c.auth.admin_token, c.auth.jwt_secret, c.auth.jwks_file) == ("adm", "sec", "/k.json")
    assert c.analytics.honor_dnt is False


def test_reactor_database_url_wins_over_database_url():
    c = config.load(env={"DATABASE_URL": "postgresql://a/b", "REACTOR_DATABASE_URL": "postgresql://c/d"}, path=None)
    assert c.database.url == "postgresql://c/d"


@pytest.mark.parametrize("text", ['[analytics]\nnope = 1\n', '[nosuch]\na = 1\n', '[analytics]\nhonor_dnt = "maybe"\n',
                                  "not toml ["])
def test_bad_config_is_a_clear_error(tmp_path, text):
    path = tmp_path / "reactor.toml"
    path.write_text(text)
    with pytest.raises(config.ConfigError):
        config.load(env={}, path=str(path))


def test_embedded_database_starts_from_a_relative_data_dir(tmp_path, monkeypatch):
    """`make run` uses the default ./.reactor: a relative path must work."""
    import psycopg

    from conftest import database_root
    from reactor_analytics.store.embedded import EmbeddedPostgres

    root = database_root()
    monkeypatch.chdir(root)
    server = EmbeddedPostgres("./.reactor")
    try:
        server.start()
        with psycopg.connect(server.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
