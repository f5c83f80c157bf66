"""The tables: tenants and their API keys, documents, batches, jobs, results and evidence rows.

Design choices:
- Postgres is the source of truth; the broker only carries IDs. Every state a worker or the sweeper needs
  (status, attempts, lease, cancel flag, whether a message was sent) is a column here.
- A job's lifecycle is `queued -> running -> succeeded | failed | canceled`; a document's ingest is
  `processing -> ready | failed`. Transitions are conditional UPDATEs (see `workers.leases`), never
  read-modify-write.
- One result row per job (unique `job_id`): a redelivered job cannot write a second one. Evidence boxes are
  rows of their own, in source units and normalised, as the engine returns them.
- Dedup is per tenant on sha256 among live documents (a partial unique index), so a deleted file can be
  uploaded again. Idempotency keys are unique per tenant.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db.base import Base, utcnow


class DocumentStatus(StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


FINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})


class Task(StrEnum):
    QA = "qa"
    GROUND = "ground"
    COUNT = "count"
    EXTRACT = "extract"
    DESCRIBE = "describe"
    VIDEO_QA = "video_qa"


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(
        String(64), unique=True
    )  # sha256 hex; the key itself is never stored
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to tell keys apart in listings
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        Index(
            "uq_documents_live_sha256",
            "tenant_id",
            "sha256",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
        Index("ix_documents_status_lease", "status", "ingest_lease_expires_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    mime: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # pdf | image | video
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str | None] = mapped_column(String(255))
    blob_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default=DocumentStatus.PROCESSING)
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_detail: Mapped[str | None] = mapped_column(Text)
    # filled in by ingest
    pages: Mapped[int | None]
    duration_s: Mapped[float | None]
    width: Mapped[int | None]
    height: Mapped[int | None]
    page_images: Mapped[int] = mapped_column(default=0)  # pages 0..page_images-1 have a PNG blob
    meta: Mapped[dict[str, Any] | None]  # the probe summary
    # ingest bookkeeping
    ingest_attempts: Mapped[int] = mapped_column(default=0)
    ingest_lease_token: Mapped[str | None] = mapped_column(String(40))
    ingest_lease_expires_at: Mapped[datetime | None]
    enqueued_at: Mapped[datetime | None]  # when the ingest message was last sent
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]


class Batch(Base):
    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("tenant_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    job_count: Mapped[int]
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_jobs_status_lease", "status", "lease_expires_at"),
        Index("ix_jobs_document_status", "document_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    task: Mapped[str] = mapped_column(String(20))
    question: Mapped[str] = mapped_column(Text, default="")
    schema: Mapped[dict[str, Any] | None]
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    priority: Mapped[int] = mapped_column(default=5)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED)
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int]
    lease_token: Mapped[str | None] = mapped_column(String(40))
    lease_expires_at: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(255))
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_detail: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    enqueued_at: Mapped[datetime | None]  # when the infer message was last sent
    retry_at: Mapped[datetime | None]  # after a transient error: not sent again before this
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    latency_s: Mapped[float | None]  # finished_at - created_at, for the latency histogram

    result: Mapped[Result | None] = relationship(back_populates="job", uselist=False, lazy="raise")


class Result(Base):
    __tablename__ = "results"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    text: Mapped[str] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    usage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    trace: Mapped[list[Any]] = mapped_column(default=list)
    model: Mapped[str] = mapped_column(String(255), default="")
    pages_viewed: Mapped[int] = mapped_column(default=0)
    frames_viewed: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    job: Mapped[Job] = relationship(back_populates="result", lazy="raise")
    evidence: Mapped[list[Evidence]] = relationship(
        back_populates="result", order_by="Evidence.ordinal", lazy="selectin", cascade="all, delete-orphan"
    )


class Evidence(Base):
    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    result_id: Mapped[str] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int]
    page: Mapped[int | None]
    time_s: Mapped[float | None]
    frame_index: Mapped[int | None]
    bbox: Mapped[list[Any]]  # [x0, y0, x1, y1] in source units
    bbox_norm: Mapped[list[Any]]  # the same / source width and height
    label: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None]

    result: Mapped[Result] = relationship(back_populates="evidence", lazy="raise")
