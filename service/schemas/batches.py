"""Batch bodies: many jobs at once, as a list or as documents x questions, and their rolled-up status."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.schemas.jobs import JobCreate, JobSpec


class BatchCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "documents": [
                        "doc_0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6",
                        "doc_0192f3a4b5c8aa00bb11cc22dd33ee44",
                    ],
                    "questions": [
                        {"task": "qa", "question": "What is the total due?"},
                        {"task": "extract", "schema": {"properties": {"invoice_number": {}}}},
                    ],
                },
                {"jobs": [{"document_id": "doc_0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6", "task": "describe"}]},
            ]
        },
    )

    jobs: list[JobCreate] | None = Field(None, description="Explicit jobs; or use documents x questions")
    documents: list[str] | None = Field(None, description="Document IDs, crossed with `questions`")
    questions: list[JobSpec] | None = Field(None, description="Job specs, each run on every document")

    @model_validator(mode="after")
    def _one_form(self) -> BatchCreate:
        crossed = self.documents is not None or self.questions is not None
        if (self.jobs is not None) == crossed:
            raise ValueError("give either `jobs`, or `documents` and `questions`")
        if crossed and not (self.documents and self.questions):
            raise ValueError("`documents` and `questions` must both be non-empty")
        if self.jobs is not None and not self.jobs:
            raise ValueError("`jobs` must not be empty")
        return self

    def expand(self) -> list[JobCreate]:
        """Every job of the batch, in order (documents outer, questions inner)."""
        if self.jobs is not None:
            return list(self.jobs)
        return [
            JobCreate(document_id=doc, **q.model_dump(by_alias=True))
            for doc in self.documents or []
            for q in self.questions or []
        ]


class BatchOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "bat_0192f3a4b5c9aa00bb11cc22dd33ee44",
                    "status": "running",
                    "job_count": 20,
                    "counts": {"queued": 5, "running": 1, "succeeded": 13, "failed": 1, "canceled": 0},
                    "progress": 0.7,
                    "created_at": "2026-11-29T09:00:00Z",
                }
            ]
        }
    )

    id: str
    status: str  # running until every job is final, then completed
    job_count: int
    counts: dict[str, int]  # jobs per status, every status present
    progress: float  # final jobs / all jobs
    created_at: datetime
