"""Tracking pixels (README "Pixels"): an admin creates one for a project, and every load of
`GET /analytics/v1/pixel/{id}.gif` records a `$pixel_open` event through the ingest pipeline
(rate limits, quota, privacy, sources) and answers a 1×1 GIF. There is no open pixel: an unknown
or deleted id is 404.
"""

from __future__ import annotations

import json
import re

from flask import Blueprint, Response, jsonify, request

from .. import fields
from ..auth import access, keys
from ..errors import AppError, invalid, not_found
from ..ingest import pipeline
from ..observability import metrics
from ..schemas import sites as schemas
from ..schemas.types import CONTROL, MAX_ID_CHARS
from ..store import queries
from . import http

blueprint = Blueprint("pixel", __name__, url_prefix="/analytics/v1")
admin_blueprint = Blueprint("pixels", __name__, url_prefix="/analytics/v1")

# A transparent 1×1 GIF (GIF89a, 43 bytes).
GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
       b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
# Query parameters that are not properties: credentials are never stored, and `message_id` makes
# a reload of the same open count once.
_NOT_PROPERTIES = {"key", "api_key", "message_id"}
# The pixel's own properties, which a query parameter cannot replace.
_PIXEL_PROPERTIES = ("pixel_id", "pixel_name", "metadata")
_ID = re.compile(rf"[^{CONTROL}]{{1,{MAX_ID_CHARS}}}")


def _gif() -> Response:
    return Response(GIF, mimetype="image/gif", headers={"Cache-Control": "no-store"})


@admin_blueprint.post("/projects/<project_ref>/pixels")
def create_pixel(project_ref: str):
    principal = http.bearer_principal()
    body = http.body(schemas.PixelRequest)
    with http.services().db.connection() as conn:
        project = access.project_to_manage(conn, principal, project_ref)
        row = queries.insert_pixel(conn, keys.new_id("px"), project["id"], body.name, body.metadata or {})
        queries.audit(conn, project["id"], "pixel.create", {"pixel_id": row["id"], "by": principal.subject})
        conn.commit()
    return jsonify(data=schemas.Pixel.of(row).model_dump(mode="json")), 201


@admin_blueprint.get("/projects/<project_ref>/pixels")
def list_pixels(project_ref: str):
    principal = http.bearer_principal()
    with http.services().db.connection() as conn:
        project = access.project_to_manage(conn, principal, project_ref)
        rows = queries.list_pixels(conn, project["id"])
    return jsonify(data=[schemas.Pixel.of(row).model_dump(mode="json") for row in rows])


@admin_blueprint.delete("/projects/<project_ref>/pixels/<pixel_id>")
def delete_pixel(project_ref: str, pixel_id: str):
    """Delete a pixel of the project; deleting it again is no error. Another project's is 404."""
    principal = http.bearer_principal()
    with http.services().db.connection() as conn:
        project = access.project_to_manage(conn, principal, project_ref)
        if not fields.storable(pixel_id) or not queries.delete_pixel(conn, project["id"], pixel_id):
            raise not_found("no such pixel in this project")
        queries.audit(conn, project["id"], "pixel.delete", {"pixel_id": pixel_id, "by": principal.subject})
        conn.commit()
    return Response(status=204)


@blueprint.get("/pixel/<pixel_id>.gif")
def pixel_open(pixel_id: str):
    services = http.services()
    with services.db.connection() as conn:
        pixel = queries.live_pixel(conn, pixel_id) if fields.storable(pixel_id) else None
    if pixel is None:
        raise not_found("no such pixel")
    message_id = request.args.get("message_id")
    if message_id is not None and not _ID.fullmatch(message_id):
        raise invalid("analytics.invalid_request", "message_id: 1 to 200 characters, no control characters",
                      field="message_id")
    config = services.config
    if config.analytics.honor_dnt and (request.headers.get("DNT") == "1" or request.headers.get("Sec-GPC") == "1"):
        metrics.EVENTS_DROPPED.labels("do_not_track").inc()
        return _gif()
    call = pipeline.IngestCall(
        kind="track", body=_event(pixel), trusted_project=pixel["project_id"], ip=http.client_ip(),
        user_agent=request.headers.get("User-Agent"), accept_language=request.headers.get("Accept-Language"))
    try:
        pipeline.ingest(services, call)
    except AppError as exc:
        # An open the project refuses (a page of another source, too many parameters) is counted
        # by the pipeline and dropped; an image cannot show an error.
        if not exc.code.startswith("analytics.event."):
            raise
    return _gif()


def _event(pixel: dict) -> bytes:
    """The `$pixel_open` event of one load: the query parameters and the pixel's id, name and
    metadata as properties; its person is the cookieless one of the loading browser; the page that
    embeds the pixel (Referer), if any, is its page."""
    properties = {name: value for name, value in request.args.items() if name not in _NOT_PROPERTIES}
    for name in _PIXEL_PROPERTIES:
        properties.pop(name, None)
    properties.update(pixel_id=pixel["id"], pixel_name=pixel["name"], metadata=pixel["metadata"])
    context = {"cookieless": True, "library": {"name": "reactor-pixel"}}
    referer = request.headers.get("Referer")
    if referer:
        context["page"] = {"url": referer}
    event = {"event": "$pixel_open", "properties": properties, "context": context}
    message_id = request.args.get("message_id")
    if message_id:
        event["message_id"] = message_id
    return json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogatepass")
