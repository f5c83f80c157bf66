"""The embedded default: API, ingest worker, infer worker and the sweeper's beat from one command.

`python -m service` migrates the SQLite file, makes sure an API key exists, starts two Celery workers
(ingest and infer, solo pool) and beat as child processes on the filesystem broker, and serves the API in
this process. Ctrl-C stops everything. No servers are needed; the same code runs in production, where
docker-compose starts each part on its own with Postgres and Redis.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path

import uvicorn

from service import migrate
from service.app import create_app
from service.broker import INFER_QUEUE, INGEST_QUEUE
from service.crud import tenants as tenants_crud
from service.db.session import make_engine, make_sessionmaker
from service.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_TENANT = "default"
WORKER_APP = "workers.app"  # started as a child process by name: the API process never imports it


def ensure_api_key(settings: Settings, *, create_if_none: bool) -> str | None:
    """Make the configured bootstrap key valid for the tenant `default`; without one, create a random key
    if no key exists yet and `create_if_none`. Returns a key that was just created (to show once)."""
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            if settings.bootstrap_api_key:
                tenants_crud.ensure_key(session, DEFAULT_TENANT, settings.bootstrap_api_key)
                return None
            if not create_if_none or tenants_crud.has_any_key(session):
                return None
            key = tenants_crud.add_key(session, tenants_crud.get_or_create_tenant(session, DEFAULT_TENANT))
            session.commit()
            return key
    finally:
        engine.dispose()


def celery_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", WORKER_APP, *args]


def worker_commands(settings: Settings) -> list[list[str]]:
    common = ["--pool", "solo", "--without-gossip", "--without-mingle", "--loglevel", settings.log_level]
    schedule = str(Path(settings.broker_dir) / "celerybeat-schedule")
    return [
        celery_command("worker", "-Q", INGEST_QUEUE, "-n", "ingest@%h", *common),
        celery_command("worker", "-Q", INFER_QUEUE, "-n", "infer@%h", *common),
        celery_command("beat", "--schedule", schedule, "--loglevel", settings.log_level),
    ]


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def run(settings: Settings) -> None:
    migrate.upgrade(settings.database_url)
    key = ensure_api_key(settings, create_if_none=True)
    if key:
        log.warning("created an API key for tenant %r (shown once): %s", DEFAULT_TENANT, key)
    children = [subprocess.Popen(cmd) for cmd in worker_commands(settings)]
    log.info(
        "workers started (pids %s); API on http://%s:%d",
        [c.pid for c in children],
        settings.api_host,
        settings.api_port,
    )
    # uvicorn shuts down on SIGTERM and then re-raises it to the handler that was there before; make that
    # handler an exit, so the children below are stopped too instead of being orphaned.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
