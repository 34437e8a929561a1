"""The geo database of `[analytics] geo_db`, opened once per process.

With a MaxMind DB (`.mmdb`) configured, the native core gives each event the country of its
address (the end user's `context.ip`, else the request's) before truncating it; an address the
database does not hold keeps the country of the reported timezone, as without a database. A file
that cannot be used stops the start with a configuration error: an operator who configured a
database is not left with countries that silently come from timezones.
"""

from __future__ import annotations

from .. import _native
from ..config import Config, ConfigError


def open_database(config: Config) -> _native.GeoDb | None:
    """The configured database read and verified, or None when none is configured."""
    path = config.analytics.geo_db
    if not path:
        return None
    try:
        return _native.GeoDb(path)
    except _native.GeoDbError as exc:
        raise ConfigError(f"[analytics] geo_db {path}: {exc.args[1]}") from None
