"""Documents: look-ups per tenant (deleted ones are gone), dedup by sha256, soft delete."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.db.base import utcnow
from service.db.models import Document, Job, JobStatus


def get(session: Session, tenant_id: str, document_id: str) -> Document | None:
    return session.scalar(
        select(Document).where(
            Document.id == document_id, Document.tenant_id == tenant_id, Document.deleted_at.is_(None)
        )
    )


def get_many(session: Session, tenant_id: str, document_ids: Iterable[str]) -> dict[str, Document]:
    ids = set(document_ids)
    rows = session.scalars(
        select(Document).where(
            Document.id.in_(ids), Document.tenant_id == tenant_id, Document.deleted_at.is_(None)
        )
    )
    return {d.id: d for d in rows}


def find_live_by_sha256(session: Session, tenant_id: str, sha256: str) -> Document | None:
    return session.scalar(
        select(Document).where(
            Document.tenant_id == tenant_id, Document.sha256 == sha256, Document.deleted_at.is_(None)
        )
    )


def soft_delete(session: Session, document: Document) -> None:
    """Hide the document and stop its work: queued jobs are canceled, running ones asked to stop; commits."""
    now = utcnow()
    document.deleted_at = now
    session.execute(
        update(Job)
        .where(Job.document_id == document.id, Job.status == JobStatus.QUEUED)
        .values(status=JobStatus.CANCELED, finished_at=now)
    )
    session.execute(
        update(Job)
        .where(Job.document_id == document.id, Job.status == JobStatus.RUNNING)
        .values(cancel_requested=True)
    )
    session.commit()


def mark_enqueued(session: Session, document_id: str) -> None:
    session.execute(update(Document).where(Document.id == document_id).values(enqueued_at=utcnow()))
    session.commit()
