"""Jobs over the API: validation, sending after ingest, idempotency keys, cursor pages, cancel, tenants."""

from __future__ import annotations

import pymupdf
import pytest

from service.db.models import Job
from tests.service.conftest import auth, queued_messages, set_document, upload


def _pdf(text: str) -> bytes:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), text)
    return doc.tobytes()


@pytest.fixture
def document(client, key) -> str:
    document_id = upload(client, key, _pdf("a document")).json()["id"]
    set_document(client, document_id, status="ready", pages=1)
    return document_id


def _create(client, key, document, headers=None, **body):
    body = {"document_id": document, "task": "qa", "question": "What?", **body}
    return client.post("/v1/jobs", headers={**auth(key), **(headers or {})}, json=body)


def test_a_job_is_queued_and_sent(client, key, settings, document):
    before = len(queued_messages(settings))
    response = _create(client, key, document, options={"pages": [0, 0], "priority": 8})
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["status"] == "queued" and job["result"] is None and job["attempts"] == 0
    assert job["options"]["pages"] == [0, 0] and "priority" not in job["options"]
    assert job["options"]["views"] is True  # images are asked on several views unless turned off
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert len(queued_messages(settings)) == before + 1
    assert client.get(f"/v1/jobs/{job['id']}", headers=auth(key)).json() == job


def test_a_job_waits_for_ingest_before_it_is_sent(client, key, settings):
    document_id = upload(client, key, _pdf("still processing")).json()["id"]
    before = len(queued_messages(settings))
    job = _create(client, key, document_id).json()
    assert job["status"] == "queued" and len(queued_messages(settings)) == before


def test_a_job_on_a_failed_document_fails_with_its_code(client, key):
    document_id = upload(client, key, _pdf("broken")).json()["id"]
    set_document(
        client, document_id, status="failed", error_code="encrypted", error_detail="needs a password"
    )
    job = _create(client, key, document_id).json()
    assert job["status"] == "failed" and job["error"]["code"] == "encrypted"


@pytest.mark.parametrize(
    "body",
    [
        {"task": "extract", "question": ""},  # no schema
        {"task": "extract", "schema": {"type": "object"}},  # schema without properties
        {"task": "qa", "question": "  "},
        {"task": "describe", "schema": {"properties": {"a": {}}}},  # schema on a non-extract task
        {"task": "teleport", "question": "?"},
        {"task": "qa", "question": "?", "options": {"pages": [3, 1]}},
        {"task": "qa", "question": "?", "options": {"priority": 10}},
        {"task": "qa", "question": "?", "options": {"colour": "red"}},
        {"task": "video_qa", "question": "?"},  # the document is a PDF
        {"task": "qa", "question": "?", "options": {"time_window": [0, 5]}},
        {"task": "qa", "question": "?", "options": {"pages": [0, 1]}},  # the document has one page
    ],
)
def test_invalid_jobs_are_422(client, key, document, body):
    response = client.post("/v1/jobs", headers=auth(key), json={"document_id": document, **body})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_request"


def test_extract_with_a_schema_and_describe_without_a_question(client, key, document):
    schema = {"properties": {"total": {"type": "string"}}}
    extract = _create(client, key, document, task="extract", question="", schema=schema)
    assert extract.status_code == 201 and extract.json()["schema"] == schema
    assert _create(client, key, document, task="describe", question="").status_code == 201


def test_unknown_or_foreign_documents_are_404(client, key, other_key, document):
    assert _create(client, key, "doc_nope").status_code == 404
    assert _create(client, other_key, document).status_code == 404


def test_idempotency_key_replays_the_first_answer(client, key, settings, document):
    first = _create(client, key, document, headers={"Idempotency-Key": "k-1"})
    sent = len(queued_messages(settings))
    again = _create(client, key, document, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    assert len(queued_messages(settings)) == sent  # nothing sent twice
    other_body = _create(client, key, document, headers={"Idempotency-Key": "k-1"}, question="Else?")
    assert (other_body.status_code, other_body.json()["code"]) == (409, "idempotency_conflict")
    assert (
        _create(client, key, document, headers={"Idempotency-Key": "k-2"}).json()["id"] != first.json()["id"]
    )


def test_idempotency_keys_are_per_tenant(client, key, other_key, document):
    theirs = upload(client, other_key, _pdf("theirs")).json()["id"]
    set_document(client, theirs, status="ready", pages=1)
    mine = _create(client, key, document, headers={"Idempotency-Key": "same"})
    other = _create(client, other_key, theirs, headers={"Idempotency-Key": "same"})
    assert (mine.status_code, other.status_code) == (201, 201)


def test_list_pages_newest_first_with_filters(client, key, other_key, document):
    ids = [_create(client, key, document, question=f"q{i}").json()["id"] for i in range(7)]
    describe = _create(client, key, document, task="describe", question="").json()["id"]
    _create(client, other_key, "doc_nope")  # another tenant's request, refused anyway
    seen, cursor = [], None
    while True:
        params = {"limit": 3, "task": "qa", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/jobs", headers=auth(key), params=params).json()
        seen += [j["id"] for j in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    everything = client.get("/v1/jobs", headers=auth(key), params={"limit": 200}).json()
    assert [j["id"] for j in everything["data"]] == [describe, *ids[::-1]]
    assert everything["next_cursor"] is None and "result" not in everything["data"][0]
    by_document = client.get("/v1/jobs", headers=auth(key), params={"document_id": document}).json()
    assert len(by_document["data"]) == 8
    assert client.get("/v1/jobs", headers=auth(other_key)).json()["data"] == []
    assert client.get("/v1/jobs", headers=auth(key), params={"status": "bogus"}).status_code == 422
    assert client.get("/v1/jobs", headers=auth(key), params={"limit": 0}).status_code == 422


def test_cancel_a_queued_job(client, key, other_key, document):
    job_id = _create(client, key, document).json()["id"]
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=auth(other_key)).status_code == 404
    canceled = client.post(f"/v1/jobs/{job_id}/cancel", headers=auth(key))
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=auth(key)).json()["status"] == "canceled"


def test_a_finished_job_cannot_be_canceled(client, key, document):
    job_id = _create(client, key, document).json()["id"]
    with client.app.state.runtime.sessions() as session:
        session.get_one(Job, job_id).status = "succeeded"
        session.commit()
    response = client.post(f"/v1/jobs/{job_id}/cancel", headers=auth(key))
    assert (response.status_code, response.json()["code"]) == (409, "not_cancelable")


def test_another_tenants_job_is_not_found(client, key, other_key, document):
    job_id = _create(client, key, document).json()["id"]
    response = client.get(f"/v1/jobs/{job_id}", headers=auth(other_key))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
