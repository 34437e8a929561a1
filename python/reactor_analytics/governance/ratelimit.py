"""Per-IP token buckets, shared by every gunicorn worker.

The buckets live in a small memory-mapped file in the data dir: a fixed table of slots, each
`(tag, tokens, updated)`, locked one slot at a time with `lockf`, so workers share one bucket per
address without a round trip to the database. An address is never stored: a slot is chosen by a
keyed hash (BLAKE2b with a key made anew at every start and held only in memory), and the hash
is all the slot keeps. Two addresses that fall on one slot share a bucket until one ages out.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import secrets
import struct
import threading
import time
from pathlib import Path

_SLOT = struct.Struct("<Qdd")
SLOTS = 1 << 16
KEY_ENV = "REACTOR_RATE_LIMIT_KEY"


class RateLimiter:
    def __init__(self, path: Path, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = float(burst)
        key = os.environ.get(KEY_ENV)
        self._key = bytes.fromhex(key) if key else secrets.token_bytes(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        size = SLOTS * _SLOT.size
        if os.fstat(self._fd).st_size < size:
            os.ftruncate(self._fd, size)
        self._map = mmap.mmap(self._fd, size)
        self._thread_lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_second > 0 and self.burst >= 1

    def _tag(self, address: str) -> int:
        digest = hashlib.blake2b(address.encode(), key=self._key, digest_size=8).digest()
        return int.from_bytes(digest, "little") | 1  # never 0, the empty slot

    def take(self, address: str | None, cost: float = 1.0, spend: bool = True) -> float:
        """Spend `cost` tokens of the address's bucket: 0.0 when allowed, else seconds to wait.
        With `spend=False`, only look."""
        if not self.enabled or not address:
            return 0.0
        tag = self._tag(address)
        offset = (tag >> 1) % SLOTS * _SLOT.size
        now = time.time()
        with self._thread_lock:
            fcntl.lockf(self._fd, fcntl.LOCK_EX, _SLOT.size, offset, os.SEEK_SET)
            try:
                held, tokens, updated = _SLOT.unpack_from(self._map, offset)
                if held != tag:
                    tokens, updated = self.burst, now
                tokens = min(self.burst, tokens + max(0.0, now - updated) * self.per_second)
                wait = 0.0
                if tokens >= cost:
                    tokens -= cost if spend else 0.0
                else:
                    wait = (cost - tokens) / self.per_second
                _SLOT.pack_into(self._map, offset, tag, tokens, now)
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN, _SLOT.size, offset, os.SEEK_SET)
        return wait


def retry_after(wait: float) -> int:
    """Whole seconds for a `Retry-After` header: at least 1."""
    return max(1, math.ceil(wait))


def fresh_table(data_dir: str) -> Path:
    """A new, empty table and key for one `reactor serve` (called before the workers start)."""
    path = table_path(data_dir)
    path.unlink(missing_ok=True)
    os.environ[KEY_ENV] = secrets.token_hex(32)
    return path


def table_path(data_dir: str) -> Path:
    return Path(data_dir).resolve() / "ratelimit.bin"
