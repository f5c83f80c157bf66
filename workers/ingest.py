"""The `ingest` task: probe an upload and render its page images, in a sandbox; then release its jobs.

Design choices:
- The message carries the document ID only; the task re-reads the row and claims it with a lease, so a
  duplicate message is a no-op and a dead worker's document is picked up again by the sweeper.
- All parsing of the untrusted file happens in `run_isolated` (a child process with a memory and a time
  limit): a file that hangs or crashes the parser fails its document with `timeout` / `parser_crashed`,
  and this worker goes on to the next message.
- On success the document becomes `ready` and the jobs waiting for it are sent to `infer` (after the
  commit); on failure they fail with the document's code, in the same transaction.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from service.broker import INGEST_TASK
from service.crud import jobs as jobs_crud
from service.db.models import Document
from service.dispatch import dispatch_jobs
from service.storage import document_prefix, page_key
from vlm_engine.errors import MediaError
from vlm_engine.media.sandbox import run_isolated
from workers import leases
from workers.app import app
from workers.context import runtime
from workers.engines import media_limits
from workers.parsing import ingest_file

log = logging.getLogger(__name__)


@app.task(name=INGEST_TASK)
def ingest_document(document_id: str) -> str:
    rt = runtime()
    settings = rt.settings
    with rt.sessions() as session:
        claim = leases.claim_document(session, document_id, settings.ingest_timeout_s + settings.job_lease_s)
        if claim is None:
            log.info("document %s: not waiting for ingest (done, deleted or held); skipped", document_id)
            return "skipped"
        document = session.get_one(Document, document_id)
        source = rt.store.path(document.blob_key)
        tenant_id = document.tenant_id
        with tempfile.TemporaryDirectory(prefix="sightline-ingest-") as out:
            try:
                report = run_isolated(
                    ingest_file,
                    str(source),
                    out,
                    media_limits(settings, settings.ingest_timeout_s),
                    settings.page_image_dpi,
                    settings.page_image_max_pages,
                    timeout_s=settings.ingest_timeout_s,
                    memory_bytes=settings.ingest_memory_bytes,
                )
            except MediaError as exc:
                log.info("document %s failed ingest: %s", document_id, exc)
                leases.document_failed(session, claim, exc.code.value, exc.detail)
                return exc.code.value
            except RuntimeError as exc:  # a bug in the parsing code, reported from the child
                log.exception("document %s: ingest crashed", document_id)
                leases.document_failed(session, claim, leases.INTERNAL_ERROR, str(exc).splitlines()[0])
                return leases.INTERNAL_ERROR
            for index in range(report.page_images):
                rt.store.put_file(Path(out) / f"{index}.png", page_key(tenant_id, document_id, index))
        if not leases.document_ready(session, claim, report.summary, report.page_images):
            if session.get_one(Document, document_id, populate_existing=True).deleted_at is not None:
                rt.store.delete_prefix(document_prefix(tenant_id, document_id))  # deleted meanwhile
            log.warning(
                "document %s: deleted or lease lost during ingest; the result is dropped", document_id
            )
            return "lost"
        sent = dispatch_jobs(session, rt.broker, jobs_crud.waiting_on(session, document_id))
    log.info("document %s ready (%s); %d waiting jobs sent", document_id, report.summary.get("kind"), sent)
    return "ready"
