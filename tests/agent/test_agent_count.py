"""Count by grounding on an image: the scripted red-seeing model states every red square twice (NMS must
merge them) and, asked for the number directly, miscounts by one: a number no look's boxes agree with is
not taken. A number that some look's boxes agree with is, with those boxes, even against the views'
median."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tests.agent.conftest import red_seer
from tests.backends.openai_test_server import OpenAITestServer
from vlm_engine.agent import run_agent
from vlm_engine.agent.count import ask_count, count_by_grounding
from vlm_engine.agent.trace import Trace
from vlm_engine.agent.views import ViewsPolicy
from vlm_engine.backends.base import ImageInput
from vlm_engine.backends.openai_backend import OpenAIBackend
from vlm_engine.grounding import Box

SQUARES = [Box(10 + 60 * i, 20 + 25 * (i % 2), 40 + 60 * i, 50 + 25 * (i % 2)) for i in range(5)]


def scene(tmp_path) -> tuple[str, np.ndarray]:
    pixels = np.full((120, 320, 3), 25, np.uint8)
    for box in SQUARES:
        pixels[int(box.y0) : int(box.y1), int(box.x0) : int(box.x1)] = (235, 25, 30)
    path = tmp_path / "squares.png"
    Image.fromarray(pixels).save(path)
    return str(path), pixels


def test_duplicates_are_suppressed_and_the_boxes_are_the_count(tmp_path):
    path, pixels = scene(tmp_path)
    with OpenAITestServer(reply=red_seer()) as server:
        backend = OpenAIBackend("scripted", server.base_url, max_retries=0)
        counted = count_by_grounding(backend, ImageInput.whole(pixels), "red squares", Trace())
        direct = ask_count(backend, ImageInput.whole(pixels), "red squares", Trace())
        answer = run_agent("qa", path, question="How many red squares are there?", backend=backend)
        asked = [m["content"][-1]["text"] for body in server.requests for m in body["messages"][-1:]]
    assert counted.stated == 10 and counted.count == 5 and direct == 6
    assert "Find every red square." in asked and "How many red squares are there?" in asked
    assert answer.text == "5" and answer.fields == {"count": 5}
    boxes = [Box(*e.bbox) for e in answer.evidence]
    assert len(boxes) == 5 and all(max(b.iou(s) for s in SQUARES) > 0.9 for b in boxes)
    [step] = [s for s in answer.trace if s.tool == "count_by_grounding"]
    assert (
        step.outputs["stated"] == 10 and step.outputs["kept"] == 5 and step.outputs["label"] == "red square"
    )
    assert step.outputs["number"] == 6 and step.outputs["number_checked"] is False


def test_the_count_task_counts_what_the_question_names(tmp_path):
    path, _ = scene(tmp_path)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((60, 60, 3), 25, np.uint8)).save(blank)
    with OpenAITestServer(reply=red_seer()) as server:
        backend = OpenAIBackend("scripted", server.base_url, max_retries=0)
        five = run_agent("count", path, question="red squares", backend=backend)
        none = run_agent("count", str(blank), question="red squares", backend=backend)
    assert five.text == "5" and len(five.evidence) == 5
    assert none.text == "0" and none.evidence == []


def honest_red_seer():
    """red_seer, but asked "How many" it states the red blobs it sees, not one more."""
    miscounting = red_seer()

    def reply(body: dict) -> str:
        said = miscounting(body)
        text = " ".join(p["text"] for p in body["messages"][-1]["content"] if p["type"] == "text")
        return str(int(said) - 1) if "How many" in text else said

    return reply


def test_a_stated_number_that_a_look_agrees_with_is_the_count_with_that_looks_boxes(tmp_path):
    _, pixels = scene(tmp_path)
    pixels[:4, :4] = (235, 25, 30)  # a sixth square in the corner: a shifted view pushes it out of sight
    path = tmp_path / "six.png"
    Image.fromarray(pixels).save(path)
    with OpenAITestServer(reply=honest_red_seer()) as server:
        backend = OpenAIBackend("scripted", server.base_url, max_retries=0)
        trace = Trace()
        median = count_by_grounding(
            backend, ImageInput.whole(pixels), "red squares", trace, views=ViewsPolicy()
        )
        checked = count_by_grounding(
            backend, ImageInput.whole(pixels), "red squares", Trace(), views=ViewsPolicy(), number=6
        )
        unchecked = count_by_grounding(
            backend, ImageInput.whole(pixels), "red squares", Trace(), views=ViewsPolicy(), number=7
        )
        answer = run_agent("qa", str(path), question="How many red squares are there?", backend=backend)
    assert median.count == 5  # most shifted views lose the corner square
    assert checked.count == 6 and len(checked.boxes) == 6 and unchecked.count == 5
    assert answer.text == "6" and len(answer.evidence) == 6
