"""A small HTTP client for the CLI: talks to REACTOR_URL with REACTOR_TOKEN as bearer."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path


class CliError(Exception):
    pass


def base_url() -> str:
    return os.environ.get("REACTOR_URL", "http://127.0.0.1:8006").rstrip("/")


def token() -> str | None:
    """REACTOR_TOKEN, else the admin token of a local install (its data directory)."""
    value = os.environ.get("REACTOR_TOKEN") or os.environ.get("REACTOR_ADMIN_TOKEN")
    if value:
        return value
    path = Path(os.environ.get("REACTOR_DATA_DIR", "./.reactor")) / "admin_token"
    return path.read_text().strip() if path.exists() else None


def _request(method: str, path: str, data: bytes | None, headers: dict | None, auth: bool):
    request = urllib.request.Request(base_url() + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if auth and (bearer := token()):
        request.add_header("Authorization", f"Bearer {bearer}")
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
        raise CliError(f"{exc.code}: {exc.read().decode(errors='replace')[:300]}") from None
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
    data = None if body is None else json.dumps(body).encode()
    request = _request(method, path, data, headers, auth)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"error": {"code": "http", "message": raw.decode(errors="replace")[:200]}}
    except urllib.error.URLError as exc:
        raise CliError(f"cannot reach {base_url()}: {exc.reason}") from None
