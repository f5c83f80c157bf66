"""Stage 3 with `Recipe.dpo_present_seen` drops the present-object presence pairs its reference model
misses: checked against what the shipped model, asked through its backend, answers to the same questions."""

from __future__ import annotations

import functools

import pytest

from tests.conftest import REPO_ROOT
from vlm_engine.backends.native import NativeBackend
from vlm_engine.eval import synthetic
from vlm_engine.model import checkpoint
from vlm_engine.train import stages
from vlm_engine.train.data import generate_samples

SHIPPED = REPO_ROOT / "models" / "sightline-tiny"


@functools.cache
def samples():
    """Crowded presence questions (the shipped model misses some of their small objects) and other pairs."""
    return generate_samples(160, seed=5, mix="presence") + generate_samples(16, seed=5, mix="count")


@pytest.mark.slow
def test_only_present_object_pairs_the_reference_answers_no_to_are_dropped():
    reference, tokenizer = checkpoint.load(SHIPPED)
    kept = stages.without_missed_presence(reference.eval(), tokenizer, samples())
    kept_ids = {id(s) for s in kept}
    dropped = [s for s in samples() if id(s) not in kept_ids]
    assert dropped, "the shipped model should miss a few small objects in 160 crowded questions"
    assert all(s.task == "presence" and s.answer == "yes" for s in dropped)
    assert sum(s.answer == "no" for s in kept) == sum(s.answer == "no" for s in samples())

    present = [s for s in samples() if s.task == "presence" and s.answer == "yes"]
    said = NativeBackend.from_pretrained(SHIPPED).generate(
        [synthetic._prompt(s) for s in present], synthetic.CONFIG
    )
    for sample, generation in zip(present, said, strict=True):
        expected = "yes" if id(sample) in kept_ids else "no"
        assert synthetic.yes_no(generation.text) == expected, (sample.question, generation.text)


def test_nothing_is_dropped_without_present_object_pairs():
    reference, tokenizer = checkpoint.load(SHIPPED)
    others = [s for s in samples() if s.answer != "yes" or s.task != "presence"]
    assert stages.without_missed_presence(reference.eval(), tokenizer, others) == others
