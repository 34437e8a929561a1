"""The Flask application factory: configuration, database, auth and the API blueprints."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from . import config as config_module
from .auth.bootstrap import with_secrets
from .auth.tokens import TokenVerifier
from .config import Config
from .governance import ratelimit
from .governance.ratelimit import RateLimiter
from .query.engine import EngineClient, socket_path
from .store.db import Database


@dataclass
class Services:
    config: Config
    db: Database
    verifier: TokenVerifier
    engine: EngineClient
    rate_limiter: RateLimiter


def create_app(config: Config | None = None) -> Flask:
    config = with_secrets(config or config_module.load())
    app = Flask("reactor_analytics")
    app.config["MAX_CONTENT_LENGTH"] = config.analytics.max_body_bytes
    app.json.sort_keys = False
    from .observability import metrics

    services = Services(
        config=config,
        db=Database.from_config(config, on_acquire=metrics.DB_ACQUIRE.observe),
        verifier=TokenVerifier(config.auth.admin_token, config.auth.jwt_secret, config.auth.jwks_file,
                               config.auth.audience, config.auth.issuer, default_org=config.auth.default_org),
        engine=EngineClient(socket_path(config.data_dir), config.analytics.query_timeout_ms / 1000),
        rate_limiter=RateLimiter(ratelimit.table_path(config.data_dir), config.analytics.rate_limit_per_second,
                                 config.analytics.rate_limit_burst),
    )
    app.extensions["reactor"] = services

    from .api import admin, errors, governance, ingest, limits, openapi, operations, query
    from .observability import requests as request_logging

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
    return app
