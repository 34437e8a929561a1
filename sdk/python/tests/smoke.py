"""Smoke test of the installed SDK on the Python running it, with nothing of the service around:
track/identify/alias reach a recording HTTP server (the reactor destination and a webhook), and
with `--grpc` a recording gRPC server built from the SDK's own generated modules.

    python tests/smoke.py [--grpc]

Standard library only (plus the `grpc` extra with --grpc), so it runs in a bare virtualenv of any
supported Python; tests/test_sdk_package.py in the repository runs it on 3.9 and 3.13. Exits 0
and prints one line when everything arrived as sent.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Recorder:
    """An HTTP server on 127.0.0.1 that keeps every POST and answers as the service does."""

    def __init__(self):
        self.requests: list[tuple[str, dict, object]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                recorder.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                answer = {"data": {"accepted": len(body.get("batch", [])), "rejected": []}}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def check_http() -> None:
    from reactor_analytics_sdk import Analytics, AnalyticsContext, __version__

    recorder = Recorder()
    try:
        analytics = Analytics(url=recorder.url, token="smoke-jwt", project="web-prod", env={},
                              flush_at=100, flush_interval=60)
        analytics.register_destination("webhook", url=recorder.url + "/hook")
        ctx = AnalyticsContext(analytics, user_id="u_42", properties={"function": "checkout"})
        # ISO-8601 with `Z` and a one-digit fraction: what Python 3.11 reads and 3.9 did not.
        ctx.track("order_paid", {"cents": 1999}, timestamp="2024-05-01T10:00:00.5Z")
        analytics.identify("u_42", {"plan": "pro"}, anonymous_id="anon_01")
        analytics.alias("anon_02", "u_42")
        assert analytics.flush(10), analytics.stats()
        assert analytics.close(10)
    finally:
        recorder.close()

    by_path = {path: (headers, body) for path, headers, body in recorder.requests}
    assert set(by_path) == {"/analytics/v1/batch", "/hook"}, recorder.requests
    headers, body = by_path["/analytics/v1/batch"]
    assert headers["authorization"] == "Bearer smoke-jwt" and headers["x-reactor-project"] == "web-prod", headers
    assert headers["user-agent"] == f"reactor-analytics-python/{__version__}", headers
    track, identify, alias = body["batch"]
    expected_ms = datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=timezone.utc).timestamp() * 1000
    assert (track["event"], track["user_id"], track["properties"], track["timestamp"]) == (
        "order_paid", "u_42", {"function": "checkout", "cents": 1999}, expected_ms), track
    assert track["context"]["library"] == {"name": "reactor-analytics-python", "version": __version__}
    assert (identify["event"], identify["anonymous_id"], identify["properties"]) == (
        "$identify", "anon_01", {"$set": {"plan": "pro"}}), identify
    assert (alias["event"], alias["anonymous_id"], alias["user_id"]) == ("$alias", "anon_02", "u_42"), alias
    assert len({e["message_id"] for e in body["batch"]}) == 3
    hook = by_path["/hook"][1]["batch"]
    assert [e["type"] for e in hook] == ["track", "identify", "alias"], hook
    assert [e["messageId"] for e in hook] == [e["message_id"] for e in body["batch"]]
    assert "grpc" not in sys.modules, "the HTTP transport imported grpc"


def check_grpc() -> str:
    from concurrent import futures

    import grpc
    from google.protobuf import __version__ as protobuf_version

    from reactor_analytics_sdk import Analytics
    from reactor_analytics_sdk.transports.gen import analytics_pb2 as pb
    from reactor_analytics_sdk.transports.gen import analytics_pb2_grpc as pb_grpc

    received: list[tuple[str, str, list]] = []

    class Servicer(pb_grpc.AnalyticsServicer):
        def Batch(self, request, context):
            metadata = dict(context.invocation_metadata())
            received.append((metadata.get("authorization"), request.project, list(request.events)))
            return pb.IngestReply(accepted=len(request.events))

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_AnalyticsServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        analytics = Analytics(url=f"grpc://127.0.0.1:{port}", token="smoke-jwt", project="web-prod", env={},
                              flush_at=100, flush_interval=60)
        assert analytics.list_destinations() == ["reactor"]
        for i in range(3):
            analytics.track("grpc_event", {"i": i}, anonymous_id="anon_1")
        assert analytics.flush(10), analytics.stats()
        assert analytics.close(10)
    finally:
        server.stop(None)
    events = [e for _, _, batch in received for e in batch]
    assert {(auth, project) for auth, project, _ in received} == {("Bearer smoke-jwt", "web-prod")}, received
    assert [json.loads(e.properties)["i"] for e in events] == [0, 1, 2], events
    assert all(e.anonymous_id == "anon_1" and e.message_id and e.timestamp for e in events), events
    return f"grpcio {grpc.__version__}, protobuf {protobuf_version}"


def main(argv: list[str]) -> int:
    present = [name for name in ("reactor_analytics", "flask", "psycopg")
               if importlib.util.find_spec(name) is not None]
    assert not present, f"this smoke test runs without the service, but {present} are installed"
    check_http()
    versions = check_grpc() if "--grpc" in argv else "no gRPC"
    print(f"reactor-analytics-sdk smoke ok on Python {platform.python_version()} ({versions})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
