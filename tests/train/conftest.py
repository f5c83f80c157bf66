"""Shared by the training tests: the tiny recipe's model, untrained, built once."""

from __future__ import annotations

import functools

import torch
from torch import nn

from vlm_engine.model.tokenizer import SightlineTokenizer
from vlm_engine.model.vlm import SightlineVLM
from vlm_engine.train.recipe import Recipe, build_model, recipe_tokenizer, tiny_recipe


@functools.cache
def untrained_tiny() -> tuple[Recipe, SightlineVLM, SightlineTokenizer, nn.Linear]:
    """The tiny recipe, its model (seed 0, eval mode), its tokenizer and an untrained stage-2 match head."""
    torch.manual_seed(0)
    tokenizer = recipe_tokenizer()
    recipe = tiny_recipe(tokenizer)
    model = build_model(recipe, tokenizer).eval()
    return recipe, model, tokenizer, nn.Linear(recipe.model.language.hidden_size, 1)
