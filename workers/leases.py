"""Every state change of a job or a document's ingest, as a conditional UPDATE on its row.

Design choices:
- A worker *claims* a job (`queued -> running`) with one UPDATE that also counts the attempt and sets a
  lease token and expiry; only the holder of the token can heartbeat, finish or release it. A redelivered
  message for a job that is running, finished or canceled claims nothing: a no-op.
- Finishing writes the result, its evidence rows and the final status in one transaction, conditional on
  the token: a worker whose lease was taken over cannot write a second result (and `results.job_id` is
  unique besides).
- A transient failure releases the job to `queued` with a backed-off `retry_at`; the sweeper sends it when
  due. Jobs whose lease expired (their worker died) go back to `queued`, or to `failed` with
  `worker_lost` once their attempts are spent, so a job that kills workers ends instead of looping.
- Ingest uses the same pattern with a lease and no heartbeat: it runs in a sandbox with a time limit,
  so its lease simply outlasts that limit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.crud import jobs as jobs_crud
from service.db.base import utcnow
from service.db.models import Document, DocumentStatus, Evidence, Job, JobStatus, Result
from service.ids import new_id

WORKER_LOST = "worker_lost"  # the job's worker died (or hung) on every attempt
TRANSIENT_EXHAUSTED = "transient_error"  # transient failures on every attempt
INTERNAL_ERROR = "internal_error"  # a bug: the engine raised something other than MediaError

_EVIDENCE_FIELDS = ("page", "time_s", "frame_index", "bbox", "bbox_norm", "label", "text", "score")


@dataclass(frozen=True)
class JobClaim:
    job_id: str
    token: str
    attempts: int
    max_attempts: int
    created_at: datetime


@dataclass(frozen=True)
class DocumentClaim:
    document_id: str
    token: str


def claim_job(session: Session, job_id: str, lease_s: float, worker: str) -> JobClaim | None:
    now = utcnow()
    token = secrets.token_hex(16)
    row = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED, Job.cancel_requested.is_(False))
        .values(
            status=JobStatus.RUNNING,
            attempts=Job.attempts + 1,
            lease_token=token,
            lease_expires_at=now + timedelta(seconds=lease_s),
            worker=worker,
            started_at=func.coalesce(Job.started_at, now),
            retry_at=None,
        )
        .returning(Job.attempts, Job.max_attempts, Job.created_at)
        .execution_options(synchronize_session=False)
    ).first()
    session.commit()
    return JobClaim(job_id, token, row.attempts, row.max_attempts, row.created_at) if row else None


def heartbeat(session: Session, claim: JobClaim, lease_s: float, done: int, total: int) -> bool | None:
    """Extend the lease and publish progress. Returns whether a cancel was requested, or None if the lease
    was lost (the job is no longer this worker's)."""
    row = session.execute(
        update(Job)
        .where(Job.id == claim.job_id, Job.lease_token == claim.token, Job.status == JobStatus.RUNNING)
        .values(
            lease_expires_at=utcnow() + timedelta(seconds=lease_s), progress_done=done, progress_total=total
        )
        .returning(Job.cancel_requested)
        .execution_options(synchronize_session=False)
    ).first()
    session.commit()
    return None if row is None else bool(row.cancel_requested)


def _finish(
    session: Session, claim: JobClaim, status: JobStatus, progress: tuple[int, int], **values: Any
) -> bool:
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(Job.id == claim.job_id, Job.lease_token == claim.token, Job.status == JobStatus.RUNNING)
        .values(
            status=status,
            finished_at=now,
            latency_s=(now - claim.created_at).total_seconds(),
            lease_token=None,
            lease_expires_at=None,
            progress_done=progress[0],
            progress_total=progress[1],
            **values,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def finish_succeeded(
    session: Session, claim: JobClaim, answer: dict[str, Any], progress: tuple[int, int]
) -> bool:
    """Store the answer (result + evidence rows) and mark the job succeeded, in one transaction."""
    usage = answer.get("usage") or {}
    if not _finish(session, claim, JobStatus.SUCCEEDED, progress):
        session.rollback()
        return False
    session.add(
        Result(
            id=new_id("res"),
            job_id=claim.job_id,
            text=answer.get("text", ""),
            fields=answer.get("fields") or {},
            usage=usage,
            trace=answer.get("trace") or [],
            model=answer.get("model", ""),
            pages_viewed=int(usage.get("pages_viewed", 0)),
            frames_viewed=int(usage.get("frames_viewed", 0)),
            evidence=[
                Evidence(ordinal=i, **{k: ev.get(k) for k in _EVIDENCE_FIELDS})
                for i, ev in enumerate(answer.get("evidence") or [])
            ],
        )
    )
    session.commit()
    return True


def finish_failed(
    session: Session, claim: JobClaim, code: str, detail: str, progress: tuple[int, int] = (0, 0)
) -> bool:
    done = _finish(session, claim, JobStatus.FAILED, progress, error_code=code, error_detail=detail[:4000])
    session.commit()
    return done


def finish_canceled(session: Session, claim: JobClaim, progress: tuple[int, int]) -> bool:
    done = _finish(session, claim, JobStatus.CANCELED, progress)
    session.commit()
    return done


def release_for_retry(session: Session, claim: JobClaim, detail: str, backoff_s: float) -> bool:
    """After a transient error: back to `queued` with `retry_at` in `backoff_s` (the sweeper sends it), or
    `failed` if the attempts are spent. Returns True if it will be retried."""
    if claim.attempts >= claim.max_attempts:
        finish_failed(session, claim, TRANSIENT_EXHAUSTED, detail)
        return False
    session.execute(
        update(Job)
        .where(Job.id == claim.job_id, Job.lease_token == claim.token, Job.status == JobStatus.RUNNING)
        .values(
            status=JobStatus.QUEUED,
            lease_token=None,
            lease_expires_at=None,
            enqueued_at=None,
            retry_at=utcnow() + timedelta(seconds=backoff_s),
            error_detail=f"retrying after: {detail}"[:4000],
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return True


def expire_job_leases(session: Session) -> tuple[int, int, int]:
    """Jobs whose worker stopped heartbeating: canceled if asked, failed if out of attempts, else re-queued
    (unsent, so the sweeper's dispatch sends them). Returns (requeued, failed, canceled)."""
    now = utcnow()
    expired = (Job.status == JobStatus.RUNNING, Job.lease_expires_at < now)
    cleared = {"lease_token": None, "lease_expires_at": None}
    canceled = session.execute(
        update(Job)
        .where(*expired, Job.cancel_requested.is_(True))
        .values(status=JobStatus.CANCELED, finished_at=now, **cleared)
        .execution_options(synchronize_session=False)
    ).rowcount
    failed = session.execute(
        update(Job)
        .where(*expired, Job.attempts >= Job.max_attempts)
        .values(
            status=JobStatus.FAILED,
            error_code=WORKER_LOST,
            error_detail="the worker running this job stopped on every attempt",
            finished_at=now,
            **cleared,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    requeued = session.execute(
        update(Job)
        .where(*expired)
        .values(status=JobStatus.QUEUED, enqueued_at=None, worker=None, **cleared)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return requeued, failed, canceled


# --- documents (ingest) ---


def claim_document(session: Session, document_id: str, lease_s: float) -> DocumentClaim | None:
    """Claim a document still `processing` whose ingest is not held by a live lease."""
    now = utcnow()
    token = secrets.token_hex(16)
    result = session.execute(
        update(Document)
        .where(
            Document.id == document_id,
            Document.status == DocumentStatus.PROCESSING,
            Document.deleted_at.is_(None),
            (Document.ingest_lease_expires_at.is_(None)) | (Document.ingest_lease_expires_at < now),
        )
        .values(
            ingest_attempts=Document.ingest_attempts + 1,
            ingest_lease_token=token,
            ingest_lease_expires_at=now + timedelta(seconds=lease_s),
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return DocumentClaim(document_id, token) if result.rowcount == 1 else None


def _held(claim: DocumentClaim) -> tuple:
    return (
        Document.id == claim.document_id,
        Document.ingest_lease_token == claim.token,
        Document.status == DocumentStatus.PROCESSING,
        Document.deleted_at.is_(None),
    )


def document_ready(session: Session, claim: DocumentClaim, summary: dict[str, Any], page_images: int) -> bool:
    result = session.execute(
        update(Document)
        .where(*_held(claim))
        .values(
            status=DocumentStatus.READY,
            pages=summary.get("pages"),
            duration_s=summary.get("duration_s"),
            width=summary.get("width"),
            height=summary.get("height"),
            page_images=page_images,
            meta=summary,
            ingest_lease_token=None,
            ingest_lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def document_failed(session: Session, claim: DocumentClaim, code: str, detail: str) -> bool:
    """Mark the document failed and fail the jobs waiting for it, in one transaction."""
    result = session.execute(
        update(Document)
        .where(*_held(claim))
        .values(
            status=DocumentStatus.FAILED,
            error_code=code,
            error_detail=detail[:4000],
            ingest_lease_token=None,
            ingest_lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.rollback()
        return False
    jobs_crud.fail_waiting(session, claim.document_id, code, detail)
    session.commit()
    return True


def stale_documents(session: Session, max_attempts: int, grace_s: float) -> list[str]:
    """Documents whose ingest must be (re)sent: never sent after `grace_s`, or lease expired (cleared here,
    so each is sent once). Those out of attempts are failed instead, with their waiting jobs."""
    now = utcnow()
    processing = (Document.status == DocumentStatus.PROCESSING, Document.deleted_at.is_(None))
    expired = Document.ingest_lease_expires_at < now
    for document_id in session.scalars(
        select(Document.id).where(*processing, expired, Document.ingest_attempts >= max_attempts)
    ):
        session.execute(
            update(Document)
            .where(Document.id == document_id)
            .values(
                status=DocumentStatus.FAILED,
                error_code=WORKER_LOST,
                error_detail="the worker ingesting this document stopped on every attempt",
                ingest_lease_token=None,
                ingest_lease_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        )
        jobs_crud.fail_waiting(
            session, document_id, WORKER_LOST, "the ingest worker stopped on every attempt"
        )
    session.execute(
        update(Document)
        .where(*processing, expired)
        .values(ingest_lease_token=None, ingest_lease_expires_at=None, enqueued_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    old_enough = Document.created_at < now - timedelta(seconds=grace_s)
    return list(
        session.scalars(select(Document.id).where(*processing, Document.enqueued_at.is_(None), old_enough))
    )
