"""Job bodies: what to ask of which document, and the grounded result with its evidence boxes.

Design choices:
- A job's *what* (`JobSpec`: task, question, schema, options) is its own model, reused by batches that
  cross documents with questions.
- Validation that needs no database happens here (an extract needs a schema with `properties`; a page
  range is ordered); checks against the document (a video task on a PDF) happen in the route.
- Evidence is returned as the engine stored it: `bbox` in the source's own unit (PDF points of the
  displayed page, image pixels, video-frame pixels with `time_s`) and `bbox_norm` in [0, 1].
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.db.models import Evidence, Job, Result, Task
from service.schemas.common import ErrorOut

NEEDS_QUESTION = frozenset({Task.QA, Task.GROUND, Task.COUNT, Task.VIDEO_QA})


class JobOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pages: tuple[int, int] | None = Field(
        None, description="Inclusive 0-based page range [first, last] (PDFs)", examples=[[0, 3]]
    )
    time_window: tuple[float, float] | None = Field(
        None, description="Seconds [start, end] (videos)", examples=[[10.0, 25.5]]
    )
    page_budget: int | None = Field(None, ge=1, description="At most this many pages looked at")
    visual_token_budget: int | None = Field(None, ge=1, description="At most this many visual tokens")
    views: bool = Field(
        True,
        description="Images: ask the model on ten shifted and mirrored views and fuse the answers (boxes by "
        "median, yes/no by majority); about 10x the model calls for grounding, presence and counting",
    )
    priority: int = Field(5, ge=0, le=9, description="0 (lowest) to 9 (most urgent)")

    @model_validator(mode="after")
    def _ordered(self) -> JobOptions:
        if self.pages is not None and not 0 <= self.pages[0] <= self.pages[1]:
            raise ValueError("pages must be [first, last] with 0 <= first <= last")
        if self.time_window is not None and not 0 <= self.time_window[0] <= self.time_window[1]:
            raise ValueError("time_window must be [start, end] with 0 <= start <= end")
        return self

    def engine_options(self) -> dict[str, Any]:
        """What the worker hands the engine (priority is the queue's business, not the engine's)."""
        return self.model_dump(exclude={"priority"})


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    task: Task
    question: str = Field("", max_length=4000, examples=["What is the total due?"])
    schema_: dict[str, Any] | None = Field(
        None,
        alias="schema",
        description="For `extract`: a JSON schema whose `properties` name the fields to extract",
        examples=[{"properties": {"invoice_number": {"type": "string"}, "total": {"type": "string"}}}],
    )
    options: JobOptions = Field(default_factory=JobOptions)

    @model_validator(mode="after")
    def _task_needs(self) -> JobSpec:
        if self.task in NEEDS_QUESTION and not self.question.strip():
            raise ValueError(f"task {self.task.value!r} needs a question")
        if self.task is Task.EXTRACT:
            props = (self.schema_ or {}).get("properties")
            if not isinstance(props, dict) or not props:
                raise ValueError("task 'extract' needs a schema with a non-empty 'properties' object")
        elif self.schema_ is not None:
            raise ValueError("schema is only for task 'extract'")
        return self


class JobCreate(JobSpec):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "document_id": "doc_0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6",
                    "task": "qa",
                    "question": "What is the total due?",
                    "options": {"pages": [0, 1], "priority": 7},
                },
                {
                    "document_id": "doc_0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6",
                    "task": "extract",
                    "schema": {"properties": {"invoice_number": {}, "total": {"description": "total due"}}},
                },
            ]
        }
    )

    document_id: str


class ProgressOut(BaseModel):
    done: int  # pages or frames read
    total: int
    fraction: float


class EvidenceOut(BaseModel):
    page: int | None
    time_s: float | None
    frame_index: int | None
    bbox: list[float]
    bbox_norm: list[float]
    label: str
    text: str
    score: float | None

    @classmethod
    def of(cls, ev: Evidence) -> EvidenceOut:
        return cls(
            page=ev.page,
            time_s=ev.time_s,
            frame_index=ev.frame_index,
            bbox=ev.bbox,
            bbox_norm=ev.bbox_norm,
            label=ev.label,
            text=ev.text,
            score=ev.score,
        )


class ResultOut(BaseModel):
    answer: str
    fields: dict[str, Any]
    evidence: list[EvidenceOut]
    usage: dict[str, Any]
    trace: list[Any]
    model: str

    @classmethod
    def of(cls, result: Result) -> ResultOut:
        return cls(
            answer=result.text,
            fields=result.fields,
            evidence=[EvidenceOut.of(e) for e in result.evidence],
            usage=result.usage,
            trace=result.trace,
            model=result.model,
        )


class JobSummary(BaseModel):
    id: str
    status: str  # queued | running | succeeded | failed | canceled
    task: str
    document_id: str
    batch_id: str | None
    question: str
    schema_: dict[str, Any] | None = Field(serialization_alias="schema")
    options: dict[str, Any]
    progress: ProgressOut
    attempts: int
    cancel_requested: bool
    error: ErrorOut | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def fields_of(cls, job: Job) -> dict[str, Any]:
        total = job.progress_total
        return {
            "id": job.id,
            "status": job.status,
            "task": job.task,
            "document_id": job.document_id,
            "batch_id": job.batch_id,
            "question": job.question,
            "schema_": job.schema,
            "options": job.options,
            "progress": ProgressOut(
                done=job.progress_done,
                total=total,
                fraction=1.0 if job.status == "succeeded" else (job.progress_done / total if total else 0.0),
            ),
            "attempts": job.attempts,
            "cancel_requested": job.cancel_requested,
            "error": ErrorOut(code=job.error_code, detail=job.error_detail or "") if job.error_code else None,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
        }

    @classmethod
    def of(cls, job: Job) -> JobSummary:
        return cls(**cls.fields_of(job))


class JobOut(JobSummary):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "job_0192f3a4b5c7a1b2c3d4e5f6a7b8c9d0",
                    "status": "succeeded",
                    "task": "qa",
                    "document_id": "doc_0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6",
                    "batch_id": None,
                    "question": "What is the total due?",
                    "schema": None,
                    "options": {"pages": None, "priority": 5},
                    "progress": {"done": 3, "total": 3, "fraction": 1.0},
                    "attempts": 1,
                    "cancel_requested": False,
                    "error": None,
                    "created_at": "2026-11-29T09:00:00Z",
                    "started_at": "2026-11-29T09:00:01Z",
                    "finished_at": "2026-11-29T09:00:02Z",
                    "result": {
                        "answer": "Total due: 1,234.56 EUR",
                        "fields": {},
                        "evidence": [
                            {
                                "page": 1,
                                "time_s": None,
                                "frame_index": None,
                                "bbox": [72.0, 118.3, 219.6, 134.1],
                                "bbox_norm": [0.1176, 0.1494, 0.3588, 0.1693],
                                "label": "answer",
                                "text": "Total due: 1,234.56 EUR",
                                "score": 0.92,
                            }
                        ],
                        "usage": {"pages_viewed": 3, "visual_tokens": 0, "latency_ms": 41.5},
                        "trace": [{"tool": "read", "ms": 30.1}, {"tool": "answer_qa", "ms": 11.4}],
                        "model": "sightline-baseline-text",
                    },
                }
            ]
        }
    )

    result: ResultOut | None

    @classmethod
    def of_job(cls, job: Job, result: Result | None) -> JobOut:
        return cls(**cls.fields_of(job), result=ResultOut.of(result) if result is not None else None)
