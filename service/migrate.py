"""Apply the Alembic migrations (`upgrade head`) to the settings' database, from code.

Used by `python -m service migrate` (docker-compose's migration step), by the embedded runner, and by the
tests. `alembic` on the command line does the same through `alembic.ini` and `migrations/env.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config

from service.db.session import make_engine

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"


def alembic_config() -> Config:
    return Config(str(ALEMBIC_INI))


def upgrade(database_url: str, revision: str = "head") -> None:
    _run(database_url, lambda cfg: command.upgrade(cfg, revision))


def downgrade(database_url: str, revision: str = "base") -> None:
    _run(database_url, lambda cfg: command.downgrade(cfg, revision))


def _run(database_url: str, step: Callable[[Config], None]) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            step(cfg)
    finally:
        engine.dispose()
