"""gunicorn settings that run the whole service, for a process manager of your own:

    reactor migrate
    gunicorn -c deploy/gunicorn.conf.py reactor_analytics.wsgi:app

The same settings `reactor serve` uses (reactor_analytics.server.gunicorn_settings), and the same
parts: gunicorn's master starts the query engine and the gRPC servers before its web workers,
starts them again if they die, and stops them when it exits. What `reactor serve` adds is the
embedded PostgreSQL: here `[database] url` (REACTOR_DATABASE_URL) must name a database, and the
admin token and JWT secret come from the configuration or the data directory's files.
"""

from reactor_analytics import config as _config
from reactor_analytics.server import children as _children
from reactor_analytics.server import gunicorn_settings as _settings
from reactor_analytics.server import make_data_dir as _make_data_dir
from reactor_analytics.server import metrics_dir as _metrics_dir

_loaded = _config.load()
_make_data_dir(_loaded)
_metrics_dir(_loaded)  # before any worker imports prometheus_client
globals().update(_settings(_loaded))
_parts = []


def on_starting(server) -> None:
    """Start the query engine and the gRPC servers before any web worker (gunicorn's master)."""
    for part in _children(_loaded):
        part.start()
        part.supervise()
        _parts.append(part)


def on_exit(server) -> None:
    for part in reversed(_parts):
        part.stop()
