"""POST /analytics/v1/erase: GDPR erasure of one person (`analytics:{project}:erase`)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ..governance import erase as erasure
from ..schemas.governance import EraseRequest
from . import http, ingest

blueprint = Blueprint("governance", __name__, url_prefix="/analytics/v1")
# A web page on another origin may call with its bearer token (sdk.js): the same CORS answer as ingest.
blueprint.after_request(ingest.allow_browsers)


@blueprint.post("/erase")
def erase():
    principal = http.bearer_principal()
    body = http.body(EraseRequest)
    erased = erasure.erase_named(http.services(), principal, http.project_header(), body.project_id,
                                 user_id=body.user_id, anonymous_id=body.anonymous_id)
    return jsonify(data=erased.as_dict())
