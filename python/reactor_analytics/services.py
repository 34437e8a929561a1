"""The service's parts, wired once from the config: database pool, token verifier, query engine
client and rate limiter.

Each transport (the Flask app, the gRPC server) builds one `Services` at start and hands it to
the code below it (the ingest pipeline, the query service, erasure); nothing here knows HTTP or gRPC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import _native
from . import config as config_module
from .auth.oidc import OidcClient, client as oidc_client
from .auth.bootstrap import with_secrets
from .auth.tokens import TokenVerifier
from .config import Config
from .governance import ratelimit
from .governance.ratelimit import RateLimiter
from .ingest import geoip
from .observability import metrics
from .query import store as event_store
from .query.store import EventStore
from .store.db import Database


@dataclass
class Services:
    config: Config
    db: Database
    verifier: TokenVerifier
    engine: EventStore  # the stored events the queries run on: `[events] store` (query/store.py)
    rate_limiter: RateLimiter
    geo: _native.GeoDb | None = None  # [analytics] geo_db, read once per process
    oidc: OidcClient | None = None  # the dashboard's OIDC sign-in, when [auth] oidc_* are set
    committer: Any = None  # ingest's group commit (ingest/group_commit.py), made on the first ingest


def build(config: Config | None = None) -> Services:
    """The parts for `config` (read from reactor.toml and the environment when None), with the
    admin token and JWT secret of a fresh install made and kept in the data directory."""
    config = with_secrets(config or config_module.load())
    geo = geoip.open_database(config)
    auth, analytics = config.auth, config.analytics
    return Services(
        config=config,
        db=Database.from_config(config, on_acquire=metrics.DB_ACQUIRE.observe),
        verifier=TokenVerifier(auth.admin_token, auth.jwt_secret, auth.jwks_file, auth.audience, auth.issuer,
                               default_org=auth.default_org),
        engine=event_store.for_config(config),
        rate_limiter=RateLimiter(ratelimit.table_path(config.data_dir), analytics.rate_limit_per_second,
                                 analytics.rate_limit_burst),
        geo=geo,
        oidc=oidc_client(auth),
    )
