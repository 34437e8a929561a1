"""`ClickHouseStore`: the `EventStore` (query/store.py) of `[events] store = "clickhouse"`.

Events live in ClickHouse (`[clickhouse] url`, reached with clickhouse-connect over HTTP(S)); the
forwarder (forward.py) copies what PostgreSQL committed, and every call that reads reads it first,
so an acknowledged event is counted by the next query, as with the native engine. A query body is
validated by the native planner (the same codes as the native store), then translated
(kinds.py); a kind not translated yet is refused with 400 `analytics.query.unsupported_by_store`.

Errors: ClickHouse or PostgreSQL unreachable → 503 `analytics.unavailable`; a query over its row
or time budget (`max_rows_to_read`, `max_execution_time`) → 504 `analytics.query.timeout`; any
other query ClickHouse refuses → 400 `analytics.query.invalid`."""

from __future__ import annotations

import json
import re
import threading

import psycopg
import structlog

from .. import _native
from ..errors import AppError, unavailable
from . import kinds, schema, translate
from .forward import Forwarder
from .sql import Tables, read_body

log = structlog.get_logger(target="reactor_analytics.clickhouse")

# ClickHouse's codes for a query over its budget: TOO_MANY_ROWS, TIMEOUT_EXCEEDED, TOO_SLOW,
# TOO_MANY_ROWS_OR_BYTES.
_BUDGET_CODES = {158, 159, 160, 396}
_CODE = re.compile(r"code: (\d+)", re.IGNORECASE)
UNSUPPORTED = "analytics.query.unsupported_by_store"


def _code(exc: Exception) -> int | None:
    found = _CODE.search(str(exc))
    return int(found.group(1)) if found else None


