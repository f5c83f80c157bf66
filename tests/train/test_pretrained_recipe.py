"""The real-size recipe builds a VLM from transformers parts on disk and trains it with the same stages.

The parts here are tiny randomly initialised ones saved with `save_pretrained` (no download); what is
checked is the wiring: the LM's own tokenizer grows by Sightline's special tokens, pretrained weights are
copied in (old token rows intact), and stages 1-2 run on pictures made at the tower's input size.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import transformers
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from vlm_engine.model.tokenizer import SPECIAL_TOKENS
from vlm_engine.train import stages
from vlm_engine.train.pretrained import pretrained_tokenizer, real_size_recipe
from vlm_engine.train.recipe import StageSettings, build_model


def save_parts(tmp_path):
    vision_dir, language_dir = tmp_path / "siglip", tmp_path / "qwen2"
    torch.manual_seed(0)
    tower = transformers.SiglipVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    transformers.SiglipVisionModel(tower).save_pretrained(vision_dir)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(
        ["where is the red circle", "how many squares are there 3 4 5"],
        trainers.BpeTrainer(
            vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
        ),
    )
    lm = transformers.Qwen2Config(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    transformers.Qwen2ForCausalLM(lm).save_pretrained(language_dir)
    bpe.save(str(language_dir / "tokenizer.json"))
    return vision_dir, language_dir, bpe.get_vocab_size()


def test_real_size_recipe_loads_parts_and_trains(tmp_path):
    vision_dir, language_dir, base_vocab = save_parts(tmp_path)
    tokenizer = pretrained_tokenizer(language_dir)
    assert len(tokenizer) == base_vocab + len(SPECIAL_TOKENS)
    recipe = real_size_recipe(vision_dir, language_dir, tokenizer)
    assert recipe.stage0_encoder.steps == 0 and recipe.model.vision.image_size == 32
    few = StageSettings(steps=3, batch_size=4, lr=1e-3, warmup=1)
    recipe = replace(recipe, stage1=replace(few, mix="captions"), stage2=few, stage3=few)
    model = build_model(recipe, tokenizer)

    source = transformers.Qwen2ForCausalLM.from_pretrained(language_dir, local_files_only=True)
    table = model.language.model.get_input_embeddings().weight
    assert table.shape[0] == len(tokenizer)
    assert torch.equal(table[:base_vocab], source.get_input_embeddings().weight)
    body = "model.layers.0.mlp.up_proj.weight"
    assert torch.equal(model.language.model.state_dict()[body], source.state_dict()[body])

    final = stages.train(recipe, tokenizer, model, tmp_path / "run", ("stage0", "stage1", "stage2"))
    assert final == tmp_path / "run" / "stage2" / "model"
