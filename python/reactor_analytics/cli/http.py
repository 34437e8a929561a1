"""A small HTTP client for the CLI: talks to the service with the CLI's credential as bearer
(see `credentials` for which service and which credential, and in what order)."""

from __future__ import annotations

import functools
import json
import sys
import urllib.error
import urllib.request

from . import credentials


class CliError(Exception):
    pass


def base_url() -> str:
    return credentials.service_url()


@functools.cache
def credential() -> credentials.Credential | None:
    """The credential this run sends, looked up once."""
    try:
        return credentials.resolve()
    except credentials.CredentialError as exc:
        raise CliError(str(exc)) from None


def refusal(status: int, auth: bool = True, headers: dict | None = None) -> str | None:
    """For a 401 or 403: which credential was refused (never the secret) and what to try."""
    if status not in (401, 403):
        return None
    if not auth:
        sent = "the project key given with --key" if "X-Reactor-Project-Key" in (headers or {}) else "no credential"
        return f"the service refused {sent} ({status})"
    used = credential()
    if used is None:
        return (f"the service refused the call ({status}): the CLI sent no credential; run `reactor auth login` "
                f"where the install is (or with --token TOKEN), or set REACTOR_TOKEN or REACTOR_DATA_DIR")
    note = f"the service refused ({status}) {used.describe()}"
    if status == 403:
        note += "; it is not allowed to do this"
    if used.source == credentials.ENV_TOKEN and credentials.credentials_path().exists():
        note += (f"; REACTOR_TOKEN comes before the credential stored in {credentials.credentials_path()}: "
                 "unset REACTOR_TOKEN to use that one")
    return note


def _request(method: str, path: str, data: bytes | None, headers: dict | None, auth: bool):
    request = urllib.request.Request(base_url() + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if auth and (used := credential()) is not None:
        request.add_header("Authorization", f"Bearer {used.token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    return request


def events(path: str, last_id: str | None = None):
    """Server-sent events from `path`: yields (id, data) pairs until the server ends the stream."""
    headers = {"Accept": "text/event-stream"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    try:
        response = urllib.request.urlopen(_request("GET", path, None, headers, True), timeout=60)
    except urllib.error.HTTPError as exc:
        note = refusal(exc.code)
        raise CliError(f"{exc.code}: {exc.read().decode(errors='replace')[:300]}" + (f"\n{note}" if note else "")) \
            from None
    except urllib.error.URLError as exc:
        raise CliError(f"cannot reach {base_url()}: {exc.reason}") from None
    event_id, data = None, []
    with response:
        for raw in response:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line:
                if data:
                    yield event_id, "\n".join(data)
                event_id, data = None, []
            elif line.startswith("id:"):
                event_id = line[3:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())


def call(method: str, path: str, body: object | None = None, headers: dict | None = None,
         auth: bool = True) -> tuple[int, object]:
    """(status, JSON answer). A refused call (401/403) also says on stderr which credential it used."""
    data = None if body is None else json.dumps(body).encode()
    request = _request(method, path, data, headers, auth)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        note = refusal(exc.code, auth, headers)
        if note:
            print(f"reactor: {note}", file=sys.stderr)
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"error": {"code": "http", "message": raw.decode(errors="replace")[:200]}}
    except urllib.error.URLError as exc:
        raise CliError(f"cannot reach {base_url()}: {exc.reason}") from None
