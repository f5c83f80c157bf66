"""Uploads: streamed with a byte limit, sniffed, deduplicated per tenant; metadata, page images, delete."""

from __future__ import annotations

import hashlib

import pymupdf
import pytest

from tests.service.conftest import MAX_UPLOAD, auth, queued_messages, set_document, upload

PROBLEM_KEYS = {"type", "title", "status", "code", "detail"}


def _pdf(text: str = "hello") -> bytes:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), text)
    return doc.tobytes()


def _stored_files(settings) -> list[str]:
    return sorted(str(p.relative_to(settings.blob_dir)) for p in settings.blob_dir.rglob("*") if p.is_file())


def test_upload_stores_the_file_and_sends_ingest(client, key, settings, corpus_dir):
    data = (corpus_dir / "pdf/real/pdflatex-4-pages.pdf").read_bytes()
    response = upload(client, key, data, "paper.pdf")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "processing" and body["kind"] == "pdf" and body["mime"] == "application/pdf"
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["size_bytes"] == len(data)
    assert body["filename"] == "paper.pdf"
    assert response.headers["location"] == f"/v1/documents/{body['id']}"
    [stored] = _stored_files(settings)
    assert (settings.blob_dir / stored).read_bytes() == data
    assert len(queued_messages(settings)) == 1  # the ingest message, sent after the commit
    assert client.get(f"/v1/documents/{body['id']}", headers=auth(key)).json() == body


def test_same_bytes_are_deduplicated_per_tenant(client, key, other_key, settings):
    data = _pdf()
    first = upload(client, key, data)
    again = upload(client, key, data, "renamed.pdf")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    theirs = upload(client, other_key, data)
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    assert len(_stored_files(settings)) == 2


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"GIF89a" + b"\0" * 100, "anim.gif"),  # a real image type, but not one the service accepts
        (b"just some text, named like a PDF", "fake.pdf"),
        (b"RIFF\0\0\0\0AVI LIST", "clip.avi"),
    ],
)
def test_unsupported_types_are_415_and_nothing_is_kept(client, key, settings, data, name):
    response = upload(client, key, data, name)
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unsupported_type" and response.json().keys() >= PROBLEM_KEYS
    assert _stored_files(settings) == [] and queued_messages(settings) == []


def test_over_the_limit_is_413_and_nothing_is_kept(client, key, settings):
    data = b"%PDF-1.7\n" + b"0" * MAX_UPLOAD  # a PDF head, then more than the limit
    response = upload(client, key, data)
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert _stored_files(settings) == []


def test_a_chunked_body_over_the_limit_is_stopped_while_streaming(client, key, settings):
    boundary = "xyz"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n'.encode()

    def body():  # no Content-Length: the running count must catch it
        yield head + b"%PDF-1.7\n"
        for _ in range(MAX_UPLOAD // 65536 + 2):
            yield b"0" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/v1/documents",
        headers={**auth(key), "content-type": f"multipart/form-data; boundary={boundary}"},
        content=body(),
    )
    assert response.status_code == 413
    assert _stored_files(settings) == []


def test_just_under_the_limit_is_accepted(client, key):
    data = b"%PDF-1.7\n" + b"0" * (MAX_UPLOAD - 9)
    assert upload(client, key, data).status_code == 201


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"files": {"other": ("a.pdf", b"%PDF-1.7", "application/pdf")}}, 400, "bad_multipart"),
        ({"json": {"file": "not multipart"}}, 400, "bad_multipart"),
        ({"files": {"file": ("empty.pdf", b"", "application/pdf")}}, 415, "unsupported_type"),
    ],
)
def test_malformed_uploads_are_4xx(client, key, kwargs, status, code):
    response = client.post("/v1/documents", headers=auth(key), **kwargs)
    assert (response.status_code, response.json()["code"]) == (status, code)


def test_api_key_is_required(client, key):
    assert upload(client, "", _pdf()).status_code == 401
    response = upload(client, "sl_not-a-key", _pdf())
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    assert client.get("/v1/documents/doc_x").status_code == 401


def test_another_tenants_document_is_not_found(client, key, other_key):
    document_id = upload(client, key, _pdf()).json()["id"]
    for method, path in [
        ("GET", f"/v1/documents/{document_id}"),
        ("GET", f"/v1/documents/{document_id}/pages/0/image"),
        ("DELETE", f"/v1/documents/{document_id}"),
    ]:
        response = client.request(method, path, headers=auth(other_key))
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert client.get(f"/v1/documents/{document_id}", headers=auth(key)).status_code == 200


def test_page_images_once_ready(client, key, settings):
    document_id = upload(client, key, _pdf()).json()["id"]
    path = f"/v1/documents/{document_id}/pages/0/image"
    response = client.get(path, headers=auth(key))
    assert (response.status_code, response.json()["code"]) == (409, "document_not_ready")
    tenant_id = next(settings.blob_dir.glob("ten_*")).name
    png = settings.blob_dir / tenant_id / document_id / "pages" / "0.png"
    png.parent.mkdir(parents=True)
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    set_document(client, document_id, status="ready", pages=1, page_images=1)
    response = client.get(path, headers=auth(key))
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content == png.read_bytes()
    missing = client.get(f"/v1/documents/{document_id}/pages/1/image", headers=auth(key))
    assert (missing.status_code, missing.json()["code"]) == (404, "page_not_available")


def test_delete_removes_the_files_and_allows_a_new_upload(client, key, settings):
    data = _pdf()
    document_id = upload(client, key, data).json()["id"]
    assert client.delete(f"/v1/documents/{document_id}", headers=auth(key)).status_code == 204
    assert client.get(f"/v1/documents/{document_id}", headers=auth(key)).status_code == 404
    assert _stored_files(settings) == []
    again = upload(client, key, data)
    assert again.status_code == 201 and again.json()["id"] != document_id


def test_a_body_of_other_parts_over_the_limit_is_stopped(client, key, settings):
    boundary = "xyz"

    def body():  # no file part at all, just a huge field, chunked
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="junk"\r\n\r\n'.encode()
        for _ in range(MAX_UPLOAD // 65536 + 4):
            yield b"0" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/v1/documents",
        headers={**auth(key), "content-type": f"multipart/form-data; boundary={boundary}"},
        content=body(),
    )
    assert response.status_code == 413 and _stored_files(settings) == []
