"""Shapes shared by every resource: the problem body, a page of a cursor-paginated list, error objects."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    """RFC 9457 problem details, plus a stable `code` to switch on."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "https://sightline.dev/problems/not_found",
                    "title": "Not Found",
                    "status": 404,
                    "code": "not_found",
                    "detail": "no job 'job_0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6'",
                }
            ]
        },
    )

    type: str
    title: str
    status: int
    code: str
    detail: str


class ErrorOut(BaseModel):
    """Why a document or a job failed: a stable code (e.g. `encrypted`, `timeout`) and a human detail."""

    code: str
    detail: str


_DESCRIPTIONS = {
    400: "Malformed request body",
    401: "Missing or unknown API key",
    404: "No such object for this tenant",
    409: "Conflicts with the object's state or an earlier request",
    413: "Upload over the size limit; nothing was stored",
    415: "File type not supported (sniffed from its bytes)",
    422: "Request does not match the schema",
    503: "A dependency is unreachable",
    504: "The job did not finish in time; poll it by the `job_id` given",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entries for the problem statuses a route can answer (401 always)."""
    return {s: {"model": Problem, "description": _DESCRIPTIONS[s]} for s in sorted({401, *statuses})}


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first. Pass `next_cursor` as `cursor` for the next page; null at the end."""

    data: list[T]
    next_cursor: str | None = Field(None, examples=["job_0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6"])
