"""Mixpanel's ingestion API: `POST {api_host}/track` and `/engage`, JSON arrays.

Events: `{event, properties: {token, distinct_id, time (epoch ms), $insert_id, …}}`; Mixpanel
drops a retried duplicate by `$insert_id`. When both ids are known the event also carries
`$user_id` / `$device_id` (Mixpanel's simplified identity merge). identify → a `$identify`
event (`$identified_id`, `$anon_id`) when an anonymous id is given, and the traits as a
profile update `{$token, $distinct_id, $set}` on /engage; alias → `$create_alias`
(`distinct_id` = previous id, `alias` = the new one). Requests carry `verbose=1` (answer
`{"status": 1, "error": null}`) and `ip=0` (do not geolocate this server's address).
Env: MIXPANEL_TOKEN (required), MIXPANEL_API_HOST (default https://api.mixpanel.com).
"""

from __future__ import annotations

from ..errors import PermanentError
from ..http import post, require_success
from ..messages import ALIAS, IDENTIFY, insert_id, millis
from .base import Destination, encode_each, json_array, pack

DEFAULT_HOST = "https://api.mixpanel.com"
MAX_EVENTS = 2000
MAX_BODY_BYTES = 2 * 1024 * 1024


class MixpanelDestination(Destination):
    name = "mixpanel"
    max_batch_events = MAX_EVENTS

    def __init__(self, token: str, api_host: str | None = None, *, timeout: float = 10.0):
        if not token:
            raise ValueError("Mixpanel needs a project token (MIXPANEL_TOKEN)")
        self.token = token
        self.host = (api_host or DEFAULT_HOST).rstrip("/")
        self.timeout = timeout

    def _event(self, record: dict, name: str, properties: dict, distinct: str) -> dict:
        return {"event": name, "properties": {**properties, "token": self.token, "distinct_id": distinct,
                                              "time": millis(record["timestamp"]),
                                              "$insert_id": insert_id(record)}}

    def send(self, batch):
        events, profiles = [], []
        for record in batch:
            kind, user_id, anonymous_id = record["type"], record["user_id"], record["anonymous_id"]
            if kind == IDENTIFY:
                if anonymous_id is not None:
                    events.append(self._event(record, "$identify", {"$identified_id": user_id,
                                                                    "$anon_id": anonymous_id}, user_id))
                if record["properties"]:
                    profiles.append({"$token": self.token, "$distinct_id": user_id, "$set": record["properties"]})
            elif kind == ALIAS:
                events.append(self._event(record, "$create_alias", {"alias": user_id}, record["previous_id"]))
            else:
                properties = record["properties"] or {}
                if user_id is not None and anonymous_id is not None:
                    properties = {**properties, "$user_id": user_id, "$device_id": anonymous_id}
                events.append(self._event(record, record["event"], properties, user_id or anonymous_id))
        refused = 0
        for path, items in (("/track", events), ("/engage", profiles)):
            if items:
                parts = encode_each(items, self.name)
                refused += len(items) - len(parts)
                for group in pack(parts, MAX_BODY_BYTES, MAX_EVENTS):
                    self._post(path, json_array(group))
        return refused

    def _post(self, path: str, body: bytes) -> None:
        url = f"{self.host}{path}?verbose=1&ip=0"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        response = require_success(post(url, body, headers, self.timeout, "Mixpanel"), "Mixpanel", ok=(200,))
        answer = response.json()
        if not isinstance(answer, dict) or answer.get("status") != 1:
            error = answer.get("error") if isinstance(answer, dict) else response.body[:200]
            raise PermanentError(f"Mixpanel {path} refused the batch: {error}")
