"""The verdict drill: a spatial answer's verdict (after its two boxes) is found in its labels, and the
drill's loss is the cross-entropy of that verdict alone, read as text with no picture."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.train.conftest import untrained_tiny
from vlm_engine.model.tokenizer import IGNORE_INDEX, encode_example
from vlm_engine.train import stages
from vlm_engine.train.batches import collate, pad_rows, verdict_mask
from vlm_engine.train.data import generate_samples
from vlm_engine.train.recipe import with_overrides


def test_the_mask_holds_exactly_each_spatial_answers_verdict():
    _, model, tokenizer, _ = untrained_tiny()
    samples = generate_samples(24, 5, mix={"spatial": 1.0, "ground": 1.0, "count": 1.0})
    assert {s.task for s in samples} == {"spatial", "ground", "count"}
    batch = collate(samples, tokenizer, model.image_placeholders)
    mask = verdict_mask(batch.labels, tokenizer)
    for row, sample in enumerate(samples):
        marked = tokenizer.decode(batch.input_ids[row][mask[row]].tolist()).strip()
        assert marked == (sample.truth["answer"] if sample.task == "spatial" else "")
    assert not mask[[s.task == "ground" for s in samples]].any()  # a box answer has no verdict


def test_the_drill_loss_is_the_cross_entropy_of_the_verdict_alone():
    _, model, tokenizer, _ = untrained_tiny()
    samples = generate_samples(10, 8, mix="spatial")
    with torch.no_grad():
        drilled = float(stages.verdict_drill_loss(model, tokenizer, samples))
        rows = [encode_example(tokenizer, s.question, [], s.answer) for s in samples]
        ids = pad_rows([r for r, _ in rows], tokenizer.pad_id)
        logits = model.language.logits(model.language(model.language.embed(ids))).float()
    # each row ends "... </box> yes|no" + eos: the verdict is its last label but one
    ends = [max(i for i, label in enumerate(labels) if label != IGNORE_INDEX) - 1 for _, labels in rows]
    verdicts = torch.tensor([ids[row, end] for row, end in enumerate(ends)])
    expected = F.cross_entropy(logits[torch.arange(len(samples)), torch.tensor(ends) - 1], verdicts)
    assert {tokenizer.decode([int(v)]).strip() for v in verdicts} == {"yes", "no"}
    assert drilled == pytest.approx(float(expected), rel=1e-5)


def test_the_recipe_drills_the_verdict_and_refuses_a_negative_drill():
    recipe, _, _, _ = untrained_tiny()
    assert recipe.stage2v is not None and recipe.stage2v.mix == "spatial" and recipe.verdict_drill > 0
    assert with_overrides(recipe, ["stage2v.steps=50"]).stage2v.steps == 50
    with pytest.raises(ValueError, match="verdict_drill"):
        with_overrides(recipe, ["verdict_drill=-1"])
