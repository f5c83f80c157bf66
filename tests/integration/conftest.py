"""Real services for the integration tests: a fresh Postgres database per session, a Redis key prefix per
session, and real `celery worker` / `celery beat` processes started here.

Postgres and Redis must be reachable (127.0.0.1 by default; SIGHTLINE_TEST_POSTGRES_URL and
SIGHTLINE_TEST_REDIS_URL override): if they are not, the tests fail, they do not skip. Timings are short
(3 s leases, a sweep every second) so that recovery paths run in seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from service import migrate
from service.app import create_app
from service.cli import create_key
from service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get(
    "SIGHTLINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SIGHTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll `check()` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        pytest.fail(
            f"Postgres is required for the integration tests and is not reachable at {POSTGRES_URL}: {exc}"
        )
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture(scope="session")
def fresh_postgres(postgres_admin_url: str) -> Callable[[], str]:
    """Make a uniquely named database on the server (dropped at the end of the session); returns its URL."""
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"sightline_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_prefix() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is required for the integration tests and is not reachable at {REDIS_URL}: {exc}")
    prefix = f"sightline-test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="session")
def settings(fresh_postgres, redis_prefix, tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("sightline")
    settings = Settings(
        database_url=fresh_postgres(),
        broker_url=REDIS_URL,
        broker_key_prefix=redis_prefix,
        blob_dir=root / "blobs",
        max_upload_bytes=8 * 1024 * 1024,
        ingest_timeout_s=8,
        page_image_max_pages=3,
        page_image_dpi=48,
        job_lease_s=3,
        heartbeat_s=0.5,
        sweep_interval_s=1,
        enqueue_grace_s=2,
        max_attempts=3,
    )
    migrate.upgrade(settings.database_url)
    return settings


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    for name in settings.model_fields_set:
        env[f"SIGHTLINE_{name.upper()}"] = str(getattr(settings, name))
    return env


class CeleryProcess:
    """A `celery -A workers.app ...` child process with its log in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, ready_marker: str):
        self.args, self.env, self.log, self.ready_marker = args, env, log, ready_marker
        self.proc: subprocess.Popen | None = None
        self._offset = 0

    def start(self, timeout: float = 120) -> CeleryProcess:
        self._offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "workers.app", *self.args],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._ready, timeout, f"celery {self.args[0]} to start (log: {self.log})", interval=0.5)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            pytest.fail(
                f"celery {self.args[0]} exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}"
            )
        return self.ready_marker in self.log.read_text(errors="replace")[self._offset :]

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL the worker process itself, as a crash would (its children are left to their fate)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(ProcessLookupError):  # what is left of its group (the sandbox's forkserver)
            os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def worker(settings, tmp_path_factory) -> Iterator[CeleryProcess]:
    """One worker on both queues (solo pool), plus beat for the sweeper."""
    logs = tmp_path_factory.mktemp("logs")
    env = settings_env(settings)
    beat = CeleryProcess(
        ["beat", "--schedule", str(logs / "beat-schedule"), "--loglevel", "INFO"],
        env,
        logs / "beat.log",
        "beat: Starting",
    ).start()
    name = f"it-{uuid.uuid4().hex[:6]}@%h"
    args = [
        "worker",
        "-Q",
        "ingest,infer",
        "--pool",
        "solo",
        "-n",
        name,
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
    ]
    worker = CeleryProcess(args, env, logs / "worker.log", " ready.").start()
    yield worker
    worker.stop()
    beat.stop()


@pytest.fixture(scope="session")
def api(settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="session")
def key(settings) -> str:
    return create_key(settings, "integration")
