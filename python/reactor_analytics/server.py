"""`reactor serve`: prepare the database, then run the Flask app under gunicorn."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

from gunicorn.app.base import BaseApplication

from .auth.bootstrap import with_secrets
from .config import Config
from .store import migrate
from .store.db import database_url
from .store.embedded import EmbeddedPostgres


def gunicorn_settings(config: Config) -> dict:
    """The gunicorn settings we run with; deploy/gunicorn.conf.py uses the same."""
    return {
        "bind": config.analytics.bind,
        "workers": config.analytics.workers,
        "worker_class": "sync",
        "timeout": max(60, config.analytics.query_timeout_ms // 1000 + 30),
        "graceful_timeout": 30,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": "reactor-analytics",
        "child_exit": _child_exit,
    }


def _child_exit(server, worker) -> None:
    """Drop a dead worker's live gauges from the shared metrics directory."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def metrics_dir(config: Config) -> Path:
    """A fresh directory for the workers' metric files; set before any worker imports prometheus_client."""
    path = Path(config.data_dir).resolve() / "metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def prepare(config: Config) -> tuple[str, EmbeddedPostgres | None]:
    """Start the embedded database when none is configured, and apply migrations."""
    embedded = None
    if config.embedded_database:
        embedded = EmbeddedPostgres(Path(config.data_dir), config.database.embedded_port)
        embedded.start()
    url = database_url(config)
    migrate.migrate(url)
    return url, embedded


class _Gunicorn(BaseApplication):
    def __init__(self, settings: dict) -> None:
        self._settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._settings.items():
            if value is not None or key == "accesslog":
                self.cfg.set(key, value)

    def load(self):
        from .wsgi import app

        return app


def serve(config: Config) -> None:
    config = with_secrets(config)
    metrics_dir(config)
    _, embedded = prepare(config)
    print(f"reactor analytics listening on http://{config.analytics.bind}"
          f" (admin token in {Path(config.data_dir) / 'admin_token'} unless configured)", file=sys.stderr, flush=True)
    try:
        _Gunicorn(gunicorn_settings(config)).run()
    finally:
        if embedded is not None:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            embedded.stop()
