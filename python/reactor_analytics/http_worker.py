"""The gunicorn worker the service runs: gthread, with whole requests read before a thread runs them.

gunicorn's gthread worker hands a connection to a thread as soon as its first byte arrives; the
thread then blocks reading the rest, so a few clients sending a byte a second hold every thread and
the service stops answering (slowloris). Here the worker's event loop reads each request's header
block and body without blocking, buffering them, and submits the connection to the thread pool only
when the request is complete. A client that is slow therefore costs a buffer, not a thread, and a
request not complete within `request_read_timeout_s` is answered 408 and closed.

Requests the buffer does not hold (a header block over the parser's limits, a body past the service's
body limit plus slack) are handed to the thread as they are, where gunicorn answers 400 and the
application 413 from the declared length.

The workers also share their connections out evenly. A client keeps its connection (keep-alive),
so the worker that accepted it runs all of its requests; left to the kernel, whichever worker wakes
first accepts, and six connections over four workers were seen to land three on one of them, whose
clients then waited on that one process while the others idled. Each worker publishes how many
connections it holds in memory all the workers share (`ConnectionShares`, made by gunicorn's master
before it forks them), and a worker accepts only while no other live worker holds fewer.
"""

from __future__ import annotations

import errno
import mmap
import os
import selectors
import struct
import time
from functools import partial

from gunicorn.workers.gthread import TConn, ThreadWorker

# Past this many buffered bytes a request is handed on unfinished (the app refuses it as too large).
_HEADER_LIMIT = 64 * 1024
_READ_CHUNK = 64 * 1024
STOP_READ_GRACE_S = 2.0
# A worker that holds more connections than another looks this often whether that is still so.
RECHECK_S = 0.05
_TIMEOUT_BODY = b'{"error":{"code":"analytics.request_timeout","message":"the request was not sent in time"}}'
_TIMEOUT_ANSWER = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
                   b"Content-Length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY))


