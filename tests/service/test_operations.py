"""Health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import pymupdf
from fastapi.testclient import TestClient

from service import migrate
from service.app import create_app
from service.db.models import Job, Result
from tests.service.conftest import auth, set_document, upload


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readiness_fails_when_the_database_is_unreachable(settings):
    migrate.upgrade(settings.database_url)
    broken = settings.model_copy(update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    with TestClient(create_app(broken)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable" and response.json()["checks"]["database"] == "unreachable"


def test_metrics(client, key):
    doc = pymupdf.open()
    doc.new_page()
    document_id = upload(client, key, doc.tobytes()).json()["id"]
    set_document(client, document_id, status="ready", pages=1)
    body = {"document_id": document_id, "task": "describe"}
    ids = [client.post("/v1/jobs", headers=auth(key), json=body).json()["id"] for _ in range(3)]
    with client.app.state.runtime.sessions() as session:
        for job_id, status, latency in zip(
            ids, ["succeeded", "failed", "queued"], [1.5, 40.0, None], strict=True
        ):
            job = session.get_one(Job, job_id)
            job.status, job.latency_s = status, latency
        session.add(Result(id="res_1", job_id=ids[0], text="", pages_viewed=3, frames_viewed=0))
        session.commit()
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'sightline_jobs{status="succeeded"} 1.0' in text and 'sightline_jobs{status="running"} 0.0' in text
    assert 'sightline_job_latency_seconds_bucket{le="2.0"} 1.0' in text
    assert 'sightline_job_latency_seconds_bucket{le="+Inf"} 2.0' in text
    assert "sightline_job_latency_seconds_sum 41.5" in text
    assert (
        'sightline_queue_depth{queue="infer"} 3.0' in text
        and 'sightline_queue_depth{queue="ingest"} 1.0' in text
    )
    assert "sightline_pages_processed_total 3.0" in text and "sightline_frames_processed_total 0.0" in text
    assert "sightline_pages_ingested_total 1.0" in text


def test_the_openapi_document_is_complete(client):
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    operations = [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]
    assert len(operations) == 15
    for path, method, op in operations:
        assert op.get("summary"), (path, method)
        for status, response in op["responses"].items():
            if status[0] in "45":
                assert set(response["content"]) == {"application/problem+json"}, (path, method, status)
        if path.startswith("/v1/"):
            assert "401" in op["responses"], (path, method)
    upload = spec["paths"]["/v1/documents"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["properties"]["file"]["format"] == "binary"
    schemas = spec["components"]["schemas"]
    for name in ("JobCreate", "JobOut", "BatchCreate", "BatchOut", "DocumentOut", "Problem"):
        assert schemas[name].get("examples"), name


def test_errors_are_problem_details(client, key):
    response = client.get("/v1/nowhere", headers=auth(key))
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"
    response = client.put("/v1/jobs", headers=auth(key))
    assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")
    response = client.post("/v1/jobs", headers=auth(key), content=b"{not json")
    assert (response.status_code, response.json()["code"]) == (422, "invalid_request")
