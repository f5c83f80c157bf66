"""Idempotency keys for the POSTs that create work (`/v1/jobs`, `/v1/batches`).

The key is stored on the created row with a hash of the request body, unique per tenant. A retry with the
same key and body gets the first answer back (200, `Idempotent-Replayed: true`); the same key with another
body is a 409. Two concurrent first requests race on the unique index and the loser replays the winner.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import Header, Response

from service.errors import ApiError, ErrorCode

REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Retrying a POST with the same key and body returns the first answer (200) instead of "
        "creating a second object; the same key with another body is a 409.",
    ),
]


def body_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def check_replay(stored_hash: str | None, request_hash: str, response: Response) -> None:
    """Mark `response` as a replay (200 and a header), or raise 409 if the body differs from the first."""
    if stored_hash != request_hash:
        raise ApiError(409, ErrorCode.IDEMPOTENCY_CONFLICT, "this Idempotency-Key was used with another body")
    response.status_code = 200
    response.headers[REPLAYED_HEADER] = "true"
