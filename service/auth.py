"""API keys: `sl_` + 32 random bytes, shown once; only their sha256 is stored.

A key is looked up by its hash (a unique index), so checking one is a single indexed query and a leaked
database does not leak usable keys. Keys carry no tenant information themselves.
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "sl_"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
