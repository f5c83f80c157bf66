"""Verify and ground on an image: the real openai backend talks to the test chat server, scripted as a model
that sees red (`red_seer`); with `always_yes` it says yes to every presence question, like a model that
hallucinates. Verification must drop the yes it cannot back with a box that checks out on a crop."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.agent.conftest import red_seer
from tests.backends.openai_test_server import OpenAITestServer
from vlm_engine.agent import AgentOptions, run_agent
from vlm_engine.agent.trace import Trace
from vlm_engine.agent.verify import Claim, verify_claims
from vlm_engine.agent.zoom import image_draw
from vlm_engine.backends.openai_backend import OpenAIBackend
from vlm_engine.grounding import Box

RED = Box(40, 60, 80, 100)
BLUE = Box(200, 120, 250, 170)


def picture(tmp_path, red: bool) -> tuple[str, np.ndarray]:
    pixels = np.full((200, 300, 3), 30, np.uint8)
    pixels[int(BLUE.y0) : int(BLUE.y1), int(BLUE.x0) : int(BLUE.x1)] = (30, 60, 230)
    if red:
        pixels[int(RED.y0) : int(RED.y1), int(RED.x0) : int(RED.x1)] = (230, 20, 20)
    path = tmp_path / f"scene_{red}.png"
    Image.fromarray(pixels).save(path)
    return str(path), pixels


def test_a_hallucinated_yes_is_dropped_and_a_real_one_kept(tmp_path):
    absent, _ = picture(tmp_path, red=False)
    present, _ = picture(tmp_path, red=True)
    question = "Is there a red square in the image?"
    with OpenAITestServer(reply=red_seer(always_yes=True)) as server:
        backend = OpenAIBackend("scripted", server.base_url, max_retries=0)
        plain = run_agent("qa", absent, question=question, backend=backend, options=AgentOptions(verify=None))
        checking = AgentOptions(verify_presence=True)
        checked = run_agent("qa", absent, question=question, backend=backend, options=checking)
        real = run_agent("qa", present, question=question, backend=backend, options=checking)
    assert plain.text == "yes"  # the model's own answer
    assert checked.text == "no" and checked.fields["model_said"] is True and not checked.evidence
    assert [s.tool for s in checked.trace][-3:] == ["ask_presence", "ground_claims", "answer_presence"]
    assert real.text == "yes"
    [evidence] = real.evidence
    assert Box(*evidence.bbox).iou(RED) > 0.9 and evidence.score == 1.0 and evidence.label == "red square"
    [verify] = [s for s in real.trace if s.tool == "verify"]
    assert verify.outputs["passed"] == [True] and verify.outputs["reground_iou"][0] > 0.9


def test_claims_on_the_wrong_place_fail_on_their_crop(tmp_path):
    _, pixels = picture(tmp_path, red=True)
    claims = [Claim("red square", RED), Claim("red square", BLUE), Claim("red square", Box(0, 150, 30, 190))]
    with OpenAITestServer(reply=red_seer()) as server:
        backend = OpenAIBackend("scripted", server.base_url, max_retries=0)
        trace = Trace()
        verdicts = verify_claims(backend, claims, image_draw(pixels), (300.0, 200.0), trace)
        crops = [body for body in server.requests if "Is there" in str(body)]
    assert [v.passed for v in verdicts] == [True, False, False]
    assert verdicts[0].reground_iou > 0.9 and verdicts[1].crop_said_yes is False
    assert len(crops) == 3 and trace.steps[-1].tool == "verify" and trace.steps[-1].tokens > 0


def test_ground_on_an_image_returns_a_verified_box_in_pixels(tmp_path):
    present, _ = picture(tmp_path, red=True)
    with OpenAITestServer(reply=red_seer()) as server:
        backend = OpenAIBackend("scripted", server.base_url, max_retries=0)
        answer = run_agent("ground", present, question="Where is the red square?", backend=backend)
    [evidence] = answer.evidence
    assert answer.text == "red square" and evidence.label == "red square" and evidence.score == 1.0
    assert Box(*evidence.bbox).iou(RED) > 0.9 and evidence.page is None
    assert evidence.bbox_norm == pytest.approx([40 / 300, 60 / 200, 80 / 300, 100 / 200], abs=2e-3)
    tools = [s.tool for s in answer.trace]
    assert tools == ["read_image", "ground", "verify", "answer_ground"]  # big enough: no zoom


def test_by_default_a_yes_is_pointed_at_but_not_checked_on_a_crop(tmp_path):
    present, _ = picture(tmp_path, red=True)
    with OpenAITestServer(reply=red_seer()) as server:
        backend = OpenAIBackend("scripted", server.base_url, max_retries=0)
        answer = run_agent("qa", present, question="Is there a red square in the image?", backend=backend)
    assert answer.text == "yes" and answer.fields["model_said"] is True
    [evidence] = answer.evidence
    assert Box(*evidence.bbox).iou(RED) > 0.9 and evidence.score is None and evidence.label == "red square"
    tools = [s.tool for s in answer.trace]
    assert "verify" not in tools and tools[-3:] == ["ask_presence", "ground_claims", "answer_presence"]
    [asked] = [s for s in answer.trace if s.tool == "ask_presence"]
    assert asked.outputs["votes"] == ["10/10"]  # every view said yes
