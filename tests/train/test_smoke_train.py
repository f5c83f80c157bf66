"""A short real training run: every stage runs, the instruction-tuning loss falls, the verdict drill moves
the decoder alone, stages resume, a recipe without stage 2b goes from stage 2 to DPO.

Sizes are cut down (a two-layer model, tens of steps) so the test takes well under a minute on two cores;
the recipe, losses, data and loop are the ones that made the shipped model.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import pytest
import torch

from vlm_engine.model import checkpoint
from vlm_engine.model.config import LanguageConfig
from vlm_engine.train import stages
from vlm_engine.train.__main__ import main as train_main
from vlm_engine.train.recipe import (
    StageSettings,
    build_model,
    carried_decoder_recipe,
    recipe_tokenizer,
    tiny_recipe,
)


@functools.cache
def tokenizer():
    return recipe_tokenizer(bpe_vocab_size=256)


def small_recipe(stage2_steps: int = 60):
    tok = tokenizer()
    recipe = tiny_recipe(tok)
    model = replace(
        recipe.model,
        vision=replace(recipe.model.vision, hidden_size=64, num_layers=2, num_heads=2),
        language=LanguageConfig(
            vocab_size=len(tok),
            hidden_size=96,
            num_layers=2,
            num_heads=2,
            num_kv_heads=1,
            intermediate_size=192,
            max_position=512,
        ),
    )
    few = StageSettings(steps=4, batch_size=8, lr=2e-3, warmup=2)
    return replace(
        recipe,
        model=model,
        stage0_encoder=replace(few, mix="instruct"),
        stage0_language=few,
        stage1=replace(few, mix="captions"),
        stage2=StageSettings(steps=stage2_steps, batch_size=16, lr=3e-3, warmup=5),
        stage2b=replace(few, mix="focus", loc_sigma=1.0),
        stage2v=replace(few, mix="spatial"),
        verdict_drill=4,
        stage3=replace(few, lr=1e-4),
        curriculum_steps=10,
    )


def test_every_stage_runs_and_instruction_loss_falls(tmp_path):
    torch.manual_seed(0)
    recipe = small_recipe()
    tok = tokenizer()
    model = build_model(recipe, tok)
    assert stages.stage0(recipe, model, tok, tmp_path / "s0")
    assert stages.stage_supervised(recipe, "stage1", model, tok, tmp_path / "s1")
    losses = stages.stage_supervised(recipe, "stage2", model, tok, tmp_path / "s2")
    assert len(losses) == recipe.stage2.steps
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < first * 0.8, (first, last)
    frozen = [p.detach().clone() for p in [*model.vision.parameters(), *model.projector.parameters()]]
    decoder = [p.detach().clone() for p in model.language.parameters()]
    drilled = stages.stage_verdict(recipe, model, tok, tmp_path / "s2v")
    assert len(drilled) == recipe.stage2v.steps and all(torch.isfinite(torch.tensor(drilled)))
    after = [*model.vision.parameters(), *model.projector.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(frozen, after, strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(decoder, model.language.parameters(), strict=True))
    focused = stages.stage_supervised(recipe, "stage2b", model, tok, tmp_path / "s2b")
    assert len(focused) == recipe.stage2b.steps and all(torch.isfinite(torch.tensor(focused)))
    dpo = stages.stage3(recipe, model, tok, tmp_path / "s3")
    assert all(torch.isfinite(torch.tensor(dpo)))


def test_a_stopped_stage_resumes_where_it_stopped(tmp_path):
    recipe = small_recipe(stage2_steps=6)
    tok = tokenizer()
    model = build_model(recipe, tok)
    short = replace(recipe, stage1=replace(recipe.stage1, steps=2))
    assert len(stages.stage_supervised(short, "stage1", model, tok, tmp_path)) == 2
    resumed = stages.stage_supervised(recipe, "stage1", build_model(recipe, tok), tok, tmp_path)
    assert len(resumed) == recipe.stage1.steps - 2


def test_a_recipe_without_stage2b_goes_from_stage2_to_dpo(tmp_path):
    recipe = replace(small_recipe(stage2_steps=2), stage2b=None)
    tok = tokenizer()
    final = stages.train(recipe, tok, build_model(recipe, tok), tmp_path)
    assert final == tmp_path / "stage3" / "model"
    assert not (tmp_path / "stage2b").exists() and (tmp_path / "stage2v" / "model").exists()
    with pytest.raises(ValueError, match="no stage2b"):
        stages.stage_supervised(recipe, "stage2b", build_model(recipe, tok), tok, tmp_path / "x")


@pytest.mark.parametrize("scale", [0.0, 0.3])
def test_stage2_tunes_the_encoder_only_when_the_recipe_says_so(tmp_path, scale):
    recipe = replace(small_recipe(stage2_steps=2), stage2_encoder_lr_scale=scale)
    tok = tokenizer()
    model = build_model(recipe, tok)
    before = [p.detach().clone() for p in model.vision.parameters()]
    stages.stage_supervised(recipe, "stage2", model, tok, tmp_path)
    moved = any(not torch.equal(a, b) for a, b in zip(before, model.vision.parameters(), strict=True))
    assert moved == (scale > 0)


@pytest.mark.slow
def test_the_command_trains_every_stage_and_ships_a_loadable_checkpoint(tmp_path):
    code = train_main(["--out", str(tmp_path / "run"), "--scale", "0.004", "--ship", str(tmp_path / "ship")])
    assert code == 0
    for stage in stages.STAGES:
        assert (tmp_path / "run" / stage / "model" / checkpoint.CONFIG_FILE).exists()
    model, tok = checkpoint.load(tmp_path / "ship")
    assert model.config.vision.image_size == 64 and tok.image_id == model.config.image_token_id


def test_a_carried_decoder_starts_trained_and_stage0_trains_only_the_encoder(tmp_path):
    recipe = small_recipe(stage2_steps=2)
    tok = tokenizer()
    source = build_model(recipe, tok)
    checkpoint.save(source, tok, tmp_path / "trained")
    carried = carried_decoder_recipe(replace(recipe, seed=1), tmp_path / "trained")
    assert carried.stage0_language.steps == 0 and carried.stage1.steps == 2 * recipe.stage1.steps
    model = build_model(carried, tok)
    decoder = [p.detach().clone() for p in source.language.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(decoder, model.language.parameters(), strict=True))
    encoder = [p.detach().clone() for p in model.vision.parameters()]
    stages.stage0(carried, model, tok, tmp_path / "s0")
    assert all(torch.equal(a, b) for a, b in zip(decoder, model.language.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(encoder, model.vision.parameters(), strict=True))


def test_a_decoder_of_another_shape_is_not_carried_over(tmp_path):
    recipe = small_recipe(stage2_steps=2)
    tok = tokenizer()
    checkpoint.save(build_model(recipe, tok), tok, tmp_path / "trained")
    wider = replace(recipe.model, language=replace(recipe.model.language, hidden_size=128))
    with pytest.raises(ValueError, match="not this recipe's"):
        build_model(carried_decoder_recipe(replace(recipe, model=wider), tmp_path / "trained"), tok)


def test_location_targets_sharpen_over_the_first_half_of_a_stage():
    settings = StageSettings(steps=100, batch_size=1, lr=1e-3, loc_sigma=16.0, loc_sigma_end=1.0)
    widths = [settings.loc_sigma_at(step) for step in (0, 25, 50, 99)]
    assert widths == pytest.approx([16.0, 4.0, 1.0, 1.0])
    assert StageSettings(steps=100, batch_size=1, lr=1e-3).loc_sigma_at(99) == 16.0
