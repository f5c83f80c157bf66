"""Jobs: creation (with idempotency keys), look-ups per tenant, cursor pages, cancel, what to send.

Design choices:
- A job on a document that failed ingest is created already `failed` with the document's error code, so a
  batch over many files shows each file's fate per job instead of refusing the whole batch.
- Cancel is a conditional UPDATE: a queued job is canceled at once; a running one gets `cancel_requested`,
  which its worker sees at its next heartbeat and honours between steps.
- `sendable` is the one definition of "needs an infer message": queued, never sent, document ready. The
  API, the ingest task and the sweeper all send through it (`service.dispatch`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from service.db.base import utcnow
from service.db.models import Document, DocumentStatus, Job, JobStatus, Result
from service.ids import new_id
from service.schemas.jobs import JobCreate


def get(session: Session, tenant_id: str, job_id: str) -> Job | None:
    return session.scalar(select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id))


def get_result(session: Session, job_id: str) -> Result | None:
    return session.scalar(select(Result).where(Result.job_id == job_id))


def find_by_idempotency_key(session: Session, tenant_id: str, key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.tenant_id == tenant_id, Job.idempotency_key == key))


def new_job(
    spec: JobCreate,
    document: Document,
    *,
    max_attempts: int,
    batch_id: str | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> Job:
    """A Job row for `spec` on `document` (not added to a session)."""
    job = Job(
        id=new_id("job"),
        tenant_id=document.tenant_id,
        document_id=document.id,
        batch_id=batch_id,
        task=spec.task.value,
        question=spec.question,
        schema=spec.schema_,
        options=spec.options.engine_options(),
        priority=spec.options.priority,
        status=JobStatus.QUEUED,
        max_attempts=max_attempts,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        created_at=utcnow(),
    )
    if document.status == DocumentStatus.FAILED:
        job.status = JobStatus.FAILED
        job.error_code = document.error_code
        job.error_detail = f"the document failed ingest: {document.error_detail}"
        job.finished_at = job.created_at
    return job


def list_page(
    session: Session,
    tenant_id: str,
    *,
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
    task: str | None = None,
    document_id: str | None = None,
    batch_id: str | None = None,
) -> tuple[list[Job], str | None]:
    """A page of jobs, newest first (IDs are time-ordered), and the cursor of the next page."""
    query = select(Job).where(Job.tenant_id == tenant_id)
    for column, value in (
        (Job.status, status),
        (Job.task, task),
        (Job.document_id, document_id),
        (Job.batch_id, batch_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if cursor is not None:
        query = query.where(Job.id < cursor)
    jobs = list(session.scalars(query.order_by(Job.id.desc()).limit(limit + 1)))
    if len(jobs) > limit:
        return jobs[:limit], jobs[limit - 1].id
    return jobs, None


def cancel(session: Session, job: Job) -> Job:
    """Cancel a queued job now, or ask a running one to stop; final jobs are left alone. Commits."""
    now = utcnow()
    session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == JobStatus.QUEUED)
        .values(status=JobStatus.CANCELED, finished_at=now)
    )
    session.execute(
        update(Job).where(Job.id == job.id, Job.status == JobStatus.RUNNING).values(cancel_requested=True)
    )
    session.commit()
    session.refresh(job)
    return job


def sendable(session: Session, job_ids: Iterable[str] | None = None, older_than_s: float = 0.0) -> list[Job]:
    """Queued jobs not sent yet whose document is ready and whose retry time (if any) has come, among
    `job_ids`, or among all jobs that ran before or were created at least `older_than_s` ago."""
    query = (
        select(Job)
        .join(Document, Document.id == Job.document_id)
        .where(
            Job.status == JobStatus.QUEUED,
            Job.enqueued_at.is_(None),
            or_(Job.retry_at.is_(None), Job.retry_at <= utcnow()),
            Document.status == DocumentStatus.READY,
        )
    )
    if job_ids is not None:
        query = query.where(Job.id.in_(list(job_ids)))
    else:  # jobs that ran before cannot race the API's own first send
        query = query.where(or_(Job.created_at < _ago(older_than_s), Job.attempts > 0))
    return list(session.scalars(query.order_by(Job.id)))


def waiting_on(session: Session, document_id: str) -> list[str]:
    """IDs of queued, never-sent jobs on a document (they wait for its ingest)."""
    return list(
        session.scalars(
            select(Job.id).where(
                Job.document_id == document_id, Job.status == JobStatus.QUEUED, Job.enqueued_at.is_(None)
            )
        )
    )


def mark_enqueued(session: Session, job_ids: Sequence[str]) -> None:
    if job_ids:
        session.execute(update(Job).where(Job.id.in_(list(job_ids))).values(enqueued_at=utcnow()))
        session.commit()


def fail_waiting(session: Session, document_id: str, code: str, detail: str) -> None:
    """Fail the queued jobs of a document whose ingest failed (no commit: part of the caller's transaction)."""
    now = utcnow()
    session.execute(
        update(Job)
        .where(Job.document_id == document_id, Job.status == JobStatus.QUEUED)
        .values(
            status=JobStatus.FAILED,
            error_code=code,
            error_detail=f"the document failed ingest: {detail}",
            finished_at=now,
        )
    )


def status_counts(session: Session, batch_id: str) -> dict[str, int]:
    rows = session.execute(
        select(Job.status, func.count()).where(Job.batch_id == batch_id).group_by(Job.status)
    )
    counts = dict.fromkeys((s.value for s in JobStatus), 0)
    counts.update({status: n for status, n in rows})
    return counts


def with_results(session: Session, batch_id: str, chunk: int = 500) -> Iterator[tuple[Job, Result | None]]:
    """Every job of a batch in creation order with its result (evidence loaded), `chunk` rows at a time."""
    last = ""
    while True:
        rows = session.execute(
            select(Job, Result)
            .outerjoin(Result, Result.job_id == Job.id)
            .where(Job.batch_id == batch_id, Job.id > last)
            .order_by(Job.id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        yield from ((job, result) for job, result in rows)
        last = rows[-1][0].id


def _ago(seconds: float) -> datetime:
    return utcnow() - timedelta(seconds=seconds)
