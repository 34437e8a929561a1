"""A generic webhook: `POST {url}` with `{"sentAt": ISO-8601, "batch": [event, …]}` as JSON.

Events use the tracking reference's names (`event`, `properties`, `userId`, `timestamp`;
`traits` for identify) plus `type`, `anonymousId`, `previousId`, `messageId` (stable across
retries, for deduplication) and `context`; see `base.public_event`. Any 2xx is success.
Env: TRACKING_WEBHOOK_URL (required), TRACKING_WEBHOOK_AUTH (sent as the Authorization header).
"""

from __future__ import annotations

from ..http import post, require_success
from ..messages import dumps
from .base import Destination, encode_each, now_iso, public_event


class WebhookDestination(Destination):
    name = "webhook"

    def __init__(self, url: str, auth: str | None = None, *, timeout: float = 10.0):
        if not url:
            raise ValueError("the webhook needs a url (TRACKING_WEBHOOK_URL)")
        self.url = url
        self.headers = {"Content-Type": "application/json"}
        if auth:
            self.headers["Authorization"] = auth
        self.timeout = timeout

    def send(self, batch):
        parts = encode_each([public_event(r) for r in batch], self.name)
        if not parts:
            return len(batch)
        body = b'{"sentAt":%s,"batch":[%s]}' % (dumps(now_iso()), b",".join(parts))
        require_success(post(self.url, body, self.headers, self.timeout, "webhook"), "webhook")
        return len(batch) - len(parts)
