"""Typed errors with stable codes.

Every failure caused by the *input* (a hostile PDF, a truncated video, an unknown file type) is a
`MediaError` whose `code` is one of `ErrorCode`. The codes are part of the public contract: the service stores
them on failed jobs and the CLI prints them, so they never change meaning. Bugs stay ordinary exceptions.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    ENCRYPTED = "encrypted"  # needs a password, or the password given is wrong
    BAD_DOCUMENT = "bad_document"  # the bytes claim a known type but cannot be parsed
    TOO_LARGE = "too_large"  # over a configured limit (bytes, pages, pixels, duration, frames)
    UNSUPPORTED_TYPE = "unsupported_type"  # magic bytes name no type we handle
    TIMEOUT = "timeout"  # parsing ran past its time limit
    PARSER_CRASHED = "parser_crashed"  # the isolated parser process died (signal, out of memory)
    OUT_OF_RANGE = "out_of_range"  # a page index or time window outside the document


class MediaError(Exception):
    """An input-caused failure with a stable machine-readable `code` and a human `detail`."""

    def __init__(self, code: ErrorCode, detail: str):
        super().__init__(f"{code.value}: {detail}")
        self.code = ErrorCode(code)
        self.detail = detail

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code.value, "detail": self.detail}

    def __reduce__(self):  # keep code and detail across process boundaries (pickling)
        return (MediaError, (self.code, self.detail))
