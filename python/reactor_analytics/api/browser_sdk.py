"""The browser SDK's files: GET /tracker.js (the script tag), /analytics/v1/sdk.js (the ES module)
and /analytics/v1/sdk.d.ts (its types).

They are built from sdk/js into the package's `static/` directory (`make`), so every wheel and
every `pip install .` of a built tree carries them. Each answer has a long cache, a strong ETag
of its content (304 on a matching If-None-Match) and `Access-Control-Allow-Origin: *`; a tree
where the build has not run answers 503 `analytics.unavailable`, never a 500.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, request

from ..errors import AppError

blueprint = Blueprint("browser_sdk", __name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
CACHE_CONTROL = "public, max-age=31536000, immutable"
_TYPES = {
    "tracker.js": "text/javascript; charset=utf-8",
    "sdk.js": "text/javascript; charset=utf-8",
    "sdk.d.ts": "application/typescript; charset=utf-8",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    etag: str  # quoted, strong
    stamp: tuple[int, int]  # (mtime_ns, size) of the file it was read from


_loaded: dict[str, Asset] = {}
_lock = threading.Lock()


def load(name: str, directory: Path | None = None) -> Asset:
    """The file's content and ETag, read again only when the file changed (a rebuild)."""
    path = (directory or STATIC_DIR) / name
    try:
        info = path.stat()
    except OSError:
        raise AppError(503, "analytics.unavailable",
                       f"the browser SDK is not built ({name} is missing): run `make setup`") from None
    stamp = (info.st_mtime_ns, info.st_size)
    with _lock:
        asset = _loaded.get(name)
        if asset is None or asset.stamp != stamp:
            body = path.read_bytes()
            asset = Asset(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', stamp)
            _loaded[name] = asset
    return asset


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags or f"W/{etag}" in tags


def _serve(name: str) -> Response:
    asset = load(name)
    headers = {
        "ETag": asset.etag,
        "Cache-Control": CACHE_CONTROL,
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
    }
    if _matches(request.headers.get("If-None-Match", ""), asset.etag):
        return Response(status=304, headers=headers)
    return Response(asset.body, status=200, headers=headers, content_type=_TYPES[name])


@blueprint.get("/tracker.js")
def tracker():
    return _serve("tracker.js")


@blueprint.get("/analytics/v1/sdk.js")
def sdk_module():
    return _serve("sdk.js")


@blueprint.get("/analytics/v1/sdk.d.ts")
def sdk_types():
    return _serve("sdk.d.ts")
