"""Fixtures for the API's unit tests: a fresh SQLite database (migrated), blob dir and filesystem broker per
test, the app on a TestClient, and two tenants with their API keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service import migrate
from service.app import create_app
from service.cli import create_key
from service.db.models import Document
from service.settings import Settings

MAX_UPLOAD = 256 * 1024


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/sightline.db",
        blob_dir=tmp_path / "blobs",
        broker_dir=tmp_path / "broker",
        max_upload_bytes=MAX_UPLOAD,
        max_batch_jobs=50,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    migrate.upgrade(settings.database_url)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def key(settings: Settings, client: TestClient) -> str:
    return create_key(settings, "acme")


@pytest.fixture
def other_key(settings: Settings, client: TestClient) -> str:
    return create_key(settings, "globex")


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def upload(client: TestClient, key: str, data: bytes, name: str = "file.pdf"):
    return client.post(
        "/v1/documents", headers=auth(key), files={"file": (name, data, "application/octet-stream")}
    )


def queued_messages(settings: Settings) -> list[str]:
    """Names of the message files waiting in the filesystem broker (one per sent task)."""
    return sorted(p.name for p in (settings.broker_dir / "queue").iterdir())


def set_document(client: TestClient, document_id: str, **values) -> None:
    """Change a document's row directly, standing in for the ingest worker."""
    with client.app.state.runtime.sessions() as session:
        document = session.get_one(Document, document_id)
        for name, value in values.items():
            setattr(document, name, value)
        session.commit()
