"""One destination's background thread: batches from its lane, sends them, retries them.

Each destination has its own lane and sender, so a slow or failing destination only ever
holds up itself. A batch is sent when `flush_at` records are waiting, on every
`flush_interval` tick, and at once on `flush()`/`close()`. A failed batch is retried, the
same records and so the same message_ids, with exponential backoff and jitter, until it goes
through, fails for good, or runs out of tries.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import asdict, dataclass

from .errors import PermanentError
from .queue import Lane

log = logging.getLogger("reactor_analytics_sdk")


@dataclass
class SenderStats:
    """Counted by the sender thread only (events, not batches, except `retries`)."""

    sent: int = 0        # delivered
    rejected: int = 0    # delivered, but refused one by one by the destination
    failed: int = 0      # given up: a permanent error, or out of retries
    retries: int = 0     # attempts that were retried


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter: between half and all of min(cap, base·2^(attempt-1)),
    and no less than what the destination asked for (within reason)."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max(cap, 60.0)))
    return delay


class Sender:
    def __init__(self, destination, *, flush_at: int, flush_interval: float, max_queue_size: int,
                 max_retries: int, retry_base: float, retry_max_delay: float):
        self.destination = destination
        self.name = destination.name
        self.flush_at = max(1, int(flush_at))
        self.flush_interval = max(0.001, float(flush_interval))
        self.max_queue_size = max_queue_size
        self.batch_size = min(self.flush_at, getattr(destination, "max_batch_events", None) or self.flush_at)
        self.max_retries = max_retries
        self.retry_base = retry_base
        self.retry_max_delay = retry_max_delay
        self.stats = SenderStats()
        self._setup()

    def _setup(self) -> None:
        self.lane = Lane(self.max_queue_size, self.flush_at)
        self._state = threading.Condition()
        self._busy = False          # a batch is out of the lane and not yet settled
        self._flush_requests = 0    # flush() callers waiting: send partial batches now
        self._stopping = False
        self._abandon = threading.Event()   # stop retrying: close() ran out of time
        self._thread = threading.Thread(target=self._run, name=f"reactor-analytics-{self.name}", daemon=True)

    def start(self) -> "Sender":
        self._thread.start()
        return self

    def restart_in_child(self) -> None:
        """After fork(): the parent sends what it had queued; the child starts empty."""
        self._setup()
        self.start()

    # --- called from other threads (Analytics.flush / close) ------------------------------

    def request_flush(self) -> None:
        """Send partial batches now, until `release_flush()`."""
        with self._state:
            self._flush_requests += 1
        self.lane.wake.set()

    def release_flush(self) -> None:
        with self._state:
            self._flush_requests -= 1

    def request_stop(self) -> None:
        """Send everything left, then end the thread."""
        with self._state:
            self._stopping = True
        self.lane.wake.set()

    def finish(self, deadline: float | None) -> None:
        """After `request_stop()`: gives up what is left at `deadline`, ends the thread and
        closes the destination."""
        if not self.wait_idle(deadline):
            self._abandon.set()
            left = len(self.lane)
            if left:
                log.warning("analytics destination %s: %d queued events not sent before shutdown", self.name, left)
        self._thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()) + 0.05)
        close = getattr(self.destination, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                log.warning("analytics destination %s: close() failed", self.name, exc_info=True)

    def wait_idle(self, deadline: float | None) -> bool:
        """Waits until the lane is empty and nothing is in flight, or until `deadline`
        (time.monotonic()). True when everything was settled."""
        with self._state:
            while len(self.lane) or self._busy:
                if not self._thread.is_alive():
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._state.wait(0.1 if remaining is None else min(remaining, 0.1))
            return True

    # --- the sender thread ---------------------------------------------------------------

    def _run(self) -> None:
        lane = self.lane
        next_tick = time.monotonic() + self.flush_interval
        while not self._abandon.is_set():  # abandoned at shutdown: what is left stays unsent
            lane.wake.clear()  # before looking at the lane, so no wake-up is lost
            now = time.monotonic()
            due = now >= next_tick
            if due:
                next_tick = now + self.flush_interval
            everything = due or self._flush_requests > 0 or self._stopping
            if len(lane) and (everything or len(lane) >= self.flush_at):
                self._drain(everything)
                continue
            with self._state:
                self._state.notify_all()
                if self._stopping and not len(lane):
                    return
            lane.wake.wait(max(0.0, next_tick - now))

    def _drain(self, everything: bool) -> None:
        lane = self.lane
        while len(lane) and (everything or len(lane) >= self.flush_at) and not self._abandon.is_set():
            with self._state:
                self._busy = True
            try:
                batch = lane.take(self.batch_size)
                if batch:
                    self._deliver(batch)
            finally:
                with self._state:
                    self._busy = False
                    self._state.notify_all()
            everything = everything or self._flush_requests > 0 or self._stopping

    def _deliver(self, batch: list) -> None:
        attempt = 0
        while True:
            try:
                refused = self.destination.send(batch) or 0
            except PermanentError as exc:
                self.stats.failed += len(batch)
                log.warning("analytics destination %s: %d events given up: %s", self.name, len(batch), exc)
                return
            except Exception as exc:  # RetryableError, or anything a custom destination raised
                attempt += 1
                if attempt > self.max_retries:
                    self.stats.failed += len(batch)
                    log.error("analytics destination %s: %d events given up after %d attempts: %s",
                              self.name, len(batch), attempt, exc)
                    return
                delay = backoff_delay(attempt, self.retry_base, self.retry_max_delay,
                                      getattr(exc, "retry_after", None))
                self.stats.retries += 1
                log.info("analytics destination %s: attempt %d failed (%s); retrying in %.2fs",
                         self.name, attempt, exc, delay)
                if self._abandon.wait(delay):
                    self.stats.failed += len(batch)
                    return
                continue
            self.stats.sent += len(batch) - refused
            self.stats.rejected += refused
            return

    def snapshot(self) -> dict:
        return {**asdict(self.stats), "queued": len(self.lane), "dropped": self.lane.dropped}
