"""Amplitude's HTTP V2 API: `POST {api_host}/2/httpapi` with `{"api_key", "events", "options"?}`.

Each event: `event_type`, `user_id` and/or `device_id` (the anonymous id), `time` (epoch ms),
`insert_id` (Amplitude drops a retried duplicate by it) and `event_properties`. identify →
`event_type: "$identify"` with `user_properties: {"$set": traits}`; with both ids it also
ties the device to the user. Amplitude has no alias in this API, so alias records are not
sent here. Ids shorter than Amplitude's 5-character minimum are allowed through
`options.min_id_length`. Success is 200 with `code: 200` in the body (what Amplitude's own
SDK checks); 429 and 5xx are retried, other 4xx given up.
Env: AMPLITUDE_API_KEY (required), AMPLITUDE_API_HOST (default https://api2.amplitude.com;
https://api.eu.amplitude.com for EU residency).
"""

from __future__ import annotations

import logging

from ..errors import PermanentError
from ..http import post, require_success
from ..messages import ALIAS, IDENTIFY, dumps, message_id, millis
from .base import Destination, encode_each, pack

log = logging.getLogger("reactor_analytics_sdk")

DEFAULT_HOST = "https://api2.amplitude.com"
MAX_EVENTS = 2000
MAX_BODY_BYTES = 1000 * 1000
DEFAULT_MIN_ID_LENGTH = 5


def amplitude_event(record: dict) -> dict:
    event = {"event_type": "$identify" if record["type"] == IDENTIFY else record["event"],
             "time": millis(record["timestamp"]), "insert_id": message_id(record)}
    if record["user_id"] is not None:
        event["user_id"] = record["user_id"]
    if record["anonymous_id"] is not None:
        event["device_id"] = record["anonymous_id"]
    if record["type"] == IDENTIFY:
        event["user_properties"] = {"$set": record["properties"] or {}}
    elif record["properties"]:
        event["event_properties"] = record["properties"]
    return event


class AmplitudeDestination(Destination):
    name = "amplitude"
    max_batch_events = MAX_EVENTS

    def __init__(self, api_key: str, api_host: str | None = None, *, timeout: float = 10.0):
        if not api_key:
            raise ValueError("Amplitude needs an api_key (AMPLITUDE_API_KEY)")
        self._api_key_json = dumps(api_key)
        self.url = (api_host or DEFAULT_HOST).rstrip("/") + "/2/httpapi"
        self.timeout = timeout

    def send(self, batch):
        events = [amplitude_event(r) for r in batch if r["type"] != ALIAS]
        if len(events) < len(batch):
            log.debug("analytics destination amplitude: %d alias records not sent (no alias in HTTP V2)",
                      len(batch) - len(events))
        if not events:
            return 0
        parts = encode_each(events, self.name)
        shortest = min((len(e[k]) for e in events for k in ("user_id", "device_id") if k in e),
                       default=DEFAULT_MIN_ID_LENGTH)
        for group in pack(parts, MAX_BODY_BYTES - 200, MAX_EVENTS):
            self._post(group, shortest)
        return len(events) - len(parts)

    def _post(self, group: list[bytes], shortest_id: int) -> None:
        options = b""
        if shortest_id < DEFAULT_MIN_ID_LENGTH:
            options = b',"options":{"min_id_length":%d}' % max(1, shortest_id)
        body = b'{"api_key":%s,"events":[%s]%s}' % (self._api_key_json, b",".join(group), options)
        response = post(self.url, body, {"Content-Type": "application/json", "Accept": "*/*"}, self.timeout,
                        "Amplitude")
        require_success(response, "Amplitude", ok=(200,))
        answer = response.json()
        if isinstance(answer, dict) and answer.get("code", 200) != 200:
            raise PermanentError(f"Amplitude answered code {answer.get('code')}: {answer.get('error')}")