class RequestBuffer:
    """Bytes of one HTTP/1.x request as they arrive; says when the request is complete."""

    def __init__(self, body_limit: int) -> None:
        self.data = bytearray()
        self.body_limit = body_limit
        self.head_end = -1
        self.length: int | None = None
        self.chunked = False
        self.expects_continue = False
        self._chunk_at = 0  # where the next chunk-size line starts (chunked bodies)

    def feed(self, data: bytes) -> None:
        self.data += data
        if self.head_end < 0:
            end = self.data.find(b"\r\n\r\n")
            if end >= 0:
                self.head_end = end + 4
                self._read_head(bytes(self.data[:end]))
                self._chunk_at = self.head_end

    def _read_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        http11 = lines[0].rstrip().endswith(b"HTTP/1.1")
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length" and value.isdigit():
                self.length = int(value)
            elif name == b"transfer-encoding" and value.endswith(b"chunked"):
                self.chunked = True
            elif name == b"expect" and value == b"100-continue" and http11:
                self.expects_continue = True

    def _chunked_complete(self) -> bool:
        """Walk the chunks buffered so far; True once the last chunk and trailers are in."""
        data = self.data
        while True:
            line_end = data.find(b"\r\n", self._chunk_at)
            if line_end < 0:
                return False
            size_text = bytes(data[self._chunk_at:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                return True  # malformed: the parser answers it
            if size == 0:
                return data.find(b"\r\n\r\n", line_end) >= 0 or data.endswith(b"0\r\n\r\n")
            next_at = line_end + 2 + size + 2
            if len(data) < next_at:
                return False
            self._chunk_at = next_at

    def complete(self) -> bool:
        """Whether a thread can run the request now without waiting on the client."""
        if self.head_end < 0:
            return len(self.data) > _HEADER_LIMIT
        body = len(self.data) - self.head_end
        if body > self.body_limit:
            return True
        if self.chunked:
            return self._chunked_complete()
        if self.length is not None:
            return body >= self.length or self.length > self.body_limit
        return True


class ConnectionShares:
    """How many connections each worker holds, in an anonymous shared mapping: made before the
    workers are forked, every one of them reads and writes the same memory. A slot is (pid,
    connections, when last written); a worker writes its own at each turn of its event loop (at
    least once a second), and a slot not written for `STALE_S` is a worker that is gone or stuck."""

    SLOTS = 32
    STALE_S = 5.0
    _SLOT = struct.Struct("qqd")
    _ALL = struct.Struct("qqd" * SLOTS)

    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, self._ALL.size)

    def publish(self, slot: int, connections: int, now: float) -> None:
        self._SLOT.pack_into(self._memory, (slot % self.SLOTS) * self._SLOT.size, os.getpid(), connections, now)

    def leave(self, slot: int) -> None:
        self._SLOT.pack_into(self._memory, (slot % self.SLOTS) * self._SLOT.size, 0, 0, 0.0)

    def fewest_elsewhere(self, slot: int, now: float) -> int | None:
        """The fewest connections a live worker other than `slot`'s holds (None: there is none)."""
        fewest, everyone, mine = None, self._ALL.unpack_from(self._memory), slot % self.SLOTS
        for index in range(self.SLOTS):
            pid, connections, written = everyone[3 * index:3 * index + 3]
            if pid and index != mine and now - written < self.STALE_S and (fewest is None or connections < fewest):
                fewest = connections
        return fewest


class BufferingThreadWorker(ThreadWorker):
    """gthread, reading requests in the event loop (see the module's docstring)."""

    # Set by the service's gunicorn settings (server.gunicorn_settings).
    body_limit = 1_048_576 + 64 * 1024
    read_timeout_s = 30.0
    shares: ConnectionShares | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # gunicorn's master makes each worker object before forking it: the first one made there
        # makes the memory every worker forked later shares.
        if BufferingThreadWorker.shares is None:
            BufferingThreadWorker.shares = ConnectionShares()

    def init_process(self) -> None:
        self.reading: dict = {}  # conn -> (buffer, deadline)
        super().init_process()

    def _fair(self) -> bool:
        """Whether this worker may take one more connection: no other live worker holds fewer."""
        now = time.monotonic()
        self.shares.publish(self.age, self.nr_conns, now)
        fewest = self.shares.fewest_elsewhere(self.age, now)
        return fewest is None or self.nr_conns <= fewest

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled and self._fair())

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        if self.alive:
            self.set_accept_enabled(self.nr_conns < self.worker_connections)
            if not self._accepting:  # look again soon: the others may have taken connections meanwhile
                timeout = min(timeout, RECHECK_S)
        super().wait_for_and_dispatch_events(timeout)

    def accept(self, listener) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._start_reading(TConn(self.cfg, client_sock, client_addr, listener.getsockname()))

    def on_client_socket_readable(self, conn, client) -> None:
        """A kept-alive connection has its next request coming: buffer it too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn)

    def finish_request(self, conn, fs) -> None:
        """A kept-alive connection whose client already sent part of its next request (pipelining)
        has those bytes buffered by the parser: read the rest here too, not in a thread."""
        result = None
        if not fs.cancelled() and fs.exception() is None:
            result = fs.result()
        if (result is True and self.alive and not self.cfg.is_ssl and conn.parser is not None
                and conn.parser.unreader.buf.getbuffer().nbytes):
            self._start_reading(conn, conn.parser.unreader.take_buffered())
            return
        super().finish_request(conn, fs)

    def _start_reading(self, conn, already: bytes = b"") -> None:
        if self.cfg.is_ssl:  # TLS is read by the thread (the service runs behind a TLS proxy)
            self.enqueue_req(conn)
            return
        conn.sock.setblocking(False)
        buffer = RequestBuffer(self.body_limit)
        self.reading[conn] = (buffer, time.monotonic() + self.read_timeout_s)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_request_bytes, conn))
        if already:
            buffer.feed(already)
            if buffer.complete():
                self._hand_over(conn, bytes(buffer.data))

    def _on_request_bytes(self, conn, client) -> None:
        buffer, _ = self.reading[conn]
        try:
            data = conn.sock.recv(_READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        had_head = buffer.head_end >= 0
        buffer.feed(data)
        if not had_head and buffer.head_end >= 0 and buffer.expects_continue and not buffer.complete():
            try:
                conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            except OSError:
                self._drop(conn)
                return
        if buffer.complete():
            self._hand_over(conn, bytes(buffer.data))

    def _hand_over(self, conn, data: bytes) -> None:
        self.poller.unregister(conn.sock)
        del self.reading[conn]
        conn.init()
        conn.parser.unreader.unread(data)
        conn.data_ready = True
        self.enqueue_req(conn)

    def _drop(self, conn, answer: bytes | None = None) -> None:
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        self.reading.pop(conn, None)
        if answer is not None:
            try:
                conn.sock.send(answer)
            except OSError:
                pass
        self.nr_conns -= 1
        conn.close()

    def handle_exit(self, sig, frame) -> None:
        self.stopping_since = time.monotonic()
        self.shares.leave(self.age)
        super().handle_exit(sig, frame)

    def murder_pending(self) -> None:
        """Also close the connections whose request did not arrive in time (408). A stopping worker
        gives a request being read at most STOP_READ_GRACE_S more, and an empty connection none."""
        super().murder_pending()
        now = time.monotonic()
        stopping = getattr(self, "stopping_since", None)
        if stopping is not None:
            cutoff = stopping + STOP_READ_GRACE_S
            late = [conn for conn, (buffer, deadline) in self.reading.items()
                    if deadline <= now or not buffer.data or now >= cutoff]
        else:
            late = [conn for conn, (_, deadline) in self.reading.items() if deadline <= now]
        for conn in late:
            buffer, _ = self.reading[conn]
            self._drop(conn, _TIMEOUT_ANSWER if buffer.data else None)
