"""The periodic sweeper (Celery beat, every `sweep_interval_s`): the safety net under every message.

It re-queues jobs whose lease expired (their worker died or hung), fails those out of attempts, and sends
whatever is queued but unsent: jobs whose send failed or whose retry time has come, jobs that missed their
document's ingest finishing, and documents whose ingest message was lost or whose ingest worker died.
Running it twice at once is harmless: every change is a conditional UPDATE and a duplicate message is a
no-op in the task.
"""

from __future__ import annotations

import logging

from service.broker import SWEEP_TASK
from service.dispatch import dispatch_ingest, dispatch_jobs
from workers import leases
from workers.app import app
from workers.context import runtime

log = logging.getLogger(__name__)


@app.task(name=SWEEP_TASK)
def sweep() -> dict[str, int]:
    rt = runtime()
    settings = rt.settings
    with rt.sessions() as session:
        requeued, failed, canceled = leases.expire_job_leases(session)
        documents = leases.stale_documents(session, settings.max_attempts, settings.enqueue_grace_s)
        for document_id in documents:
            dispatch_ingest(session, rt.broker, document_id)
        sent = dispatch_jobs(session, rt.broker, older_than_s=settings.enqueue_grace_s)
    report = {
        "requeued": requeued,
        "failed": failed,
        "canceled": canceled,
        "ingests_sent": len(documents),
        "jobs_sent": sent,
    }
    if any(report.values()):
        log.info("sweep: %s", report)
    return report
