"""Batches: a list of jobs or documents x questions, in one transaction; counts, and results as JSON Lines."""

from __future__ import annotations

import json

import pymupdf
import pytest

from service.db.models import Job
from tests.service.conftest import auth, queued_messages, set_document, upload


def _document(client, key, text: str, **state) -> str:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), text)
    document_id = upload(client, key, doc.tobytes()).json()["id"]
    set_document(client, document_id, **(state or {"status": "ready", "pages": 1}))
    return document_id


@pytest.fixture
def documents(client, key) -> list[str]:
    return [_document(client, key, f"document {i}") for i in range(3)]


def test_documents_times_questions(client, key, settings, documents):
    before = len(queued_messages(settings))
    body = {
        "documents": documents,
        "questions": [
            {"task": "qa", "question": "Who?"},
            {"task": "extract", "schema": {"properties": {"total": {}}}, "options": {"priority": 9}},
        ],
    }
    response = client.post("/v1/batches", headers=auth(key), json=body)
    assert response.status_code == 201, response.text
    batch = response.json()
    assert batch["job_count"] == 6 and batch["status"] == "running" and batch["progress"] == 0.0
    assert batch["counts"] == {"queued": 6, "running": 0, "succeeded": 0, "failed": 0, "canceled": 0}
    assert len(queued_messages(settings)) == before + 6
    jobs = client.get("/v1/jobs", headers=auth(key), params={"batch_id": batch["id"]}).json()["data"]
    assert sorted((j["document_id"], j["task"]) for j in jobs) == sorted(
        (d, t) for d in documents for t in ("qa", "extract")
    )


def test_explicit_jobs_and_results_as_json_lines(client, key, documents):
    body = {"jobs": [{"document_id": d, "task": "describe"} for d in documents]}
    batch = client.post("/v1/batches", headers=auth(key), json=body).json()
    with client.app.state.runtime.sessions() as session:  # one job finishes, one is canceled
        jobs = session.query(Job).filter_by(batch_id=batch["id"]).order_by(Job.id).all()
        jobs[0].status, jobs[1].status = "succeeded", "canceled"
        session.commit()
    got = client.get(f"/v1/batches/{batch['id']}", headers=auth(key)).json()
    assert got["counts"]["succeeded"] == 1 and got["counts"]["canceled"] == 1 and got["counts"]["queued"] == 1
    assert got["progress"] == pytest.approx(2 / 3) and got["status"] == "running"
    response = client.get(f"/v1/batches/{batch['id']}/results", headers=auth(key))
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/jsonl")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["id"] for line in lines] == [j.id for j in jobs]
    assert [line["status"] for line in lines] == ["succeeded", "canceled", "queued"]
    assert all("result" in line and "schema" in line for line in lines)


def test_a_failed_document_fails_its_jobs_not_the_batch(client, key, documents):
    broken = _document(client, key, "broken", status="failed", error_code="bad_document", error_detail="x")
    body = {"documents": [*documents, broken], "questions": [{"task": "describe"}]}
    batch = client.post("/v1/batches", headers=auth(key), json=body).json()
    assert batch["counts"]["failed"] == 1 and batch["counts"]["queued"] == 3


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"jobs": []},
        {"documents": ["doc_a"]},
        {"jobs": [{"document_id": "doc_a", "task": "describe"}], "documents": ["doc_a"], "questions": []},
        {"documents": ["doc_a"], "questions": [{"task": "qa"}]},  # a question is missing
    ],
)
def test_malformed_batches_are_422(client, key, body):
    response = client.post("/v1/batches", headers=auth(key), json=body)
    assert (response.status_code, response.json()["code"]) == (422, "invalid_request")


def test_limits_and_unknown_documents(client, key, other_key, settings, documents):
    too_many = {"documents": documents, "questions": [{"task": "describe"}] * 17}  # 51 > 50
    response = client.post("/v1/batches", headers=auth(key), json=too_many)
    assert response.status_code == 422 and "limit" in response.json()["detail"]
    unknown = {"documents": [*documents, "doc_nope"], "questions": [{"task": "describe"}]}
    assert client.post("/v1/batches", headers=auth(key), json=unknown).status_code == 404
    assert (
        client.post(
            "/v1/batches", headers=auth(other_key), json={**unknown, "documents": documents}
        ).status_code
        == 404
    )
    misfit = {"documents": documents, "questions": [{"task": "video_qa", "question": "When?"}]}
    response = client.post("/v1/batches", headers=auth(key), json=misfit)
    assert response.status_code == 422 and response.json()["detail"].startswith("job 0: ")
    assert client.get("/v1/jobs", headers=auth(key)).json()["data"] == []  # nothing half-created


def test_batch_idempotency_and_tenancy(client, key, other_key, documents):
    body = {"documents": documents, "questions": [{"task": "describe"}]}
    first = client.post("/v1/batches", headers={**auth(key), "Idempotency-Key": "b1"}, json=body)
    again = client.post("/v1/batches", headers={**auth(key), "Idempotency-Key": "b1"}, json=body)
    assert (first.status_code, again.status_code) == (201, 200) and again.json()["id"] == first.json()["id"]
    assert len(client.get("/v1/jobs", headers=auth(key)).json()["data"]) == 3
    batch_id = first.json()["id"]
    assert client.get(f"/v1/batches/{batch_id}", headers=auth(other_key)).status_code == 404
    assert client.get(f"/v1/batches/{batch_id}/results", headers=auth(other_key)).status_code == 404
