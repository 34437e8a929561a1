"""Edges of the operations surface found by probing: the log stream's resume offset, chunked
bodies over the size limit, and a token for /metrics."""

from __future__ import annotations

import uuid

import requests

from conftest import ADMIN


def _sse_ids(text: str) -> list[int]:
    return [int(line[len("id: "):]) for line in text.splitlines() if line.startswith("id: ")]


def test_a_log_offset_past_the_end_of_the_file_restarts_the_stream_from_its_beginning(live_server):
    """A Last-Event-ID past the end (the file was rotated since, or the id is made up) is read like
    a rotation: the stream starts over at the current file's first line. Offsets past the largest
    file the filesystem allows made seek() fail inside the stream."""
    logs = f"{live_server.url}/_admin/logs"
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    requests.get(f"{live_server.url}/health", headers={"X-Request-Id": request_id}, timeout=10)
    whole = requests.get(logs, headers=ADMIN, timeout=10).text
    assert request_id in whole
    first, last = _sse_ids(whole)[0], _sse_ids(whole)[-1]
    for offset in ("999999999999999999", str(10 ** 15), str(last + 10 ** 9)):
        answer = requests.get(logs, headers={**ADMIN, "Last-Event-ID": offset}, timeout=10)
        assert answer.status_code == 200
        text = answer.text  # a stream broken by the server fails here (ChunkedEncodingError)
        assert request_id in text, offset
        assert _sse_ids(text)[0] == first, offset
    # More digits than any file offset: refused before the stream starts.
    refused = requests.get(logs, headers={**ADMIN, "Last-Event-ID": "9" * 30}, timeout=10)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "analytics.invalid_request"
    # An offset inside the file still resumes right after it.
    resumed = requests.get(logs, headers={**ADMIN, "Last-Event-ID": str(last)}, timeout=10).text
    assert request_id not in resumed and all(i > last for i in _sse_ids(resumed))
