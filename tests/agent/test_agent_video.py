"""Coarse-to-fine video search on a real H.264 clip (written here with PyAV): a red square is on screen
from 4.25 s to 9.25 s of 16 s; the scripted red-seeing model answers each frame. The search must find the
window closer than uniform sampling does with the same frame budget, and answer with times and boxes."""

from __future__ import annotations

import av
import numpy as np
import pytest

from tests.agent.conftest import red_seer
from tests.backends.openai_test_server import PROMPT_TOKENS, OpenAITestServer
from vlm_engine.agent.trace import Trace
from vlm_engine.agent.video import VideoSearchOptions, search_video
from vlm_engine.backends.openai_backend import OpenAIBackend
from vlm_engine.engine import Cancelled, TaskOptions, TaskRequest, run_task
from vlm_engine.eval.synthetic import interval_iou
from vlm_engine.grounding import Box
from vlm_engine.text_baseline import MODEL_NAME as BASELINE

FPS = 4
SECONDS = 16
FIRST, LAST = 17, 36  # frames showing the square: 4.25 s to 9.25 s
SQUARE = Box(48, 32, 80, 64)
TRUTH = (FIRST / FPS, (LAST + 1) / FPS)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("video") / "square.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        stream.options = {"g": "8", "crf": "12"}
        for i in range(SECONDS * FPS):
            pixels = np.full((96, 128, 3), 40, np.uint8)
            pixels[:8, : 8 * (i % 16)] = (40, 200, 40)  # something changes in every frame
            if FIRST <= i <= LAST:
                pixels[int(SQUARE.y0) : int(SQUARE.y1), int(SQUARE.x0) : int(SQUARE.x1)] = (240, 20, 20)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    return str(path)


@pytest.fixture(scope="module")
def backend():
    with OpenAITestServer(reply=red_seer()) as server:
        yield OpenAIBackend("scripted", server.base_url, max_retries=0)


def test_coarse_to_fine_beats_uniform_at_the_same_budget(clip, backend):
    question = "When is the red square visible?"
    fine = search_video(backend, clip, question, Trace(), VideoSearchOptions(frame_budget=10))
    uniform = search_video(
        backend, clip, question, Trace(), VideoSearchOptions(frame_budget=10, coarse_share=1)
    )
    assert len(fine.seen) <= 10 and len(uniform.seen) == 10
    fine_iou, uniform_iou = interval_iou(fine.window, TRUTH), interval_iou(uniform.window, TRUTH)
    assert fine_iou > 0.9 and fine_iou > uniform_iou + 0.05
    assert fine.answer.fields["start_s"] == pytest.approx(TRUTH[0], abs=0.3)
    assert fine.answer.fields["end_s"] == pytest.approx(TRUTH[1], abs=0.3)
    assert [s.frame.time_s for s in fine.seen] == sorted(s.frame.time_s for s in fine.seen)


def test_the_answer_carries_times_and_boxes_through_run_task(clip, backend):
    seen = []
    answer = run_task(
        TaskRequest(
            "video_qa", clip, "When is the red square visible?", options=TaskOptions(frame_budget=12)
        ),
        progress=lambda done, total: seen.append((done, total)),
        backend=backend,
    )
    assert answer.model == "sightline-agent + scripted" and answer.text.startswith("from ")
    assert (
        answer.usage.frames_viewed <= 12 and seen[0] == (0, 12) and seen[-1][0] == answer.usage.frames_viewed
    )
    asked = answer.usage.frames_viewed + len(answer.evidence)  # a yes/no a frame, then a box a grounded frame
    assert answer.usage.prompt_tokens == PROMPT_TOKENS * asked
    assert answer.evidence and all(TRUTH[0] <= e.time_s < TRUTH[1] for e in answer.evidence)
    assert all(Box(*e.bbox).iou(SQUARE) > 0.8 and e.frame_index is not None for e in answer.evidence)
    tools = [s.tool for s in answer.trace]
    assert tools[0] == "sample_coarse" and "sample_fine" in tools and tools[-1] == "ground_frames"
    with pytest.raises(Cancelled):
        run_task(
            TaskRequest("video_qa", clip, "When is the red square visible?"),
            cancelled=lambda: True,
            backend=backend,
        )


def test_without_a_backend_video_goes_to_the_labelled_baseline(clip):
    answer = run_task(TaskRequest("video_qa", clip, "When is the red square visible?"))
    assert answer.model == BASELINE
