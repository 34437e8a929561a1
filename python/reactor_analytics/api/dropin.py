"""Drop-in capture: the paths PostHog's and Segment's SDKs send to, on the API's own port.

Each request becomes an `IngestCall` (`ingest/dropin.py` decodes the body and the native core
translates it) and runs the same `pipeline.ingest` as `/analytics/v1/batch`. Each SDK gets the
answer it takes for success (PostHog 200 `{"status": 1}`, Segment 200 `{"success": true}`) and
its own error shape otherwise (PostHog `{"type", "code", "detail", "attr"}`, Segment `{"code",
"message"}`). The settings the browser SDKs fetch at start are answered too: no feature flags,
and a Segment source whose API host is this service.

These paths are not in the OpenAPI document (so schemathesis, which runs the document, leaves
them alone): their bodies and answers are PostHog's and Segment's wire formats, not ours, and are
held to the real clients by tests/test_dropin.py instead.
"""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ..errors import AppError, unauthenticated
from ..ingest import dropin, pipeline
from ..observability import metrics
from . import http

blueprint = Blueprint("dropin", __name__)

POSTHOG_CAPTURE = ("/batch/", "/e/", "/i/v0/e/", "/capture/", "/track/", "/engage/")
# Paths the browser SDKs send to: there the request's User-Agent and language are the visitor's.
POSTHOG_BROWSER = ("/e/", "/i/v0/e/", "/capture/", "/track/", "/engage/")
SEGMENT_CALLS = ("track", "identify", "alias", "page", "screen", "group", "t", "i", "a", "p", "s", "g")

# Refusals that do not fail the request. `system_reserved`: the SDKs' own events the service does
# not define (posthog-js's `$feature_flag_called`, `$opt_in`, `$rageclick`, a Segment `group`, ...)
# are not stored (counted as refused) but are no error of the caller, who never sent them itself;
# an error would only show in the page's console.
NOT_AN_ERROR = ("opted_out", "system_reserved")

POSTHOG_OK = {"status": 1}
SEGMENT_OK = {"success": True}
COMPRESSION = ["gzip-js", "base64"]

# What posthog-js and posthog-python read from /flags/ and /decide/ (every version's names), and
# from the remote config: no flags, nothing else switched on, capture to /e/. `surveys` is left
# out: posthog-js's npm build loads its surveys script from `/static/` even for `"surveys": false`,
# and only a config without the key keeps it from asking (the service serves none of PostHog's
# scripts).
REMOTE_CONFIG = {
    "supportedCompression": COMPRESSION, "hasFeatureFlags": False, "analytics": {"endpoint": "/e/"},
    "autocapture_opt_out": False, "autocaptureExceptions": False, "capturePerformance": False,
    "captureDeadClicks": False, "sessionRecording": False, "heatmaps": False,
    "elementsChainAsString": True, "defaultIdentifiedOnly": True, "siteApps": [],
}
NO_FLAGS = {
    "flags": {}, "featureFlags": {}, "featureFlagPayloads": {}, "errorsWhileComputingFlags": False,
    "quotaLimited": [], "requestId": None, "config": {"enable_collect_everything": True},
    "toolbarParams": {}, "isAuthenticated": False, **REMOTE_CONFIG,
}


def _is_segment() -> bool:
    return request.path.startswith("/v1/")


@blueprint.after_request
def allow_browsers(response: Response) -> Response:
    origins = http.services().config.analytics.cors_origins
    response.headers["Access-Control-Allow-Origin"] = origins
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    # analytics.js sends Authorization and X-Retry-Count; allow what a preflight asks for.
    response.headers["Access-Control-Allow-Headers"] = request.headers.get(
        "Access-Control-Request-Headers", "Content-Type, Authorization, X-Retry-Count")
    response.headers["Access-Control-Max-Age"] = "86400"
    if origins != "*":
        response.headers["Vary"] = "Origin"
    return response


# --- errors, in each SDK's shape -------------------------------------------------------------

_POSTHOG_TYPES = {401: "authentication_error", 403: "authentication_error", 429: "throttled"}
_HTTP_CODES = {404: "analytics.not_found", 405: "analytics.method_not_allowed", 413: "analytics.payload_too_large"}


def _sdk_error(status: int, code: str, message: str, retry_after: object = None) -> Response:
    if _is_segment():
        body = {"code": code, "message": message}
    else:
        kind = _POSTHOG_TYPES.get(status, "server_error" if status >= 500 else "validation_error")
        body = {"type": kind, "code": code, "detail": message, "attr": None}
    response = jsonify(body)
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@blueprint.errorhandler(AppError)
def app_error(exc: AppError):
    return _sdk_error(exc.status, exc.code, exc.message, exc.extra.get("retry_after_s"))


@blueprint.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    status = exc.code or 500
    if status == 413:
        return _sdk_error(413, "analytics.payload_too_large", "the request body is larger than the limit")
    return _sdk_error(status, _HTTP_CODES.get(status, "analytics.invalid_request"), exc.description or "")


# --- capture ---------------------------------------------------------------------------------

def _honours_do_not_track() -> bool:
    return http.services().config.analytics.honor_dnt and (
        request.headers.get("DNT") == "1" or request.headers.get("Sec-GPC") == "1")


