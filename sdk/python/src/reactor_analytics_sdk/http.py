"""POSTing a body and sorting the answer into delivered / retry / give up (stdlib only).

Only the sender threads call this. Redirects are not followed (a redirected POST would lose
its body); proxies from the environment (HTTPS_PROXY, …) are honoured as urllib does.
"""

from __future__ import annotations

import email.utils
import http.client
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from . import __version__
from .errors import PermanentError, RetryableError
from .messages import loads

USER_AGENT = f"reactor-analytics-python/{__version__}"

# Worth retrying: timeouts, rate limits and server trouble (not 501/505: they will not change).
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 507, 508, 509, 520, 521, 522, 523, 524})


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict = field(default_factory=dict)

    def json(self):
        try:
            return loads(self.body)
        except ValueError:
            return None


def post(url: str, body: bytes, headers: dict, timeout: float, what: str) -> Response:
    """One POST. Network trouble (refused, reset, timed out) is a RetryableError."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"User-Agent": USER_AGENT, **headers})
    try:
        with _opener.open(request, timeout=timeout) as answer:
            return Response(answer.status, answer.read(), dict(answer.headers.items()))
    except urllib.error.HTTPError as exc:
        try:
            data = exc.read() or b""
        except Exception:
            data = b""
        return Response(exc.code, data, dict(exc.headers.items()) if exc.headers else {})
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise RetryableError(f"{what}: {type(reason).__name__}: {reason}") from None


def require_success(response: Response, what: str, ok=range(200, 300)) -> Response:
    """The response if its status is in `ok`; else RetryableError or PermanentError."""
    if response.status in ok:
        return response
    status = response.status
    message = f"{what} answered {status}{_detail(response)}"
    # An unexpected 2xx is retried, as the vendors' own SDKs do (PostHog acknowledges only with 200).
    if status in RETRYABLE_STATUSES or 200 <= status < 300 or (status >= 500 and status not in (501, 505)):
        raise RetryableError(message, retry_after=retry_after(response.headers))
    raise PermanentError(message)


def retry_after(headers: dict) -> float | None:
    """`Retry-After` in seconds (delta-seconds or an HTTP date), if the answer had one."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _detail(response: Response) -> str:
    """A short hint from the answer's body (error codes, never the request)."""
    text = response.body[:300].decode("utf-8", "replace").strip()
    return f": {text}" if text else ""
