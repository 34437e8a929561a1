"""POST /analytics/v1/query: one endpoint, six kinds (README "Queries"), answered by `query/service.py`."""

from __future__ import annotations

from flask import Blueprint, Response, request

from ..query import service
from . import http, ingest

blueprint = Blueprint("query", __name__, url_prefix="/analytics/v1")
# A web page on another origin may call with its bearer token (sdk.js): the same CORS answer as ingest.
blueprint.after_request(ingest.allow_browsers)


@blueprint.post("/query")
def query():
    principal = http.bearer_principal()
    body = http.json_body()  # refuses what is not a JSON object; the engine reads the bytes themselves
    answer = service.run(http.services(), principal, request.get_data(), http.project_header(),
                         body.get("project_id"))
    return Response(answer.json(), mimetype="application/json")
