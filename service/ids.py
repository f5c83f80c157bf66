"""Public IDs: a type prefix and a time-ordered hex body (`job_0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6`).

Time-ordered (48-bit milliseconds, then 80 random bits, like UUIDv7), so ordering by ID is ordering by
creation and a cursor is simply the last ID of a page; prefixed, so a document ID pasted where a job ID is
expected is obviously wrong in logs.
"""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"
