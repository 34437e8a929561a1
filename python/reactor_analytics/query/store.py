"""The store of events the query kinds run against, whichever holds them.

`EventStore` names what the rest of the service asks of stored events: run a query, forget a
person, say whether anything still mentions a value, sweep expired events, read what was
committed, and report its state. The in-process columnar engine (`[events] store = "native"`,
reached through `engine.EngineClient`) implements it, and so does the store on a ClickHouse
server or cluster (`"clickhouse"`, SPEC "Scale-out on ClickHouse", `clickhouse.store`).
PostgreSQL stays the system of record either way: a store holds a derived copy it reads by `seq`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..config import Config, ConfigError
from .engine import EngineClient, socket_path

STORES = ("native", "clickhouse")


@runtime_checkable
class EventStore(Protocol):
    def query(self, body: bytes, project_id: str, now_us: int, limits: dict[str, int],
              timeout_s: float | None = None) -> tuple[str, bytes, int, list | None]:
        """Run a query body (JSON bytes, as the client sent them; the store validates them) on
        `project_id` at `now_us` within `limits` (`_native.plan_query`'s row and day limits):
        (kind, rows as a JSON array, rows scanned, the comparison rows of a `web` query with
        `compare` or None). Raises AppError: 400 with the query's code for a bad body, 504 over the
        time or row budget (`timeout_s`, a caller's deadline, shortens the configured one), 503
        while the database or the store is unavailable."""
        ...

    def erase(self, project_id: str, ids: list[str], seqs: list[int]) -> dict:
        """Forget the events with `seqs` and everything known of the person ids `ids` in
        `project_id` (already deleted from PostgreSQL): {"rows": events forgotten, "ids": ids
        forgotten}. Erasing again is harmless."""
        ...

    def mentions(self, project_id: str, needle: str) -> bool:
        """Whether any stored value of `project_id` (an id, a property, a trait) contains `needle`:
        how erasure is proven complete."""
        ...

    def sweep_retention(self) -> int:
        """Delete every project's events older than its retention, from PostgreSQL and the store;
        returns the events removed."""
        ...

    def sync(self) -> None:
        """Read everything committed to PostgreSQL so far."""
        ...

    def ping(self) -> dict:
        """The store's state ({"projects", "rows", "bytes"} for the native engine); raises
        AppError 503 when it does not answer."""
        ...


def for_config(config: Config) -> EventStore:
    """The store `[events] store` names; ConfigError for one this build does not have."""
    store = config.events.store
    if store == "native":
        return EngineClient(socket_path(config.data_dir), config.analytics.query_timeout_ms / 1000)
    if store == "clickhouse":
        if not config.clickhouse.url:
            raise ConfigError('[events] store = "clickhouse" needs [clickhouse] url (REACTOR_CLICKHOUSE_URL)')
        from ..clickhouse.store import ClickHouseStore
        from ..store.db import database_url

        return ClickHouseStore(config.clickhouse.url, database_url(config), config.analytics.query_timeout_ms / 1000,
                               config.clickhouse.cluster)
    raise ConfigError(f"[events] store: expected one of {', '.join(STORES)}, got {store!r}")
