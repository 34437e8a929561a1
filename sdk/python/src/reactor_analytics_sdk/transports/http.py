"""The reactor destination over HTTP: `POST {url}/analytics/v1/batch`.

Body `{"sent_at": <epoch ms>, "batch": [event, …]}` (at most 100 events and 1 MiB, as the
service accepts), with `Authorization: Bearer <token>` (a JWT with
`analytics:{project}:ingest`) and `X-Reactor-Project` when a project is named. A project key
(`rapk_…`) as token goes in `X-Reactor-Project-Key` instead. `sent_at` is stamped on every
attempt, so the service's clock-skew correction stays right even for a batch retried late.
"""

from __future__ import annotations

import logging
import time

from ..destinations.base import encode_each, pack
from ..errors import PermanentError
from ..http import post, require_success

log = logging.getLogger("reactor_analytics_sdk")

MAX_BATCH_EVENTS = 100
MAX_BODY_BYTES = 1024 * 1024
_ENVELOPE_BYTES = 64  # `{"sent_at":…,"batch":[` and `]}`


class HttpTransport:
    def __init__(self, *, url: str, token: str | None = None, project: str | None = None,
                 timeout: float = 10.0, max_body_bytes: int = MAX_BODY_BYTES):
        if not url:
            raise ValueError("the reactor destination needs the service's url")
        self.url = url.rstrip("/") + "/analytics/v1/batch"
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self.headers = {"Content-Type": "application/json"}
        if token and token.startswith("rapk_"):
            self.headers["X-Reactor-Project-Key"] = token
        elif token:
            self.headers["Authorization"] = f"Bearer {token}"
        if project:
            self.headers["X-Reactor-Project"] = project

    def send_batch(self, events: list[dict]) -> int:
        parts = encode_each(events, "reactor")
        refused = len(events) - len(parts)
        for group in pack(parts, self.max_body_bytes - _ENVELOPE_BYTES, MAX_BATCH_EVENTS):
            refused += self._post(group)
        return refused

    def _post(self, group: list[bytes]) -> int:
        body = b'{"sent_at":%d,"batch":[%s]}' % (int(time.time() * 1000), b",".join(group))
        response = require_success(post(self.url, body, self.headers, self.timeout, "reactor"), "reactor")
        if response.status == 204:  # the service dropped the batch (Do-Not-Track)
            return len(group)
        answer = response.json()
        if not isinstance(answer, dict) or not isinstance(answer.get("data"), dict):
            raise PermanentError(f"reactor answered {response.status} without a batch result")
        rejected = answer["data"].get("rejected") or []
        for rejection in rejected:
            log.warning("analytics destination reactor: event %s refused: %s", rejection.get("index"),
                        {k: v for k, v in rejection.items() if k != "index"})
        return len(rejected)

    def close(self) -> None:
        pass
