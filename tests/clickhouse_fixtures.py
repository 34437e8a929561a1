"""Fixtures of the ClickHouse store's tests: a ClickHouse (tests/clickhouse_front.py: the HTTP
interface over chdb, in a process of its own), the store on it through the real clickhouse-connect
client, and the service's app with `[events] store = "clickhouse"`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import free_port, wait_for
from reactor_analytics.config import ClickHouseConfig, EventsConfig

FRONT = Path(__file__).parent / "clickhouse_front.py"
LIMITS = {"events_max_days": 90, "max_days": 730, "max_rows_scanned": 50_000_000}


class ClickHouseFront:
    """`tests/clickhouse_front.py` on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root = Path(tempfile.mkdtemp(prefix="reactor-test-clickhouse-"))
        self.proc = subprocess.Popen([sys.executable, str(FRONT), str(self.port), str(self.root / "data")],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"clickhouse front did not start: {line}{self.proc.stdout.read()}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def clickhouse():
    front = ClickHouseFront()
    yield front
    front.stop()


@pytest.fixture(scope="session")
def ch_config(config, clickhouse):
    return replace(config, events=EventsConfig(store="clickhouse"), clickhouse=ClickHouseConfig(url=clickhouse.url))


@pytest.fixture(scope="session")
def ch_app(ch_config):
    from reactor_analytics.app import create_app

    application = create_app(ch_config)
    yield application
    application.extensions["reactor"].db.close()


@pytest.fixture(scope="session")
def ch_store(ch_app):
    """The app's store: a ClickHouseStore."""
    store = ch_app.extensions["reactor"].engine
    wait_for(lambda: store.ping() is not None, what="the clickhouse store")
    return store


@pytest.fixture()
def ch_client(ch_app):
    return ch_app.test_client()


def raw_client(front: ClickHouseFront):
    """A clickhouse-connect client of its own, to look at the tables behind the store's back."""
    import clickhouse_connect

    return clickhouse_connect.get_client(dsn=front.url, autogenerate_session_id=False)
