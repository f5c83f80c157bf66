"""Fixtures for the worker tests: the tasks run in this process against a fresh SQLite database, with the
real engine, the real sandbox and a filesystem broker in a temp dir (no Celery worker process)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

import workers.infer
from service import migrate
from service.broker import make_celery
from service.crud import jobs as jobs_crud
from service.crud import tenants as tenants_crud
from service.db.models import Document, Job, Tenant
from service.runtime import Runtime
from service.schemas.jobs import JobCreate
from service.settings import Settings
from service.uploads import StagedUpload, store_document
from sightline_common.sniff import sniff_file


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/sightline.db",
        blob_dir=tmp_path / "blobs",
        broker_dir=tmp_path / "broker",
        ingest_timeout_s=20,
        page_image_max_pages=2,
        page_image_dpi=36,
        job_lease_s=5,
        heartbeat_s=0.2,
        max_attempts=2,
    )


@pytest.fixture
def rt(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """The workers' runtime, pointed at this test's database, blobs and broker."""
    migrate.upgrade(settings.database_url)
    runtime = Runtime.build(settings, make_celery(settings, "test-worker", set_as_current=False))
    for module in ("workers.ingest", "workers.infer", "workers.sweeper"):
        monkeypatch.setattr(f"{module}.runtime", lambda: runtime)
    monkeypatch.setattr(workers.infer, "engine", lambda: workers.infer.get_engine(settings))
    with runtime.sessions() as session:
        tenants_crud.get_or_create_tenant(session, "acme")
        session.commit()
    yield runtime
    runtime.close()


def add_document(rt: Runtime, path: Path) -> Document:
    """A document row and its blob, as the upload route makes them (status `processing`)."""
    data = path.read_bytes()
    staged = rt.store.staging_path()
    staged.write_bytes(data)
    upload = StagedUpload(staged, len(data), hashlib.sha256(data).hexdigest(), sniff_file(path), path.name)
    with rt.sessions() as session:
        tenant = session.scalars(select(Tenant)).one()
        document, _ = store_document(session, rt.store, tenant.id, upload)
    return document


def add_job(rt: Runtime, document_id: str, **spec) -> str:
    spec = {"task": "qa", "question": "What is the invoice total of line 3?", **spec}
    with rt.sessions() as session:
        document = session.get_one(Document, document_id)
        job = jobs_crud.new_job(
            JobCreate(document_id=document_id, **spec), document, max_attempts=rt.settings.max_attempts
        )
        session.add(job)
        session.commit()
        return job.id


def job_row(rt: Runtime, job_id: str) -> Job:
    with rt.sessions() as session:
        return session.get_one(Job, job_id)
