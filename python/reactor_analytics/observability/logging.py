"""structlog set-up: JSON lines `{timestamp, level, target, fields}` or pretty console output.

Nothing that identifies a person or a credential is ever logged: no IP, key, token or body.
"""

from __future__ import annotations

import logging
import sys

import orjson
import structlog

_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "warning": logging.WARNING, "error": logging.ERROR}


def _reactor_shape(_, method_name: str, event_dict: dict) -> dict:
    timestamp = event_dict.pop("timestamp", None)
    level = event_dict.pop("level", method_name).upper()
    target = event_dict.pop("logger", None) or event_dict.pop("target", "reactor_analytics")
    message = event_dict.pop("event", "")
    exc = event_dict.pop("exception", None)
    fields = {"message": message, **event_dict}
    if exc:
        fields["exception"] = exc
    return {"timestamp": timestamp, "level": level, "target": target, "fields": fields}


def _render(_, __, event_dict: dict) -> str:
    return orjson.dumps(event_dict, default=str).decode()


def configure(fmt: str = "json", level_filter: str = "info") -> None:
    base = level_filter.split(",")[0].strip().lower() or "info"
    level = _LEVELS.get(base, logging.INFO)
    processors = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "pretty":
        processors.append(structlog.dev.ConsoleRenderer())
    else:
        processors += [structlog.processors.format_exc_info, _reactor_shape, _render]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
