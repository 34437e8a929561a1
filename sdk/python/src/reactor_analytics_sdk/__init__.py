"""Reactor Analytics' Python server-side SDK: `track()` from any server code, fanned out to the
Reactor Analytics service and to PostHog, Mixpanel, Amplitude or a webhook, without blocking and
without ever raising. Pure Python (3.9+), standard library only; gRPC with the `grpc` extra.

    from reactor_analytics_sdk import Analytics
    analytics = Analytics(url="https://reactor.example.com", token=jwt, project="web-prod")
    analytics.track("order.completed", {"total": 49.99}, user_id="u_42")

Module-level `track`/`identify`/`alias`/`flush`/`register_destination` use one shared client
configured from the environment, as the tracking reference's global functions do.
"""

from __future__ import annotations

# Before the imports below: `messages` and `http` name the SDK's version in what they send.
__version__ = "0.1.0"

import threading  # noqa: E402

from .analytics import Analytics  # noqa: E402
from .context import AnalyticsContext  # noqa: E402
from .destinations import Destination  # noqa: E402
from .errors import DeliveryError, PermanentError, RetryableError  # noqa: E402

__all__ = [
    "Analytics", "AnalyticsContext", "Destination", "DeliveryError", "PermanentError", "RetryableError",
    "__version__", "alias", "default", "flush", "identify", "list_destinations", "register_destination", "track",
    "unregister_destination",
]

_default: Analytics | None = None
_default_lock = threading.Lock()


def default() -> Analytics:
    """The shared client, created from the environment on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Analytics()
    return _default


def track(event=None, properties=None, **options) -> None:
    default().track(event, properties, **options)


def identify(user_id=None, traits=None, **options) -> None:
    default().identify(user_id, traits, **options)


def alias(previous_id=None, user_id=None, **options) -> None:
    default().alias(previous_id, user_id, **options)


def flush(timeout: float | None = 30.0) -> bool:
    return default().flush(timeout)


def register_destination(target, name: str | None = None, **options) -> str:
    return default().register_destination(target, name, **options)


def unregister_destination(name: str) -> bool:
    return default().unregister_destination(name)


def list_destinations() -> list[str]:
    return default().list_destinations()
