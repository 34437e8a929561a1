"""Structured logs: the `[tracing] filter` directives and the pretty format."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from reactor_analytics.observability.logging import level_for


def test_filter_directives_pick_the_most_specific_level():
    assert level_for("info") == logging.INFO
    assert level_for("warn") == logging.WARNING
    assert level_for("info,reactor_auth=debug,reactor_data=warn") == logging.INFO
    assert level_for("error,reactor_analytics=debug") == logging.DEBUG
    assert level_for("debug,reactor=warn,reactor_analytics.http=error", "reactor_analytics.http") == logging.ERROR


def _emit(fmt: str, tmp_path) -> tuple[str, str]:
    code = (
        "from pathlib import Path; import structlog;"
        "from reactor_analytics.observability.logging import configure;"
        f"configure({fmt!r}, 'info', Path({str(tmp_path / 'l.jsonl')!r}));"
        "structlog.get_logger(target='reactor_analytics.test').info('hello', status=200)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return out, (tmp_path / "l.jsonl").read_text()


def test_pretty_format_prints_text_but_the_shared_file_stays_json(tmp_path):
    out, shared = _emit("pretty", tmp_path)
    assert "INFO" in out and "hello" in out and "status=200" in out and not out.startswith("{")
    assert json.loads(shared)["fields"] == {"message": "hello", "status": 200}


def test_json_format_is_one_reactor_line(tmp_path):
    out, _ = _emit("json", tmp_path)
    line = json.loads(out)
    assert line["level"] == "INFO" and line["target"] == "reactor_analytics.test"
    assert line["fields"] == {"message": "hello", "status": 200}
