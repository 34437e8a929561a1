"""Configuration, read once into a typed object.

Sources, later ones winning: built-in defaults, `reactor.toml` (path from `REACTOR_CONFIG`,
else `./reactor.toml` when present), then environment variables. Every key of a section
`[s]` is overridable as `REACTOR_S_KEY` (e.g. `REACTOR_ANALYTICS_HONOR_DNT=0`); the pinned
names `REACTOR_ANALYTICS_BIND`, `REACTOR_GRPC_BIND`, `REACTOR_DATABASE_URL` / `DATABASE_URL`,
`REACTOR_DATA_DIR`, `REACTOR_ADMIN_TOKEN`, `REACTOR_JWT_SECRET` and `REACTOR_JWKS_FILE` map
onto their keys below.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


@dataclass(frozen=True)
class AnalyticsConfig:
    bind: str = "0.0.0.0:8006"
    retention_days_default: int = 90
    honor_dnt: bool = True
    quota_per_org_monthly: int = 1_000_000
    # Group commit (ingest/group_commit.py): the longest a request waits for company, and the
    # most rows concurrent requests of a process gather into one transaction.
    batch_interval_ms: int = 200
    batch_max_rows: int = 500
    query_timeout_ms: int = 30_000
    max_properties_bytes: int = 32_768
    max_batch_events: int = 100
    max_body_bytes: int = 1_048_576
    raw_query_max_days: int = 90
    query_max_days: int = 730
    query_max_rows_scanned: int = 50_000_000
    trust_proxy: bool = False
    # A MaxMind DB (.mmdb) path: the country of each event's address; empty: the reported timezone's.
    geo_db: str = ""
    workers: int = 4
    # Threads per web worker. Requests are read whole by the worker's event loop before a thread
    # runs them, so a slow client costs a buffer, not a thread; one not sent in time gets 408.
    # 0 runs gunicorn's sync worker instead (no slow-client protection; for comparison only).
    threads: int = 8
    request_read_timeout_s: float = 30.0
    cors_origins: str = "*"
    # Per-IP token bucket on the public endpoints, shared by every worker: refill per second, size.
    rate_limit_per_second: float = 50.0
    rate_limit_burst: int = 200
    retention_interval_s: int = 3600
    # Empty: /metrics is public. Set: a scrape must send `Authorization: Bearer <metrics_token>`.
    metrics_token: str = ""


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = ""
    pool_min: int = 2
    pool_max: int = 8
    pool_timeout_s: float = 3.0
    # The embedded database listens on a private Unix socket only; a port > 0 also opens TCP on
    # 127.0.0.1 (password required).
    embedded_port: int = 0


@dataclass(frozen=True)
class AuthConfig:
    admin_token: str = ""
    jwt_secret: str = ""
    jwks_file: str = ""
    audience: str = ""
    issuer: str = ""
    default_org: str = "org_default"
    # The dashboard's OIDC sign-in (authorization code + PKCE), on when the first three are set.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    # Who may sign in: an expression on the ID token's claims (README "Dashboard"); empty: anyone
    # the provider signs in.
    oidc_acl: str = ""
    oidc_scopes: str = "openid email profile"
    # What an OIDC session may do (space-separated permissions, as a JWT's) and in which org
    # (empty: default_org).
    oidc_permissions: str = "analytics:*:query"
    oidc_org: str = ""
    # Empty: this service's /dashboard/api/oidc/callback as the request reached it.
    oidc_redirect_uri: str = ""

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret)


@dataclass(frozen=True)
class GrpcConfig:
    bind: str = "0.0.0.0:8007"
    enabled: bool = True
    # Server processes sharing the port (SO_REUSEPORT), like gunicorn's workers.
    workers: int = 2


@dataclass(frozen=True)
class EventsConfig:
    # Where the query kinds read stored events (query/store.py): "native", the in-process columnar
    # engine; "clickhouse", a ClickHouse server or cluster ([clickhouse]).
    store: str = "native"


@dataclass(frozen=True)
class ClickHouseConfig:
    # The HTTP(S) interface, `http://user:password@host:8123/database` (`REACTOR_CLICKHOUSE_URL`).
    url: str = ""
    # Empty: one server (plain MergeTree tables); a cluster name: the tables of
    # deploy/clickhouse/schema.sql (`ReplicatedMergeTree` + `Distributed`) on that cluster.
    cluster: str = ""


@dataclass(frozen=True)
class TracingConfig:
    fmt: str = "json"
    filter: str = "info"
    log_stream_seconds: int = 300
    log_file_max_bytes: int = 50 * 1024 * 1024


@dataclass(frozen=True)
class Config:
    data_dir: str = "./.reactor"
    analytics: AnalyticsConfig = field(default_factory=AnalyticsConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    grpc: GrpcConfig = field(default_factory=GrpcConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    clickhouse: ClickHouseConfig = field(default_factory=ClickHouseConfig)
    tracing: TracingConfig = field(default_factory=TracingConfig)

    @property
    def embedded_database(self) -> bool:
        return not self.database.url


# Environment names that clients, deploy files and tests rely on: keep them.
_PINNED_ENV = {
    "REACTOR_ANALYTICS_BIND": ("analytics", "bind"),
    "REACTOR_GRPC_BIND": ("grpc", "bind"),
    "DATABASE_URL": ("database", "url"),
    "REACTOR_DATABASE_URL": ("database", "url"),
    "REACTOR_ADMIN_TOKEN": ("auth", "admin_token"),
    "REACTOR_JWT_SECRET": ("auth", "jwt_secret"),
    "REACTOR_JWKS_FILE": ("auth", "jwks_file"),
}

_SECTIONS = {
    "analytics": AnalyticsConfig,
    "database": DatabaseConfig,
    "auth": AuthConfig,
    "grpc": GrpcConfig,
    "events": EventsConfig,
    "clickhouse": ClickHouseConfig,
    "tracing": TracingConfig,
}


class ConfigError(Exception):
    pass


def local_address(bind: str) -> tuple[str, str]:
    """(host, port) where this machine reaches a `bind` address (`host:port`): a wildcard host
    (empty, 0.0.0.0, ::) is 127.0.0.1; an IPv6 host comes without its brackets."""
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    return ("127.0.0.1" if host in ("", "0.0.0.0", "::") else host), port


def _coerce(kind: type, raw: Any, where: str) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{where}: expected a boolean, got {raw!r}")
    try:
        return kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {raw!r}") from None


def _section(cls: type, values: Mapping[str, Any], name: str) -> Any:
    types = {f.name: f.type for f in dataclasses.fields(cls)}
    builtin = {"int": int, "str": str, "bool": bool, "float": float}
    kwargs = {}
    for key, raw in values.items():
        if key not in types:
            raise ConfigError(f"[{name}] has no key {key!r}")
        kwargs[key] = _coerce(builtin[types[key]], raw, f"[{name}] {key}")
    return cls(**kwargs)


def load(env: Mapping[str, str] | None = None, path: str | None = None) -> Config:
    env = os.environ if env is None else env
    path = path or env.get("REACTOR_CONFIG") or ("reactor.toml" if Path("reactor.toml").exists() else None)
    raw: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    data_dir = "./.reactor"
    if path:
        try:
            document = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from None
        for name, section in document.items():
            if name == "data_dir":
                data_dir = str(section)
            elif name in _SECTIONS and isinstance(section, dict):
                raw[name].update(section)
            else:
                raise ConfigError(f"unknown config section {name!r} in {path}")
    for name, cls in _SECTIONS.items():
        prefix = f"REACTOR_{name.upper()}_"
        for f in dataclasses.fields(cls):
            value = env.get(prefix + f.name.upper())
            if value is not None:
                raw[name][f.name] = value
    for var in ("DATABASE_URL", "REACTOR_DATABASE_URL", *[k for k in _PINNED_ENV if "DATABASE" not in k]):
        if env.get(var):
            section, key = _PINNED_ENV[var]
            raw[section][key] = env[var]
    data_dir = env.get("REACTOR_DATA_DIR", data_dir)
    return Config(data_dir=data_dir, **{name: _section(cls, raw[name], name) for name, cls in _SECTIONS.items()})
