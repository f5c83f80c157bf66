"""Checks of a job against its document that need the document's row (kind, page count).

Schema-level checks (a question present, an extract schema with properties) live in the pydantic models;
these come after the document is found, and answer 422 `invalid_request` naming the job's index in a batch.
"""

from __future__ import annotations

from service.db.models import Document, Task
from service.errors import ApiError, ErrorCode
from service.schemas.jobs import JobSpec


def check_fits(spec: JobSpec, document: Document, where: str = "") -> None:
    problem = _misfit(spec, document)
    if problem:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, f"{where}{problem}")


def _misfit(spec: JobSpec, document: Document) -> str | None:
    if spec.task is Task.VIDEO_QA and document.kind != "video":
        return f"task 'video_qa' needs a video; document {document.id} is a {document.kind}"
    if spec.options.time_window is not None and document.kind != "video":
        return f"time_window applies to videos; document {document.id} is a {document.kind}"
    if spec.options.pages is not None:
        if document.kind != "pdf":
            return f"pages applies to PDFs; document {document.id} is a {document.kind}"
        if document.pages is not None and spec.options.pages[1] >= document.pages:
            return f"pages {list(spec.options.pages)} are outside 0-{document.pages - 1} of document {document.id}"
    return None
