"""PostHog's capture API: `POST {host}/batch/` with `{"api_key", "historical_migration", "batch"}`.

Each event is `{event, distinct_id, properties, timestamp (ISO-8601), uuid}`, the uuid letting
PostHog drop a retried duplicate. identify → `$identify` with `properties.$set` (and
`$anon_distinct_id`, which merges the anonymous id, when one is given); alias →
`$create_alias` whose `distinct_id` (the previous id) is merged into `properties.alias`.
PostHog acknowledges with exactly 200; anything else is retried or given up by status.
Env: POSTHOG_API_KEY (required), POSTHOG_HOST (default https://us.i.posthog.com).
"""

from __future__ import annotations

from ..http import post, require_success
from ..messages import ALIAS, IDENTIFY, distinct_id, dumps, iso, message_uuid
from .base import Destination, encode_each

DEFAULT_HOST = "https://us.i.posthog.com"


def posthog_event(record: dict) -> dict:
    kind = record["type"]
    if kind == IDENTIFY:
        properties = {"$set": record["properties"] or {}}
        if record["anonymous_id"] is not None:
            properties["$anon_distinct_id"] = record["anonymous_id"]
        event, who = "$identify", record["user_id"]
    elif kind == ALIAS:
        event, who, properties = "$create_alias", record["previous_id"], {"alias": record["user_id"]}
    else:
        event, who, properties = record["event"], distinct_id(record), record["properties"] or {}
    return {"event": event, "distinct_id": who, "properties": properties,
            "timestamp": iso(record["timestamp"]), "uuid": message_uuid(record)}


class PostHogDestination(Destination):
    name = "posthog"

    def __init__(self, api_key: str, host: str | None = None, *, timeout: float = 10.0):
        if not api_key:
            raise ValueError("PostHog needs an api_key (POSTHOG_API_KEY)")
        self._api_key_json = dumps(api_key)
        self.url = (host or DEFAULT_HOST).rstrip("/") + "/batch/"
        self.timeout = timeout

    def send(self, batch):
        parts = encode_each([posthog_event(r) for r in batch], self.name)
        if not parts:
            return len(batch)
        envelope = b'{"api_key":%s,"historical_migration":false,"batch":[%s]}' % (
            self._api_key_json, b",".join(parts))
        response = post(self.url, envelope, {"Content-Type": "application/json"}, self.timeout, "PostHog")
        require_success(response, "PostHog", ok=(200,))
        return len(batch) - len(parts)

