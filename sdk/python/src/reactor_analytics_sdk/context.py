"""`ctx.analytics` for server code (Functions, Jobs, Sites): the shared client's calls with
the current caller's identity and defaults filled in.

    ctx.analytics = AnalyticsContext(analytics, user_id=request_user, properties={"function": "checkout"})
    ctx.analytics.track("order.completed", {"total": 49.99})   # user_id and function filled in
    ctx.analytics.identify(traits={"plan": "pro"})             # the current user
    ctx.analytics.alias(previous_id=anonymous_id)              # … is the current user

Arguments given to a call win over the defaults. Like the client, it never raises.
"""

from __future__ import annotations

import logging

log = logging.getLogger("reactor_analytics_sdk")


class AnalyticsContext:
    __slots__ = ("analytics", "user_id", "anonymous_id", "properties", "context")

    def __init__(self, analytics, *, user_id: str | None = None, anonymous_id: str | None = None,
                 properties: dict | None = None, context: dict | None = None):
        self.analytics = analytics
        self.user_id = user_id
        self.anonymous_id = anonymous_id
        self.properties = properties or None   # merged under every track()'s own properties
        self.context = context or None         # merged under every call's own context

    def bind(self, **defaults) -> "AnalyticsContext":
        """A copy with some defaults changed (e.g. `bind(user_id=…)` once a user signs in)."""
        merged = {"user_id": self.user_id, "anonymous_id": self.anonymous_id, "properties": self.properties,
                  "context": self.context, **defaults}
        return AnalyticsContext(self.analytics, **merged)

    def track(self, event=None, properties=None, **options) -> None:
        try:
            if self.properties:
                properties = {**self.properties, **(properties or {})}
            if "user_id" not in options and "distinct_id" not in options and self.user_id is not None:
                options["user_id"] = self.user_id
            if "anonymous_id" not in options and self.anonymous_id is not None:
                options["anonymous_id"] = self.anonymous_id
            self._merge_context(options)
        except Exception as exc:  # e.g. properties that are not a mapping: the client counts it
            log.debug("ctx.analytics.track: %s", exc)
        self.analytics.track(event, properties, **options)

    def identify(self, user_id=None, traits=None, **options) -> None:
        if user_id is None and "distinct_id" not in options:
            user_id = self.user_id
        if "anonymous_id" not in options and self.anonymous_id is not None:
            options["anonymous_id"] = self.anonymous_id
        self._merge_context(options)
        self.analytics.identify(user_id, traits, **options)

    def alias(self, previous_id=None, user_id=None, **options) -> None:
        previous_id = self.anonymous_id if previous_id is None else previous_id
        user_id = self.user_id if user_id is None else user_id
        self._merge_context(options)
        self.analytics.alias(previous_id, user_id, **options)

    def flush(self, timeout: float | None = 30.0) -> bool:
        return self.analytics.flush(timeout)

    def _merge_context(self, options: dict) -> None:
        if self.context:
            given = options.get("context")
            options["context"] = {**self.context, **given} if isinstance(given, dict) else (given or self.context)
