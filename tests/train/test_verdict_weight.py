"""The verdict weight: a spatial answer's verdict (after its two boxes) can weigh more in stages 1-2's
loss, and nothing else changes."""

from __future__ import annotations

import pytest
import torch

from tests.train.conftest import untrained_tiny
from vlm_engine.train import stages
from vlm_engine.train.batches import collate
from vlm_engine.train.data import generate_samples
from vlm_engine.train.recipe import with_overrides


def test_the_mask_holds_exactly_each_spatial_answers_verdict():
    _, model, tokenizer, _ = untrained_tiny()
    samples = generate_samples(24, 5, mix={"spatial": 1.0, "ground": 1.0, "count": 1.0})
    assert {s.task for s in samples} == {"spatial", "ground", "count"}
    batch = collate(samples, tokenizer, model.image_placeholders)
    for row, sample in enumerate(samples):
        marked = tokenizer.decode(batch.input_ids[row][batch.verdict[row]].tolist()).strip()
        assert marked == (sample.truth["answer"] if sample.task == "spatial" else "")


def step_loss(samples, verdict_weight: float) -> float:
    _, model, tokenizer, match_head = untrained_tiny()
    loss = stages.SupervisedLoss(model, tokenizer, match_head, verdict_weight=verdict_weight)
    with torch.no_grad():
        return float(loss(samples, sigma=1.0)[0])


def test_the_weight_scales_the_verdicts_share_of_the_loss_only():
    spatial = generate_samples(12, 6, mix="spatial")
    one, two, four = (step_loss(spatial, w) for w in (1.0, 2.0, 4.0))
    assert two > one  # an untrained model's verdict costs something
    assert four - one == pytest.approx(3 * (two - one), rel=1e-4)  # linear in the weight
    others = generate_samples(12, 7, mix={"ground": 1.0, "count": 1.0, "presence": 1.0})
    assert step_loss(others, 4.0) == pytest.approx(step_loss(others, 1.0), rel=1e-6)


def test_the_recipe_refuses_a_weight_that_is_not_positive():
    recipe, _, _, _ = untrained_tiny()
    assert recipe.verdict_weight == 1.0
    assert with_overrides(recipe, ["verdict_weight=8"]).verdict_weight == 8.0
    with pytest.raises(ValueError, match="verdict_weight"):
        with_overrides(recipe, ["verdict_weight=0"])
