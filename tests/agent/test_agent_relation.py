"""Spatial questions on an image: each object grounded on its own and the verdict read off the two boxes,
with the shipped tiny model on held-out scenes, and "unknown" where an object cannot be found."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.agent.conftest import red_seer
from tests.backends.openai_test_server import OpenAITestServer
from tests.conftest import REPO_ROOT
from vlm_engine.agent import run_agent
from vlm_engine.backends.native import NativeBackend
from vlm_engine.backends.openai_backend import OpenAIBackend
from vlm_engine.eval.synthetic import held_out_sets
from vlm_engine.grounding import Box, relation_gap

SHIPPED = REPO_ROOT / "models" / "sightline-tiny"
SPATIAL_ACCURACY = 0.8  # bench_spatial_route: 0.975 over 200 questions (the model's own verdict 0.62)


@pytest.fixture(scope="module")
def tiny() -> NativeBackend:
    return NativeBackend.from_pretrained(SHIPPED)


def test_the_verdict_is_the_geometry_of_the_two_boxes(tiny, tmp_path):
    samples = held_out_sets(30, seed=5, tasks=("spatial",))["spatial"]
    right = 0
    for i, sample in enumerate(samples):
        path = tmp_path / f"s{i}.png"
        Image.fromarray(sample.pictures[0].pixels).save(path)
        answer = run_agent("qa", str(path), question=sample.question, backend=tiny)
        subject, reference = (Box(*e.bbox) for e in answer.evidence)
        assert all(0 <= v <= 64 for e in answer.evidence for v in e.bbox)
        gap = relation_gap(subject, reference, answer.fields["relation"])
        assert answer.fields["verdict"] == (gap > 0) and answer.text == ("yes" if gap > 0 else "no")
        # the gap is rounded to 0.01, and so is each coordinate of the evidence it is recomputed from
        assert answer.fields["gap"] == pytest.approx(gap, abs=0.02)
        assert answer.fields["relation"] in sample.question
        tools = [step.tool for step in answer.trace]
        assert "answer_relation" in tools and tools.count("ground") == 2
        right += answer.text == sample.truth["answer"]
    assert right >= SPATIAL_ACCURACY * len(samples)


def test_an_object_that_cannot_be_found_gives_no_verdict(tmp_path):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((60, 60, 3), 25, np.uint8)).save(blank)
    with OpenAITestServer(reply=red_seer()) as server:
        backend = OpenAIBackend("scripted", server.base_url, max_retries=0)
        answer = run_agent(
            "qa", str(blank), question="Is the red square above the blue circle?", backend=backend
        )
        asked = [m["content"][-1]["text"] for body in server.requests for m in body["messages"][-1:]]
    assert answer.text == "unknown" and answer.evidence == []
    assert answer.fields == {"relation": "above", "verdict": None, "gap": None}
    assert "Where is the red square?" in asked and "Where is the blue circle?" in asked
