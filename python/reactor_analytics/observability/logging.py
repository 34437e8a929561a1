"""structlog set-up: JSON lines `{timestamp, level, target, fields}` or pretty console output.

Nothing that identifies a person or a credential is ever logged: no IP, key, token or body.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import orjson
import structlog

from ..config import Config
from .logstream import LogFile

_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "warning": logging.WARNING, "error": logging.ERROR}


def log_path(config: Config) -> Path:
    """The service's log file, which every process writes and `/_admin/logs` reads."""
    return Path(config.data_dir) / "logs" / "reactor.jsonl"


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


def _pretty(record: dict) -> str:
    fields = dict(record["fields"])
    message = fields.pop("message", "")
    rest = " ".join(f"{k}={v}" for k, v in fields.items())
    return f"{record['timestamp']} {record['level']:<7} {record['target']}: {message} {rest}".rstrip()


def _renderer(fmt: str, sink: LogFile | None):
    """Render the line as JSON, append it to the shared log file, and print JSON or pretty text."""

    def render(_, __, record: dict) -> str:
        line = orjson.dumps(record, default=str)
        if sink is not None:
            sink.write(line)
        return _pretty(record) if fmt == "pretty" else line.decode()

    return render


def level_for(level_filter: str, target: str = "reactor_analytics") -> int:
    """The level a `[tracing] filter` such as "info,reactor_analytics=debug" sets for our target:
    the most specific `target=level` directive that prefixes it, else the bare default."""
    default, best, best_len = logging.INFO, None, -1
    for directive in (d.strip() for d in level_filter.split(",") if d.strip()):
        name, sep, value = directive.rpartition("=")
        if not sep:
            default = _LEVELS.get(directive.lower(), default)
        elif target.startswith(name) and len(name) > best_len:
            best, best_len = _LEVELS.get(value.strip().lower()), len(name)
    return best if best is not None else default


def configure(fmt: str = "json", level_filter: str = "info", log_file: Path | None = None,
              log_file_max_bytes: int = 50 * 1024 * 1024) -> None:
    level = level_for(level_filter)
    processors = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _reactor_shape,
        _renderer(fmt, LogFile(log_file, log_file_max_bytes) if log_file else None),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )


def configure_from(config: Config) -> None:
    """Logging as `[tracing]` asks, into the service's log file."""
    configure(config.tracing.fmt, config.tracing.filter, log_path(config), config.tracing.log_file_max_bytes)
