"""The shipped model loads in one call and still meets the figures it ships with, on a fresh held-out
sample (a small one, so a margin absorbs the sampling noise)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO_ROOT
from vlm_engine.backends.native import NativeBackend
from vlm_engine.eval import synthetic
from vlm_engine.model import checkpoint

SHIPPED = REPO_ROOT / "models" / "sightline-tiny"
MARGIN = 0.1
SAMPLES_PER_TASK = 100
CHECKED = ("grounding_acc@0.5", "counting_exact", "pope_f1", "spatial_accuracy", "chart_within_5pct")


def test_shipped_checkpoint_is_small_and_loads():
    size = sum(f.stat().st_size for f in SHIPPED.iterdir())
    assert size <= 40 * 2**20
    model, tokenizer = checkpoint.load(SHIPPED)
    assert tokenizer.image_id == model.config.image_token_id


@pytest.mark.slow
def test_shipped_model_meets_its_figures_on_a_fresh_held_out_sample():
    claimed = json.loads((SHIPPED / "eval.json").read_text())["stage3"]["metrics"]
    result = synthetic.run(NativeBackend.from_pretrained(SHIPPED), n=SAMPLES_PER_TASK, seed=99)
    measured = result["metrics"]
    for name in CHECKED:
        assert measured[name] >= claimed[name] - MARGIN, (name, measured[name], claimed[name])
    assert measured["hallucination_rate"] <= claimed["hallucination_rate"] + MARGIN
