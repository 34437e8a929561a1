"""Where events go: this service, PostHog, Mixpanel, Amplitude, a webhook, or your own.

Built-in ones are created by name (`create("posthog", api_key=…)`) or, as the tracking
reference has it, from the environment: set the variable and the destination is there.
"""

from __future__ import annotations

from collections.abc import Mapping

from .amplitude import AmplitudeDestination
from .base import Destination, adapt, public_event
from .mixpanel import MixpanelDestination
from .posthog import PostHogDestination
from .reactor import ReactorDestination
from .webhook import WebhookDestination

BUILTIN = {
    "reactor": ReactorDestination,
    "posthog": PostHogDestination,
    "mixpanel": MixpanelDestination,
    "amplitude": AmplitudeDestination,
    "webhook": WebhookDestination,
}

__all__ = ["BUILTIN", "Destination", "adapt", "create", "from_env", "public_event", *[
    c.__name__ for c in BUILTIN.values()]]


def create(name: str, **options) -> Destination:
    try:
        cls = BUILTIN[name]
    except KeyError:
        raise ValueError(f"unknown destination {name!r} (built in: {', '.join(BUILTIN)})") from None
    return cls(**options)


def from_env(env: Mapping[str, str], *, timeout: float = 10.0) -> list[Destination]:
    """The third-party destinations whose variables are set (the reactor one is configured by
    `Analytics`, which also reads REACTOR_URL / REACTOR_TOKEN / REACTOR_PROJECT)."""
    found: list[Destination] = []
    if env.get("POSTHOG_API_KEY"):
        found.append(PostHogDestination(env["POSTHOG_API_KEY"], env.get("POSTHOG_HOST") or None, timeout=timeout))
    if env.get("MIXPANEL_TOKEN"):
        found.append(MixpanelDestination(env["MIXPANEL_TOKEN"], env.get("MIXPANEL_API_HOST") or None,
                                         timeout=timeout))
    if env.get("AMPLITUDE_API_KEY"):
        found.append(AmplitudeDestination(env["AMPLITUDE_API_KEY"], env.get("AMPLITUDE_API_HOST") or None,
                                          timeout=timeout))
    if env.get("TRACKING_WEBHOOK_URL"):
        found.append(WebhookDestination(env["TRACKING_WEBHOOK_URL"], env.get("TRACKING_WEBHOOK_AUTH") or None,
                                        timeout=timeout))
    return found
