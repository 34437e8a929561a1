"""gunicorn settings for running the app directly:

    reactor migrate
    gunicorn -c deploy/gunicorn.conf.py reactor_analytics.wsgi:app

`reactor serve` uses the same settings (reactor_analytics.server.gunicorn_settings) and also
starts the embedded database and applies migrations first.
"""

from reactor_analytics import config as _config
from reactor_analytics.server import gunicorn_settings as _settings, metrics_dir as _metrics_dir

_loaded = _config.load()
_metrics_dir(_loaded)  # before any worker imports prometheus_client
globals().update(_settings(_loaded))
