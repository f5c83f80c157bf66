"""The one function the workers call: a task over a document in, a grounded `Answer` out.

Design choices:
- `run_task` is the stable seam between the service and the model side. By default it runs the agent
  (`vlm_engine.agent.run_agent`): routing, tiled looks, zoomed re-reads, an image asked on several views,
  verification, counting by grounding, spatial relations read off two boxes and coarse-to-fine video
  search, with the VLM `backend` the caller passes (none: the agent's CPU tools only, text layer and OCR).
  `TaskOptions(engine="baseline")` selects the text-retrieval baseline (`text_baseline`), kept as the
  comparison; a video with no backend is answered by it too (the agent searches video with a VLM only).
  `Answer.model` names what actually answered.
- Input-caused failures raise `MediaError` (stable codes), bad agent input `AgentError`; `cancelled()` is
  honoured between pages or frames by raising `Cancelled`; `progress(done, total)` reports pages or frames.
- Every step goes into the answer's trace with its duration.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from sightline_common.sniff import MediaKind, sniff_file
from vlm_engine import text_baseline
from vlm_engine.agent import AgentOptions, run_agent
from vlm_engine.agent.video import VideoSearchOptions
from vlm_engine.answer import Answer, TraceStep, Usage
from vlm_engine.backends.base import Backend
from vlm_engine.media.limits import DEFAULT_LIMITS, MediaLimits
from vlm_engine.reading import Cancelled, Progress, read_document

__all__ = ["TASKS", "Cancelled", "TaskOptions", "TaskRequest", "run_task"]

TASKS = ("qa", "ground", "count", "extract", "describe", "video_qa")
ENGINES = ("agent", "baseline")


@dataclass(frozen=True)
class TaskOptions:
    pages: tuple[int, int] | None = None  # inclusive, 0-based page range
    time_window: tuple[float, float] | None = None  # seconds
    page_budget: int | None = None
    visual_token_budget: int | None = None
    frame_budget: int | None = None  # frames a video search may look at
    views: bool = True  # images: several views fused (`agent.views`); False: one look
    engine: str = "agent"  # "agent", or "baseline": the text-retrieval baseline, for comparison


@dataclass(frozen=True)
class TaskRequest:
    task: str
    path: str
    question: str = ""
    schema: dict | None = None  # JSON schema of fields, for extract
    options: TaskOptions = field(default_factory=TaskOptions)
    password: str | None = None


def run_task(
    request: TaskRequest,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    limits: MediaLimits = DEFAULT_LIMITS,
    backend: Backend | None = None,
) -> Answer:
    if request.task not in TASKS:
        raise ValueError(f"unknown task {request.task!r}; known: {', '.join(TASKS)}")
    if request.options.engine not in ENGINES:
        raise ValueError(f"unknown engine {request.options.engine!r}; known: {', '.join(ENGINES)}")
    media = sniff_file(request.path)
    is_video = media is not None and media.kind is MediaKind.VIDEO
    if request.options.engine == "baseline" or (is_video and backend is None):
        return _run_baseline(request, progress, cancelled, limits)
    options = request.options
    defaults = AgentOptions()
    agent_options = AgentOptions(
        page_budget=options.page_budget or defaults.page_budget,
        visual_token_budget=options.visual_token_budget,
        pages=options.pages,
        password=request.password,
        views=defaults.views if options.views else None,
        video=VideoSearchOptions(
            frame_budget=options.frame_budget or defaults.video.frame_budget, window=options.time_window
        ),
    )
    task = "qa" if request.task == "video_qa" and not is_video else request.task
    return run_agent(
        task,
        request.path,
        question=request.question,
        schema=request.schema,
        options=agent_options,
        backend=backend,
        limits=limits,
        progress=progress,
        cancelled=cancelled,
    )


def _run_baseline(request, progress, cancelled, limits) -> Answer:
    started = time.perf_counter()
    document = read_document(
        request.path,
        password=request.password,
        pages=request.options.pages,
        time_window=request.options.time_window,
        limits=limits,
        progress=progress,
        cancelled=cancelled,
    )
    read_ms = (time.perf_counter() - started) * 1e3
    lines = document.lines
    if request.task in ("qa", "video_qa"):
        answer = text_baseline.answer_qa(lines, request.question)
    elif request.task == "ground":
        answer = text_baseline.answer_ground(lines, request.question)
    elif request.task == "count":
        answer = text_baseline.answer_count(lines, request.question)
    elif request.task == "extract":
        answer = text_baseline.answer_extract(lines, request.schema or {})
    else:
        answer = text_baseline.answer_describe(lines)
    total_ms = (time.perf_counter() - started) * 1e3
    is_video = document.kind is MediaKind.VIDEO
    trace = [
        TraceStep(
            "read",
            {
                "kind": document.kind.value,
                "pages": request.options.pages,
                "time_window": request.options.time_window,
            },
            {"lines": len(lines), "units_read": document.units_read, "units_total": document.units_total},
            ms=round(read_ms, 1),
        ),
        TraceStep(
            f"answer_{request.task}",
            {"question": request.question, "schema": request.schema},
            {"text": answer.text, "evidence": len(answer.evidence)},
            ms=round(total_ms - read_ms, 1),
        ),
    ]
    usage = Usage(
        pages_viewed=0 if is_video else document.units_read,
        frames_viewed=document.units_read if is_video else 0,
        latency_ms=round(total_ms, 1),
    )
    return replace(answer, usage=usage, trace=trace)
