"""Aggregates for /metrics, read from the database so every API replica reports the same numbers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from service.db.models import Document, DocumentStatus, Job, Result


def jobs_by_status(session: Session) -> dict[str, int]:
    return {status: n for status, n in session.execute(select(Job.status, func.count()).group_by(Job.status))}


def latency_histogram(session: Session, bounds: Sequence[float]) -> tuple[list[int], int, float]:
    """Cumulative counts of finished jobs with latency <= each bound, the total count and the sum."""
    columns = [func.coalesce(func.sum(case((Job.latency_s <= b, 1), else_=0)), 0) for b in bounds]
    row = session.execute(
        select(*columns, func.count(Job.latency_s), func.coalesce(func.sum(Job.latency_s), 0.0))
    ).one()
    return [int(v) for v in row[: len(bounds)]], int(row[-2]), float(row[-1])


def units_processed(session: Session) -> tuple[int, int]:
    """Pages and frames looked at by all finished jobs."""
    pages, frames = session.execute(
        select(
            func.coalesce(func.sum(Result.pages_viewed), 0), func.coalesce(func.sum(Result.frames_viewed), 0)
        )
    ).one()
    return int(pages), int(frames)


def pages_ingested(session: Session) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Document.pages), 0)).where(Document.status == DocumentStatus.READY)
        )
        or 0
    )
