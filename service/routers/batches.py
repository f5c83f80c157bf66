"""`/v1/batches`: many jobs in one request, their counts per status, and all results as JSON Lines."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service.crud import batches as batches_crud
from service.crud import documents as documents_crud
from service.crud import jobs as jobs_crud
from service.db.models import FINAL_STATUSES, Batch, JobStatus
from service.deps import RuntimeDep, SessionDep, TenantDep
from service.dispatch import dispatch_jobs
from service.errors import ApiError, ErrorCode, not_found
from service.idempotency import IdempotencyKey, body_hash, check_replay
from service.rules import check_fits
from service.schemas.batches import BatchCreate, BatchOut
from service.schemas.common import problems
from service.schemas.jobs import JobOut

router = APIRouter(prefix="/v1/batches", tags=["batches"])

JSONL = "application/jsonl"


def _batch_out(session: Session, batch: Batch) -> BatchOut:
    counts = jobs_crud.status_counts(session, batch.id)
    final = sum(counts[s] for s in FINAL_STATUSES)
    return BatchOut(
        id=batch.id,
        status="completed" if final == batch.job_count else "running",
        job_count=batch.job_count,
        counts=counts,
        progress=final / batch.job_count if batch.job_count else 1.0,
        created_at=batch.created_at,
    )


def _get(session: Session, tenant_id: str, batch_id: str) -> Batch:
    batch = batches_crud.get(session, tenant_id, batch_id)
    if batch is None:
        raise not_found("batch", batch_id)
    return batch


@router.post(
    "",
    status_code=201,
    response_description="The batch with its jobs queued",
    summary="Queue many jobs",
    description="Either a list of jobs, or `documents` x `questions` (every question on every document). "
    "All jobs are created in one transaction, or none.",
    responses={
        200: {"model": BatchOut, "description": "Replay of an earlier request with this Idempotency-Key"}
    }
    | problems(404, 409, 422),
)
def create_batch(
    body: BatchCreate,
    response: Response,
    tenant: TenantDep,
    session: SessionDep,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
) -> BatchOut:
    request_hash = body_hash(body.model_dump(mode="json", by_alias=True))
    if idempotency_key and (
        earlier := batches_crud.find_by_idempotency_key(session, tenant.id, idempotency_key)
    ):
        check_replay(earlier.request_hash, request_hash, response)
        return _batch_out(session, earlier)
    specs = body.expand()
    if len(specs) > runtime.settings.max_batch_jobs:
        raise ApiError(
            422,
            ErrorCode.INVALID_REQUEST,
            f"{len(specs)} jobs is over the limit of {runtime.settings.max_batch_jobs}",
        )
    documents = documents_crud.get_many(session, tenant.id, (s.document_id for s in specs))
    for index, spec in enumerate(specs):
        document = documents.get(spec.document_id)
        if document is None:
            raise not_found("document", spec.document_id)
        check_fits(spec, document, where=f"job {index}: ")
    try:
        batch, jobs = batches_crud.create(
            session,
            tenant.id,
            specs,
            documents,
            max_attempts=runtime.settings.max_attempts,
            idempotency_key=idempotency_key,
            request_hash=request_hash if idempotency_key else None,
        )
        session.commit()
    except IntegrityError:  # a concurrent request with the same Idempotency-Key won
        session.rollback()
        earlier = batches_crud.find_by_idempotency_key(session, tenant.id, idempotency_key or "")
        if earlier is None:
            raise
        check_replay(earlier.request_hash, request_hash, response)
        return _batch_out(session, earlier)
    dispatch_jobs(session, runtime.broker, [j.id for j in jobs if j.status == JobStatus.QUEUED])
    response.headers["Location"] = f"/v1/batches/{batch.id}"
    return _batch_out(session, batch)


@router.get("/{batch_id}", summary="A batch: jobs per status and progress", responses=problems(404))
def get_batch(batch_id: str, tenant: TenantDep, session: SessionDep) -> BatchOut:
    return _batch_out(session, _get(session, tenant.id, batch_id))


@router.get(
    "/{batch_id}/results",
    summary="Every job of a batch with its result, as JSON Lines",
    description="One job object (as `GET /v1/jobs/{id}` returns it) per line, in creation order; jobs not "
    "finished yet appear with their current status and a null result.",
    response_class=StreamingResponse,
    responses={200: {"content": {JSONL: {"schema": {"type": "string"}}}, "description": "JSON Lines"}}
    | problems(404),
)
def batch_results(
    batch_id: str, tenant: TenantDep, session: SessionDep, runtime: RuntimeDep
) -> StreamingResponse:
    batch = _get(session, tenant.id, batch_id)
    return StreamingResponse(_result_lines(runtime.sessions, batch.id), media_type=JSONL)


def _result_lines(sessions: sessionmaker[Session], batch_id: str) -> Iterator[str]:
    with sessions() as session:  # its own session: the response streams after the request's has closed
        for job, result in jobs_crud.with_results(session, batch_id):
            yield JobOut.of_job(job, result).model_dump_json(by_alias=True) + "\n"
