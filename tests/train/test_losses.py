"""Answer-loss weighting: a sample mean weighs every answer alike, a token mean weighs every token alike."""

from __future__ import annotations

import pytest
import torch

from vlm_engine.train.losses import answer_sum, token_losses
from vlm_engine.train.recipe import recipe_tokenizer, tiny_recipe


def test_sample_mean_weighs_a_one_token_answer_like_a_long_one():
    losses = torch.tensor([1.0, 2.0, 3.0, 10.0])  # row 0: three tokens, row 1: one token
    rows = torch.tensor([0, 0, 0, 1])
    assert float(answer_sum(losses, rows, 2, per_sample=True)) == pytest.approx(2.0 + 10.0)
    assert float(answer_sum(losses, rows, 2, per_sample=False)) == pytest.approx(16.0)


def test_sample_sum_matches_per_row_means_and_passes_gradients():
    torch.manual_seed(0)
    logits = torch.randn(9, 50, requires_grad=True)
    targets = torch.randint(0, 40, (9,))
    rows = torch.tensor([0, 0, 1, 2, 2, 2, 2, 3, 3])
    losses = token_losses(logits, targets, torch.arange(40, 50), sigma=1.0)
    total = answer_sum(losses, rows, 4, per_sample=True)
    expected = sum(losses[rows == r].mean() for r in range(4))
    assert float(total.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    total.backward()
    assert logits.grad is not None and bool(logits.grad.abs().sum() > 0)


def test_recipe_refuses_an_unknown_weighting():
    recipe = tiny_recipe(recipe_tokenizer())
    assert recipe.answer_weighting == "token"
    with pytest.raises(ValueError, match="answer_weighting"):
        type(recipe)(**{**recipe.__dict__, "answer_weighting": "words"})
