"""Batches: creation with their jobs in one transaction, look-ups per tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.crud.jobs import new_job
from service.db.models import Batch, Document, Job
from service.ids import new_id
from service.schemas.jobs import JobCreate


def get(session: Session, tenant_id: str, batch_id: str) -> Batch | None:
    return session.scalar(select(Batch).where(Batch.id == batch_id, Batch.tenant_id == tenant_id))


def find_by_idempotency_key(session: Session, tenant_id: str, key: str) -> Batch | None:
    return session.scalar(select(Batch).where(Batch.tenant_id == tenant_id, Batch.idempotency_key == key))


def create(
    session: Session,
    tenant_id: str,
    specs: list[JobCreate],
    documents: dict[str, Document],
    *,
    max_attempts: int,
    idempotency_key: str | None,
    request_hash: str | None,
) -> tuple[Batch, list[Job]]:
    """The batch row and one job per spec; flushes, the caller commits."""
    batch = Batch(
        id=new_id("bat"),
        tenant_id=tenant_id,
        job_count=len(specs),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    session.add(batch)
    session.flush()
    jobs = [
        new_job(spec, documents[spec.document_id], max_attempts=max_attempts, batch_id=batch.id)
        for spec in specs
    ]
    session.add_all(jobs)
    session.flush()
    return batch, jobs
