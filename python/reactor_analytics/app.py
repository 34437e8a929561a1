"""The Flask application factory: the HTTP API's blueprints and hooks over the service's parts."""

from __future__ import annotations

from flask import Flask

from . import services as services_module
from .api import (admin, browser_sdk, dashboard, dropin, error_groups, errors, governance, ingest, limits, metrics, openapi,
                  operations, pixels, query, segments, shares, sources, spa)
from .config import Config
from .observability import requests as request_logging


def create_app(config: Config | None = None) -> Flask:
    """The WSGI app over the service's parts built from `config` (read from the environment when
    None); views reach them through `api.http.services()`."""
    services = services_module.build(config)
    config = services.config
    app = Flask("reactor_analytics")
    app.config["MAX_CONTENT_LENGTH"] = config.analytics.max_body_bytes
    app.json.sort_keys = False
    app.extensions["reactor"] = services

    request_logging.install(app, config)
    metrics.install(app, services.db.stats, config.analytics.metrics_token)
    errors.install(app)
    limits.install(app)
    app.register_blueprint(ingest.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(operations.blueprint)
    app.register_blueprint(query.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(governance.blueprint)
    app.register_blueprint(dropin.blueprint)
    app.register_blueprint(browser_sdk.blueprint)
    app.register_blueprint(error_groups.blueprint)
    app.register_blueprint(pixels.blueprint)
    app.register_blueprint(pixels.admin_blueprint)
    app.register_blueprint(sources.blueprint)
    app.register_blueprint(dashboard.blueprint)
    app.register_blueprint(shares.blueprint)
    app.register_blueprint(segments.blueprint)
    app.register_blueprint(spa.blueprint)
    return app
