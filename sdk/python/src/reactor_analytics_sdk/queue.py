"""One destination's in-process queue: bounded, dropping the oldest record when full.

The caller's thread only appends to a deque (atomic under the GIL, no lock). A lock is taken
only on the rare path where the queue is full, so that `dropped` counts exactly.
"""

from __future__ import annotations

import threading
from collections import deque


class Lane:
    __slots__ = ("records", "max_size", "flush_at", "wake", "dropped", "_overflow")

    def __init__(self, max_size: int, flush_at: int):
        self.records: deque = deque()
        self.max_size = max(1, int(max_size))
        self.flush_at = max(1, int(flush_at))
        # Set when `flush_at` records are waiting, so the sender does not wait for its timer.
        self.wake = threading.Event()
        self.dropped = 0
        self._overflow = threading.Lock()

    def put(self, record) -> None:
        records = self.records
        if len(records) >= self.max_size:
            self.drop_oldest()
        records.append(record)
        if len(records) >= self.flush_at and not self.wake.is_set():
            self.wake.set()

    def drop_oldest(self) -> None:
        with self._overflow:
            while len(self.records) >= self.max_size:
                try:
                    self.records.popleft()
                except IndexError:  # the sender took it meanwhile
                    return
                self.dropped += 1

    def take(self, count: int) -> list:
        """Up to `count` of the oldest records, removed from the queue."""
        taken = []
        pop = self.records.popleft
        for _ in range(count):
            try:
                taken.append(pop())
            except IndexError:
                break
        return taken

    def __len__(self) -> int:
        return len(self.records)
