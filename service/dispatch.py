"""Sending work after the transaction commits: the one place that turns rows into broker messages.

A message is sent only for a committed row, and the row records that it was sent (`enqueued_at`). A crash
between the commit and the send leaves the row unsent, and the sweeper sends it; a crash between the send
and the mark sends it twice, which the conditional claim in the worker turns into a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from service.broker import Broker
from service.crud import documents as documents_crud
from service.crud import jobs as jobs_crud


def dispatch_jobs(
    session: Session, broker: Broker, job_ids: Iterable[str] | None = None, older_than_s: float = 0.0
) -> int:
    """Send infer messages for sendable jobs (see `crud.jobs.sendable`); returns how many were sent."""
    sent = []
    for job in jobs_crud.sendable(session, job_ids, older_than_s):
        if not broker.send_infer(job.id, job.priority):
            break  # the broker is down: the rest stay unsent for the sweeper
        sent.append(job.id)
    jobs_crud.mark_enqueued(session, sent)
    return len(sent)


def dispatch_ingest(session: Session, broker: Broker, document_id: str) -> None:
    if broker.send_ingest(document_id):
        documents_crud.mark_enqueued(session, document_id)
