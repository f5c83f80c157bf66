"""Typed errors for bad agent input, with stable codes.

Design choices:
- Input the caller controls (a task name, a schema, a question, a budget) and that the agent cannot use
  raises `AgentError(code, detail)`; the codes are part of the public contract like `MediaError`'s and
  never change meaning. Problems inside the documents themselves stay `MediaError`s; bugs stay ordinary
  exceptions.
"""

from __future__ import annotations

from enum import StrEnum


class AgentErrorCode(StrEnum):
    UNKNOWN_TASK = "unknown_task"  # a task the agent does not perform
    BAD_SCHEMA = "bad_schema"  # an extraction schema that is not a JSON schema of named fields
    BAD_QUESTION = "bad_question"  # empty where a question is needed, or over the length limit
    BAD_BUDGET = "bad_budget"  # a page or visual-token budget below what one step needs
    UNSUPPORTED_MEDIA = "unsupported_media"  # a media kind this agent does not handle (yet)


class AgentError(ValueError):
    """Bad agent input: a stable machine-readable `code` and a human `detail`."""

    def __init__(self, code: AgentErrorCode, detail: str):
        super().__init__(f"{code.value}: {detail}")
        self.code = AgentErrorCode(code)
        self.detail = detail

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code.value, "detail": self.detail}

    def __reduce__(self):  # keep code and detail across process boundaries (pickling)
        return (AgentError, (self.code, self.detail))
