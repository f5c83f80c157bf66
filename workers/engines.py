"""Which engine the infer worker runs: the real `vlm_engine.engine.run_task`, or the queue benchmark's double.

`echo` exists only to measure queue overhead (`bench/bench_queue.py`): it parses nothing, runs no model,
and answers with one fixed box on page 0, labelled as such in `model`. It is chosen by
`SIGHTLINE_ENGINE=echo`; the default, and everything users and the integration tests see, is `real`.
`real` runs the agent with the VLM backend `SIGHTLINE_VLM_BACKEND` names (KIND:MODEL), or with none.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from service.settings import Settings
from vlm_engine.answer import Answer, Evidence
from vlm_engine.backends.registry import load_backend
from vlm_engine.engine import TaskRequest, run_task
from vlm_engine.media.limits import MediaLimits

Engine = Callable[..., Answer]  # (request, progress=..., cancelled=...) -> Answer

ECHO_MODEL = "benchmark-echo (queue benchmark double: no parsing, no model)"


def echo_engine(
    request: TaskRequest,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Answer:
    if progress is not None:
        progress(1, 1)
    return Answer(
        text=f"echo: {request.question}",
        evidence=[Evidence(bbox=[0.0, 0.0, 1.0, 1.0], bbox_norm=[0.0, 0.0, 1.0, 1.0], page=0, label="echo")],
        model=ECHO_MODEL,
    )


def media_limits(settings: Settings, max_seconds: float) -> MediaLimits:
    return MediaLimits(
        max_bytes=settings.max_upload_bytes,
        max_pages=settings.max_pages,
        max_video_seconds=settings.max_video_seconds,
        max_seconds=max_seconds,
    )


def get_engine(settings: Settings) -> Engine:
    if settings.engine == "echo":
        return echo_engine
    backend = None
    if settings.vlm_backend:
        kind, _, model = settings.vlm_backend.partition(":")
        backend = load_backend(kind, model)  # once per worker process: engine() is cached by the caller
    return partial(run_task, limits=media_limits(settings, settings.max_job_seconds), backend=backend)
