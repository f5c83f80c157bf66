"""`/v1/chat/completions`: request checks, the file as a data: URL or a document reference, waiting for the
job (a thread stands in for the worker here), and the 504 that hands back the job ID."""

from __future__ import annotations

import base64
import threading
import time

import pymupdf
import pytest
from sqlalchemy import select

from service.db.models import Evidence, Job, Result
from tests.service.conftest import MAX_UPLOAD, auth, set_document, upload


def _pdf() -> bytes:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Total due: 12.50 EUR")
    return doc.tobytes()


def _data_url(data: bytes, mime: str = "application/pdf") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _ask(client, key, url: str, question: str = "What is the total due?", **extra):
    content = [{"type": "text", "text": question}, {"type": "image_url", "image_url": {"url": url}}]
    body = {"model": "sightline", "messages": [{"role": "user", "content": content}], **extra}
    return client.post("/v1/chat/completions", headers=auth(key), json=body)


def _answer_when_queued(client, text: str) -> threading.Thread:
    """Stand in for the worker: answer the first queued job with one evidence box."""

    def work() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with client.app.state.runtime.sessions() as session:
                job = session.scalars(select(Job).where(Job.status == "queued")).first()
                if job is not None:
                    job.status = "succeeded"
                    box = {"bbox": [72.0, 60.0, 200.0, 76.0], "bbox_norm": [0.12, 0.07, 0.34, 0.09]}
                    session.add(
                        Result(
                            id="res_chat",
                            job_id=job.id,
                            text=text,
                            usage={"prompt_tokens": 12, "completion_tokens": 3},
                            evidence=[Evidence(ordinal=0, page=0, label="answer", text=text, **box)],
                        )
                    )
                    session.commit()
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_an_inline_file_is_stored_asked_and_answered_with_evidence(client, key):
    worker = _answer_when_queued(client, "Total due: 12.50 EUR")
    response = _ask(client, key, _data_url(_pdf()))
    worker.join()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "sightline"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Total due: 12.50 EUR"}
    assert body["usage"] == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    [evidence] = body["sightline"]["evidence"]
    assert evidence["page"] == 0 and evidence["bbox"] == [72.0, 60.0, 200.0, 76.0]
    job = client.get(f"/v1/jobs/{body['sightline']['job_id']}", headers=auth(key)).json()
    assert (
        job["task"] == "qa" and job["question"] == "What is the total due?" and job["status"] == "succeeded"
    )
    document = client.get(f"/v1/documents/{job['document_id']}", headers=auth(key)).json()
    assert document["kind"] == "pdf"  # stored like an upload


def test_a_document_reference_and_the_timeout_that_returns_the_job(client, key, other_key, settings):
    document_id = upload(client, key, _pdf()).json()["id"]
    set_document(client, document_id, status="ready", pages=1)
    settings.chat_timeout_s = 0.3
    response = _ask(client, key, f"sightline://documents/{document_id}")
    assert (response.status_code, response.json()["code"]) == (504, "timeout")
    job = client.get(f"/v1/jobs/{response.json()['job_id']}", headers=auth(key)).json()
    assert job["document_id"] == document_id and job["status"] == "queued"
    assert _ask(client, other_key, f"sightline://documents/{document_id}").status_code == 404


def test_a_failed_job_is_a_problem_with_its_code(client, key):
    document_id = upload(client, key, _pdf()).json()["id"]
    set_document(
        client, document_id, status="failed", error_code="encrypted", error_detail="needs a password"
    )
    response = _ask(client, key, f"sightline://documents/{document_id}")
    assert (response.status_code, response.json()["code"]) == (422, "job_failed")
    assert response.json()["error"]["code"] == "encrypted"


def _image(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


QUESTION = {"type": "text", "text": "What is it?"}
TINY_PNG = "data:image/png;base64,AA=="


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "system", "content": "be brief"}],  # no user message
        [{"role": "user", "content": "no file here"}],
        [{"role": "user", "content": [QUESTION, _image(TINY_PNG), _image(TINY_PNG)]}],  # two files
        [{"role": "user", "content": [_image(TINY_PNG)]}],  # no question
        [{"role": "user", "content": [QUESTION, _image("https://example.com/a.png")]}],  # nothing fetched
        [{"role": "user", "content": [QUESTION, _image("data:image/png;base64,%%%")]}],
        [{"role": "user", "content": [QUESTION, {"type": "audio", "data": ""}]}],
    ],
)
def test_malformed_requests_are_422(client, key, messages):
    response = client.post("/v1/chat/completions", headers=auth(key), json={"messages": messages})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_request")


def test_inline_files_are_checked_like_uploads(client, key):
    gif = _ask(client, key, _data_url(b"GIF89a" + b"\0" * 50, "image/gif"))
    assert (gif.status_code, gif.json()["code"]) == (415, "unsupported_type")
    big = _ask(client, key, _data_url(b"%PDF-1.7\n" + b"0" * MAX_UPLOAD))
    assert (big.status_code, big.json()["code"]) == (413, "too_large")
    assert _ask(client, key, _data_url(_pdf()), stream=True).status_code == 422
    assert client.get("/v1/jobs", headers=auth(key)).json()["data"] == []
