"""`/v1/jobs`: create (honouring Idempotency-Key), fetch with the grounded result, list by cursor, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.exc import IntegrityError

from service.crud import documents as documents_crud
from service.crud import jobs as jobs_crud
from service.db.models import Job, JobStatus, Task
from service.deps import RuntimeDep, SessionDep, TenantDep
from service.dispatch import dispatch_jobs
from service.errors import ApiError, ErrorCode, not_found
from service.idempotency import IdempotencyKey, body_hash, check_replay
from service.rules import check_fits
from service.schemas.common import Page, problems
from service.schemas.jobs import JobCreate, JobOut, JobSummary

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def _job_out(session: SessionDep, job: Job) -> JobOut:
    return JobOut.of_job(
        job, jobs_crud.get_result(session, job.id) if job.status == JobStatus.SUCCEEDED else None
    )


def _get(session: SessionDep, tenant_id: str, job_id: str) -> Job:
    job = jobs_crud.get(session, tenant_id, job_id)
    if job is None:
        raise not_found("job", job_id)
    return job


@router.post(
    "",
    status_code=201,
    response_description="The queued job",
    summary="Ask a question of a document",
    description="Queues a job; it runs once the document's ingest is done. Poll `GET /v1/jobs/{id}`.",
    responses={
        200: {"model": JobOut, "description": "Replay of an earlier request with this Idempotency-Key"}
    }
    | problems(404, 409, 422),
)
def create_job(
    body: JobCreate,
    response: Response,
    tenant: TenantDep,
    session: SessionDep,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    request_hash = body_hash(body.model_dump(mode="json", by_alias=True))
    if idempotency_key and (
        earlier := jobs_crud.find_by_idempotency_key(session, tenant.id, idempotency_key)
    ):
        check_replay(earlier.request_hash, request_hash, response)
        return _job_out(session, earlier)
    document = documents_crud.get(session, tenant.id, body.document_id)
    if document is None:
        raise not_found("document", body.document_id)
    check_fits(body, document)
    job = jobs_crud.new_job(
        body,
        document,
        max_attempts=runtime.settings.max_attempts,
        idempotency_key=idempotency_key,
        request_hash=request_hash if idempotency_key else None,
    )
    session.add(job)
    try:
        session.commit()
    except IntegrityError:  # a concurrent request with the same Idempotency-Key won
        session.rollback()
        earlier = jobs_crud.find_by_idempotency_key(session, tenant.id, idempotency_key or "")
        if earlier is None:
            raise
        check_replay(earlier.request_hash, request_hash, response)
        return _job_out(session, earlier)
    dispatch_jobs(session, runtime.broker, [job.id])
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobOut.of_job(job, None)


@router.get("/{job_id}", summary="A job: status, progress, answer and evidence", responses=problems(404))
def get_job(job_id: str, tenant: TenantDep, session: SessionDep) -> JobOut:
    return _job_out(session, _get(session, tenant.id, job_id))


@router.get("", summary="List jobs, newest first", responses=problems(422))
def list_jobs(
    tenant: TenantDep,
    session: SessionDep,
    status: JobStatus | None = None,
    task: Task | None = None,
    document_id: str | None = None,
    batch_id: str | None = None,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[JobSummary]:
    jobs, next_cursor = jobs_crud.list_page(
        session,
        tenant.id,
        limit=limit,
        cursor=cursor,
        status=status,
        task=task,
        document_id=document_id,
        batch_id=batch_id,
    )
    return Page[JobSummary](data=[JobSummary.of(j) for j in jobs], next_cursor=next_cursor)


@router.post(
    "/{job_id}/cancel",
    summary="Cancel a job",
    description="A queued job is canceled at once; a running one stops at its next step (`cancel_requested` "
    "is true until then). Canceling a canceled job is a no-op; a finished one is a 409.",
    responses=problems(404, 409),
)
def cancel_job(job_id: str, tenant: TenantDep, session: SessionDep) -> JobOut:
    job = _get(session, tenant.id, job_id)
    if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        raise ApiError(409, ErrorCode.NOT_CANCELABLE, f"job {job_id} already {job.status}")
    return _job_out(session, jobs_crud.cancel(session, job))
