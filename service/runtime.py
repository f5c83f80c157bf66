"""What a process needs at run time, built once from settings: database, blob store, broker.

The API keeps one `Runtime` on `app.state`; each worker process builds its own around the worker's Celery
app. Tests build one per test around a temporary database.
"""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.broker import Broker
from service.db.session import make_engine, make_sessionmaker
from service.settings import Settings
from service.storage import LocalBlobStore


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: LocalBlobStore
    broker: Broker

    @classmethod
    def build(cls, settings: Settings, celery_app: Celery) -> Runtime:
        engine = make_engine(settings.database_url)
        return cls(
            settings, engine, make_sessionmaker(engine), LocalBlobStore(settings.blob_dir), Broker(celery_app)
        )

    def close(self) -> None:
        self.engine.dispose()
