"""End to end against real Postgres, Redis and Celery worker processes, with the real engine.

Uploads go through the API (TestClient over the ASGI app), the broker is Redis, the worker is
`celery worker` in a child process, results are read back over HTTP and checked in Postgres.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from PIL import Image
from sqlalchemy import create_engine, func, select

from service.db.models import Document, Result
from tests.integration.conftest import CeleryProcess, wait_for
from tests.workers.files import hanging_pdf, text_pdf

pytestmark = pytest.mark.slow


def _headers(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def _upload(api, key, path, expect: int = 201) -> dict:
    with open(path, "rb") as fh:
        response = api.post("/v1/documents", headers=_headers(key), files={"file": (path.name, fh)})
    assert response.status_code == expect, response.text
    return response.json()


def _job(api, key, job_id) -> dict:
    response = api.get(f"/v1/jobs/{job_id}", headers=_headers(key))
    assert response.status_code == 200, response.text
    return response.json()


def _wait_job(api, key, job_id, statuses=("succeeded", "failed", "canceled"), timeout=90) -> dict:
    return wait_for(
        lambda: (job := _job(api, key, job_id))["status"] in statuses and job,
        timeout,
        f"job {job_id} to reach {statuses}",
    )


def _wait_document(api, key, document_id, timeout=60) -> dict:
    return wait_for(
        lambda: (
            (doc := api.get(f"/v1/documents/{document_id}", headers=_headers(key)).json())["status"]
            != "processing"
            and doc
        ),
        timeout,
        f"document {document_id} to be ingested",
    )


@pytest.fixture(scope="module")
def db(settings):
    engine = create_engine(settings.database_url)
    yield engine
    engine.dispose()


def test_a_batch_of_20_jobs_all_succeed_with_evidence_in_source_coordinates(
    api, key, worker, tmp_path, corpus_dir
):
    invoice = _upload(api, key, text_pdf(tmp_path / "invoices.pdf", pages=5))
    paper = _upload(api, key, corpus_dir / "pdf/real/pdflatex-4-pages.pdf")
    questions = [
        {"task": "qa", "question": f"Which line says invoice total {n}?"} for n in (3, 107, 215, 322, 439)
    ]
    questions += [
        {"task": "ground", "question": "quick brown fox"},
        {"task": "count", "question": "invoice"},
        {"task": "describe"},
        {"task": "extract", "schema": {"properties": {"total": {"description": "invoice total"}}}},
        {"task": "qa", "question": "What is on page 2?", "options": {"pages": [1, 2]}},
    ]
    body = {"documents": [invoice["id"], paper["id"]], "questions": questions}
    response = api.post("/v1/batches", headers=_headers(key), json=body)
    assert response.status_code == 201, response.text
    batch_id = response.json()["id"]
    assert response.json()["job_count"] == 20

    batch = wait_for(
        lambda: (
            (b := api.get(f"/v1/batches/{batch_id}", headers=_headers(key)).json())["status"] == "completed"
            and b
        ),
        180,
        "the batch to complete",
        interval=0.5,
    )
    assert batch["counts"]["succeeded"] == 20, batch
    lines = api.get(f"/v1/batches/{batch_id}/results", headers=_headers(key)).text.splitlines()
    assert len(lines) == 20

    documents = {
        d: api.get(f"/v1/documents/{d}", headers=_headers(key)).json() for d in (invoice["id"], paper["id"])
    }
    listed = api.get("/v1/jobs", headers=_headers(key), params={"batch_id": batch_id, "limit": 50}).json()[
        "data"
    ]
    boxes = 0
    for summary in listed:
        job = _job(api, key, summary["id"])  # each result fetched by ID
        assert job["status"] == "succeeded" and job["attempts"] == 1 and job["result"]["model"]
        sizes = documents[job["document_id"]]["media"]["page_sizes"]
        for ev in job["result"]["evidence"]:
            width, height = sizes[ev["page"]]["width"], sizes[ev["page"]]["height"]
            x0, y0, x1, y1 = ev["bbox"]  # PDF points of the displayed page
            assert 0 <= x0 < x1 <= width + 0.01 and 0 <= y0 < y1 <= height + 0.01
            assert ev["bbox_norm"] == pytest.approx(
                [x0 / width, y0 / height, x1 / width, y1 / height], abs=1e-3
            )
            boxes += 1
        if job["document_id"] == invoice["id"] and job["task"] == "qa" and "invoice total" in job["question"]:
            total = job["question"].split()[-1].rstrip("?")
            [ev] = job["result"]["evidence"]
            assert f"invoice total {total} EUR" in ev["text"] and ev["page"] == int(total) // 100
    assert boxes >= 10
    metrics = api.get("/metrics").text
    assert 'sightline_jobs{status="succeeded"}' in metrics and "sightline_pages_processed_total" in metrics


def test_kill_9_mid_job_then_restart_ends_succeeded_exactly_once(
    api, key, worker: CeleryProcess, db, tmp_path
):
    # 800 pages: the agent routes a text page in about 10 ms, so the job stays running through several
    # heartbeats after its progress passes 10 pages, on a fast machine too.
    document = _upload(api, key, text_pdf(tmp_path / "long.pdf", pages=800))
    assert _wait_document(api, key, document["id"])["status"] == "ready"
    body = {"document_id": document["id"], "task": "qa", "question": "Which line says invoice total 19917?"}
    job_id = api.post("/v1/jobs", headers=_headers(key), json=body).json()["id"]
    wait_for(
        lambda: (job := _job(api, key, job_id))["status"] == "running" and job["progress"]["done"] >= 10,
        60,
        "the job to be running with visible progress",
    )
    worker.kill9()
    time.sleep(0.5)
    assert _job(api, key, job_id)["status"] == "running"  # nobody knows yet: the lease has not expired
    worker.start()
    job = _wait_job(api, key, job_id, timeout=120)
    assert job["status"] == "succeeded" and job["attempts"] == 2, job
    assert "invoice total 19917 EUR" in job["result"]["evidence"][0]["text"]
    with db.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(Result).where(Result.job_id == job_id)).scalar_one()
            == 1
        )


def test_a_file_that_hangs_the_parser_fails_its_job_and_the_worker_lives(
    api, key, worker: CeleryProcess, tmp_path, corpus_dir
):
    pid = worker.proc.pid
    hanging = _upload(api, key, hanging_pdf(tmp_path / "hang.pdf"))
    body = {"document_id": hanging["id"], "task": "describe"}
    job_id = api.post("/v1/jobs", headers=_headers(key), json=body).json()["id"]
    job = _wait_job(api, key, job_id, timeout=60)
    assert job["status"] == "failed" and job["error"]["code"] == "timeout", job
    document = api.get(f"/v1/documents/{hanging['id']}", headers=_headers(key)).json()
    assert (document["status"], document["error"]["code"]) == ("failed", "timeout")
    assert worker.alive and worker.proc.pid == pid
    good = _upload(api, key, corpus_dir / "pdf/real/minimal-document.pdf")
    body = {"document_id": good["id"], "task": "describe"}
    next_job = _wait_job(api, key, api.post("/v1/jobs", headers=_headers(key), json=body).json()["id"])
    assert next_job["status"] == "succeeded"


def test_an_upload_over_the_limit_is_413_and_nothing_is_stored(api, key, settings, db, tmp_path):
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.7\n" + b"0" * settings.max_upload_bytes)
    with db.connect() as conn:
        before = conn.execute(select(func.count()).select_from(Document)).scalar_one()
    files_before = sorted(settings.blob_dir.rglob("*"))
    response = api.post("/v1/documents", headers=_headers(key), files={"file": ("big.pdf", big.read_bytes())})
    assert (response.status_code, response.json()["code"]) == (413, "too_large")
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Document)).scalar_one() == before
    assert sorted(settings.blob_dir.rglob("*")) == files_before


def test_every_malformed_pdf_is_refused_or_fails_with_a_code_never_a_5xx(api, key, worker, corpus_dir):
    accepted, refused = [], []
    for path in sorted((corpus_dir / "pdf/malformed").glob("*.pdf")):
        with open(path, "rb") as fh:
            response = api.post("/v1/documents", headers=_headers(key), files={"file": (path.name, fh)})
        assert response.status_code < 500, (path.name, response.text)
        if response.status_code in (200, 201):
            accepted.append(response.json()["id"])
        else:
            assert 400 <= response.status_code < 500 and response.json()["code"], path.name
            refused.append(path.name)
    body = {"documents": accepted, "questions": [{"task": "describe"}]}
    response = api.post("/v1/batches", headers=_headers(key), json=body)
    assert response.status_code == 201, response.text
    batch_id = response.json()["id"]
    wait_for(
        lambda: api.get(f"/v1/batches/{batch_id}", headers=_headers(key)).json()["status"] == "completed",
        240,
        "every malformed file's job to finish",
        interval=0.5,
    )
    lines = api.get(f"/v1/batches/{batch_id}/results", headers=_headers(key)).text.splitlines()
    jobs = [json.loads(line) for line in lines]
    assert len(jobs) == len(accepted) and refused
    for job in jobs:
        assert job["status"] in ("succeeded", "failed"), job
        if job["status"] == "failed":
            assert job["error"]["code"] in {
                "bad_document",
                "encrypted",
                "timeout",
                "parser_crashed",
                "too_large",
                "unsupported_type",
            }


def test_chat_completions_answers_about_an_inline_image_in_its_pixels(api, key, worker, corpus_dir):
    path = corpus_dir / "receipts/img/000.jpg"
    width, height = Image.open(path).size  # the scans carry no EXIF rotation
    url = "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
    content = [
        {"type": "text", "text": "What is the total?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    response = api.post(
        "/v1/chat/completions",
        headers=_headers(key),
        json={"messages": [{"role": "user", "content": content}]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"]["content"]
    for ev in body["sightline"]["evidence"]:
        x0, y0, x1, y1 = ev["bbox"]  # image pixels
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height and ev["page"] is None
    assert body["sightline"]["evidence"]
