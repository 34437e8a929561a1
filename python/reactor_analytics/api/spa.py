"""The dashboard's single-page app: `GET /` and `GET /share/<token>` answer its index.html
(`Cache-Control: no-cache`, a strict Content-Security-Policy, no Referer sent onwards, never
framed; with status 404 for a link that is unknown or revoked), `GET /dashboard/assets/<file>`
its content-hashed files (cached for a year).

`make` builds `dashboard/` into the package's `static/dashboard/`; a tree where that has not run
answers 503 `analytics.unavailable`, never a 500.
"""

from __future__ import annotations

import threading
from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory
from werkzeug.exceptions import NotFound

from ..errors import AppError
from ..auth import shares
from . import browser_sdk, http

blueprint = Blueprint("spa", __name__)

BUILD_DIR = browser_sdk.STATIC_DIR / "dashboard"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # A shared link's secret is in its path: no Referer carries it to another site.
    "Referrer-Policy": "no-referrer",
}


_loaded: dict[Path, tuple[tuple[int, int], bytes]] = {}
_lock = threading.Lock()


def _index(directory: Path | None = None, status: int = 200) -> Response:
    """index.html, read again only when the file changed (a rebuild)."""
    path = (directory or BUILD_DIR) / "index.html"
    try:
        info = path.stat()
        stamp = (info.st_mtime_ns, info.st_size)
        with _lock:
            known = _loaded.get(path)
            if known is None or known[0] != stamp:
                known = (stamp, path.read_bytes())
                _loaded[path] = known
    except OSError:
        raise AppError(503, "analytics.unavailable",
                       "the dashboard is not built (static/dashboard/index.html is missing): run `make`") from None
    return Response(known[1], status=status, headers=_PAGE_HEADERS, content_type="text/html; charset=utf-8")


@blueprint.get("/")
def index():
    return _index()


@blueprint.get("/share/<token>")
def shared(token: str):
    """The same page, which opens the link's session itself (POST /dashboard/api/share/<token>/session);
    answered 404 when the link is unknown or revoked (the page then says so)."""
    with http.services().db.connection() as conn:
        live = shares.is_live(conn, token)
    return _index(status=200 if live else 404)


@blueprint.get("/dashboard/assets/<path:name>")
def asset(name: str):
    try:
        response = send_from_directory(BUILD_DIR / "assets", name, max_age=31536000)
    except NotFound:
        abort(404, "no such dashboard file")
    response.headers["Cache-Control"] = browser_sdk.CACHE_CONTROL
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
