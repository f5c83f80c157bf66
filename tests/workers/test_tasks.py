"""The ingest, infer and sweep tasks, run in this process: sandboxed parsing, claims, results, failures."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

import workers.infer
from service.crud import documents as documents_crud
from service.db.base import utcnow
from service.db.models import Document, Evidence, Job, Result
from service.storage import document_prefix
from tests.service.conftest import queued_messages
from tests.workers.conftest import add_document, add_job, job_row
from tests.workers.files import hanging_pdf, text_pdf
from workers import leases
from workers.infer import run_job
from workers.ingest import ingest_document
from workers.sweeper import sweep


def _document(rt, document_id) -> Document:
    with rt.sessions() as session:
        return session.get_one(Document, document_id)


def _results(rt, job_id) -> int:
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(Result).where(Result.job_id == job_id))


def test_ingest_probes_renders_and_sends_the_waiting_jobs(rt, settings, corpus_dir):
    document = add_document(rt, corpus_dir / "pdf/real/pdflatex-4-pages.pdf")
    job_id = add_job(rt, document.id)
    assert ingest_document(document.id) == "ready"
    ready = _document(rt, document.id)
    assert (ready.status, ready.pages, ready.page_images) == ("ready", 4, 2)
    assert ready.meta["page_sizes"][0]["width"] == pytest.approx(595.28, abs=0.1)  # A4 in points
    png = rt.store.path(f"{ready.tenant_id}/{ready.id}/pages/1.png")
    assert png.read_bytes().startswith(b"\x89PNG")
    assert job_row(rt, job_id).enqueued_at is not None and len(queued_messages(settings)) == 1
    assert ingest_document(document.id) == "skipped"  # a duplicate message is a no-op


def test_ingest_of_an_image_keeps_its_size_and_page_image(rt, corpus_dir):
    document = add_document(rt, corpus_dir / "receipts/img/000.jpg")
    assert ingest_document(document.id) == "ready"
    ready = _document(rt, document.id)
    assert ready.kind == "image" and ready.width > 0 and ready.height > 0 and ready.page_images == 1


def test_a_hanging_parser_fails_its_document_and_jobs_and_the_worker_goes_on(
    rt, settings, tmp_path, corpus_dir
):
    settings.ingest_timeout_s = 3
    document = add_document(rt, hanging_pdf(tmp_path / "hang.pdf"))
    job_id = add_job(rt, document.id)
    assert ingest_document(document.id) == "timeout"
    failed = _document(rt, document.id)
    assert (failed.status, failed.error_code) == ("failed", "timeout")
    assert (job_row(rt, job_id).status, job_row(rt, job_id).error_code) == ("failed", "timeout")
    good = add_document(rt, corpus_dir / "pdf/real/minimal-document.pdf")
    assert ingest_document(good.id) == "ready"


@pytest.mark.parametrize(
    ("name", "code"), [("deep-pages.pdf", "bad_document"), ("enc-XI-R6,V5,U=view,O=master.pdf", "encrypted")]
)
def test_bad_files_fail_ingest_with_their_code(rt, corpus_dir, name, code):
    document = add_document(rt, corpus_dir / "pdf/malformed" / name)
    assert ingest_document(document.id) == code
    assert _document(rt, document.id).error_code == code


def test_run_job_stores_a_grounded_answer_once(rt, tmp_path):
    document = add_document(rt, text_pdf(tmp_path / "doc.pdf", pages=3))
    ingest_document(document.id)
    job_id = add_job(rt, document.id, question="Which line says invoice total 207?")
    assert run_job(job_id) == "succeeded"
    job = job_row(rt, job_id)
    assert (job.status, job.attempts, job.progress_done, job.progress_total) == ("succeeded", 1, 3, 3)
    assert job.latency_s > 0 and job.lease_token is None
    with rt.sessions() as session:
        result = session.scalars(select(Result).where(Result.job_id == job_id)).one()
        assert "207" in result.text and result.pages_viewed == 3 and result.trace
        [evidence] = session.scalars(select(Evidence).where(Evidence.result_id == result.id)).all()
    assert evidence.page == 2 and evidence.bbox[0] == pytest.approx(72, abs=2)  # PDF points
    assert evidence.bbox_norm[2] == pytest.approx(evidence.bbox[2] / 595.28, abs=1e-3)
    assert run_job(job_id) == "skipped" and _results(rt, job_id) == 1  # redelivered: a no-op


def test_bad_input_at_inference_fails_with_its_code(rt, tmp_path):
    document = add_document(rt, text_pdf(tmp_path / "doc.pdf", pages=2))
    ingest_document(document.id)
    with rt.sessions() as session:  # a page range checked only by the engine (the row says nothing)
        session.execute(update(Document).where(Document.id == document.id).values(pages=None))
        session.commit()
    job_id = add_job(rt, document.id, options={"pages": [5, 6]})
    assert run_job(job_id) == "failed"
    assert job_row(rt, job_id).error_code == "out_of_range"


def test_job_options_reach_the_engine(rt, tmp_path):
    document = add_document(rt, text_pdf(tmp_path / "doc.pdf", pages=2))
    with rt.sessions() as session:
        for options, views in (({"views": False, "page_budget": 1}, False), ({}, True)):
            job = session.get(Job, add_job(rt, document.id, options=options))
            request = workers.infer._request(job, document, "doc.pdf")
            assert request.options.views is views
            assert request.options.page_budget == options.get("page_budget")


def test_transient_errors_retry_with_backoff_then_fail(rt, settings, tmp_path, monkeypatch):
    document = add_document(rt, text_pdf(tmp_path / "doc.pdf", pages=1))
    ingest_document(document.id)
    job_id = add_job(rt, document.id)

    def flaky(request, progress=None, cancelled=None):
        raise OperationalError("SELECT 1", {}, ConnectionError("database away"))

    monkeypatch.setattr(workers.infer, "engine", lambda: flaky)
    assert run_job(job_id) == "retry"
    job = job_row(rt, job_id)
    assert (job.status, job.attempts, job.enqueued_at) == ("queued", 1, None)
    assert job.retry_at > utcnow() + timedelta(seconds=settings.retry_backoff_s - 1)
    assert sweep()["jobs_sent"] == 0  # not before its retry time
    with rt.sessions() as session:
        session.execute(update(Job).where(Job.id == job_id).values(retry_at=utcnow()))
        session.commit()
    assert sweep()["jobs_sent"] == 1
    assert run_job(job_id) == "failed"  # the second attempt is the last (max_attempts=2)
    job = job_row(rt, job_id)
    assert (job.status, job.error_code, job.attempts) == ("failed", "transient_error", 2)


def test_a_bug_in_the_engine_is_internal_error(rt, tmp_path, monkeypatch):
    document = add_document(rt, text_pdf(tmp_path / "doc.pdf", pages=1))
    ingest_document(document.id)
    job_id = add_job(rt, document.id)
    monkeypatch.setattr(workers.infer, "engine", lambda: lambda request, **_: {}["missing"])
    assert run_job(job_id) == "failed"
    assert job_row(rt, job_id).error_code == "internal_error"


def test_cancel_is_honoured_between_steps(rt, tmp_path, monkeypatch):
    document = add_document(rt, text_pdf(tmp_path / "doc.pdf", pages=40))
    ingest_document(document.id)
    job_id = add_job(rt, document.id)
    real_engine = workers.infer.get_engine(rt.settings)

    def cancel_soon(request, progress=None, cancelled=None):
        def step(done, total):
            progress(done, total)
            if done == 2:  # the user cancels while the job runs; the heartbeat notices within a beat
                with rt.sessions() as session:
                    session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
                    session.commit()
                deadline = time.monotonic() + 5
                while not cancelled() and time.monotonic() < deadline:
                    time.sleep(0.02)

        return real_engine(request, progress=step, cancelled=cancelled)

    monkeypatch.setattr(workers.infer, "engine", lambda: cancel_soon)
    assert run_job(job_id) == "canceled"
    job = job_row(rt, job_id)
    assert job.status == "canceled" and 2 <= job.progress_done < 40 and _results(rt, job_id) == 0


def test_a_canceled_job_is_not_run(rt, tmp_path):
    document = add_document(rt, text_pdf(tmp_path / "doc.pdf", pages=1))
    ingest_document(document.id)
    job_id = add_job(rt, document.id)
    with rt.sessions() as session:
        session.execute(update(Job).where(Job.id == job_id).values(status="canceled"))
        session.commit()
    assert run_job(job_id) == "skipped"


def test_the_sweeper_requeues_expired_leases_and_caps_attempts(rt, tmp_path):
    document = add_document(rt, text_pdf(tmp_path / "doc.pdf", pages=1))
    ingest_document(document.id)
    job_id = add_job(rt, document.id)
    for attempt in (1, 2):  # a worker claims the job and dies (its lease runs out)
        with rt.sessions() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(
                    status="running",
                    attempts=attempt,
                    lease_token="dead",
                    lease_expires_at=utcnow() - timedelta(seconds=1),
                )
            )
            session.commit()
        report = sweep()
        if attempt == 1:
            assert report["requeued"] == 1 and report["jobs_sent"] == 1
            assert job_row(rt, job_id).status == "queued"
    job = job_row(rt, job_id)
    assert (job.status, job.error_code) == ("failed", "worker_lost")


def test_the_sweeper_sends_lost_ingest_messages(rt, settings, corpus_dir):
    settings.enqueue_grace_s = 0
    document = add_document(rt, corpus_dir / "pdf/real/minimal-document.pdf")  # never sent
    assert sweep()["ingests_sent"] == 1
    assert _document(rt, document.id).enqueued_at is not None
    assert sweep()["ingests_sent"] == 0


def test_a_job_past_max_job_seconds_fails_with_timeout(rt, settings, tmp_path):
    document = add_document(rt, text_pdf(tmp_path / "doc.pdf", pages=30))
    ingest_document(document.id)
    job_id = add_job(rt, document.id)
    settings.max_job_seconds = 0.1
    assert run_job(job_id) == "failed"
    job = job_row(rt, job_id)
    assert (job.status, job.error_code) == ("failed", "timeout") and job.progress_done < 30


def test_a_document_deleted_during_ingest_leaves_nothing_behind(rt, corpus_dir, monkeypatch):
    document = add_document(rt, corpus_dir / "pdf/real/pdflatex-4-pages.pdf")
    real_ready = leases.document_ready

    def delete_first(session, claim, summary, page_images):  # the user deletes it while it is parsed
        with rt.sessions() as other:
            documents_crud.soft_delete(other, other.get_one(Document, document.id))
        rt.store.delete_prefix(document_prefix(document.tenant_id, document.id))
        return real_ready(session, claim, summary, page_images)

    monkeypatch.setattr(leases, "document_ready", delete_first)
    assert ingest_document(document.id) == "lost"
    assert not rt.store.path(document_prefix(document.tenant_id, document.id)).exists()
    assert _document(rt, document.id).status == "processing"  # hidden: deleted_at is set
