"""The `infer` task: run the engine on one job and store its grounded answer.

Design choices:
- The message carries the job ID only. The task claims the job (conditional UPDATE, lease, attempt
  counted); a redelivered message for a job that is running elsewhere or already final does nothing.
- While the engine runs, a heartbeat thread extends the lease, publishes progress, and turns a cancel
  request (or the lease lost, or `max_job_seconds` passed) into `cancelled()` being true; the engine
  honours it between pages or frames.
- Outcomes: the answer and the final status in one transaction; `MediaError` or `AgentError` (bad input:
  a schema, a budget, a video with no backend to search it) -> failed with its code;
  a transient error (database or network away) -> back to the queue with backoff, attempts capped; any
  other exception is a bug -> failed with `internal_error` (retrying a bug would only fail again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from service.broker import INFER_TASK
from service.db.models import Document, Job
from service.settings import Settings
from vlm_engine.agent import AgentError
from vlm_engine.answer import Answer
from vlm_engine.engine import Cancelled, TaskOptions, TaskRequest
from vlm_engine.errors import MediaError
from workers import leases
from workers.app import app
from workers.context import runtime, worker_name
from workers.engines import Engine, get_engine
from workers.heartbeat import Heartbeat

log = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
JOB_TIMEOUT = "timeout"


@lru_cache(maxsize=1)
def engine() -> Engine:
    return get_engine(runtime().settings)


def _request(job: Job, document: Document, path: str) -> TaskRequest:
    options = job.options or {}
    return TaskRequest(
        task=job.task,
        path=path,
        question=job.question,
        schema=job.schema,
        options=TaskOptions(
            pages=tuple(options["pages"]) if options.get("pages") else None,
            time_window=tuple(options["time_window"]) if options.get("time_window") else None,
            page_budget=options.get("page_budget"),
            visual_token_budget=options.get("visual_token_budget"),
            views=options.get("views", True),
        ),
    )


@dataclass(frozen=True)
class Outcome:
    status: str  # succeeded | canceled | failed | transient
    answer: Answer | None = None
    code: str = ""
    detail: str = ""


def _run_engine(request: TaskRequest, heartbeat: Heartbeat, job_id: str, max_seconds: float) -> Outcome:
    try:
        answer = engine()(request, progress=heartbeat.progress, cancelled=heartbeat.should_stop)
    except Cancelled:
        if heartbeat.timed_out:
            return Outcome(
                "failed", code=JOB_TIMEOUT, detail=f"the job ran past max_job_seconds={max_seconds:g}"
            )
        return Outcome("canceled")
    except (MediaError, AgentError) as exc:
        return Outcome("failed", code=exc.code.value, detail=exc.detail)
    except TRANSIENT as exc:
        return Outcome("transient", detail=f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        log.exception("job %s: the engine raised a bug", job_id)
        return Outcome("failed", code=leases.INTERNAL_ERROR, detail=f"{type(exc).__name__}: {exc}")
    return Outcome("succeeded", answer=answer)


def _record(
    session: Session, claim: leases.JobClaim, outcome: Outcome, progress: tuple[int, int], settings: Settings
) -> str:
    """Write the outcome if this worker still holds the job; returns what happened."""
    if outcome.status == "transient":
        backoff = min(settings.retry_backoff_max_s, settings.retry_backoff_s * 2 ** (claim.attempts - 1))
        retried = leases.release_for_retry(session, claim, outcome.detail, backoff)
        log.warning(
            "job %s: transient error (%s); %s",
            claim.job_id,
            outcome.detail,
            f"retry in {backoff:g} s" if retried else "attempts spent",
        )
        return "retry" if retried else "failed"
    if outcome.status == "succeeded":
        assert outcome.answer is not None
        written = leases.finish_succeeded(session, claim, outcome.answer.to_dict(), progress)
    elif outcome.status == "canceled":
        written = leases.finish_canceled(session, claim, progress)
    else:
        written = leases.finish_failed(session, claim, outcome.code, outcome.detail, progress)
    return outcome.status if written else "lost"


@app.task(name=INFER_TASK)
def run_job(job_id: str) -> str:
    rt = runtime()
    settings = rt.settings
    with rt.sessions() as session:
        claim = leases.claim_job(session, job_id, settings.job_lease_s, worker_name())
        if claim is None:
            log.info("job %s: not queued (final, canceled or held elsewhere); skipped", job_id)
            return "skipped"
        job = session.get_one(Job, job_id)
        document = session.get_one(Document, job.document_id)
        request = _request(job, document, str(rt.store.path(document.blob_key)))
    log.info("job %s: attempt %d of %d, %s", job_id, claim.attempts, claim.max_attempts, request.task)
    heartbeat = Heartbeat(
        rt.sessions,
        claim,
        lease_s=settings.job_lease_s,
        interval_s=settings.heartbeat_s,
        max_seconds=settings.max_job_seconds,
    )
    with heartbeat:
        outcome = _run_engine(request, heartbeat, job_id, settings.max_job_seconds)
    if heartbeat.lost:
        log.warning("job %s: lease lost; another worker owns it now", job_id)
        return "lost"
    with rt.sessions() as session:
        result = _record(session, claim, outcome, heartbeat.last_progress, settings)
    if result == "lost":
        log.warning("job %s: lease lost before the outcome was written; dropped", job_id)
    else:
        log.info("job %s: %s%s", job_id, result, f" ({outcome.code})" if outcome.code else "")
    return result
