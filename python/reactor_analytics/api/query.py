"""POST /analytics/v1/query: one endpoint, six kinds (SPEC "Query"), answered by `query/service.py`."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ..query import service
from . import http

blueprint = Blueprint("query", __name__, url_prefix="/analytics/v1")


@blueprint.post("/query")
def query():
    principal = http.bearer_principal()
    body = http.json_body()
    return jsonify(data=service.run(http.services(), principal, body, http.project_header()))