class ClickHouseStore:
    def __init__(self, url: str, db_url: str, timeout_s: float, cluster: str = "") -> None:
        self.url = url
        self.db_url = db_url
        self.timeout_s = timeout_s
        self.cluster = cluster or None
        self.tables = Tables()
        self._client = None
        self._forwarder: Forwarder | None = None
        self._lock = threading.Lock()

    # --- connection --------------------------------------------------------------------------

    def client(self):
        """The clickhouse-connect client, made (and a single server's tables created) on first use."""
        from clickhouse_connect import get_client
        from clickhouse_connect.driver.exceptions import ClickHouseError

        with self._lock:
            if self._client is None:
                try:
                    client = get_client(dsn=self.url, autogenerate_session_id=False,
                                        connect_timeout=5, send_receive_timeout=int(self.timeout_s) + 5,
                                        settings={"join_use_nulls": 0})
                    if self.cluster is None:
                        for statement in schema.render(None, client.database or "default"):
                            client.command(statement)
                except ClickHouseError as exc:
                    log.warning("clickhouse unreachable", error=type(exc).__name__)
                    raise unavailable("the event store is unavailable; retry shortly") from None
                self._client = client
                self._forwarder = Forwarder(client, self.db_url, self._delete_seqs, cluster=self.cluster is not None)
            return self._client

    def _run(self, call, *, query: bool = False):
        """`call()`, with ClickHouse's and PostgreSQL's failures as the service's errors."""
        from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

        try:
            return call()
        except AppError:
            raise
        except (OperationalError, psycopg.OperationalError, psycopg.InterfaceError) as exc:
            log.warning("event store unavailable", error=type(exc).__name__)
            raise unavailable("the event store is unavailable; retry shortly") from None
        except DatabaseError as exc:
            code = _code(exc)
            if code in _BUDGET_CODES:
                raise AppError(504, "analytics.query.timeout", "the query ran over its time or row budget") from None
            if query:
                log.info("clickhouse refused a query", code=code)
                raise AppError(400, "analytics.query.invalid", "the event store refused the query") from None
            log.warning("clickhouse refused an operation", code=code)
            raise unavailable("the event store is unavailable; retry shortly") from None
        except psycopg.Error as exc:
            log.warning("database unavailable", error=type(exc).__name__)
            raise unavailable() from None

    def _local(self, name: str) -> str:
        """The table a mutation names (on a cluster, a sharded table's local table, on every node)."""
        local = schema.local_name(schema.TABLE[name], self.cluster)
        return f"{local} ON CLUSTER '{self.cluster}'" if self.cluster else local

    def _delete_seqs(self, table: str, seqs: list[int]) -> None:
        """Forget rows of `table` by seq, waiting for the mutation (the forwarder's, for rows
        forgotten in PostgreSQL while it sent them)."""
        self._client.command(f"ALTER TABLE {self._local(table)} DELETE WHERE seq IN {{s:Array(UInt64)}}",
                             parameters={"s": seqs}, settings={"mutations_sync": 2})

    # --- EventStore ----------------------------------------------------------------------------

    def sync(self) -> int:
        """Deliver what PostgreSQL committed; returns the rows sent."""
        def run():
            self.client()
            return self._forwarder.sync()

        return self._run(run)

    def query(self, body: bytes, project_id: str, now_us: int, limits: dict[str, int],
              timeout_s: float | None = None) -> tuple[str, bytes, int, list | None]:
        try:
            plan = _native.plan_query(body, project_id, now_us=now_us, **limits)
        except _native.QueryError as exc:
            if exc.code == "analytics.query.timeout":
                raise AppError(504, exc.code, exc.message) from None
            raise AppError(400, exc.code, exc.message, **exc.extra) from None
        parsed = read_body(json.loads(body), now_us)
        try:
            translation = translate.translate(parsed, project_id, self.tables)
        except kinds.Untranslated as exc:
            raise AppError(400, UNSUPPORTED, f"the ClickHouse event store does not answer {exc} yet",
                           kind=plan.kind, store="clickhouse") from None
        budget = min(timeout_s, self.timeout_s) if timeout_s is not None else self.timeout_s
        settings = {"max_execution_time": max(1, int(budget + 0.999)),
                    "do_not_merge_across_partitions_select_final": 1}
        if limits.get("max_rows_scanned"):
            settings["max_rows_to_read"] = limits["max_rows_scanned"]

        def run():
            client = self.client()
            self._forwarder.sync()
            result = client.query(translation.sql, parameters=translation.params, settings=settings)
            earlier = translation.comparison
            if earlier is None:
                return result, None
            return result, client.query(earlier.sql, parameters=earlier.params, settings=settings)

        result, earlier = self._run(run, query=True)
        scanned = sum(int((r.summary or {}).get("read_rows", 0)) for r in (result, earlier) if r is not None)
        rows = translation.shape(result.result_rows)
        comparison = translation.comparison.shape(earlier.result_rows) if earlier is not None else None
        return (plan.kind, json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode(), scanned,
                comparison)

    def erase(self, project_id: str, ids: list[str], seqs: list[int]) -> dict:
        """Forget the rows and the ids, waiting for the mutations to finish on every replica (so the
        erase answers only once ClickHouse holds nothing of the person)."""
        def run():
            client = self.client()
            params = {"p": project_id, "ids": ids, "seqs": [int(s) for s in seqs]}
            settings = {"mutations_sync": 2}
            match = ("project_id = {p:String} AND (seq IN {seqs:Array(UInt64)} OR distinct_id IN {ids:Array(String)} "
                     "OR anonymous_id IN {ids:Array(String)} OR user_id IN {ids:Array(String)})")
            with self._forwarder.lock:  # no forwarded row of the person lands after the delete
                count = client.query(f"SELECT count() FROM {self.tables.events} FINAL WHERE {match}",
                                     parameters=params).result_rows[0][0]
                known = client.query(f"SELECT uniqExact(anonymous_id) FROM {self.tables.person_map} "
                                     "WHERE project_id = {p:String} AND anonymous_id IN {ids:Array(String)}",
                                     parameters=params).result_rows[0][0]
                client.command(f"ALTER TABLE {self._local('events')} DELETE WHERE {match}",
                               parameters=params, settings=settings)
                client.command(f"ALTER TABLE {self._local('person_map')} DELETE WHERE project_id = {{p:String}} "
                               "AND (anonymous_id IN {ids:Array(String)} OR user_id IN {ids:Array(String)})",
                               parameters=params, settings=settings)
                client.command(f"ALTER TABLE {self._local('person_traits')} DELETE WHERE project_id = {{p:String}} "
                               "AND user_id IN {ids:Array(String)}", parameters=params, settings=settings)
            return {"rows": int(count), "ids": int(known)}

        return self._run(run)

    def mentions(self, project_id: str, needle: str) -> bool:
        def run():
            client = self.client()
            self._forwarder.sync()
            params = {"p": project_id, "n": needle}
            columns = ["distinct_id", "message_id", "properties", *(f"ifNull({c}, '')" for c in
                       ("anonymous_id", "user_id", "context", *schema.HOT))]
            found = " OR ".join(f"position({c}, {{n:String}}) > 0" for c in columns)
            sql = (f"SELECT (SELECT count() FROM {self.tables.events} WHERE project_id = {{p:String}} AND ({found})) + "
                   f"(SELECT count() FROM {self.tables.person_map} WHERE project_id = {{p:String}} "
                   "AND (position(anonymous_id, {n:String}) > 0 OR position(user_id, {n:String}) > 0)) + "
                   f"(SELECT count() FROM {self.tables.person_traits} WHERE project_id = {{p:String}} "
                   "AND (position(user_id, {n:String}) > 0 OR position(traits, {n:String}) > 0))")
            return client.query(sql, parameters=params).result_rows[0][0] > 0

        return self._run(run)

    def drop_before(self, project_id: str, cutoff_us: int) -> int:
        """Retention (governance/retention.py calls it after deleting from PostgreSQL): forget the
        project's events before `cutoff_us`, waiting for the mutation."""
        def run():
            client = self.client()
            params = {"p": project_id, "c": int(cutoff_us)}
            match = "project_id = {p:String} AND ts < fromUnixTimestamp64Micro({c:Int64}, 'UTC')"
            with self._forwarder.lock:
                count = client.query(f"SELECT count() FROM {self.tables.events} WHERE {match}",
                                     parameters=params).result_rows[0][0]
                if count:
                    client.command(f"ALTER TABLE {self._local('events')} DELETE WHERE {match}", parameters=params,
                                   settings={"mutations_sync": 2})
            return int(count)

        return self._run(run)

    def sweep_retention(self) -> int:
        from ..governance.retention import Retention

        return self._run(lambda: Retention(self.db_url, self, 0).sweep())

    def ping(self) -> dict:
        def run():
            client = self.client()
            projects, rows = client.query(f"SELECT uniqExact(project_id), count() FROM {self.tables.events}"
                                          ).result_rows[0]
            size = client.query("SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = "
                                "currentDatabase() AND table = {t:String}",
                                parameters={"t": schema.local_name(schema.TABLE["events"], self.cluster)}
                                ).result_rows[0][0]
            return {"projects": int(projects), "rows": int(rows), "bytes": int(size or 0)}

        return self._run(run)
