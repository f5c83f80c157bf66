"""Alembic on both databases: upgrade to head matches the models exactly, downgrade removes everything,
and upgrading again works (Postgres: a fresh database on the real server; SQLite: a temp file)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from service import migrate
from service.db.base import Base

TABLES = {"tenants", "api_keys", "documents", "batches", "jobs", "results", "evidence"}


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request, fresh_postgres, tmp_path) -> str:
    return fresh_postgres() if request.param == "postgresql" else f"sqlite:///{tmp_path}/migrations.db"


def _state(url: str) -> tuple[set[str], list]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        return tables, diff
    finally:
        engine.dispose()


def test_upgrade_matches_the_models_and_downgrade_removes_everything(database_url):
    migrate.upgrade(database_url)
    tables, diff = _state(database_url)
    assert tables == TABLES and diff == []
    migrate.downgrade(database_url)
    assert _state(database_url)[0] == set()
    migrate.upgrade(database_url)
    assert _state(database_url) == (TABLES, [])