def _content(limit: int) -> bytes:
    """The decoded body, or the `data` query parameter of a GET (old posthog-js pixels)."""
    if request.method == "GET":
        data = request.args.get("data")
        if data is None:
            raise AppError(400, "analytics.invalid_request", "send the events as a POST body or 'data'")
        return dropin.decode_data(data, request.args.get("compression"), limit)
    # MAX_CONTENT_LENGTH refuses an oversize body with 413 here, before it is read.
    body = request.get_data(cache=False)
    return dropin.decode(
        body, gzip="gzip" in request.headers.get("Content-Encoding", "").lower(),
        form=request.mimetype == "application/x-www-form-urlencoded",
        compression=request.args.get("compression"), limit=limit)


def _basic_auth_key() -> str | None:
    """Segment's write key sent as the user of HTTP Basic auth."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        user = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")[0]
    except (binascii.Error, ValueError):
        return None
    return user or None


def _capture(source: str, call: str | None, browser: bool, ok: dict):
    if request.method == "OPTIONS":
        return Response(status=204)
    if _honours_do_not_track():
        # The SDK is told it succeeded (anything else makes it send again); nothing is stored.
        metrics.EVENTS_DROPPED.labels("do_not_track").inc()
        return jsonify(ok)
    services = http.services()
    limit = services.config.analytics.max_body_bytes
    content = _content(limit)
    ingest_call = dropin.capture_call(
        source, content, call=call, key=_basic_auth_key() if source == "segment" else None,
        sent_at=dropin.sent_at_ms(request.args.get("sent_at")), ip=http.client_ip(),
        user_agent=request.headers.get("User-Agent") if browser else None,
        accept_language=request.headers.get("Accept-Language") if browser else None)
    if not ingest_call.key:
        where = "'writeKey' or HTTP Basic auth" if source == "segment" else "'api_key' or 'token'"
        raise unauthenticated(f"send the project key as {where}")
    result = pipeline.ingest(services, ingest_call)
    refused = [r for r in result.rejected if r["reason"] not in NOT_AN_ERROR]
    if result.accepted == 0 and refused:
        # Nothing stored and something refused: the SDK logs it instead of calling it a success.
        first = refused[0]
        raise AppError(400, f"analytics.event.{first['reason']}", f"event {first['index']}: {first['message']}")
    return jsonify(ok)


def _posthog_view(path: str):
    browser = path in POSTHOG_BROWSER
    return lambda: _capture("posthog", None, browser, POSTHOG_OK)


for _path in POSTHOG_CAPTURE:
    blueprint.add_url_rule(_path, f"posthog{_path.replace('/', '_')}", _posthog_view(_path),
                           methods=["GET", "POST", "OPTIONS"], strict_slashes=False)


@blueprint.route("/v1/batch", methods=["POST", "OPTIONS"])
def segment_batch():
    return _capture("segment", None, False, SEGMENT_OK)


@blueprint.route("/v1/b", methods=["POST", "OPTIONS"])
def segment_browser_batch():
    return _capture("segment", None, True, SEGMENT_OK)


@blueprint.route("/v1/<any(" + ", ".join(SEGMENT_CALLS) + "):call>", methods=["POST", "OPTIONS"])
def segment_call(call: str):
    return _capture("segment", call, len(call) == 1, SEGMENT_OK)


# --- what the SDKs fetch besides capture -----------------------------------------------------

@blueprint.route("/flags/", methods=["GET", "POST", "OPTIONS"], strict_slashes=False)
@blueprint.route("/decide/", methods=["GET", "POST", "OPTIONS"], strict_slashes=False)
def no_flags():
    if request.method == "OPTIONS":
        return Response(status=204)
    return jsonify(NO_FLAGS)


@blueprint.route("/array/<token>/config", methods=["GET", "OPTIONS"])
def posthog_remote_config(token: str):
    if request.method == "OPTIONS":
        return Response(status=204)
    return jsonify({"token": token, **REMOTE_CONFIG})


@blueprint.route("/array/<token>/config.js", methods=["GET"])
def posthog_remote_config_script(token: str):
    config = jsonify({"config": {"token": token, **REMOTE_CONFIG}, "siteApps": []}).get_data(as_text=True)
    name = jsonify(token).get_data(as_text=True).strip()
    script = ("(function(){var w=window;w._POSTHOG_REMOTE_CONFIG=w._POSTHOG_REMOTE_CONFIG||{};"
              f"w._POSTHOG_REMOTE_CONFIG[{name}]={config.strip()};}})();")
    return Response(script, mimetype="application/javascript")


@blueprint.route("/v1/projects/<write_key>/settings", methods=["GET", "OPTIONS"])
def segment_settings(write_key: str):
    """The source settings analytics.js loads first: its events go back to this service."""
    if request.method == "OPTIONS":
        return Response(status=204)
    segment_io = {"apiKey": write_key, "apiHost": f"{request.host}/v1", "protocol": request.scheme}
    return jsonify({
        "integrations": {"Segment.io": segment_io}, "plan": {}, "edgeFunction": {},
        "analyticsNextEnabled": True, "middlewareSettings": {}, "enabledMiddleware": {},
        "metrics": {"sampleRate": 0}, "legacyVideoPluginsEnabled": False, "remotePlugins": [],
    })


@blueprint.route("/v1/m", methods=["POST", "OPTIONS"])
def segment_metrics():
    """analytics.js's own delivery metrics: taken and dropped."""
    return Response(status=204) if request.method == "OPTIONS" else jsonify(SEGMENT_OK)
