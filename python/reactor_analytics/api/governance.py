"""POST /analytics/v1/erase: GDPR erasure of one person (`analytics:{project}:erase`)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from .. import fields
from ..governance import erase as erasure
from . import http

blueprint = Blueprint("governance", __name__, url_prefix="/analytics/v1")


@blueprint.post("/erase")
def erase():
    principal = http.bearer_principal()
    body = http.json_body()
    fields.reject_unknown(body, {"user_id", "anonymous_id", "project_id"})
    user_id = fields.string_field(body, "user_id", required=False)
    anonymous_id = fields.string_field(body, "anonymous_id", required=False)
    project_id = fields.string_field(body, "project_id", required=False)
    erased = erasure.erase_named(http.services(), principal, http.project_header(), project_id,
                                 user_id=user_id, anonymous_id=anonymous_id)
    return jsonify(data=erased.as_dict())
