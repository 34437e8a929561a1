"""Project public keys (`rapk_…`): high entropy, shown once, stored only as a SHA-256 hash.

A plain hash is right here: the key carries ~238 bits of randomness, so there is nothing to
brute-force, and lookup must be a single indexed probe on the ingest hot path.
"""

from __future__ import annotations

import hashlib
import secrets
import string

PREFIX = "rapk_"
_ALPHABET = string.ascii_letters + string.digits
_LENGTH = 40
SHOWN_PREFIX = len(PREFIX) + 8


def generate() -> str:
    return PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def looks_like_key(value: str) -> bool:
    return value.startswith(PREFIX) and 0 < len(value) <= 200


def new_id(kind: str) -> str:
    """Opaque ids such as `p_…` for projects and `k_…` for keys."""
    return f"{kind}_" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(16))
