"""This service as a destination: records become events in the ingest API's fields and go out
through a transport (gRPC or HTTP, see `transports`).

track → an event; identify → `$identify` with `properties.$set` (the service links
`anonymous_id` → `user_id` and merges the traits); alias → `$alias` with `anonymous_id` =
previous id. `timestamp` is epoch milliseconds and `context.library` names this SDK.
"""

from __future__ import annotations

from .. import transports
from ..messages import ALIAS, IDENTIFY, LIBRARY, message_id
from .base import Destination


def reactor_event(record: dict) -> dict:
    kind = record["type"]
    event = {"event": record["event"], "message_id": message_id(record),
             "timestamp": round(record["timestamp"] * 1000, 3)}
    if kind == ALIAS:
        event["anonymous_id"] = record["previous_id"]
    elif record["anonymous_id"] is not None:
        event["anonymous_id"] = record["anonymous_id"]
    if record["user_id"] is not None:
        event["user_id"] = record["user_id"]
    if kind == IDENTIFY:
        if record["properties"]:
            event["properties"] = {"$set": record["properties"]}
    elif record["properties"]:
        event["properties"] = record["properties"]
    event["context"] = {**record["context"], "library": LIBRARY} if record["context"] else {"library": LIBRARY}
    return event


class ReactorDestination(Destination):
    name = "reactor"
    max_batch_events = 100

    def __init__(self, url: str, token: str | None = None, *, project: str | None = None,
                 transport: str | None = None, timeout: float = 10.0):
        self.transport_name = transport or transports.default_name(url)
        self.transport = transports.create(self.transport_name, url=url, token=token, project=project,
                                           timeout=timeout)

    def send(self, batch):
        return self.transport.send_batch([reactor_event(r) for r in batch])

    def close(self):
        self.transport.close()
