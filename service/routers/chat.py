"""`POST /v1/chat/completions`: the OpenAI-compatible front of a `qa` job, answered synchronously.

Design choices:
- It is a job like any other (stored, queued, run by the infer workers, readable later by `job_id`); the
  request only waits for it, polling the database without holding a thread, up to `chat_timeout_s`.
  Past that the answer is a 504 problem that carries the `job_id`, so nothing is lost.
- The file is the single `image_url` part of the last user message: inline bytes as a `data:` URL (checked
  like an upload: size, sniffed type, dedup) or `sightline://documents/<id>`. A video gets `video_qa`.
- The reply is a standard `chat.completion` whose message is the answer; the evidence boxes ride along
  in `sightline`. Streaming, tools and multi-turn context are not supported.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from service.crud import documents as documents_crud
from service.crud import jobs as jobs_crud
from service.db.models import FINAL_STATUSES, Document, Job, JobStatus, Result, Task
from service.deps import RuntimeDep, TenantDep
from service.dispatch import dispatch_ingest, dispatch_jobs
from service.errors import ApiError, ErrorCode, not_found
from service.runtime import Runtime
from service.schemas.chat import (
    AssistantMessage,
    ChatRequest,
    ChatResponse,
    ChatUsage,
    Choice,
    Grounding,
    ImagePart,
    TextPart,
)
from service.schemas.common import problems
from service.schemas.jobs import EvidenceOut, JobCreate
from service.uploads import stage_bytes, store_document

router = APIRouter(tags=["chat"])

DOCUMENT_SCHEME = "sightline://documents/"
POLL_S = 0.2


def _invalid(detail: str) -> ApiError:
    return ApiError(422, ErrorCode.INVALID_REQUEST, detail)


def _question_and_file(body: ChatRequest) -> tuple[str, str]:
    users = [m for m in body.messages if m.role == "user"]
    if not users:
        raise _invalid("no user message")
    content = users[-1].content
    if isinstance(content, str):
        raise _invalid("attach the file as an image_url part of the last user message")
    question = " ".join(p.text for p in content if isinstance(p, TextPart)).strip()
    files = [p.image_url.url for p in content if isinstance(p, ImagePart)]
    if len(files) != 1:
        raise _invalid(f"attach exactly one file as an image_url part (found {len(files)})")
    if not question:
        raise _invalid("the last user message has no question text")
    return question, files[0]


def _decode_data_url(url: str, max_bytes: int) -> bytes:
    header, sep, payload = url.partition(",")
    if not (url.startswith("data:") and sep and header.endswith(";base64")):
        raise _invalid(f"image_url must be a base64 data: URL or {DOCUMENT_SCHEME}<id>")
    if len(payload) * 3 // 4 > max_bytes + 3:
        raise ApiError(413, ErrorCode.TOO_LARGE, f"the file is over the upload limit of {max_bytes} bytes")
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise _invalid("the data: URL is not valid base64") from None


def _document_for(runtime: Runtime, tenant_id: str, url: str) -> Document:
    with runtime.sessions() as session:
        if url.startswith(DOCUMENT_SCHEME):
            document_id = url.removeprefix(DOCUMENT_SCHEME)
            document = documents_crud.get(session, tenant_id, document_id)
            if document is None:
                raise not_found("document", document_id)
            return document
        data = _decode_data_url(url, runtime.settings.max_upload_bytes)
        with stage_bytes(runtime.store, data, runtime.settings.max_upload_bytes, None) as staged:
            document, created = store_document(session, runtime.store, tenant_id, staged)
        if created:
            dispatch_ingest(session, runtime.broker, document.id)
        return document


def _submit(runtime: Runtime, tenant_id: str, question: str, url: str) -> Job:
    document = _document_for(runtime, tenant_id, url)
    task = Task.VIDEO_QA if document.kind == "video" else Task.QA
    spec = JobCreate(document_id=document.id, task=task, question=question)
    with runtime.sessions() as session:
        job = jobs_crud.new_job(spec, document, max_attempts=runtime.settings.max_attempts)
        session.add(job)
        session.commit()
        dispatch_jobs(session, runtime.broker, [job.id])
        return job


def _load(runtime: Runtime, tenant_id: str, job_id: str) -> tuple[Job, Result | None]:
    with runtime.sessions() as session:
        job = jobs_crud.get(session, tenant_id, job_id)
        assert job is not None
        done = job.status == JobStatus.SUCCEEDED
        return job, jobs_crud.get_result(session, job_id) if done else None


async def _wait(runtime: Runtime, tenant_id: str, job_id: str) -> tuple[Job, Result | None]:
    deadline = time.monotonic() + runtime.settings.chat_timeout_s
    while True:
        job, result = await run_in_threadpool(_load, runtime, tenant_id, job_id)
        if job.status in FINAL_STATUSES:
            return job, result
        if time.monotonic() > deadline:
            raise ApiError(
                504,
                ErrorCode.TIMEOUT,
                f"job {job_id} is still {job.status}; fetch it later with GET /v1/jobs/{job_id}",
                {"job_id": job_id},
            )
        await asyncio.sleep(POLL_S)


@router.post(
    "/v1/chat/completions",
    summary="Ask about one file, OpenAI-style",
    description="An OpenAI-compatible chat completion over one file, run as a `qa` job and waited for. "
    "Evidence boxes are returned in the extra `sightline` object.",
    responses=problems(404, 413, 415, 422, 504),
)
async def chat_completions(body: ChatRequest, tenant: TenantDep, runtime: RuntimeDep) -> ChatResponse:
    question, url = _question_and_file(body)
    submitted = await run_in_threadpool(_submit, runtime, tenant.id, question, url)
    job, result = await _wait(runtime, tenant.id, submitted.id)
    if result is None:
        error = {"code": job.error_code or job.status, "detail": job.error_detail or ""}
        raise ApiError(
            422,
            ErrorCode.JOB_FAILED,
            f"job {job.id} {job.status}: {error['code']}",
            {"job_id": job.id, "error": error},
        )
    usage = result.usage
    prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return ChatResponse(
        id=f"chatcmpl-{job.id}",
        created=int(job.created_at.timestamp()),
        model=body.model,
        choices=[Choice(message=AssistantMessage(content=result.text))],
        usage=ChatUsage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion),
        sightline=Grounding(
            job_id=job.id,
            document_id=job.document_id,
            evidence=[EvidenceOut.of(e) for e in result.evidence],
            usage=usage,
        ),
    )
