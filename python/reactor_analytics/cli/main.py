"""`reactor`: run the service and administer it.

    reactor serve | migrate
    reactor auth login [--token TOKEN] [--url URL] | auth status | auth logout
    reactor token mint --sub NAME --permission P [--permission P …] [--ttl SECONDS]
    reactor analytics projects create SLUG --name NAME [--retention-days N] | projects list
    reactor analytics projects set PROJECT --retention-days N
    reactor analytics erase PROJECT --user-id ID | --anonymous-id ID
    reactor analytics keys create PROJECT --name NAME | keys list PROJECT | keys revoke PROJECT KEY_ID
    reactor analytics query --project PROJECT --file query.json
    reactor analytics track --key KEY --event NAME [--properties JSON] [--anonymous-id ID] [--user-id ID]
    reactor analytics errors list PROJECT [--last 7d | --from T [--to T]] | errors resolve|ignore|reopen PROJECT FP
    reactor doctor | reactor analytics doctor
    reactor logs [--follow] [--since 1h] [--capability analytics] [--level warning]

Commands that call the service use the credential and url `cli/credentials.py` finds (REACTOR_TOKEN,
then the file `reactor auth login` wrote, then the install's admin token).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
import uuid
from pathlib import Path

from .. import config as config_module
from ..store.embedded import EmbeddedError
from . import auth
from .http import CliError, call, events


def _print(payload: object) -> None:
    print(json.dumps(payload, indent=2, sort_keys=False))


def _answer(status: int, payload: object) -> int:
    if status >= 400:
        _print(payload)
        return 1
    if payload is not None:
        _print(payload)
    return 0


def cmd_serve(args) -> int:
    from ..server import serve

    serve(config_module.load())
    return 0


def cmd_engine(args) -> int:
    from .. import _native
    from ..query.opening import Opening

    _native.Engine.keep_one_heap()  # before any thread allocates (query/engine.py MemoryReleaser)
    config = config_module.load()
    # The segments open while the rest is imported.
    segments = Path(config.data_dir).resolve() / "segments"
    engine = _native.Engine()
    opening = Opening(engine, segments)

    from ..observability import logging as reactor_logging
    from ..observability.logging import log_path
    from ..query.engine import EngineServer, socket_path
    from ..store.db import database_url

    reactor_logging.configure(config.tracing.fmt, config.tracing.filter, log_path(config))
    EngineServer(database_url(config), socket_path(config.data_dir), config.analytics.retention_interval_s,
                 segments_dir=segments, engine=engine, opening=opening).serve_forever()
    return 0


def cmd_forward(args) -> int:
    """The ClickHouse forwarder's process (`[events] store = "clickhouse"`): `reactor serve` runs it
    in place of the engine."""
    from ..clickhouse.forwarding import ForwardProcess
    from ..observability import logging as reactor_logging
    from ..observability.logging import log_path
    from ..query import store as event_store

    config = config_module.load()
    reactor_logging.configure(config.tracing.fmt, config.tracing.filter, log_path(config))
    ForwardProcess(event_store.for_config(config), config.analytics.retention_interval_s).serve_forever()
    return 0


def cmd_clickhouse_load(args) -> int:
    """Copy what PostgreSQL holds into the ClickHouse store ([clickhouse] url), from where its
    forwarder stood: how an install moves its events to ClickHouse before switching
    `[events] store` (the service keeps forwarding after that)."""
    from ..clickhouse.store import ClickHouseStore
    from ..errors import AppError
    from ..store.db import database_url

    config = config_module.load()
    if not config.clickhouse.url:
        raise config_module.ConfigError("reactor clickhouse-load needs [clickhouse] url (REACTOR_CLICKHOUSE_URL)")
    store = ClickHouseStore(config.clickhouse.url, database_url(config), config.analytics.query_timeout_ms / 1000,
                            config.clickhouse.cluster)
    try:
        store.sync()
        _print({"data": store.ping()})
    except AppError as exc:
        _print(exc.body())
        return 1
    return 0


def cmd_grpc(args) -> int:
    from ..observability import logging as reactor_logging
    from ..observability.logging import log_path
    from ..rpc.server import serve_forever

    config = config_module.load()
    reactor_logging.configure(config.tracing.fmt, config.tracing.filter, log_path(config))
    serve_forever(config)
    return 0


def cmd_query(args) -> int:
    try:
        with open(args.file) as handle:
            body = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"reactor: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(body, dict):
        print("reactor: the query file must hold a JSON object", file=sys.stderr)
        return 2
    headers = {"X-Reactor-Project": args.project} if args.project else {}
    return _answer(*call("POST", "/analytics/v1/query", body, headers=headers))


def cmd_migrate(args) -> int:
    from ..server import prepare

    config = config_module.load()
    url, embedded = prepare(config)
    print("migrations applied", file=sys.stderr)
    return 0


def cmd_token_mint(args) -> int:
    body = {"sub": args.sub, "permissions": args.permission, "ttl_seconds": args.ttl}
    if args.org_id:
        body["org_id"] = args.org_id
    status, payload = call("POST", "/_admin/tokens", body)
    if status >= 400:
        return _answer(status, payload)
    print(payload["data"]["token"])
    return 0


def cmd_projects_create(args) -> int:
    body = {"slug": args.slug, "name": args.name or args.slug}
    if args.retention_days is not None:
        body["retention_days"] = args.retention_days
    return _answer(*call("POST", "/analytics/v1/projects", body))


def cmd_projects_set(args) -> int:
    return _answer(*call("PATCH", f"/analytics/v1/projects/{args.project}", {"retention_days": args.retention_days}))


def cmd_erase(args) -> int:
    body = {"user_id": args.user_id} if args.user_id else {"anonymous_id": args.anonymous_id}
    return _answer(*call("POST", "/analytics/v1/erase", body, headers={"X-Reactor-Project": args.project}))


def cmd_projects_list(args) -> int:
    return _answer(*call("GET", "/analytics/v1/projects"))


def cmd_keys_create(args) -> int:
    status, payload = call("POST", f"/analytics/v1/projects/{args.project}/keys", {"name": args.name})
    if status >= 400:
        return _answer(status, payload)
    data = payload["data"]
    print(f"created key {data['id']} ({data['name']}); it is shown only now:", file=sys.stderr)
    print(data["key"])
    return 0


def cmd_keys_list(args) -> int:
    return _answer(*call("GET", f"/analytics/v1/projects/{args.project}/keys"))


def cmd_keys_revoke(args) -> int:
    status, payload = call("DELETE", f"/analytics/v1/projects/{args.project}/keys/{args.key_id}")
    if status >= 400:
        return _answer(status, payload)
    print(f"revoked {args.key_id}", file=sys.stderr)
    return 0


def cmd_track(args) -> int:
    try:
        properties = json.loads(args.properties) if args.properties else {}
    except ValueError:
        print("--properties must be a JSON object", file=sys.stderr)
        return 2
    body = {"event": args.event, "properties": properties, "message_id": str(uuid.uuid4())}
    if args.user_id:
        body["user_id"] = args.user_id
    body["anonymous_id"] = args.anonymous_id or ("cli-" + uuid.uuid4().hex if not args.user_id else None)
    body = {k: v for k, v in body.items() if v is not None}
    headers = {"X-Reactor-Project-Key": args.key} if args.key else {}
    if args.project:
        headers["X-Reactor-Project"] = args.project
    return _answer(*call("POST", "/analytics/v1/track", body, headers=headers, auth=not args.key))


def _errors_project(args) -> str:
    project = args.project or args.project_option
    if not project:
        raise CliError("name the project: reactor analytics errors … PROJECT (or --project PROJECT)")
    return project


def cmd_errors_list(args) -> int:
    query = {"project_id": _errors_project(args)}
    for name in ("last", "from_", "to", "limit"):
        if getattr(args, name) is not None:
            query[name.rstrip("_")] = getattr(args, name)
    return _answer(*call("GET", "/analytics/v1/errors?" + urllib.parse.urlencode(query)))


def _errors_set(state: str):
    def command(args) -> int:
        if len(args.names) > 2:
            raise CliError("give [PROJECT] FINGERPRINT")
        args.project = args.names[0] if len(args.names) == 2 else None
        fingerprint = args.names[-1]
        return _answer(*call("PATCH", f"/analytics/v1/errors/{urllib.parse.quote(fingerprint, safe='')}",
                             {"state": state, "project_id": _errors_project(args)}))
    return command


def cmd_doctor(args) -> int:
    status, payload = call("GET", "/_admin/doctor")
    if status >= 400:
        return _answer(status, payload)
    _print(payload)
    return 0 if all(part.get("status") == "ok" for part in payload.values()) else 1


def cmd_logs(args) -> int:
    """Print log lines; with --follow, reconnect from the last line whenever the server ends a stream."""
    query = {"follow": "1" if args.follow else "0"}
    for name in ("since", "capability", "level"):
        if getattr(args, name):
            query[name] = getattr(args, name)
    path = "/_admin/logs?" + urllib.parse.urlencode(query)
    last_id = None
    try:
        while True:
            for event_id, data in events(path, last_id):
                last_id = event_id or last_id
                print(data, flush=True)
            if not args.follow:
                return 0
    except KeyboardInterrupt:
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reactor", description="Reactor Analytics")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the service (embedded PostgreSQL when none is configured)").set_defaults(
        func=cmd_serve)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("engine", help="run the query engine process (reactor serve starts it)").set_defaults(
        func=cmd_engine)
    sub.add_parser("grpc", help="run the gRPC server (reactor serve starts it)").set_defaults(func=cmd_grpc)
    sub.add_parser("forward", help="run the ClickHouse forwarder process (reactor serve starts it with "
                   "[events] store = \"clickhouse\")").set_defaults(func=cmd_forward)
    sub.add_parser("clickhouse-load", help="copy the events PostgreSQL holds into the ClickHouse store "
                   "([clickhouse] url)").set_defaults(func=cmd_clickhouse_load)

    auth.add_commands(sub)

    token = sub.add_parser("token", help="JWTs").add_subparsers(dest="token_command", required=True)
    mint = token.add_parser("mint", help="mint a JWT with the admin token (prints it)")
    mint.add_argument("--sub", required=True, help="who the token is for, e.g. backend")
    mint.add_argument("--permission", action="append", default=[],
                      help="repeatable, e.g. analytics:web-prod:ingest, analytics:web-prod:query")
    mint.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    mint.add_argument("--org-id", help="the org the token is scoped to")
    mint.set_defaults(func=cmd_token_mint)

    sub.add_parser("doctor", help="per-part health probes of the running service").set_defaults(func=cmd_doctor)
    logs = sub.add_parser("logs", help="the service's JSON log lines")
    logs.add_argument("--follow", "-f", action="store_true")
    logs.add_argument("--since", help="ISO-8601 time or a duration such as 15m, 1h")
    logs.add_argument("--capability")
    logs.add_argument("--level", help="minimum level: debug, info, warning, error")
    logs.set_defaults(func=cmd_logs)

    analytics = sub.add_parser(
        "analytics", help="projects, keys, events, queries, errors, erasure",
        description="Administer and use the analytics service at REACTOR_URL (else the url `reactor auth login` "
                    "stored, else the install's [analytics] bind: http://127.0.0.1:8006 by default), with the "
                    "credential `reactor auth --help` describes.").add_subparsers(
        dest="analytics_command", required=True, metavar="COMMAND")
    analytics.add_parser("doctor", help="per-part health probes of the running service (as `reactor doctor`)",
                         ).set_defaults(func=cmd_doctor)
    projects = analytics.add_parser("projects", help="create, list and change projects").add_subparsers(
        dest="projects_command", required=True, metavar="COMMAND")
    create = projects.add_parser("create", help="create a project (prints it as JSON)")
    create.add_argument("slug", help="lowercase letters, digits and '-', e.g. web-prod")
    create.add_argument("--name", help="a display name (default: the slug)")
    create.add_argument("--retention-days", type=int, help="keep events this many days (default 90)")
    create.set_defaults(func=cmd_projects_create)
    projects.add_parser("list", help="list the projects the credential may see").set_defaults(
        func=cmd_projects_list)
    update = projects.add_parser("set", help="change a project's settings")
    update.add_argument("project", help="project id or slug")
    update.add_argument("--retention-days", type=int, required=True, help="keep events this many days")
    update.set_defaults(func=cmd_projects_set)

    erase = analytics.add_parser("erase", help="GDPR erasure: every event, link and trait of one person")
    erase.add_argument("project", help="project id or slug")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--user-id", help="the person's user id")
    who.add_argument("--anonymous-id", help="the person's anonymous id")
    erase.set_defaults(func=cmd_erase)

    keys = analytics.add_parser("keys", help="create, list and revoke a project's public keys (rapk_…)"
                                ).add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    kcreate = keys.add_parser("create", help="create a public key and print it (shown only this once)")
    kcreate.add_argument("project", help="project id or slug")
    kcreate.add_argument("--name", required=True, help="what the key is for, e.g. browser-key")
    kcreate.set_defaults(func=cmd_keys_create)
    klist = keys.add_parser("list", help="list a project's keys (names and prefixes, never the keys)")
    klist.add_argument("project", help="project id or slug")
    klist.set_defaults(func=cmd_keys_list)
    krevoke = keys.add_parser("revoke", help="revoke a key: events sent with it are refused from now on")
    krevoke.add_argument("project", help="project id or slug")
    krevoke.add_argument("key_id", help="the key's id, as `keys list` shows it")
    krevoke.set_defaults(func=cmd_keys_revoke)

    query = analytics.add_parser("query", help="run a query (JSON file) and print the answer")
    query.add_argument("--project", help="project id or slug (X-Reactor-Project)")
    query.add_argument("--file", required=True, help="the query as JSON, e.g. {\"kind\": \"aggregate\", …}")
    query.set_defaults(func=cmd_query)

    errors = analytics.add_parser(
        "errors", help="error groups of $error events and their triage",
        description="List a project's error groups (needs analytics:{project}:query) and triage them (needs "
                    "analytics:{project}:manage or the admin token): a resolved group reopens when it occurs "
                    "again, an ignored one stays ignored.").add_subparsers(
        dest="errors_command", required=True, metavar="COMMAND")
    elist = errors.add_parser("list", help="the groups seen in a range, most recent first (JSON)")
    elist.add_argument("project", nargs="?", help="project id or slug")
    elist.add_argument("--project", dest="project_option", help="the same, as an option")
    elist.add_argument("--last", help="a duration back from now, e.g. 24h, 7d (default 7d)")
    elist.add_argument("--from", dest="from_", help="start: a day or an RFC 3339 date-time")
    elist.add_argument("--to", help="end (default now)")
    elist.add_argument("--limit", type=int, help="at most this many groups (default 100)")
    elist.set_defaults(func=cmd_errors_list)
    for name, state, text in (("resolve", "resolved", "mark a group resolved (it reopens on a new occurrence)"),
                              ("ignore", "ignored", "ignore a group (new occurrences keep it ignored)"),
                              ("reopen", "unresolved", "mark a group unresolved again")):
        command = errors.add_parser(name, help=text)
        command.add_argument("names", nargs="+", metavar="[PROJECT] FINGERPRINT",
                             help="project id or slug (or --project), then the group's fingerprint as `errors "
                                  "list` shows it")
        command.add_argument("--project", dest="project_option", help="project id or slug")
        command.set_defaults(func=_errors_set(state))

    track = analytics.add_parser("track", help="send one event")
    track.add_argument("--key", help="project public key (rapk_…); else the CLI's credential (a JWT)")
    track.add_argument("--project", help="project id or slug (with a JWT)")
    track.add_argument("--event", required=True, help="the event's name, e.g. signup_completed")
    track.add_argument("--properties", help="a JSON object, e.g. '{\"plan\":\"pro\"}'")
    track.add_argument("--anonymous-id", help="default: a fresh cli-… id when no --user-id")
    track.add_argument("--user-id", help="the user the event is about")
    track.set_defaults(func=cmd_track)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"reactor: {exc}", file=sys.stderr)
        return 1
    except config_module.ConfigError as exc:
        print(f"reactor: configuration error: {exc}", file=sys.stderr)
        return 2
    except EmbeddedError as exc:
        print(f"reactor: embedded database: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
