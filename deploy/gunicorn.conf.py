"""gunicorn settings for running the app directly:

    gunicorn -c deploy/gunicorn.conf.py reactor_analytics.wsgi:app

`reactor serve` uses the same settings (reactor_analytics.server.gunicorn_settings) and also
starts the embedded database and applies migrations first; run `reactor migrate` before
starting gunicorn this way.
"""

from reactor_analytics import config as _config
from reactor_analytics.server import gunicorn_settings as _settings

globals().update(_settings(_config.load()))
