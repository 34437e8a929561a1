"""A test-only ClickHouse server: ClickHouse's HTTP interface in front of chdb (the same engine,
in-process), so the real clickhouse-connect client runs end to end against real ClickHouse SQL.

It speaks as much of the interface as clickhouse-connect uses (README of ClickHouse "HTTP
Interface"): `GET /ping`; a query in the `query` URL parameter and/or the body; `param_<name>`
query parameters for `{name:Type}` placeholders; settings as URL parameters (applied to that
request only); `default_format` (clickhouse-connect reads `Native`); an INSERT's rows in the body
in the format its `FORMAT` names, compressed or not (`Content-Encoding: lz4 | zstd | gzip`);
answers with the `X-ClickHouse-Summary`, `-Query-Id`, `-Format` and `-Timezone` headers, and errors
as ClickHouse sends them (status 500/404/400, `X-ClickHouse-Exception-Code`, the text
`Code: N. DB::Exception: …`). Never compressed answers: clickhouse-connect takes them plain.

Run as a process of its own (one chdb per process): `python tests/clickhouse_front.py PORT DIR`
prints `ready` once it answers."""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

# Parameters of the HTTP interface itself, never settings.
HTTP_ONLY = {"query", "database", "default_format", "session_id", "session_timeout", "session_check", "query_id",
             "user", "password", "quota_key", "compress", "decompress", "enable_http_compression",
             "wait_end_of_query", "buffer_size", "http_zlib_compression_level", "send_progress_in_http_headers",
             "http_headers_progress_interval_ms", "client_protocol_version", "cancel_http_readonly_queries_on_client_close",
             "query_kind", "role"}
_CODE = re.compile(rb"Code: (\d+)\.")
_FORMAT_TAIL = re.compile(r"\sFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
_INSERT = re.compile(r"^\s*INSERT\s", re.IGNORECASE)
# ClickHouse's status for a few error codes (the rest are 500): syntax 62, unknown table 60,
# unknown database 81, unknown identifier 47, bad arguments 36.
_STATUS = {62: 400, 47: 400, 36: 400, 60: 404, 81: 404}


class Front:
    def __init__(self, path: str) -> None:
        from chdb import session

        self.session = session.Session(path)
        self.lock = threading.Lock()
        self.settings = {row.split("\t")[0] for row in self._run("SELECT name FROM system.settings", "TSV")[0]
                         .decode().splitlines()}
        self.scratch = tempfile.mkdtemp(prefix="clickhouse-front-")

    def _run(self, sql: str, fmt: str, params: dict | None = None) -> tuple[bytes, object]:
        result = self.session.query(sql, fmt, params=params or None)
        return result.bytes(), result

    def execute(self, params: dict[str, str], body: bytes) -> tuple[bytes, dict]:
        """The answer's bytes and summary; raises the engine's error."""
        sql = params.get("query", "")
        data = b""
        if sql and _INSERT.match(sql) and body:
            data = body
        elif not sql and _INSERT.match(body[:64].decode("latin-1")):
            # The statement's line, then the rows.
            head, _, data = body.partition(b"\n")
            sql = head.decode()
        elif body:
            sql = f"{sql}\n{body.decode()}" if sql else body.decode()
        fmt = params.get("default_format") or "TabSeparated"
        named = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        settings = {k: v for k, v in params.items() if k in self.settings and k not in HTTP_ONLY}
        infile = None
        if data:
            found = _FORMAT_TAIL.search(sql)
            infile = os.path.join(self.scratch, f"{uuid.uuid4().hex}.rows")
            with open(infile, "wb") as out:
                out.write(data)
            head = sql[: found.start()] if found else sql
            sql = f"{head} FROM INFILE '{infile}' FORMAT {found.group(1) if found else 'TabSeparated'}"
        with self.lock:
            try:
                for name, value in settings.items():
                    quoted = value.replace("\\", "\\\\").replace("'", "\\'")
                    self.session.query(f"SET {name} = '{quoted}'", "TSV")
                answer, result = self._run(sql, fmt, named)
            finally:
                for name in settings:
                    self.session.query(f"SET {name} = DEFAULT", "TSV")
                if infile:
                    os.unlink(infile)
        summary = {"read_rows": str(result.rows_read()), "read_bytes": str(result.bytes_read()),
                   "written_rows": str(getattr(result, "rows_written", lambda: 0)()), "written_bytes": "0",
                   "total_rows_to_read": str(result.rows_read()), "result_rows": "0", "result_bytes": str(len(answer)),
                   "elapsed_ns": str(int(result.elapsed() * 1e9))}
        return answer, summary


def _decoded(body: bytes, encoding: str | None) -> bytes:
    if not encoding or not body:
        return body
    # clickhouse-connect compresses each block of an insert as a frame of its own: every frame
    # of the body is read, not only the first.
    if encoding == "lz4":
        import lz4.frame

        out = []
        while body:
            frame = lz4.frame.LZ4FrameDecompressor()
            out.append(frame.decompress(body))
            body = frame.unused_data
        return b"".join(out)
    if encoding == "zstd":
        from backports import zstd

        return zstd.decompress(body)  # reads every frame
    if encoding == "gzip":
        return gzip.decompress(body)
    raise ValueError(f"Content-Encoding {encoding} is not supported here")


def handler_for(front: Front):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            """The request's body: whole (Content-Length) or chunked (clickhouse-connect streams
            an insert's blocks)."""
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            size = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(size) if size else b""

        def _serve(self) -> None:
            url = urlsplit(self.path)
            if url.path.rstrip("/") == "/ping":
                self._answer(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
                return
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            body = self._body()
            query_id = params.get("query_id") or str(uuid.uuid4())
            headers = {"X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Timezone": "UTC",
                       "X-ClickHouse-Server-Display-Name": "clickhouse-front"}
            try:
                answer, summary = front.execute(params, _decoded(body, self.headers.get("Content-Encoding")))
            except Exception as exc:  # noqa: BLE001 - every engine error goes back as ClickHouse's text
                text = str(exc).encode()
                found = _CODE.search(text)
                code = int(found.group(1)) if found else 1001
                if not found:
                    text = f"Code: {code}. DB::Exception: {exc}".encode()
                headers["X-ClickHouse-Exception-Code"] = str(code)
                self._answer(_STATUS.get(code, 500), text + b"\n", {**headers, "Content-Type": "text/plain"})
                return
            headers.update({"X-ClickHouse-Summary": json.dumps(summary),
                            "X-ClickHouse-Format": params.get("default_format") or "TabSeparated",
                            "Content-Type": "application/octet-stream"})
            self._answer(200, answer, headers)

        do_GET = do_POST = _serve

    return Handler


def main(argv: list[str]) -> None:
    port, path = int(argv[1]), argv[2]
    front = Front(path)
    server = ThreadingHTTPServer(("127.0.0.1", port), handler_for(front))
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
