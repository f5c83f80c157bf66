"""All configuration of the service and the workers: one pydantic-settings class, env prefix `SIGHTLINE_`.

Design choices:
- One class for both processes, so the API, the workers, Alembic and docker-compose agree by construction
  (a test checks docker-compose.yml against the field names).
- The defaults are the embedded setup: an SQLite file, a local blob directory and a filesystem broker, all
  under `./data`, so one command runs everything with no servers. Production points `database_url` at
  Postgres and `broker_url` at Redis.
- Invariants between settings are checked on load (the broker's visibility timeout must outlast the
  longest job, or Redis would hand a running job to a second worker).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIGHTLINE_", extra="ignore")

    # where things live
    database_url: str = "sqlite:///data/sightline.db"
    broker_url: str = "filesystem://"
    broker_dir: Path = Path("data/broker")  # message folder of the filesystem broker only
    broker_key_prefix: str = ""  # Redis only: prefix of every key, to share one Redis between deployments
    blob_dir: Path = Path("data/blobs")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    log_level: str = "INFO"
    bootstrap_api_key: str | None = None  # ensured for the tenant "default" by `python -m service`

    # uploads and batches
    max_upload_bytes: int = Field(512 * MiB, gt=0)
    max_batch_jobs: int = Field(10_000, gt=0)
    chat_timeout_s: float = Field(120.0, gt=0)  # how long /v1/chat/completions waits for its job

    # ingest (CPU workers): untrusted parsing in a child process with these limits
    ingest_timeout_s: float = Field(120.0, gt=0)
    ingest_memory_bytes: int = Field(4 * 1024 * MiB, gt=0)
    max_pages: int = Field(5_000, gt=0)
    max_video_seconds: float = Field(4 * 3600.0, gt=0)
    page_image_dpi: float = Field(96.0, gt=0)
    page_image_max_pages: int = Field(100, ge=0)  # pages rendered to PNG at ingest (GET .../image)

    # jobs (infer workers)
    engine: Literal["real", "echo"] = "real"  # "echo" is the queue benchmark's double, never for users
    vlm_backend: str = ""  # KIND:MODEL the agent looks with (e.g. native:models/sightline-tiny); "": none
    job_lease_s: float = Field(60.0, gt=0)
    heartbeat_s: float = Field(10.0, gt=0)
    max_job_seconds: float = Field(3600.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    retry_backoff_s: float = Field(2.0, gt=0)
    retry_backoff_max_s: float = Field(120.0, gt=0)
    sweep_interval_s: float = Field(15.0, gt=0)
    enqueue_grace_s: float = Field(30.0, ge=0)  # a job never sent after this long is sent by the sweeper
    visibility_timeout_s: float = Field(6 * 3600.0, gt=0)

    @model_validator(mode="after")
    def _check_timings(self) -> Settings:
        if self.heartbeat_s >= self.job_lease_s:
            raise ValueError("heartbeat_s must be shorter than job_lease_s, or live jobs lose their lease")
        if self.visibility_timeout_s <= self.max_job_seconds + self.job_lease_s:
            raise ValueError(
                "visibility_timeout_s must exceed max_job_seconds + job_lease_s, "
                "or the broker redelivers jobs that are still running"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
