"""Stage 3's pairs: `Recipe.dpo_present_keep` thins the present-object presence pairs (chosen "yes")
and keeps every absent-object one (rejected: the hallucinated "yes"), from the same seeded samples."""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import replace

import pytest

from vlm_engine.train import stages
from vlm_engine.train.recipe import recipe_tokenizer, tiny_recipe

STEPS = range(12)


@functools.cache
def recipe():
    return tiny_recipe(recipe_tokenizer(bpe_vocab_size=256))


def presence_answers(keep: float) -> Counter[str]:
    settings = replace(recipe(), dpo_present_keep=keep)
    return Counter(
        s.answer for step in STEPS for s in stages.preference_samples(settings, step) if s.task == "presence"
    )


def test_every_sample_is_a_pair_and_a_step_is_one_batch():
    for step in STEPS:
        samples = stages.preference_samples(recipe(), step)
        assert len(samples) == recipe().stage3.batch_size
        assert all(s.rejected is not None and s.rejected != s.answer for s in samples)


def test_keeping_every_present_pair_balances_presence_and_keeping_none_drops_them():
    everything, absent_only = presence_answers(1.0), presence_answers(0.0)
    assert absent_only["yes"] == 0 and absent_only["no"] > 0
    assert everything["yes"] > 0.6 * everything["no"]


def test_keeping_half_the_present_pairs_thins_them_by_about_half():
    everything, half = presence_answers(1.0), presence_answers(0.5)
    ratio = (half["yes"] / half["no"]) / (everything["yes"] / everything["no"])
    assert 0.3 < ratio < 0.75


def test_the_share_kept_must_be_a_probability():
    with pytest.raises(ValueError, match="dpo_present_keep"):
        replace(recipe(), dpo_present_keep=1.5)
